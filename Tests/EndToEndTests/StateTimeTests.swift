import Postgres
import ReconCore
import TestSupport
import Testing

/// The state's open findings carry their first-seen time as epoch seconds, formatted by recon
/// (`CivilDate.isoUTC`): the text must be what the server's `to_char` wrote before, for any moment.
struct StateTimeTests {
    @Test func firstSeenTimesFormatAsTheServerDid() throws {
        let database = try TestDatabase.create("state_time")
        defer { TestDatabase.drop(database) }
        let c = try Connection(conninfo: try TestDatabase.url(database: database))
        try c.execute("SET TimeZone = 'UTC'")
        let moments = ["2026-12-03 06:54:07.737+00", "2024-02-29 23:59:59.999999+00", "2000-01-01 00:00:00+00", "1970-01-01 00:00:00+00",
                       "1969-12-31 23:59:59.5+00", "1900-03-01 12:34:56+00", "0999-07-04 01:02:03+00", "2026-03-29 01:30:00+02",
                       "9999-12-31 23:59:59+00"]
        let rows = try c.query("""
            SELECT to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), floor(date_part('epoch', t))::bigint
            FROM unnest($1::timestamptz[]) AS u(t)
            """, [textArrayLiteral(moments)])
        #expect(rows.count == moments.count)
        for r in rows {
            let epoch = try #require(r[1].flatMap { Int64($0) })
            #expect(CivilDate.isoUTC(epoch) == r[0], "\(epoch)")
        }
    }
}
