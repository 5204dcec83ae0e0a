import Foundation
public import Postgres
public import ReconCore

/// A problem with the state database: named, never carrying record values (the server's own
/// errors are redacted by `PostgresError`).
public enum StateError: Error, CustomStringConvertible {
    /// A statement failed; `doing` says what recon was doing when it matters to the reader.
    case server(PostgresError, doing: String? = nil)
    case noSchema
    case schemaBehind(found: Int, needed: Int)
    case schemaAhead(found: Int, known: Int)
    indirect case migrationFailed(version: Int, StateError)
    case unknownFinding(String)
    case unknownBatch(String)
    /// The state database restarted or the run's session ended: the lock went with it.
    case lostRunLock
    /// A recon function answered with no row.
    case noAnswer(function: String)

    public var description: String {
        switch self {
        case .server(let error, let doing): return "state database: " + (doing.map { "\($0): " } ?? "") + "\(error)"
        case .noSchema: return "state database has no recon schema: run `recon migrate` (needs a role that may create the schema recon)"
        case .schemaBehind(let v, let latest): return "state schema is at version \(v), this recon needs \(latest): run `recon migrate`"
        case .schemaAhead(let v, let latest): return "state schema is at version \(v), newer than this recon knows (\(latest)): upgrade recon"
        case .migrationFailed(let version, let error): return "migration \(version) failed: \(error.description)"
        case .unknownFinding(let id): return "unknown finding id \(id): it has not been seen by any recorded run"
        case .unknownBatch(let id): return "unknown batch \(id) (recon batch list shows the batches)"
        case .lostRunLock: return "state database: this run lost its run lock (the state database restarted or its session ended); nothing was recorded"
        case .noAnswer(let function): return "\(function) returned nothing"
        }
    }
}

/// recon's own state in the `recon` schema of the state database: schema version, the run lock,
/// run history, the finding lifecycle and waivers. One dedicated session per run; the run lock is
/// a session-level advisory lock on it, so a killed run never leaves it held.
public final class StateStore {
    public let connection: Connection
    /// The advisory lock key that serialises runs ("recon" in ASCII).
    public static let runLockKey: Int64 = 0x72_65_63_6F_6E
    /// How `pg_locks` shows the key: its high and low 32 bits (`classid`, `objid`).
    static let runLockKeyParts: [String?] = [String(runLockKey >> 32), String(runLockKey & 0xFFFF_FFFF)]

    /// - Throws: `StateError` when the state database cannot be reached.
    /// - Parameter sessionOptions: server settings for the session (timeouts), as for `Connection`.
    public init(conninfo: String, sessionOptions: String? = nil) throws {
        do {
            connection = try Connection(conninfo: conninfo, applicationName: "recon-state", sessionOptions: sessionOptions)
            try connection.execute("SET TimeZone = 'UTC'")
        } catch let error as PostgresError {
            throw StateError.server(error)
        }
    }

    func q(_ sql: String, _ params: [String?] = []) throws -> [[String?]] {
        do { return try connection.query(sql, params) } catch let error as PostgresError {
            throw StateError.server(error)
        }
    }

    /// The applied schema version, or nil when the `recon` schema has not been created.
    public func schemaVersion() throws -> Int? {
        let exists = try q("SELECT to_regclass('recon.schema_version') IS NOT NULL")
        guard exists.first?.first == "t" else { return nil }
        return try q("SELECT coalesce(max(version), 0) FROM recon.schema_version").first?.first.flatMap { $0 }.flatMap { Int($0) }
    }

    /// - Throws: `StateError` when the schema is missing, older or newer than this recon.
    public func checkVersion() throws {
        let latest = Migrations.latest
        switch try schemaVersion() {
        case nil:
            throw StateError.noSchema
        case let v? where v < latest:
            throw StateError.schemaBehind(found: v, needed: latest)
        case let v? where v > latest:
            throw StateError.schemaAhead(found: v, known: latest)
        default:
            return
        }
    }

    /// Applies the migrations not applied yet, each in its own transaction, serialised by a
    /// transaction-level advisory lock. - Returns: the versions applied.
    public func migrate() throws -> [Migrations.Migration] {
        var applied: [Migrations.Migration] = []
        let current = try schemaVersion() ?? 0
        if current > Migrations.latest {
            throw StateError.schemaAhead(found: current, known: Migrations.latest)
        }
        for m in Migrations.all where m.version > current {
            do {
                let done: Bool = try transaction {
                    _ = try connection.query("SELECT pg_advisory_xact_lock($1)", [String(Self.runLockKey + 1)])
                    // Another migrate may have applied it while we waited.
                    if (try schemaVersion() ?? 0) >= m.version { return false }
                    try connection.execute(m.sql)
                    _ = try connection.query("INSERT INTO recon.schema_version (version, description) VALUES ($1, $2)",
                                             [String(m.version), m.description])
                    return true
                }
                if done { applied.append(m) }
            } catch let error as StateError {
                throw StateError.migrationFailed(version: m.version, error)
            }
        }
        return applied
    }

    public func currentUser() throws -> String {
        try q("SELECT current_user").first?.first.flatMap { $0 } ?? "unknown"
    }

    /// The role the session logged in as: the approver of record (a `SET ROLE` changes nothing).
    public func sessionUser() throws -> String {
        try q("SELECT session_user").first?.first.flatMap { $0 } ?? "unknown"
    }

    public func runExists(_ runId: String) throws -> Bool {
        try q("SELECT 1 FROM recon.runs WHERE run_id = $1", [runId]).count == 1
    }

    public func beginRun(runId: String, startedAt: String, host: String, pid: Int32, reportsDirectory: String) throws {
        _ = try q("INSERT INTO recon.runs (run_id, started_at, outcome, host, pid, reports_directory) VALUES ($1, $2, 'running', $3, $4, $5)",
                  [runId, startedAt, host, String(pid), reportsDirectory])
    }

    /// The server process of this session (to end it when the run is stopped from outside).
    public func backendPid() throws -> String {
        try q("SELECT pg_backend_pid()").first?.first.flatMap { $0 } ?? ""
    }

    /// Findings open after the last completed run, with their history (nights counted up to
    /// that run). Their records are not read: only resolved findings need them (`records(of:)`).
    public func openFindings() throws -> OpenFindings {
        var out = OpenFindings()
        var spans: [CopyLine.Span] = []
        do {
            // Sized for the last night's findings (open or waived: about what is open now), up
            // to 16M (more would grow as before).
            let last = try connection.query("""
                SELECT findings_total FROM recon.runs WHERE seq = (SELECT max(seq) FROM recon.runs)
                """).first?[0].flatMap { Int($0) } ?? 0
            if last > 0 { out = OpenFindings(capacity: min(last + last / 16, 1 << 24)) }
            // A few hundred thousand rows a night: read as bytes, one String per distinct value.
            // The first-seen time comes as epoch seconds, formatted here once per distinct value
            // rather than by the server for every row.
            var lastEpoch: Int64?
            var lastAt: [UInt8] = []
            try connection.copyOutLines(select: """
                SELECT finding_id, first_seen_run, floor(date_part('epoch', first_seen_at))::bigint,
                       coalesce((SELECT max(seq) FROM recon.runs) - first_seen_seq + 1, nights_open), type, entity, digest
                FROM recon.findings WHERE open
                """) { line in
                CopyLine.split(line, into: &spans)
                guard spans.count == 7 else { return }
                // Field k's bytes, unescaped when needed (ids and runs have no escapes); nil for NULL.
                func field<R>(_ k: Int, _ body: (UnsafeBufferPointer<UInt8>?) -> R) -> R {
                    let s = spans[k]
                    if !s.escaped { return body(UnsafeBufferPointer(rebasing: line[s.start..<s.end])) }
                    if CopyLine.isNull(line, s) { return body(nil) }
                    var decoded: [UInt8] = []
                    CopyLine.unescape(line, s, into: &decoded)
                    return decoded.withUnsafeBufferPointer { body($0) }
                }
                guard let t = field(4, { $0.flatMap(FindingType.init(bytes:)) }), let e = field(5, { $0.flatMap(Entity.init(bytes:)) }) else { return }
                let nights = field(3) { $0.flatMap(Self.integer) } ?? 0
                let digest = field(6) { $0.flatMap(Self.integer) }
                field(0) { id in
                    guard let id else { return }
                    let epoch = field(2) { $0.flatMap(Self.integer) }
                    if let epoch, epoch != lastEpoch {
                        lastEpoch = epoch
                        lastAt = Array(CivilDate.isoUTC(epoch).utf8)
                    }
                    field(1) { run in
                        let empty = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
                        let add = { (at: UnsafeBufferPointer<UInt8>) in
                            out.add(id: id, firstSeenRun: run ?? empty, firstSeenAt: at, nightsOpen: Int(nights),
                                    type: t, entity: e, digest: digest)
                        }
                        if epoch == nil { add(empty) } else { lastAt.withUnsafeBufferPointer { add($0) } }
                    }
                }
            }
        } catch let error as PostgresError {
            throw StateError.server(error)
        }
        return out
    }

    /// A decimal integer's value (`-` allowed), or nil.
    static func integer(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0, negative = false
        if b.first == UInt8(ascii: "-") { negative = true; i = 1 }
        // Up to 19 digits (a digest is a signed 64-bit hash) on the bytes; anything longer as text.
        guard i < b.count, b.count - i <= 19 else { return Int64(String(decoding: b, as: UTF8.self)) }
        var v: UInt64 = 0
        while i < b.count {
            let d = b[i] &- 48
            guard d < 10 else { return nil }
            v = v * 10 + UInt64(d)
            i += 1
        }
        if negative { return v <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- v) : nil }
        return v <= UInt64(Int64.max) ? Int64(v) : nil
    }

    /// The stored records (`crm:id erp:id …`) of the given findings, by id.
    public func records(of ids: [String]) throws -> [String: String] {
        guard !ids.isEmpty else { return [:] }
        var out: [String: String] = [:]
        // Finding ids are letters, digits and dashes: safe inside an array literal.
        for r in try q("SELECT finding_id, records FROM recon.findings WHERE finding_id = ANY($1::text[])",
                       ["{" + ids.joined(separator: ",") + "}"]) {
            if let id = r[0] { out[id] = r[1] ?? "" }
        }
        return out
    }

    /// Finding ids whose newest waiver has not expired (`until` is today or later, or none).
    /// The outbox keys of corrections sent and not yet delivered (`PlanAction.outboxKey`).
    public func inFlightKeys() throws -> Set<String> {
        Set(try q("SELECT recon.in_flight_keys()").compactMap { $0.first ?? nil })
    }

    public func activeWaivers() throws -> Set<String> {
        let rows = try q("""
            SELECT finding_id FROM (
              SELECT DISTINCT ON (finding_id) finding_id, until FROM recon.waivers ORDER BY finding_id, waived_at DESC, waiver_id DESC
            ) w WHERE until IS NULL OR until >= current_date
            """)
        return Set(rows.compactMap { $0.first.flatMap { $0 } })
    }

    /// Records a waiver. - Throws: when the finding id has never been seen.
    public func waive(findingId: String, reason: String, until: String?) throws -> String {
        guard try q("SELECT 1 FROM recon.findings WHERE finding_id = $1", [findingId]).count == 1 else {
            throw StateError.unknownFinding(findingId)
        }
        let rows = try q("INSERT INTO recon.waivers (finding_id, reason, until) VALUES ($1, $2, $3::date) RETURNING waived_by",
                         [findingId, reason, until])
        return rows.first?.first.flatMap { $0 } ?? ""
    }

    public struct RunRecord: Sendable {
        public var outcome: String
        public var exitCode: Int32
        public var findingsTotal: Int
        public var counts: String          // JSON
        public var recordsRead: String     // JSON
        public var timings: String         // JSON
        public var breaches: String        // JSON
        public var snapshot: String?
        public init(outcome: String, exitCode: Int32, findingsTotal: Int, counts: String, recordsRead: String,
                    timings: String, breaches: String, snapshot: String?) {
            self.outcome = outcome; self.exitCode = exitCode; self.findingsTotal = findingsTotal; self.counts = counts
            self.recordsRead = recordsRead; self.timings = timings; self.breaches = breaches; self.snapshot = snapshot
        }
    }

    /// Writes a completed run and its findings' lifecycle in a transaction that stays open: the
    /// run publishes its reports, then `commitRun` makes the state final (or `abandonRun` leaves
    /// it as it was). So the state records a night only if its reports were published, and a
    /// run that fails before commits nothing: the next run reports every change since the last
    /// published one. Only what changed is written: findings new in this run, findings whose stored content changed, and resolved
    /// ones; a finding that persists unchanged is not touched (its nights are counted from the
    /// number of the run that opened it, `first_seen_seq`).
    public func stageRun(runId: String, lifecycle: Lifecycle, record: RunRecord) throws {
        do {
            // Not `transaction`: it stays open until `commitRun` (once the folder is published) or `abandonRun`.
            try connection.execute("BEGIN")
            // The run lock is held: no other run takes a number meanwhile.
            let last = try connection.query("""
                SELECT seq, run_id, finished_at FROM recon.runs WHERE seq = (SELECT max(seq) FROM recon.runs)
                """).first
            let lastSeq = last?[0].flatMap { Int($0) } ?? 0
            let seq = lastSeq + 1
            let written = Self.inIdOrder(lifecycle.current, lifecycle.current.indices.filter { lifecycle.current[$0].changed })
            // The first night of a state database (no finding ever recorded): every finding is
            // new, so the rows go straight into their tables, without a staging table or a
            // conflict check per row (a first reconciliation can hold hundreds of thousands).
            let first = try connection.query("""
                SELECT NOT EXISTS (SELECT 1 FROM recon.findings), has_function_privilege('recon.unindex_findings()', 'EXECUTE')
                """).first
            if first?[0] == "t" {
                // The two indexes built after the rows, when this role may (README, Roles and grants).
                let unindexed = try first?[1] == "t" && connection.query("SELECT recon.unindex_findings()").first?[0] == "t"
                try recordFirstNight(lifecycle.current, written, runId: runId, seq: seq)
                if unindexed { _ = try connection.query("SELECT recon.index_findings()") }
            } else {
                try recordChanges(lifecycle.current, written, runId: runId, seq: seq)
            }
            // Resolved: open until the last run, which is where they were last seen.
            try connection.execute("CREATE TEMP TABLE gone (finding_id text) ON COMMIT DROP")
            let resolved = lifecycle.resolved
            try connection.copyIn("COPY gone FROM STDIN", count: resolved.count) { [resolved[$0].id] }
            _ = try connection.query("""
                UPDATE recon.findings f SET open = false, resolved_run = $1, resolved_at = now(),
                    nights_open = coalesce($2::int - f.first_seen_seq + 1, f.nights_open),
                    last_seen_run = coalesce($3, f.last_seen_run), last_seen_at = coalesce($4::timestamptz, f.last_seen_at)
                FROM gone WHERE f.finding_id = gone.finding_id AND f.open
                """, [runId, String(lastSeq), last?[1] ?? nil, last?[2] ?? nil])
            _ = try connection.query("INSERT INTO recon.run_findings SELECT $1, finding_id, 'resolved' FROM gone", [runId])
            _ = try connection.query("""
                UPDATE recon.runs SET finished_at = now(), outcome = $2, exit_code = $3, findings_total = $4,
                    counts = $5::jsonb, records_read = $6::jsonb, timings_ms = $7::jsonb, breaches = $8::jsonb, snapshot = $9,
                    seq = $10, phase = NULL
                WHERE run_id = $1
                """, [runId, record.outcome, String(record.exitCode), String(record.findingsTotal), record.counts,
                      record.recordsRead, record.timings, record.breaches, record.snapshot, String(seq)])
        } catch let error as PostgresError {
            try? connection.execute("ROLLBACK")
            throw StateError.server(error, doing: "cannot record the run")
        }
    }

    /// The findings of a state database's first night, all new: copied into `recon.findings`
    /// and `recon.run_findings` directly. `last_seen_at` is the transaction's `now()`, as the
    /// later nights' statements write it.
    private func recordFirstNight(_ current: [TrackedFinding], _ written: [Int], runId: String, seq: Int) throws {
        let at = try microseconds(of: Self.firstSeenTimes(current, written))
        let now = try connection.query("SELECT \(Self.microsecondsSince2000("now()"))").first?[0].flatMap { Int64($0) } ?? 0
        try connection.copyInBinary("""
            COPY recon.findings (finding_id, type, entity, severity, field, records, detail, first_seen_run, first_seen_at,
                last_seen_run, last_seen_at, nights_open, open, first_seen_seq, digest) FROM STDIN (FORMAT binary)
            """, count: written.count) { i, row in
            current.prefetch(rows: written, ahead: i)
            let t = current[written[i]]
            Self.describe(t.finding, into: &row)
            row.text(t.firstSeenRun)
            row.timestamptz(microsecondsSince2000: at[t.firstSeenAt] ?? now)
            row.text(runId)
            row.timestamptz(microsecondsSince2000: now)
            row.int32(Int32(t.nightsOpen))
            row.bool(true)
            row.int32(Int32(seq - t.nightsOpen + 1))
            row.int64(t.finding.stateDigest)
        }
        let opened = written.filter { current[$0].firstSeenRun == runId }
        try connection.copyInBinary("COPY recon.run_findings (run_id, finding_id, status) FROM STDIN (FORMAT binary)",
                                    count: opened.count) { i, row in
            row.text(runId)
            current.prefetch(rows: opened, ahead: i)
            let t = current[opened[i]]
            Self.idText(t.finding, into: &row)
            row.text(t.status.rawValue)
        }
    }

    /// The findings that changed since the night before (new, reopened, or with another
    /// severity, detail or set of records), through a staging table: inserted or updated.
    private func recordChanges(_ current: [TrackedFinding], _ written: [Int], runId: String, seq: Int) throws {
        try connection.execute("""
            CREATE TEMP TABLE cur (finding_id text, type text, entity text, severity text, field text, records text,
                detail text, status text, first_seen_run text, first_seen_at timestamptz, nights_open int,
                first_seen_seq int, digest bigint) ON COMMIT DROP
            """)
        let at = try microseconds(of: Self.firstSeenTimes(current, written))
        try connection.copyInBinary("COPY cur FROM STDIN (FORMAT binary)", count: written.count) { i, row in
            current.prefetch(rows: written, ahead: i)
            let t = current[written[i]]
            Self.describe(t.finding, into: &row)
            row.text(t.status.rawValue)
            row.text(t.firstSeenRun)
            if let micros = at[t.firstSeenAt] { row.timestamptz(microsecondsSince2000: micros) } else { row.null() }
            row.int32(Int32(t.nightsOpen))
            row.int32(Int32(seq - t.nightsOpen + 1))
            row.int64(t.finding.stateDigest)
        }
        _ = try connection.query("""
            INSERT INTO recon.findings AS f (finding_id, type, entity, severity, field, records, detail, first_seen_run,
                first_seen_at, last_seen_run, last_seen_at, nights_open, open, first_seen_seq, digest)
            SELECT finding_id, type, entity, severity, field, records, detail, first_seen_run, first_seen_at, $1, now(),
                nights_open, true, first_seen_seq, digest
            FROM cur
            ON CONFLICT (finding_id) DO UPDATE SET
                severity = EXCLUDED.severity, records = EXCLUDED.records, detail = EXCLUDED.detail,
                first_seen_run = EXCLUDED.first_seen_run, first_seen_at = EXCLUDED.first_seen_at,
                last_seen_run = EXCLUDED.last_seen_run, last_seen_at = EXCLUDED.last_seen_at,
                nights_open = EXCLUDED.nights_open, open = true, resolved_run = NULL, resolved_at = NULL,
                first_seen_seq = EXCLUDED.first_seen_seq, digest = EXCLUDED.digest
            """, [runId])
        _ = try connection.query("INSERT INTO recon.run_findings SELECT $1, finding_id, status FROM cur WHERE first_seen_run = $1", [runId])
    }

    /// A finding's first seven columns, as `recon.findings` and the staging table store them:
    /// id, type, entity, severity, field, records (`crm:id erp:id …`) and detail.
    private static func describe(_ finding: Finding, into row: inout BinaryCopyRow) {
        idText(finding, into: &row)
        row.text(finding.type.rawValue)
        row.text(finding.entity.rawValue)
        row.text(finding.severity.rawValue)
        row.text(finding.field)
        row.text { finding.appendRecordsText(to: &$0) }
        row.text(finding.detail)
    }

    private static func idText(_ finding: Finding, into row: inout BinaryCopyRow) {
        row.text { bytes in finding.withIdBytes { bytes.append(contentsOf: $0) } }
    }

    /// `rows` in the order of their findings' ids (the ids' byte order). Written in that order,
    /// each index on a finding id grows at its right edge, where PostgreSQL inserts without a
    /// descent and splits full pages, rather than in the middle, where each split leaves two
    /// half-empty pages.
    static func inIdOrder(_ current: [TrackedFinding], _ rows: [Int]) -> [Int] {
        var keyed = rows.map { (key: current[$0].finding.idKey, row: $0) }
        keyed.sort { $0.key < $1.key }
        return keyed.map(\.row)
    }

    /// The distinct first-seen times of the rows (runs of one value compared, not hashed).
    private static func firstSeenTimes(_ current: [TrackedFinding], _ rows: [Int]) -> [String] {
        var distinct: Set<String> = []
        var last: String?
        for r in rows where current[r].firstSeenAt != last {
            last = current[r].firstSeenAt
            distinct.insert(current[r].firstSeenAt)
        }
        return Array(distinct)
    }

    /// SQL for a timestamptz expression as microseconds since 2000-01-01 UTC (binary COPY's form).
    private static func microsecondsSince2000(_ expression: String) -> String {
        "(extract(epoch FROM \(expression)) * 1000000)::int8 - \(BinaryCopyRow.postgresEpochMicroseconds)"
    }

    /// The server's reading of timestamps as the state wrote them (the first-seen times of the
    /// findings' runs; a night has as many as it has distinct first nights, not one per finding).
    private func microseconds(of timestamps: [String]) throws -> [String: Int64] {
        guard !timestamps.isEmpty else { return [:] }
        let rows = try connection.query("SELECT t, \(Self.microsecondsSince2000("t::timestamptz")) FROM unnest($1::text[]) AS t",
                                        [textArrayLiteral(timestamps)])
        var out: [String: Int64] = [:]
        for r in rows { if let t = r[0], let v = r[1].flatMap({ Int64($0) }) { out[t] = v } }
        return out
    }

    /// Commits what `stageRun` (and the batch registration after it) wrote, only if `lock`'s
    /// session still holds the run lock: a run that lost its lock commits nothing.
    public func commitRun(lock: RunLock) throws {
        do {
            let held = try connection.query("""
                SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1::int
                  AND classid = $2::oid AND objid = $3::oid AND objsubid = 1
                """, [lock.backendPid] + Self.runLockKeyParts)
            guard held.count == 1 else {
                try? connection.execute("ROLLBACK")
                throw StateError.lostRunLock
            }
            try connection.execute("COMMIT")
        } catch let error as PostgresError {
            try? connection.execute("ROLLBACK")
            throw StateError.server(error, doing: "cannot record the run")
        }
    }

    /// Leaves the state as it was before `stageRun`.
    public func abandonRun() {
        if connection.inTransaction { try? connection.execute("ROLLBACK") }
    }

    /// The run's final phase timings (plan, state and write finish after `stageRun` began).
    public func recordTimings(runId: String, timings: String) {
        _ = try? q("UPDATE recon.runs SET timings_ms = $2::jsonb WHERE run_id = $1", [runId, timings])
    }

    /// Runs still marked running, with how far each got (call while holding the run lock: their
    /// processes are gone).
    public func runningRuns() throws -> [(runId: String, phase: String?, reportsDirectory: String?)] {
        try q("SELECT run_id, phase, reports_directory FROM recon.runs WHERE outcome = 'running' ORDER BY started_at").map { ($0[0] ?? "", $0[1], $0[2]) }
    }

    /// Marks a run whose process ended without finishing it as failed, with `error` as its reason.
    public func closeInterruptedRun(_ runId: String, error: String) {
        _ = try? q("UPDATE recon.runs SET finished_at = now(), outcome = 'error', exit_code = 2, error = $2 WHERE run_id = $1 AND outcome = 'running'",
                   [runId, error])
    }

    /// Marks a run failed (best effort: the state database may be the thing that failed).
    public func failRun(runId: String, error: String, exitCode: Int32) {
        _ = try? q("UPDATE recon.runs SET finished_at = now(), outcome = 'error', exit_code = $2, error = $3 WHERE run_id = $1",
                   [runId, String(exitCode), error])
    }

    public struct HistoryPoint: Sendable {
        public var runId: String
        public var startedAt: String
        public var outcome: String
        /// "type/entity" → open count.
        public var open: [String: Int]
    }

    /// The last `limit` runs, oldest first.
    public func history(limit: Int = 30) throws -> [HistoryPoint] {
        let rows = try q("""
            SELECT run_id, to_char(started_at, 'YYYY-MM-DD HH24:MI'), outcome, coalesce(counts::text, '{}')
            FROM (SELECT * FROM recon.runs WHERE outcome <> 'running' ORDER BY started_at DESC LIMIT $1) r ORDER BY started_at
            """, [String(limit)])
        return rows.map { r in
            var open: [String: Int] = [:]
            if let data = r[3]?.data(using: .utf8),
               let obj = try? JSONSerialization.jsonObject(with: data) as? [String: [String: Int]] {
                for (k, v) in obj { open[k] = v["open"] ?? 0 }
            }
            return HistoryPoint(runId: r[0] ?? "", startedAt: r[1] ?? "", outcome: r[2] ?? "", open: open)
        }
    }

    /// When the last run that completed (clean or breached) finished, as Unix seconds.
    public func lastSuccess() throws -> Double? {
        try q("SELECT extract(epoch FROM max(finished_at))::float8 FROM recon.runs WHERE outcome IN ('clean', 'breached')")
            .first?.first.flatMap { $0 }.flatMap { Double($0) }
    }

    /// Findings open after the most recent completed run, and those it resolved, with their
    /// status (for `recon explain`): waived (a waiver in force now), new (opened by that run),
    /// persisting, or resolved.
    /// Every decision about identities, oldest first (`IdentityDecisions` keeps the latest per pair).
    public func decisions() throws -> [IdentityDecisions.Decision] {
        try decisionRows().map(\.decision)
    }

    public struct DecisionRow: Sendable {
        public var decision: IdentityDecisions.Decision
        public var reason: String
        public var decidedBy: String
        public var source: String
    }

    /// The decisions with who, why and from where, oldest first.
    public func decisionRows() throws -> [DecisionRow] {
        try q("""
            SELECT decision_id, verdict, a_system, a_id, b_system, b_id, to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   reason, decided_by, source
            FROM recon.decisions ORDER BY decision_id
            """).compactMap { r in
            guard let n = r[0].flatMap({ Int64($0) }), let v = r[1].flatMap(IdentityDecisions.Verdict.init(rawValue:)),
                  let sa = r[2].flatMap(System.init(rawValue:)), let a = r[3], let sb = r[4].flatMap(System.init(rawValue:)), let b = r[5] else {
                return nil
            }
            return DecisionRow(decision: .init(number: n, verdict: v, a: .init(system: sa, id: a), b: .init(system: sb, id: b), decidedAt: r[6] ?? ""),
                               reason: r[7] ?? "", decidedBy: r[8] ?? "", source: r[9] ?? "")
        }
    }

    /// Records a decision (through `recon.decide`, as the session's login role); returns its number.
    public func decide(_ verdict: IdentityDecisions.Verdict, _ a: IdentityDecisions.Record, _ b: IdentityDecisions.Record,
                       reason: String, source: String) throws -> Int64 {
        let rows = try q("SELECT recon.decide($1, $2, $3, $4, $5, $6, $7)",
                         [verdict.rawValue, a.system.rawValue, a.id, b.system.rawValue, b.id, reason, source])
        guard let n = rows.first?.first.flatMap({ $0 }).flatMap({ Int64($0) }) else { throw StateError.noAnswer(function: "recon.decide") }
        return n
    }

    public func latestStatuses() throws -> [String: (status: String, firstSeenAt: String, nightsOpen: Int)] {
        var out: [String: (status: String, firstSeenAt: String, nightsOpen: Int)] = [:]
        let waived = try activeWaivers()
        let rows = try q("""
            WITH l AS (SELECT run_id, seq FROM recon.runs WHERE seq = (SELECT max(seq) FROM recon.runs))
            SELECT f.finding_id, f.open, f.first_seen_run = l.run_id, to_char(f.first_seen_at, 'YYYY-MM-DD'),
                   CASE WHEN f.open THEN coalesce(l.seq - f.first_seen_seq + 1, f.nights_open) ELSE f.nights_open END
            FROM recon.findings f, l
            WHERE f.open OR f.resolved_run = l.run_id
            """)
        for r in rows {
            guard let id = r[0] else { continue }
            let status = r[1] != "t" ? "resolved" : waived.contains(id) ? "waived" : r[2] == "t" ? "new" : "persisting"
            out[id] = (status, r[3] ?? "", Int(r[4] ?? "0") ?? 0)
        }
        return out
    }
}
