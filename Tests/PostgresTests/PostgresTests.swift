import Postgres
import TestSupport
import Testing

/// libpq wrapper against the real throwaway PostgreSQL that `make test` starts.
@Suite(.serialized)
struct PostgresTests {
    let database: String
    let url: String

    init() throws {
        database = try TestDatabase.create("pgtest")
        url = try TestDatabase.url(database: database)
    }

    @Test func connectFailureIsAConnectError() throws {
        let error = try #require(throws: PostgresError.self) {
            _ = try Connection(conninfo: "host=/nonexistent-socket-dir port=5 dbname=x connect_timeout=2")
        }
        #expect(error.kind == .connect)
        TestDatabase.drop(database)
    }

    /// Text arrays built by `textArrayLiteral` reach the server element for element.
    @Test func textArrayLiteralsRoundTrip() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        let values: [String?] = ["plain", "", nil, "NULL", "a,b", "{x}", "say \"hi\"", "back\\slash", " padded ", "line\nbreak", "Zoë 😀", "\\\""]
        let rows = try c.query("SELECT u.v, u.v IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n", [textArrayLiteral(values)])
        #expect(rows.map { $0[1] == "t" ? nil : $0[0] ?? "" } == values)
    }

    /// Values sent with `copyIn` arrive as they were: backslashes, tabs, line breaks, `\N` as
    /// text, empty strings, NULLs and any Unicode, alone or in runs.
    @Test func copyInSendsValuesExactly() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        try c.execute("CREATE TEMP TABLE t (n int, v text)")
        let values: [String?] = ["plain", "", nil, "\\N", "tab\there", "line\nbreak\r\n", "back\\slash\\", "\\", "\t\t", "Zoë 😀 中",
                                 String(repeating: "long value ", count: 10_000) + "\\end", "\u{1}ctl\u{7F}"]
        try c.copyIn("COPY t (n, v) FROM STDIN", count: values.count) { [String($0), values[$0]] }
        let rows = try c.query("SELECT v, v IS NULL FROM t ORDER BY n")
        #expect(rows.map { $0[1] == "t" ? nil : $0[0] ?? "" } == values)
    }

    @Test func copyInBinarySendsValuesExactly() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        try c.execute("SET TIME ZONE 'America/New_York'")
        try c.execute("CREATE TEMP TABLE t (n int4, v text, w text, big int8, flag bool, at timestamptz)")
        let values: [String?] = ["plain", "", nil, "\\N", "tab\there", "line\nbreak\r\n", "back\\slash\\", "Zoë 😀 中",
                                 String(repeating: "long value ", count: 10_000), "\u{1}ctl\u{7F}"]
        let bigs: [Int64] = [0, -1, 1, .max, .min, 1 << 40, -(1 << 33), 42, 7, 9]
        // 2000-01-01 00:00:00 UTC, before it, and a night in 2026 with microseconds.
        let times: [Int64] = [0, -1, 851_990_400_000_000 + 123_456, 1, 2, 3, 4, 5, 6, 7]
        try c.copyInBinary("COPY t (n, v, w, big, flag, at) FROM STDIN (FORMAT binary)", count: values.count) { i, row in
            row.int32(Int32(i) - 5)
            row.text(values[i])
            row.text { bytes in bytes.append(contentsOf: "w\(i)".utf8); if i == 3 { bytes.append(contentsOf: " ½".utf8) } }
            row.int64(bigs[i])
            row.bool(i % 2 == 0)
            row.timestamptz(microsecondsSince2000: times[i])
        }
        let rows = try c.query("""
            SELECT n, v, v IS NULL, w, big, flag, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM t ORDER BY n
            """)
        #expect(rows.map { $0[0] } == (0..<values.count).map { String($0 - 5) })
        #expect(rows.map { $0[2] == "t" ? nil : $0[1] ?? "" } == values)
        #expect(rows.map { $0[3] } == (0..<values.count).map { "w\($0)" + ($0 == 3 ? " ½" : "") })
        #expect(rows.map { $0[4] } == bigs.map { String($0) })
        #expect(rows.map { $0[5] } == (0..<values.count).map { $0 % 2 == 0 ? "t" : "f" })
        #expect(rows[0][6] == "2000-01-01 00:00:00.000000")
        #expect(rows[1][6] == "1999-12-31 23:59:59.999999")
        #expect(rows[2][6] == "2026-12-31 00:00:00.123456")
        // A row the table cannot take is the server's error, and the connection stays usable.
        let error = try #require(throws: PostgresError.self) {
            try c.copyInBinary("COPY t (n, v) FROM STDIN (FORMAT binary)", count: 1) { _, row in row.int32(1) }
        }
        #expect(error.sqlState == "22P04")
        #expect(try c.query("SELECT count(*) FROM t").first?[0] == String(values.count))
    }

    @Test func describeReportsColumnsAndTypes() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        let cols = try c.describe("SELECT 'a'::text AS id, now() AS updated_at, 1.5::numeric AS amount, 3 AS n")
        #expect(cols == [ColumnDescription(name: "id", typeOID: 25), ColumnDescription(name: "updated_at", typeOID: 1184),
                         ColumnDescription(name: "amount", typeOID: 1700), ColumnDescription(name: "n", typeOID: 23)])
    }

    @Test func copyOutDecodesEscapesNullsAndUnicode() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        try c.execute("CREATE TABLE t (k int, v text)")
        let values: [String?] = ["plain", "tab\there", "new\nline", "back\\slash", "cr\rx", nil, "", "emoji 😀 ü", "\\N"]
        for (i, v) in values.enumerated() {
            _ = try c.query("INSERT INTO t VALUES ($1, $2)", [String(i), v])
        }
        var got: [String?] = []
        let rows = try c.copyOut(select: "SELECT k, v FROM t ORDER BY k") { row in
            #expect(row.count == 2)
            got.append(row[1])
        }
        #expect(rows == values.count)
        #expect(got == values)
    }

    @Test func sqlErrorCarriesSQLSTATE() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        let error = try #require(throws: PostgresError.self) {
            try c.copyOut(select: "SELECT no_such_column FROM pg_class") { _ in }
        }
        #expect(error.sqlState == "42703")
        #expect(error.description.contains("no_such_column"))
        // The connection is still usable after the error.
        #expect(try c.query("SELECT 1") == [["1"]])
    }

    /// Values read from rows never reach a message, whatever the SQLSTATE class; identifiers the
    /// statement names stay readable.
    @Test func valueQuotingMessagesAreRedacted() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        try c.execute("CREATE TEMP TABLE people (email text, name text); INSERT INTO people VALUES ('alice@example.com', 'Alicia')")
        for (sql, state) in [("SELECT email::int FROM people", "22P02"),             // data exception
                             ("SELECT name::regclass FROM people", "42P01"),          // undefined table
                             ("SELECT email::regclass FROM people", "3F000")] {       // invalid schema name
            let error = try #require(throws: PostgresError.self) { try c.copyOut(select: sql) { _ in } }
            #expect(error.sqlState == state)
            #expect(!error.description.lowercased().contains("alic"), "\(error)")
            #expect(error.description.contains("\"…\""), "\(error)")
        }
        let named = try #require(throws: PostgresError.self) { try c.copyOut(select: "SELECT emial FROM people") { _ in } }
        #expect(named.description.contains("column \"emial\" does not exist"), "\(named)")
    }

    @Test func lostConnectionMidCopyIsReported() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        var seen = 0
        let error = try #require(throws: PostgresError.self) {
            try c.copyOut(select: """
                SELECT g, CASE WHEN g = 5000 THEN pg_terminate_backend(pg_backend_pid()) END
                FROM generate_series(1, 100000) g
                """) { _ in seen += 1 }
        }
        #expect(error.kind == .connectionLost)
        #expect(!c.isOK)
        #expect(seen < 100000)
    }

    @Test func repeatableReadSeesOneSnapshot() throws {
        defer { TestDatabase.drop(database) }
        let reader = try Connection(conninfo: url)
        let writer = try Connection(conninfo: url)
        try writer.execute("CREATE TABLE s (k int)")
        try writer.execute("INSERT INTO s VALUES (1)")
        try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        var first = 0
        try reader.copyOut(select: "SELECT k FROM s") { _ in first += 1 }
        try writer.execute("INSERT INTO s VALUES (2)")
        var second = 0
        try reader.copyOut(select: "SELECT k FROM s") { _ in second += 1 }
        try reader.execute("COMMIT")
        #expect(first == 1)
        #expect(second == 1)
        let error = try #require(throws: PostgresError.self) {
            try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; INSERT INTO s VALUES (3)")
        }
        #expect(error.sqlState == "25006")
        try reader.execute("ROLLBACK")
    }

    @Test func bindParametersAreNotSpliced() throws {
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: url)
        let rows = try c.query("SELECT $1::text || 'x'", ["'; DROP TABLE pg_class; --"])
        #expect(rows == [["'; DROP TABLE pg_class; --x"]])
    }
}
