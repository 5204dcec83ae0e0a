import Foundation
public import Logging
import Postgres
public import ReconCore
import ReconReports
import ReconState

/// Options a command passes to the pipeline; nil means "from recon.yml, else the default".
public struct RunOptions: Sendable {
    public var configPath: String = "recon.yml"
    public var database: String?
    public var stateDatabase: String?
    public var queriesDirectory: String?
    public var reportsDirectory: String?
    public var metricsFile: String?
    public var progress = false
    /// False turns every speed-only path off (phone fast path, parallel extraction and
    /// normalisation): the benchmark checks both give the same findings.
    public var fastPaths = true
    /// False keeps the run's mirror, matching and findings allocated when `run` returns: a
    /// command whose process ends right after saves the time of freeing them one by one; the
    /// system takes the memory back at exit (docs/PERFORMANCE.md).
    public var releaseMemory = true
    /// True catches SIGTERM and SIGINT during `run` (the command line; not tests in-process).
    public var catchSignals = false
    /// The final error line is JSON (`--log-format json`).
    public var jsonLogs = false
    public init() {}
}

/// What a run keeps allocated when `RunOptions.releaseMemory` is false: never read, let go by
/// the process's exit. Appended to by the run's thread and the batch's.
private enum KeptUntilExit {
    private nonisolated(unsafe) static var values: [Any] = []
    private static let lock = NSLock()
    static func keep(_ value: Any) {
        lock.lock()
        values.append(value)
        lock.unlock()
    }
}

/// Exit codes (README, "Exit codes").
public enum ExitStatus: Int32, Sendable {
    case clean = 0
    case breached = 1
    case error = 2
    case alreadyRunning = 3
}

/// The whole run: config → lock → extract (one snapshot) → match → lifecycle → thresholds →
/// reports → state → alert → metrics.
public struct Pipeline {
    public var options: RunOptions
    public var logger: Logger

    public init(options: RunOptions, logger: Logger) {
        self.options = options
        self.logger = logger
        Self.routeServerNotices(to: logger)
    }

    /// The server's notices and warnings become log lines (JSON under `--log-format json`),
    /// redacted like errors.
    static func routeServerNotices(to logger: Logger) {
        Connection.onNotice = { severity, sqlState, message in
            let level: Logger.Level = ["WARNING", "ERROR", "FATAL", "PANIC"].contains(severity) ? .warning : .info
            logger.log(level: level, "server \(severity.lowercased())", metadata: ["sqlstate": "\(sqlState ?? "")", "message": "\(message)"])
        }
    }

    /// Loads and checks recon.yml.
    /// - Throws: `PipelineError` naming the file (and line and column for content problems).
    /// Every file and folder recon creates from here on (reports, import files, rollback plans)
    /// gets `mode` (folders: plus x where readable), whatever the caller's umask allowed.
    static func restrictNewFiles(to mode: Int) {
        let folders = mode | ((mode & 0o444) >> 2)
        umask(mode_t(~folders & 0o777))
    }

    public func loadConfig() throws -> ReconConfig {
        // The numbering plans come first: the config's default_country is checked against them.
        do { try PhoneMetadataFile.require() } catch { throw PipelineError.phoneMetadata(error) }
        guard let data = FileManager.default.contents(atPath: options.configPath) else {
            throw PipelineError.config("\(options.configPath): config file not found")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineError.config("\(options.configPath): not valid UTF-8")
        }
        do {
            var config = try ReconConfig.parse(text, file: options.configPath)
            Self.restrictNewFiles(to: config.reportMode)
            if let q = options.queriesDirectory { config.queriesDirectory = q }
            if let r = options.reportsDirectory { config.reportsDirectory = r }
            if let s = options.stateDatabase { config.stateDatabase = s }
            return config
        } catch let error as ConfigError {
            throw PipelineError.configFile(error)
        }
    }

    /// The mirror's connection string: --database, else `database:` in recon.yml, else
    /// DATABASE_URL, else empty (libpq's PG* variables and ~/.pgpass).
    public func connectionString(_ config: ReconConfig) -> String {
        if let d = options.database { return d }
        if let d = config.database { return d }
        if let d = ProcessInfo.processInfo.environment["DATABASE_URL"], !d.isEmpty { return d }
        return ""
    }

    /// The state database: --state-database, `state_database:`, RECON_STATE_DATABASE_URL, else the mirror's.
    public func stateConnectionString(_ config: ReconConfig) -> String {
        if let s = config.stateDatabase { return s }
        if let s = ProcessInfo.processInfo.environment["RECON_STATE_DATABASE_URL"], !s.isEmpty { return s }
        return connectionString(config)
    }

    func connect(_ config: ReconConfig) throws -> Connection {
        do {
            return try withConnectRetries(config, "mirror database") {
                try Connection(conninfo: connectionString(config), sessionOptions: config.sessionOptions)
            }
        } catch let error as PostgresError {
            throw PipelineError.mirror("mirror database: \(error)")
        }
    }

    func openState(_ config: ReconConfig) throws -> StateStore {
        do {
            return try withConnectRetries(config, "state database") {
                try StateStore(conninfo: stateConnectionString(config), sessionOptions: config.sessionOptions)
            }
        } catch let e as StateError {
            throw PipelineError.state(e)
        }
    }

    /// Whether a failed connect may succeed if tried again: the server refused or was not there
    /// yet (a failover, a restart), is starting up or shutting down, or did not answer in time.
    /// Wrong passwords, unknown databases and the like are final.
    static func isTransientConnectFailure(_ message: String) -> Bool {
        ["Connection refused", "No such file or directory", "the database system is starting up", "the database system is shutting down",
         "the database system is in recovery mode", "timeout expired", "too many clients already", "could not receive data from server",
         "server closed the connection unexpectedly"].contains { message.contains($0) }
    }

    /// `body`, tried again after 1, 2, 4… seconds (at most 30) while it fails for a passing
    /// reason, `connect_retries` times at most; each retry is logged.
    func withConnectRetries<T>(_ config: ReconConfig, _ what: String, _ body: () throws -> T) throws -> T {
        var attempt = 0
        while true {
            do { return try body() } catch {
                let message = String(describing: error)
                guard attempt < config.connectRetries, Self.isTransientConnectFailure(message) else { throw error }
                attempt += 1
                let wait = min(30, 1 << (attempt - 1))
                logger.warning("connect failed, retrying", metadata: ["database": "\(what)", "attempt": "\(attempt)",
                                                                      "of": "\(config.connectRetries)", "in_s": "\(wait)"])
                Thread.sleep(forTimeInterval: Double(wait))
            }
        }
    }

    /// `recon migrate`: brings the state schema to this recon's version.
    public func migrate() throws -> [String] {
        let config = try loadConfig()
        let state = try openState(config)
        do {
            let applied = try state.migrate()
            if applied.isEmpty { return ["state schema is up to date (version \(Migrations.latest))"] }
            return applied.map { "applied migration \($0.version): \($0.description)" }
        } catch let e as StateError {
            throw PipelineError.state(e)
        }
    }

    /// `recon waive`: accepts a finding for now (recorded with who and when).
    public func waive(findingId: String, reason: String, until: String?) throws -> String {
        guard !reason.trimmingWhitespace().isEmpty else { throw PipelineError.usage("--reason must say why the finding is waived") }
        if let until { try Self.checkWaiverEnd(until, today: Date()) }
        let config = try loadConfig()
        let state = try openState(config)
        do {
            try state.checkVersion()
            let who = try state.waive(findingId: findingId, reason: reason, until: until)
            return "waived \(findingId) by \(who)" + (until.map { " until \($0)" } ?? " until further notice")
        } catch let e as StateError {
            throw PipelineError.state(e)
        }
    }

    /// A waiver's end: a real calendar date (`YYYY-MM-DD`, UTC), today or later.
    static func checkWaiverEnd(_ until: String, today: Date) throws {
        let parts = until.split(separator: "-", omittingEmptySubsequences: false)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              DateComponents(calendar: calendar, year: y, month: m, day: d).isValidDate(in: calendar) else {
            throw PipelineError.usage("--until \(until): not a date; write it as YYYY-MM-DD, e.g. 2026-12-31")
        }
        let now = calendar.dateComponents([.year, .month, .day], from: today)
        if (y, m, d) < (now.year ?? 0, now.month ?? 0, now.day ?? 0) {
            throw PipelineError.usage("--until \(until) is in the past: a waiver must end today or later (UTC)")
        }
    }

    /// Least privilege, self-checked: the mirror role should only read.
    func privilegeWarnings(_ connection: Connection, tables: Set<String>) throws -> [String] {
        var warnings: [String] = []
        do {
            if try connection.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").first?.first == "t" {
                warnings.append("WARNING: the mirror role is a superuser; give recon a role that can only read the tables the queries name (README, Roles and grants)")
            }
            let writable = try connection.query("""
                SELECT t FROM unnest($1::text[]) AS t
                WHERE has_table_privilege(current_user, t, 'INSERT') OR has_table_privilege(current_user, t, 'UPDATE')
                   OR has_table_privilege(current_user, t, 'DELETE') OR has_table_privilege(current_user, t, 'TRUNCATE')
                ORDER BY 1
                """, [textArrayLiteral(tables.map { Optional($0) })]).compactMap { $0.first ?? nil }
            if !writable.isEmpty {
                warnings.append("WARNING: the mirror role can write tables the queries read (\(writable.joined(separator: ", "))); recon needs SELECT only")
            }
        } catch let error as PostgresError {
            throw PipelineError.mirror("cannot check the mirror role's privileges: \(error)")
        }
        return warnings
    }

    /// `recon check`: config, query files and the query contract, without reading rows.
    public func check() throws -> [String] {
        let config = try loadConfig()
        var notes = ["\(options.configPath): ok"]
        let plans = try PhoneMetadataFile.current.get()
        notes.append("phone metadata: \(plans.label), \(plans.path)")
        if let warning = plans.staleWarning() { notes.append(warning) }
        if config.statuses.crm.isEmpty || config.statuses.erp.isEmpty {
            throw PipelineError.config("\(options.configPath): statuses.crm and statuses.erp must map each raw status to a canonical status")
        }
        let queries = try QueryFiles.load(directory: config.queriesDirectory)
        let connection = try connect(config)
        let reader = MirrorReader(connection: connection, queries: queries, logger: logger)
        try reader.beginSnapshot()
        var readTables: Set<String> = []
        for extract in Extract.allCases {
            // Refused before anything else, and without running it.
            let shape = try reader.planShape(extract)
            if shape.modifies {
                throw PipelineError.query("\(queries.path(extract)): the query modifies data (an INSERT, UPDATE or DELETE, perhaps inside WITH): recon only reads the mirror; it was not run")
            }
            readTables.formUnion(shape.tables)
        }
        for extract in Extract.allCases {
            let mapping = try reader.describe(extract)
            let attrs = mapping.attributes.map(\.name)
            notes.append("\(queries.path(extract)): ok"
                         + (attrs.isEmpty ? "" : " (attributes: \(attrs.joined(separator: ", ")))"))
        }
        notes += try privilegeWarnings(connection, tables: readTables)
        try reader.endSnapshot()
        let state = try openState(config)
        do {
            try state.checkVersion()
            notes.append("state database: schema version \(Migrations.latest)")
        } catch let e as StateError {
            throw PipelineError.state(e)
        }
        return notes
    }

    public struct Result {
        public var exit: ExitStatus
        public var reportPath: String?
        public var summaryText: String
        /// What `-q` prints: the outcome, the report folder and the batch, on one line.
        public var quietLine: String = ""
    }

    /// Reads the mirror in one snapshot and matches it.
    /// - Parameter settle: when given, the records changed within its window are found on the
    ///   core the orders' matching leaves free (`Reconciler.reconcile`'s `onOrdersIdle`).
    func readAndMatch(_ config: ReconConfig, decisions: IdentityDecisions = IdentityDecisions(), progress: Progress?,
                      settle: SettleWindow? = nil, onOrdersCompared: (@Sendable () -> Void)? = nil) throws
        -> (mirror: Mirror, outcome: Reconciler.Outcome, snapshot: String?, timings: [(phase: String, ms: Int)],
            recent: DeferredJob<SettleWindow.RecentRecords>) {
        var timings: [(phase: String, ms: Int)] = []
        var t = Date()
        func lap(_ phase: String) {
            let now = Date()
            timings.append((phase, Int(now.timeIntervalSince(t) * 1000)))
            logger.debug("phase done", metadata: ["phase": "\(phase)", "ms": "\(timings.last!.ms)", "rss_mib": "\(Stopwatch.residentMiB())"])
            t = now
        }
        let queries = try QueryFiles.load(directory: config.queriesDirectory)
        let connection = try connect(config)
        lap("connect")
        let reader = MirrorReader(connection: connection, queries: queries, logger: logger, progress: progress)
        let snapshot = try reader.beginSnapshot()
        let mirror: Mirror
        // The customers' emails and phones, begun by whichever connection runs out of extracts first.
        let normalising = options.fastPaths ? CustomerNormalising(defaultCountry: config.defaultCountry) : nil
        if options.fastPaths {
            // A second connection in the same snapshot: two extracts at a time, both cores decoding.
            let second = try connect(config)
            try reader.joinSnapshot(second)
            mirror = try reader.read(parallelWith: second, normalising: normalising)
            try MirrorReader(connection: second, queries: queries, logger: logger).endSnapshot()
        } else {
            mirror = try reader.read()
        }
        try reader.endSnapshot()
        lap("extract")
        progress?.note("matching")
        let recent = DeferredJob(inParallel: options.fastPaths) { [mirror, fastPaths = options.fastPaths] in
            settle?.recentRecords(in: mirror, pieces: fastPaths ? 2 : 1) ?? SettleWindow.RecentRecords()
        }
        let outcome = Reconciler.reconcile(mirror, config: config, decisions: decisions, fastPaths: options.fastPaths, normalising: normalising,
                                           onOrdersCompared: onOrdersCompared, onOrdersIdle: { recent.start() })
        progress?.clear()
        logger.debug("matching steps", metadata: Dictionary(outcome.steps.map { ($0.step, Logger.MetadataValue.string("\($0.ms) ms, ends at \($0.atMs) ms, \($0.rssMiB) MiB")) },
                                                            uniquingKeysWith: { a, _ in a }))
        timings.append(("normalise", outcome.normaliseMs))
        let trimStart = Date(), residentBefore = Stopwatch.residentMiB()
        Self.returnFreedMemory()
        logger.debug("freed memory returned", metadata: ["ms": "\(Int(Date().timeIntervalSince(trimStart) * 1000))",
                                                         "rss_mib_before": "\(residentBefore)", "rss_mib": "\(Stopwatch.residentMiB())"])
        lap("match")
        timings[timings.count - 1].ms -= outcome.normaliseMs
        logger.info("matched", metadata: ["findings": "\(outcome.findings.count)",
                                          "normalise_ms": "\(outcome.normaliseMs)", "match_ms": "\(timings.last!.ms)",
                                          "phones_fast_path": "\(outcome.phonesFast)", "phones_libphonenumber": "\(outcome.phonesSlow)"])
        return (mirror, outcome, snapshot, timings, recent)
    }

    /// `recon explain`: why recon said what it said about one record.
    public func explain(system: System, entity: Entity, id: String, showValues: Bool) throws -> String {
        let config = try loadConfig()
        let queries = try QueryFiles.load(directory: config.queriesDirectory)
        let connection = try connect(config)
        let reader = MirrorReader(connection: connection, queries: queries, logger: logger)
        try reader.beginSnapshot()
        let mirror = try reader.read()
        try reader.endSnapshot()
        var statuses: [String: (status: String, firstSeenAt: String, nightsOpen: Int)] = [:]
        var decisions = IdentityDecisions()
        var stateNote = ""
        do {
            let state = try StateStore(conninfo: stateConnectionString(config), sessionOptions: config.sessionOptions)
            try state.checkVersion()
            statuses = try state.latestStatuses()
            decisions = IdentityDecisions(try state.decisions())
        } catch {
            stateNote = " (lifecycle and decisions unknown: \(error))"
        }
        guard let e = Reconciler.explain(mirror, config: config, decisions: decisions, system: system, entity: entity, id: id,
                                         showValues: showValues) else {
            throw PipelineError.usage("\(system.rawValue) \(entity.rawValue) \(id) is not in \(Extract.of(system, entity).fileName)'s output")
        }
        var lines = ["\(e.system.rawValue) \(e.entity.rawValue) \(e.id)"]
        lines.append("keys" + (showValues ? ":" : " (values masked; --show-values shows them):"))
        for k in e.keys {
            lines.append("  " + k.name.padding(toLength: 12, withPad: " ", startingAt: 0) + (k.value.isEmpty ? "-" : k.value) + "  [\(k.state)]")
        }
        lines.append(e.entity == .customer ? "identity (\(e.identity.count) records\(e.tier.map { ", \($0.rawValue)" } ?? "")):" : "linked orders:")
        for m in e.identity { lines.append("  \(m.system.rawValue) \(m.id): \(m.how)") }
        if !e.keptApart.isEmpty {
            lines.append("kept apart:")
            for m in e.keptApart { lines.append("  \(m.system.rawValue) \(m.id): \(m.how)") }
        }
        lines.append("findings\(stateNote):")
        if e.findings.isEmpty { lines.append("  none") }
        for f in e.findings {
            let st = statuses[f.id].map { "\($0.status), first seen \($0.firstSeenAt), \($0.nightsOpen) nights open" } ?? "not yet recorded by a run"
            let others = f.members.filter { !($0.system == e.system && $0.recordId == e.id) }.map { "\($0.system.rawValue):\($0.recordId)" }
            lines.append("  \(f.id) \(f.type.rawValue)\(f.field.isEmpty ? "" : " (\(f.field))") [\(st)]: \(f.detail)"
                         + (others.isEmpty ? "" : "; with \(others.joined(separator: " "))"))
        }
        return lines.joined(separator: "\n")
    }

    /// Runs a reconciliation. Every outcome but "already running" leaves a report folder
    /// (a failed run's holds summary.json with the error), metrics (when asked) and, for a
    /// failure or a breach, an alert.
    public func run() -> Result {
        Self.tuneMalloc()
        let started = Date()
        var runId = Self.runId(started, reportsDirectory: options.reportsDirectory ?? "reports")
        var config = ReconConfig()
        var state: StateStore?
        var recordsRead: [Extract: Int] = [:]
        var timings: [(phase: String, ms: Int)] = []
        let progress = Progress(enabled: options.progress)
        let json = options.jsonLogs
        let stopper = RunGuard(stderrLine: { message in
            TerminalLine.shared.clear()
            FileHandle.standardError.write(Data((finalErrorLine(message, json: json) + "\n").utf8))
        })
        if options.catchSignals { stopper.catchSignals() }
        defer { stopper.finish() }
        logger.info("run started", metadata: ["run_id": "\(runId)"])
        do {
            config = try loadConfig()
            guard let night = try takeTheNight(config, started: started, runId: &runId, state: &state, stopper: stopper) else {
                let message = "another recon run is in progress (it holds the run lock in the state database); this run did nothing"
                logger.error("already running", metadata: ["run_id": "\(runId)"])
                return Result(exit: .alreadyRunning, reportPath: nil, summaryText: "recon: \(message)")
            }
            stopper.setPhase("reading and matching the mirror")
            let matched = try readAndMatchBesideTheState(config, store: night.store, decisions: night.decisions, started: started,
                                                         progress: progress)
            let (mirror, outcome) = (matched.mirror, matched.outcome)
            timings = matched.timings
            for e in Extract.allCases { recordsRead[e] = mirror.count(e) }
            stopper.setPhase("writing the reports")
            let written = try writeTheNight(config, night: night, runId: runId, started: started, matched: matched,
                                            recordsRead: recordsRead, timings: &timings, stopper: stopper, progress: progress)
            let result = try publishTheNight(config, night: night, runId: runId, started: started, written: written,
                                             stopper: stopper, progress: progress)
            if !options.releaseMemory { KeptUntilExit.keep((mirror, outcome, written.lifecycle, written.planned)) }
            return result
        } catch {
            progress.clear()
            let message = (error as? PipelineError)?.description ?? "\(error)"
            logger.error("run failed", metadata: ["run_id": "\(runId)", "error": "\(message)"])
            state?.abandonRun()
            state?.failRun(runId: runId, error: message, exitCode: ExitStatus.error.rawValue)
            let summary = RunSummary(runId: runId, startedAt: started, outcome: "error", exitCode: ExitStatus.error.rawValue,
                                     error: message, recordsRead: recordsRead, timingsMs: timings, failOn: config.failOn)
            let writer = ReportWriter(reportsDirectory: options.reportsDirectory ?? config.reportsDirectory)
            let history: [StateStore.HistoryPoint] = (try? state?.history(limit: 30)) ?? []
            let path = try? writer.publishFailure(summary: summary, history: history.map {
                HistoryPoint(runId: $0.runId, startedAt: $0.startedAt, outcome: $0.outcome, open: $0.open)
            })
            if let path {
                alert(config, summaryFile: path + "/summary.json", runId: runId, outcome: "error")
            }
            writeMetrics(summary: summary, started: started, state: state)
            return Result(exit: .error, reportPath: path, summaryText: message)
        }
    }


    /// What a run holds once it has the night.
    struct Night {
        let writer: ReportWriter
        let store: StateStore
        let lock: RunLock
        let decisions: IdentityDecisions
    }

    /// The mirror read and matched, and the state's read started beside it.
    struct Matched {
        let mirror: Mirror
        let outcome: Reconciler.Outcome
        let snapshot: String?
        let timings: [(phase: String, ms: Int)]
        let known: DeferredJob<Known>
        let settle: SettleWindow
        /// The records changed within `settle`.
        let recent: DeferredJob<SettleWindow.RecentRecords>
    }

    /// What the state knows before the night is written: open findings, waivers, corrections
    /// sent and not yet delivered, and the night batch awaiting a decision.
    struct Known {
        var open: OpenFindings
        let waived: Set<String>
        let inFlight: Set<String>
        let pending: PendingNightBatch?
        let ms: Int
    }

    /// The night's batch: a new one (its plan and plan.json's hash), or the pending batch, planned
    /// again unchanged or kept because tonight's inputs are the ones it was planned from
    /// (`PlanInputs`); with the digest of tonight's inputs (nil when there is none).
    enum Planned {
        case new(plan: Plan, sha256: String, inputs: String?)
        case unchanged(PendingNightBatch, inputs: String?, sameInputs: Bool)

        var plan: Plan? { if case .new(let plan, _, _) = self { return plan } else { return nil } }
        /// The batch and the digest a run records (`StateStore.recordPlanInputs`), if any.
        var recorded: (batchId: String, inputs: String)? {
            switch self {
            case .new(let plan, _, let inputs?): return (plan.batchId, inputs)
            case .unchanged(let b, let inputs?, _): return (b.batchId, inputs)
            default: return nil
            }
        }
    }

    /// The night's findings with their lifecycle, the batch, and the folder they are written into.
    struct Written {
        var summary: RunSummary
        let lifecycle: Lifecycle
        let planned: Planned?
        let alreadySent: Int
        let folder: ReportFolder
        let exit: ExitStatus
    }

    /// 1. Takes the night: old temporary folders removed, the state's schema checked, the run lock
    /// taken (nil: another run holds it), dead runs closed, the run's id settled and recorded as
    /// begun, the guard told what to undo on a signal, the reviewers' decisions read.
    private func takeTheNight(_ config: ReconConfig, started: Date, runId: inout String, state: inout StateStore?,
                              stopper: RunGuard) throws -> Night? {
        let writer = ReportWriter(reportsDirectory: config.reportsDirectory)
        writer.removeLeftovers()
        let store = try openState(config)
        do { try store.checkVersion() } catch let e as StateError { throw PipelineError.state(e) }
        let taken: RunLock?
        do {
            taken = try withConnectRetries(config, "state database") {
                try RunLock.take(conninfo: stateConnectionString(config), sessionOptions: config.sessionOptions)
            }
        } catch let e as StateError { throw PipelineError.state(e) }
        guard let lock = taken else { return nil }
        state = store
        // We hold the lock: a run still marked running has no process any more.
        closeDeadRuns(store, reportsDirectory: config.reportsDirectory)
        // A killed run may have taken this id in the state without publishing its folder.
        runId = Self.runId(started, reportsDirectory: config.reportsDirectory, taken: { (try? store.runExists($0)) ?? false })
        // To the microsecond: whether a correction was applied before a run started decides
        // whether that run's resolved findings mean it was delivered (recon.add_corrections).
        let precise = ISO8601DateFormatter()
        precise.formatOptions.insert(.withFractionalSeconds)
        try store.beginRun(runId: runId, startedAt: precise.string(from: started),
                           host: ProcessInfo.processInfo.hostName, pid: ProcessInfo.processInfo.processIdentifier,
                           reportsDirectory: URL(fileURLWithPath: config.reportsDirectory).standardizedFileURL.path)
        stopper.attach(runId: runId, lock: lock, stateSession: try? store.backendPid()) { [runId, options, config] reason in
            let summary = RunSummary(runId: runId, startedAt: started, outcome: "error", exitCode: ExitStatus.error.rawValue,
                                     error: reason, recordsRead: [:], timingsMs: [], failOn: config.failOn)
            _ = try? ReportWriter(reportsDirectory: options.reportsDirectory ?? config.reportsDirectory)
                .publishFailure(summary: summary, history: [], aside: true)
        }
        // Reviewers' decisions about identities come before every key.
        return Night(writer: writer, store: store, lock: lock, decisions: IdentityDecisions(try store.decisions()))
    }

    /// 2. Reads the mirror in one snapshot and matches it; the state's open findings and waivers
    /// are read on their own connection meanwhile, and the records changed just before the run
    /// (`SettleWindow`) are found once the orders' matching leaves a core free.
    private func readAndMatchBesideTheState(_ config: ReconConfig, store: StateStore, decisions: IdentityDecisions, started: Date,
                                            progress: Progress) throws -> Matched {
        // What the state knows (open findings, waivers) is read on its own connection, started
        // once the linked orders are compared: when a core is likely to wait (docs/PERFORMANCE.md).
        let plansBatch = config.ownership != nil
        let known = DeferredJob(inParallel: options.fastPaths) { () -> Known in
            let t = Date()
            return Known(open: try store.openFindings(), waived: try store.activeWaivers(), inFlight: plansBatch ? try store.inFlightKeys() : [],
                         pending: plansBatch ? try store.pendingNightBatch() : nil, ms: Int(Date().timeIntervalSince(t) * 1000))
        }
        do {
            let window = SettleWindow(runStartedAt: Int64(started.timeIntervalSince1970), seconds: config.settleAfterSeconds)
            let (mirror, outcome, snapshot, timings, recent) = try readAndMatch(config, decisions: decisions, progress: progress, settle: window,
                                                                                onOrdersCompared: { known.start() })
            return Matched(mirror: mirror, outcome: outcome, snapshot: snapshot, timings: timings, known: known,
                           settle: window, recent: recent)
        } catch {
            known.waitIfStarted()     // the state connection is free again before the error is handled
            throw error
        }
    }

    /// 3. The lifecycle (new, persisting, resolved), the batch (planned on a second thread), the
    /// findings' reports and the run staged in the state (on a third), in a folder not yet published.
    private func writeTheNight(_ config: ReconConfig, night: Night, runId: String, started: Date, matched: Matched,
                               recordsRead: [Extract: Int], timings: inout [(phase: String, ms: Int)], stopper: RunGuard,
                               progress: Progress) throws -> Written {
        let (writer, store, mirror, outcome, snapshot, known) = (night.writer, night.store, matched.mirror, matched.outcome, matched.snapshot, matched.known)
        let t = Date()
        // Findings of records changed just before the run: settling (see SettleWindow).
        let settling = matched.settle.settling(outcome.findings, recent: try matched.recent.take())
        // Taken from the job, not copied: the open findings are let go once the lifecycle is
        // worked out, before the batch and the reports reach their peak.
        var state = try known.take()
        let (waived, inFlight, pending) = (state.waived, state.inFlight, state.pending)
        logger.debug("state read", metadata: ["open_findings": "\(state.open.count)", "ms": "\(state.ms)"])
        // The batch needs only the findings and the waivers: it is planned (and plan.json and
        // plan.csv written, plan.json hashed) on a second thread from here on, while this one
        // works out the lifecycle and writes the findings' CSVs.
        progress.note("writing reports")
        let folder: ReportFolder
        do { folder = try writer.begin(runId) } catch let e as ReportError { throw PipelineError.report(e) }
        stopper.working(in: folder.tempPath)
        let planJob = BackgroundJob(inParallel: options.fastPaths) { [config, runId, started] () -> (Planned, Int, Int)? in
            guard let ownership = config.ownership else { return nil }
            let t = Date()
            // What the batch is planned from: the same as the pending batch's, it would be planned
            // again unchanged, so it is kept as it is (its plan file still the registered one).
            // Worked out only when a night batch is pending: a batch planned when none was (a first
            // night) gets it from the next night that plans it again, unchanged.
            let inputs = pending == nil ? nil
                : PlanInputs.digest(config: config, mirror: mirror, decisions: night.decisions, leftOut: waived.union(settling),
                                    inFlight: inFlight, parallel: options.fastPaths)
            if let pending, let inputs, inputs == pending.inputsSHA256, inFlight.isEmpty,
               pending.allowSelfApproval == config.allowSelfApproval, Plan.sha256(ofFile: pending.planPath) == pending.planSHA256 {
                return (.unchanged(pending, inputs: inputs, sameInputs: true), Int(Date().timeIntervalSince(t) * 1000), 0)
            }
            let builder = PlanBuilder(mirror: mirror, config: config, ownership: ownership, match: outcome.customers,
                                      index: options.fastPaths ? outcome.index : nil)
            // In parts that either core claims when free: parts of the findings cost unequal work
            // (an orphan is a customer to create, an invalid value a line for a human), and two
            // fixed halves left one core waiting for the other's half at the end.
            let left = FindingIdKey.keys(of: waived.union(settling))
            let toPlan = left.isEmpty ? outcome.findings : outcome.findings.filter { !left.contains($0.idKey) }
            var plan = builder.build(findings: toPlan, batchId: "B-" + runId,
                                     runId: runId, createdAt: Plan.createdAt(ofRun: runId) ?? ISO8601DateFormatter().string(from: started),
                                     pieces: options.fastPaths ? 32 : 1)
            // Actions already sent for the same state, not yet delivered, are left out: the
            // batch holds only what would change something.
            let sent = inFlight.isEmpty ? 0 : plan.actions.reduce(0) { $0 + (inFlight.contains($1.outboxKey) ? 1 : 0) }
            if sent > 0 {
                plan = Plan(batchId: plan.batchId, runId: plan.runId, createdAt: plan.createdAt, rollbackOf: plan.rollbackOf,
                            actions: plan.actions.filter { !inFlight.contains($0.outboxKey) }, needsHuman: plan.needsHuman)
            }
            let ms = Int(Date().timeIntervalSince(t) * 1000)
            if let pending, pending.allowSelfApproval == config.allowSelfApproval, Self.isUnchanged(plan, pending, parallel: options.fastPaths) {
                // Tonight's copy is not needed: freeing its actions one by one would be the
                // night's last work on this thread.
                if !options.releaseMemory { KeptUntilExit.keep(plan) }
                return (.unchanged(pending, inputs: inputs, sameInputs: false), ms, sent)
            }
            // plan.csv and plan.xlsx on a thread each while this one writes plan.json (the
            // findings' CSVs are usually done by now, and each would otherwise follow on its own).
            // plan.json, the longest, is formatted on both cores, so that neither waits idle for
            // it at the end. plan.csv's thread, the first done, drafts batch.html, which waits
            // only for the hash.
            let csvJob = BackgroundJob(inParallel: true) { () throws -> BatchPage.Draft in
                try folder.writePlanCSV(plan)
                return BatchPage.draft(plan)
            }
            let xlsxJob = BackgroundJob(inParallel: true) { try folder.writePlanXLSX(plan) }
            let sha: String
            do {
                sha = try folder.writePlanJSON(plan, inParallel: options.fastPaths)
                try folder.writeBatchPage(try csvJob.wait(), sha256: sha)
            } catch {
                _ = try? csvJob.wait()
                _ = try? xlsxJob.wait()
                throw error
            }
            do { _ = try csvJob.wait() } catch { _ = try? xlsxJob.wait(); throw error }
            try xlsxJob.wait()
            return (.new(plan: plan, sha256: sha, inputs: inputs), ms, sent)
        }
        // The CSV per type needs no lifecycle: written beside it (one thread's pass over the findings).
        let types = folder.beginTypeCSVs(outcome.findings, mirror: mirror, index: options.fastPaths ? outcome.index : nil,
                                         parallel: options.fastPaths)
        var lifecycle: Lifecycle
        do {
            lifecycle = Lifecycle.compute(findings: outcome.findings, open: state.open, waived: waived, settling: settling, runId: runId,
                                          now: ISO8601DateFormatter().string(from: started))
            state.open = OpenFindings()
            if !lifecycle.resolved.isEmpty {
                let records = try store.records(of: lifecycle.resolved.map(\.id))
                for i in lifecycle.resolved.indices { lifecycle.resolved[i].history.records = records[lifecycle.resolved[i].id] ?? "" }
            }
        } catch {
            _ = try? planJob.wait()
            _ = try? types.wait()
            folder.discard()
            throw error
        }
        let breaches = Self.breaches(config, lifecycle)
        let exit: ExitStatus = breaches.isEmpty ? .clean : .breached
        let counts = lifecycle.counts()
        timings.append(("lifecycle", Int(Date().timeIntervalSince(t) * 1000)))
        logger.debug("phase done", metadata: ["phase": "lifecycle", "rss_mib": "\(Stopwatch.residentMiB())"])
        var byStatus: [LifecycleStatus: Int] = [:]
        for i in lifecycle.current.indices { byStatus[lifecycle.current[i].status, default: 0] += 1 }
        logger.info("lifecycle", metadata: [
            "new": "\(byStatus[.new] ?? 0)", "persisting": "\(byStatus[.persisting] ?? 0)", "waived": "\(byStatus[.waived] ?? 0)", "settling": "\(byStatus[.settling] ?? 0)",
            "resolved": "\(lifecycle.resolved.count)", "breaches": "\(breaches.count)"])

        var summary = RunSummary(runId: runId, startedAt: started, outcome: exit == .clean ? "clean" : "breached",
                                 exitCode: exit.rawValue, recordsRead: recordsRead, timingsMs: timings,
                                 failOn: config.failOn, breaches: breaches, lifecycle: counts)
        // Recording the run is mostly the server's work: it runs on a third thread (with the
        // state connection to itself). It is committed only once the folder is published.
        let record = StateStore.RunRecord(
            outcome: summary.outcome, exitCode: exit.rawValue, findingsTotal: lifecycle.current.count,
            counts: Self.json(counts), recordsRead: Self.json(Dictionary(uniqueKeysWithValues: recordsRead.map { ($0.key.rawValue, $0.value) })),
            timings: Self.json(Dictionary(timings.map { ($0.phase, $0.ms) }, uniquingKeysWith: { a, _ in a })),
            breaches: Self.json(breaches), snapshot: snapshot)
        let stateJob = BackgroundJob(inParallel: options.fastPaths) { [runId, lifecycle] in
            let t = Date()
            try store.stageRun(runId: runId, lifecycle: lifecycle, record: record)
            return Int(Date().timeIntervalSince(t) * 1000)
        }
        var planned: Planned?
        var alreadySent = 0
        do {
            do {
                try folder.writeFindings(lifecycle: lifecycle, mirror: mirror, index: options.fastPaths ? outcome.index : nil,
                                         parallel: options.fastPaths, types: types)
                if let (p, ms, sent) = try planJob.wait() {
                    alreadySent = sent
                    summary.timingsMs.append(("plan", ms))
                    logger.debug("phase done", metadata: ["phase": "plan", "ms": "\(ms)", "rss_mib": "\(Stopwatch.residentMiB())"])
                    planned = p
                }
            } catch {
                _ = try? planJob.wait()
                folder.discard()
                throw error
            }
        } catch {
            _ = try? stateJob.wait()     // the state connection is free again before the error is handled
            throw (error as? ReportError).map { PipelineError.report($0) } ?? error
        }
        let stateMs: Int
        do { stateMs = try stateJob.wait() } catch let e as StateError {
            folder.discard()
            throw PipelineError.state(e)
        }
        summary.timingsMs.append(("state", stateMs))
        logger.debug("phase done", metadata: ["phase": "state", "ms": "\(stateMs)", "rss_mib": "\(Stopwatch.residentMiB())"])
        return Written(summary: summary, lifecycle: lifecycle, planned: planned, alreadySent: alreadySent, folder: folder, exit: exit)
    }

    /// 4. Publishes the folder and commits the night together, then logs, alerts and writes metrics.
    private func publishTheNight(_ config: ReconConfig, night: Night, runId: String, started: Date, written: Written,
                                 stopper: RunGuard, progress: Progress) throws -> Result {
        let (store, lock, folder, lifecycle, planned, alreadySent, exit) = (night.store, night.lock, written.folder, written.lifecycle,
                                                                            written.planned, written.alreadySent, written.exit)
        var summary = written.summary
        let history = (try? store.history(limit: 30)) ?? []
        // Batches awaiting a decision (approved but not applied too), this run's included.
        var pending: [PendingBatch]?
        if config.ownership != nil {
            let open = ((try? store.batches()) ?? []).filter { !$0.status.isFinal && !$0.expired }
            var again: String?
            if case .unchanged(let b, _, _) = planned { again = b.batchId }
            pending = (planned?.plan.map { [PendingBatch(batchId: $0.batchId, createdAt: $0.createdAt, status: .pending,
                                                         actions: $0.actions.count, needsHuman: $0.needsHuman.count)] } ?? [])
                + open.map { PendingBatch(batchId: $0.batchId, createdAt: $0.createdAt, status: $0.status, actions: $0.actions, needsHuman: $0.needsHuman,
                                          plannedAgainTonight: $0.batchId == again) }
        }
        var path = config.reportsDirectory + "/" + runId
        if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
        try publishAndRecord(folder, path: path, store: store, lock: lock, stopper: stopper, planned: planned, config: config,
                             summary: summary, lifecycle: lifecycle,
                             history: history.map { HistoryPoint(runId: $0.runId, startedAt: $0.startedAt, outcome: $0.outcome, open: $0.open) },
                             pending: pending)
        let sentNote = alreadySent == 0 ? "" : "; \(alreadySent) more already sent, awaiting import (left out)"
        var batchLine: String?
        var quietBatch = ""
        switch planned {
        case .new(let plan, _, _):
            batchLine = "batch \(plan.batchId): \(plan.actions.count) actions, \(plan.needsHuman.count) findings for a human; pending approval (recon batch show \(plan.batchId))" + sentNote
            quietBatch = "; batch: \(plan.batchId) (\(plan.actions.count) actions, pending approval)"
            logger.info("batch planned", metadata: ["batch": "\(plan.batchId)", "actions": "\(plan.actions.count)", "needs_human": "\(plan.needsHuman.count)"])
        case .unchanged(let b, _, let sameInputs):
            batchLine = "batch \(b.batchId) planned again, unchanged: \(b.actions) actions, \(b.needsHuman) findings for a human; still pending approval (recon batch show \(b.batchId))" + sentNote
            quietBatch = "; batch: \(b.batchId) (unchanged, \(b.actions) actions, pending approval)"
            logger.info("batch unchanged", metadata: ["batch": "\(b.batchId)", "actions": "\(b.actions)", "needs_human": "\(b.needsHuman)",
                                                     "kept_as": sameInputs ? "same inputs, not planned again" : "planned again, the same"])
        case nil: break
        }
        let finalTimings = summary.timingsMs + [("write", folder.writeMs)]
        store.recordTimings(runId: runId, timings: Self.json(Dictionary(finalTimings.map { ($0.phase, $0.ms) }, uniquingKeysWith: { a, _ in a })))
        progress.clear()
        logger.info("reports written", metadata: ["path": "\(path)", "findings": "\(lifecycle.current.count)",
                                                  "resolved": "\(lifecycle.resolved.count)"])
        summary.finishedAt = Date()
        logger.info("run finished", metadata: ["run_id": "\(runId)", "outcome": "\(summary.outcome)",
                                               "seconds": "\(String(format: "%.3f", Date().timeIntervalSince(started)))"])
        if exit == .breached { alert(config, summaryFile: path + "/summary.json", runId: runId, outcome: summary.outcome) }
        writeMetrics(summary: summary, started: started, state: store)
        var text = Self.describe(summary, lifecycle: lifecycle, path: path)
        if let batchLine { text += "\n" + batchLine }
        let quiet = "\(summary.outcome) (exit \(exit.rawValue)); reports: \(path)/" + quietBatch
        return Result(exit: exit, reportPath: path, summaryText: text, quietLine: quiet)
    }

    /// Publishes the report folder and records the night together (README, "Reliability and
    /// security"): the batch is registered in the state's open transaction (the lifecycle and the
    /// run record are in it already, from `stageRun`), summary.json and index.html complete the
    /// folder, the folder is renamed into place, then the transaction commits. Should the commit
    /// fail, the folder is taken back: no report without its state, no state without its report.
    /// A signal waits for the rename and the commit (`RunGuard.publishing`).
    func publishAndRecord(_ folder: ReportFolder, path: String, store: StateStore, lock: RunLock, stopper: RunGuard,
                          planned: Planned?, config: ReconConfig, summary: RunSummary, lifecycle: Lifecycle,
                          history: [HistoryPoint], pending: [PendingBatch]?) throws {
        do {
            if case .new(let plan, let sha, _) = planned {
                try store.registerBatch(plan, path: path + "/plan.json", sha256: sha, expireSeconds: config.batchExpirySeconds,
                                        allowSelfApproval: config.allowSelfApproval)
            }
            if let (batchId, inputs) = planned?.recorded {
                try store.recordPlanInputs(runId: summary.runId, batchId: batchId, inputsSHA256: inputs)
            }
            try folder.complete(summary: summary, lifecycle: lifecycle, history: history, pending: pending)
            TestPause.at("publish")
            try stopper.publishing {
                _ = try folder.publish()
                TestPause.at("commit")
                do { try store.commitRun(lock: lock) } catch {
                    folder.unpublish()
                    throw error
                }
            }
        } catch let error as ReportError {
            folder.discard()
            throw PipelineError.report(error)
        } catch let e as StateError {
            folder.discard()
            throw PipelineError.state(e)
        }
    }

    /// Whether tonight's plan is the pending night batch's, action for action: the same counts,
    /// the same plan.json hash when written for that batch, and its plan file still what was
    /// registered (one an approver could not approve is replaced). Such a batch stays pending
    /// (an approver keeps reviewing it), and the night writes no copy. (A batch whose
    /// self-approval differs from what recon.yml asks now is replaced too.)
    /// With `parallel`, the plan file is hashed beside tonight's plan, whose JSON is formatted on two threads.
    static func isUnchanged(_ plan: Plan, _ pending: PendingNightBatch, parallel: Bool) -> Bool {
        guard pending.actions == plan.actions.count, pending.needsHuman == plan.needsHuman.count,
              let createdAt = Plan.createdAt(ofRun: pending.runId) else { return false }
        var same = plan
        same.batchId = pending.batchId
        same.runId = pending.runId
        same.createdAt = createdAt
        let file = BackgroundJob(inParallel: parallel) { Plan.sha256(ofFile: pending.planPath) }
        let tonight = parallel ? same.canonicalJSONSHA256(threads: 2) : same.writeCanonicalJSON { _ in }
        return tonight == pending.planSHA256 && (try? file.wait()) == pending.planSHA256
    }

    /// Marks the runs left `running` by a process that is gone (we hold the run lock), with the
    /// best reason there is: the error its failure folder recorded when the state database could
    /// not be told, "published but not recorded" when its folder is whole, else how far it got.
    func closeDeadRuns(_ store: StateStore, reportsDirectory: String) {
        for (id, phase, directory) in (try? store.runningRuns()) ?? [] {
            let reason: String
            if let data = FileManager.default.contents(atPath: (directory ?? reportsDirectory) + "/" + id + "/summary.json"),
               let summary = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                if summary["outcome"] as? String == "error", let error = summary["error"] as? String {
                    reason = error
                } else {
                    reason = "its reports were published but the process ended before the run was recorded: the next run reports its changes again"
                }
            } else {
                reason = "interrupted" + (phase.map { " while \($0)" } ?? "")
                    + ": the process ended before the run finished (killed, out of memory or crashed)"
            }
            store.closeInterruptedRun(id, error: reason)
            logger.warning("an earlier run ended without finishing", metadata: ["run_id": "\(id)", "recorded_as": "\(reason)"])
        }
    }

    /// A fixed 8 MB mmap threshold, so that glibc returns the large arrays of matching to the
    /// system when they are freed instead of keeping them (docs/PERFORMANCE.md, "Memory").
    static func tuneMalloc() {
        #if os(Linux)
        _ = glibcMallopt(-3, 8 << 20)    // M_MMAP_THRESHOLD (malloc.h), which Glibc's module does not export
        #endif
    }

    /// Gives the pages matching's working set freed inside the heap back to the system, so that
    /// the lifecycle and the batch do not peak on top of them (docs/PERFORMANCE.md, "Memory").
    static func returnFreedMemory() {
        #if os(Linux)
        _ = glibcMallocTrim(0)
        #endif
    }

    /// Descriptions of the rules this run breaches: `fail_on` and each threshold.
    static func breaches(_ config: ReconConfig, _ lifecycle: Lifecycle) -> [String] {
        var out: [String] = []
        if let failOn = config.failOn {
            // Counted in place (a filter would copy every finding).
            var n = 0
            for t in lifecycle.current.prefetching
            where t.status != .waived && t.status != .settling && t.finding.severity >= failOn { n += 1 }
            if n > 0 { out.append("\(n) open findings at or above \(failOn.rawValue) (fail_on)") }
        }
        for t in config.thresholds {
            let (value, breached) = t.evaluate(lifecycle.current)
            if breached { out.append("\(t.description) (measured \(value))") }
        }
        return out
    }

    /// Runs `alert_command` with summary.json on stdin. Its failure is logged and changes nothing else.
    func alert(_ config: ReconConfig, summaryFile: String, runId: String, outcome: String) {
        guard let command = config.alertCommand else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        var env = ProcessInfo.processInfo.environment
        env["RECON_RUN_ID"] = runId
        env["RECON_OUTCOME"] = outcome
        env["RECON_SUMMARY"] = summaryFile
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do {
            p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: summaryFile))
            try p.run()
        } catch {
            logger.warning("alert command could not start", metadata: ["error": "\(ReportWriter.plainReason(error))"])
            return
        }
        let deadline = Date().addingTimeInterval(Double(config.alertTimeoutSeconds))
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            p.terminate()
            logger.warning("alert command timed out", metadata: ["timeout_seconds": "\(config.alertTimeoutSeconds)"])
            return
        }
        if p.terminationStatus != 0 {
            logger.warning("alert command failed", metadata: ["exit_code": "\(p.terminationStatus)"])
        } else {
            logger.info("alert sent", metadata: ["outcome": "\(outcome)"])
        }
    }

    func writeMetrics(summary: RunSummary, started: Date, state: StateStore?) {
        guard let file = options.metricsFile else { return }
        let lastSuccess = (try? state?.lastSuccess()) ?? nil
        do {
            try MetricsFile.write(MetricsFile.render(summary: summary, durationSeconds: Date().timeIntervalSince(started),
                                                     lastSuccess: lastSuccess), to: file)
        } catch {
            logger.warning("cannot write the metrics file", metadata: ["error": "\(error)"])
        }
    }

    static func json(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }


    /// Run ids are the UTC start time; a second run in the same second gets a suffix.
    static func runId(_ date: Date, reportsDirectory: String, taken: (String) -> Bool = { _ in false }) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let base = f.string(from: date)
        var id = base
        var n = 1
        while FileManager.default.fileExists(atPath: reportsDirectory + "/" + id) || taken(id) {
            n += 1
            id = "\(base)-\(n)"
        }
        return id
    }

    static func describe(_ s: RunSummary, lifecycle: Lifecycle, path: String) -> String {
        var lines: [String] = []
        lines.append("records read: " + Extract.allCases.map { "\($0.rawValue) \(s.recordsRead[$0] ?? 0)" }.joined(separator: ", "))
        if lifecycle.current.isEmpty && lifecycle.resolved.isEmpty {
            lines.append("findings: none")
        } else {
            let resolved = lifecycle.resolved.count
            let settling = lifecycle.current.reduce(0) { $0 + ($1.status == .settling ? 1 : 0) }
            lines.append("findings: \(lifecycle.current.count - settling) (open or waived), \(resolved) resolved since the last run"
                         + (settling == 0 ? "" : ", \(settling) settling (records changed within settle_after: no action, no breach yet)"))
            lines.append("  " + "type (entity)".padding(toLength: 28, withPad: " ", startingAt: 0) + "   total     new  persisting  waived  resolved"
                         + (settling == 0 ? "" : "  settling"))
            func col(_ n: Int, _ w: Int) -> String { let t = String(n); return String(repeating: " ", count: max(0, w - t.count)) + t }
            for (k, c) in s.lifecycle.sorted(by: { $0.key < $1.key }) {
                let label = k.replacingOccurrences(of: "/", with: " (") + ")"
                let total = (c["new"] ?? 0) + (c["persisting"] ?? 0) + (c["waived"] ?? 0)
                lines.append("  " + label.padding(toLength: 28, withPad: " ", startingAt: 0) + col(total, 8) + col(c["new"] ?? 0, 8)
                             + col(c["persisting"] ?? 0, 12) + col(c["waived"] ?? 0, 8) + col(c["resolved"] ?? 0, 10)
                             + (settling == 0 ? "" : col(c["settling"] ?? 0, 10)))
            }
        }
        lines.append("timings: " + s.timingsMs.map { "\($0.phase) \($0.ms) ms" }.joined(separator: ", "))
        lines.append("reports: \(path)/")
        if s.breaches.isEmpty {
            lines.append("outcome: clean (no threshold breached)")
        } else {
            lines.append("outcome: breached (exit 1)")
            for b in s.breaches { lines.append("  - \(b)") }
        }
        return lines.joined(separator: "\n")
    }
}

#if os(Linux)
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
