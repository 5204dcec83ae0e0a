import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// One `PGresult`, cleared exactly once when the owner goes away.
struct OwnedResult: ~Copyable {
    let raw: OpaquePointer

    init?(_ raw: OpaquePointer?) {
        guard let raw else { return nil }
        self.raw = raw
    }

    deinit { PQclear(raw) }

    var status: ExecStatusType { PQresultStatus(raw) }

    /// - Parameter statement: the SQL that failed: text quoted in the message is kept only when
    /// the statement holds it too (an identifier the author wrote), else it is redacted.
    func error(kind: PostgresError.Kind, statement: String) -> PostgresError {
        let state = PQresultErrorField(raw, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let primary = PQresultErrorField(raw, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
        let message = primary ?? String(cString: PQresultErrorMessage(raw))
        // 08xxx (connection exception) and 57P0x (the server ended the session) mean the
        // connection is gone, even when libpq has not noticed yet.
        let lost = state.map { $0.hasPrefix("08") || $0.hasPrefix("57P") } ?? false
        return PostgresError(kind: lost ? .connectionLost : kind, sqlState: state, message: message, statement: statement)
    }
}

/// A column of a statement's result, as the server describes it before running it.
public struct ColumnDescription: Sendable, Equatable {
    public var name: String
    /// The PostgreSQL type OID (25 text, 1184 timestamptz, 1700 numeric, …).
    public var typeOID: UInt32
    public init(name: String, typeOID: UInt32) {
        self.name = name
        self.typeOID = typeOID
    }
}

/// A libpq connection, finished exactly once (also when connecting failed).
public final class Connection {
    private let conn: OpaquePointer

    /// Connects with a libpq connection string or URL. An empty string means libpq's own
    /// defaults: the `PG*` environment variables and `~/.pgpass`.
    ///
    /// - Throws: `PostgresError` of kind `.connect` with libpq's message.
    /// - Parameter sessionOptions: server settings for the session (libpq's `options`, e.g.
    ///   `-c lock_timeout=60000`); an `options` in the connection string replaces them.
    public init(conninfo: String, applicationName: String = "recon", connectTimeoutSeconds: Int = 10, sessionOptions: String? = nil) throws {
        // Earlier keywords are defaults; the expanded connection string overrides them.
        var keywords = ["connect_timeout", "application_name"]
        var values = [String(connectTimeoutSeconds), applicationName]
        if let sessionOptions { keywords.append("options"); values.append(sessionOptions) }
        keywords.append("dbname")
        values.append(conninfo)
        let raw = withCStrings(keywords) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let raw else {
            throw PostgresError(kind: .connect, message: "out of memory")
        }
        conn = raw
        PQsetNoticeReceiver(raw, { _, result in
            guard let result else { return }
            func field(_ code: Character) -> String? {
                PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
            }
            let state = field("C")
            let message = PostgresError.redactNotice(field("M") ?? "", sqlState: state, statement: "")
            let severity = field("V") ?? field("S") ?? "NOTICE"
            if let handler = Connection.onNotice {
                handler(severity, state, message)
            } else {
                let line = Array("\(severity): \(message)\n".utf8)
                _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            }
        }, nil)
        if PQstatus(raw) != CONNECTION_OK {
            let message = String(cString: PQerrorMessage(raw))
            // `conn` is initialised, so throwing runs deinit, which calls PQfinish: once.
            throw PostgresError(kind: .connect, message: message)
        }
    }

    deinit { PQfinish(conn) }

    /// Where the server's notices and warnings go (severity, SQLSTATE, message redacted as in
    /// `PostgresError.redactNotice`); nil writes them to stderr as libpq would. Set once, before
    /// the first connection.
    public nonisolated(unsafe) static var onNotice: (@Sendable (_ severity: String, _ sqlState: String?, _ message: String) -> Void)?

    /// The version of the libpq this process loaded, e.g. 150018.
    public static var libraryVersion: Int { Int(PQlibVersion()) }

    /// Whether libpq still considers the connection usable.
    public var isOK: Bool { PQstatus(conn) == CONNECTION_OK }

    /// The server's version number, e.g. 150018.
    public var serverVersion: Int { Int(PQserverVersion(conn)) }

    /// Whether the session is inside a transaction block (also a failed one, awaiting ROLLBACK).
    public var inTransaction: Bool {
        let s = PQtransactionStatus(conn)
        return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE
    }

    /// Runs one or more commands that return no rows (BEGIN, SET, DDL, COMMIT).
    /// - Throws: `PostgresError` naming the SQLSTATE.
    public func execute(_ sql: String) throws {
        guard let result = OwnedResult(PQexec(conn, sql)) else { throw lostOrError() }
        let status = result.status
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw result.error(kind: errorKind(), statement: sql)
        }
    }

    /// Runs a statement with bind parameters (never spliced into the text) and returns all rows
    /// as text. For small results only: state tables, tests; extracts use `copyOut`.
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        let raw = withOptionalCStrings(parameters) { params in
            PQexecParams(conn, sql, Int32(parameters.count), nil, params, nil, nil, 0)
        }
        guard let result = OwnedResult(raw) else { throw lostOrError() }
        let status = result.status
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            throw result.error(kind: errorKind(), statement: sql)
        }
        let rows = PQntuples(result.raw)
        let cols = PQnfields(result.raw)
        var out: [[String?]] = []
        out.reserveCapacity(Int(rows))
        for r in 0..<rows {
            var row: [String?] = []
            for c in 0..<cols {
                row.append(PQgetisnull(result.raw, r, c) == 1 ? nil : String(cString: PQgetvalue(result.raw, r, c)))
            }
            out.append(row)
        }
        return out
    }

    /// Asks the server for the columns a statement would return, without running it.
    /// - Throws: `PostgresError` when the statement does not parse or plan (bad column, syntax).
    public func describe(_ sql: String) throws -> [ColumnDescription] {
        do {
            guard let prepared = OwnedResult(PQprepare(conn, "", sql, 0, nil)) else { throw lostOrError() }
            guard prepared.status == PGRES_COMMAND_OK else { throw prepared.error(kind: errorKind(), statement: sql) }
        }
        guard let described = OwnedResult(PQdescribePrepared(conn, "")) else { throw lostOrError() }
        guard described.status == PGRES_COMMAND_OK else { throw described.error(kind: errorKind(), statement: sql) }
        var columns: [ColumnDescription] = []
        for i in 0..<PQnfields(described.raw) {
            columns.append(ColumnDescription(
                name: String(cString: PQfname(described.raw, i)),
                typeOID: UInt32(PQftype(described.raw, i))))
        }
        return columns
    }

    /// Streams `COPY (<select>) TO STDOUT` row by row: memory holds one row at a time.
    /// `onRow` receives the fields of each row, decoded from COPY's text format (NULL is nil).
    ///
    /// - Returns: the number of rows streamed.
    /// - Throws: `PostgresError` (`.query` with SQLSTATE, or `.connectionLost`), or whatever
    ///   `onRow` throws; the connection is drained either way.
    @discardableResult
    public func copyOut(select sql: String, onRow: (borrowing CopyRow) throws -> Void) throws -> Int {
        var row = CopyRow()
        return try copyOutLines(select: sql) { line in
            try row.decode(line)
            try onRow(row)
        }
    }

    /// Streams `COPY (<select>) TO STDOUT` as raw text-format lines (split them with `CopyLine`);
    /// each buffer is valid only during the call and freed right after (`PQfreemem`).
    ///
    /// - Returns: the number of rows streamed.
    /// - Throws: as `copyOut`; after `onLine` throws, the rest of the rows are read and dropped so
    ///   the connection stays usable.
    @discardableResult
    public func copyOutLines(select sql: String, onLine: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int {
        let statement = "COPY (\n" + sql + "\n) TO STDOUT"
        do {
            guard let started = OwnedResult(PQexec(conn, statement)) else { throw lostOrError() }
            guard started.status == PGRES_COPY_OUT else { throw started.error(kind: errorKind(), statement: sql) }
        }
        var rows = 0
        var failure: (any Error)?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(conn, &buffer, 0)
            if length > 0, let buffer {
                defer { PQfreemem(buffer) }
                if failure == nil {
                    do {
                        try buffer.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { bytes in
                            try onLine(UnsafeBufferPointer(start: bytes, count: Int(length)))
                        }
                        rows += 1
                    } catch {
                        // Keep reading so the connection stays in a known state.
                        failure = error
                    }
                }
                continue
            }
            if length == -1 { break }
            // -2: an error; libpq has the message.
            let message = String(cString: PQerrorMessage(conn))
            drain()
            throw PostgresError(kind: isOK ? .query : .connectionLost, message: message)
        }
        var serverError: PostgresError?
        while let result = OwnedResult(PQgetResult(conn)) {
            if result.status != PGRES_COMMAND_OK, serverError == nil {
                serverError = result.error(kind: errorKind(), statement: sql)
            }
        }
        if let serverError { throw serverError }
        if let failure { throw failure }
        return rows
    }

    /// Sends rows through `COPY <table> (<columns>) FROM STDIN` (text format, escaped here).
    /// - Returns: the number of rows sent.
    /// - Throws: `PostgresError` with the server's SQLSTATE.
    @discardableResult
    public func copyIn(_ copyStatement: String, rows: [[String?]]) throws -> Int {
        try copyIn(copyStatement, count: rows.count) { rows[$0] }
    }

    /// `copyIn` with rows made one at a time by `row(i)` for `i` in `0..<count` (sent 64 KB at a
    /// time: the rows never exist all at once).
    @discardableResult
    public func copyIn(_ copyStatement: String, count: Int, row makeRow: (Int) -> [String?]) throws -> Int {
        try copyIn(copyStatement, count: count, header: [], trailer: []) { r, buffer in
            let row = makeRow(r)
            for (i, value) in row.enumerated() {
                if i > 0 { buffer.append(0x09) }
                guard var value else { buffer.append(0x5C); buffer.append(UInt8(ascii: "N")); continue }
                // Runs of bytes that need no escape are copied whole.
                value.withUTF8 { p in
                    var start = 0
                    for k in 0..<p.count {
                        let b = p[k]
                        guard b == 0x5C || b == 0x09 || b == 0x0A || b == 0x0D else { continue }
                        if k > start { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<k])) }
                        start = k + 1
                        buffer.append(0x5C)
                        switch b {
                        case 0x09: buffer.append(UInt8(ascii: "t"))
                        case 0x0A: buffer.append(UInt8(ascii: "n"))
                        case 0x0D: buffer.append(UInt8(ascii: "r"))
                        default: buffer.append(0x5C)
                        }
                    }
                    if start < p.count { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<p.count])) }
                }
            }
            buffer.append(0x0A)
        }
    }

    /// Sends rows through `COPY <table> (<columns>) FROM STDIN (FORMAT binary)`: `row(i, &row)`
    /// writes row `i`'s fields in the table's column order, each in its binary send format. The
    /// server parses no text: integers, booleans and timestamps arrive as the values they are.
    /// - Returns: the number of rows sent.
    /// - Throws: `PostgresError` with the server's SQLSTATE (a row whose field count or types do
    ///   not match the columns is rejected by the server, naming the column).
    @discardableResult
    public func copyInBinary(_ copyStatement: String, count: Int, row makeRow: (Int, inout BinaryCopyRow) -> Void) throws -> Int {
        var row = BinaryCopyRow()
        return try copyIn(copyStatement, count: count, header: BinaryCopyRow.header, trailer: BinaryCopyRow.trailer) { r, buffer in
            swap(&row.bytes, &buffer)
            row.begin()
            makeRow(r, &row)
            row.end()
            swap(&row.bytes, &buffer)
        }
    }

    /// The COPY protocol around rows that `append(i, &buffer)` encodes: `header`, the rows,
    /// `trailer`, sent 64 KB at a time.
    private func copyIn(_ copyStatement: String, count: Int, header: [UInt8], trailer: [UInt8],
                        append: (Int, inout [UInt8]) -> Void) throws -> Int {
        do {
            guard let started = OwnedResult(PQexec(conn, copyStatement)) else { throw lostOrError() }
            guard started.status == PGRES_COPY_IN else { throw started.error(kind: errorKind(), statement: copyStatement) }
        }
        var buffer: [UInt8] = header
        buffer.reserveCapacity(1 << 17)
        func send() throws {
            guard !buffer.isEmpty else { return }
            let ok = buffer.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
            }
            buffer.removeAll(keepingCapacity: true)
            if ok != 1 {
                let message = String(cString: PQerrorMessage(conn))
                _ = PQputCopyEnd(conn, "client error")
                drain()
                throw PostgresError(kind: isOK ? .query : .connectionLost, message: message)
            }
        }
        for r in 0..<count {
            append(r, &buffer)
            if buffer.count >= 1 << 16 { try send() }
        }
        buffer.append(contentsOf: trailer)
        try send()
        guard PQputCopyEnd(conn, nil) == 1 else {
            let message = String(cString: PQerrorMessage(conn))
            drain()
            throw PostgresError(kind: isOK ? .query : .connectionLost, message: message)
        }
        var serverError: PostgresError?
        while let result = OwnedResult(PQgetResult(conn)) {
            if result.status != PGRES_COMMAND_OK, serverError == nil { serverError = result.error(kind: errorKind(), statement: copyStatement) }
        }
        if let serverError { throw serverError }
        return count
    }

    private func drain() {
        while let _ = OwnedResult(PQgetResult(conn)) {}
    }

    private func errorKind() -> PostgresError.Kind { isOK ? .query : .connectionLost }

    private func lostOrError() -> PostgresError {
        PostgresError(kind: isOK ? .protocolError : .connectionLost,
                      message: String(cString: PQerrorMessage(conn)))
    }
}

private func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}

private func withOptionalCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for p in pointers { free(p) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}
