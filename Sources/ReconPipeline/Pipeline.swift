import Foundation
import Postgres
public import ReconCore
import ReconReports

/// Options a command passes to the pipeline; nil means "from recon.yml, else the default".
public struct RunOptions: Sendable {
    public var configPath: String = "recon.yml"
    public var database: String?
    public var queriesDirectory: String?
    public var reportsDirectory: String?
    public init() {}
}

/// Exit codes (README, "Exit codes").
public enum ExitStatus: Int32, Sendable {
    case clean = 0
    case findings = 1
    case error = 2
}

/// The whole run: config → connect → extract (one snapshot) → match → publish reports.
public struct Pipeline {
    public var options: RunOptions
    public var log: (String) -> Void

    public init(options: RunOptions, log: @escaping (String) -> Void) {
        self.options = options
        self.log = log
    }

    /// Loads and checks recon.yml.
    /// - Throws: `ReconError` naming the file (and line and column for content problems).
    public func loadConfig() throws -> ReconConfig {
        guard let data = FileManager.default.contents(atPath: options.configPath) else {
            throw ReconError("\(options.configPath): config file not found")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ReconError("\(options.configPath): not valid UTF-8")
        }
        do {
            var config = try ReconConfig.parse(text, file: options.configPath)
            if let q = options.queriesDirectory { config.queriesDirectory = q }
            if let r = options.reportsDirectory { config.reportsDirectory = r }
            return config
        } catch let error as ConfigError {
            throw ReconError(error.description)
        }
    }

    /// The connection string: --database, else `database:` in recon.yml, else DATABASE_URL,
    /// else empty (libpq's PG* variables and ~/.pgpass).
    public func connectionString(_ config: ReconConfig) -> String {
        if let d = options.database { return d }
        if let d = config.database { return d }
        if let d = ProcessInfo.processInfo.environment["DATABASE_URL"], !d.isEmpty { return d }
        return ""
    }

    func connect(_ config: ReconConfig) throws -> Connection {
        do {
            return try Connection(conninfo: connectionString(config))
        } catch let error as PostgresError {
            throw ReconError("\(error)")
        }
    }

    /// `recon check`: config, query files and the query contract, without reading rows.
    public func check() throws -> [String] {
        let config = try loadConfig()
        var notes = ["\(options.configPath): ok"]
        if config.statuses.crm.isEmpty || config.statuses.erp.isEmpty {
            throw ReconError("\(options.configPath): statuses.crm and statuses.erp must map each raw status to a canonical status")
        }
        let queries = try QueryFiles.load(directory: config.queriesDirectory)
        let connection = try connect(config)
        let reader = MirrorReader(connection: connection, queries: queries)
        try reader.beginSnapshot()
        for extract in Extract.allCases {
            let mapping = try reader.describe(extract)
            let attrs = mapping.attributes.map(\.name)
            notes.append("\(queries.path(extract)): ok"
                         + (attrs.isEmpty ? "" : " (attributes: \(attrs.joined(separator: ", ")))"))
        }
        try reader.endSnapshot()
        return notes
    }

    public struct Result {
        public var exit: ExitStatus
        public var reportPath: String
        public var findings: [Finding]
        public var summaryText: String
    }

    /// Runs a reconciliation and publishes its report folder.
    /// - Throws: `ReconError` for anything that stops the run; no report folder is left then.
    public func run() throws -> Result {
        let started = Date()
        var timings: [(phase: String, ms: Int)] = []
        func lap(_ phase: String, _ from: Date) -> Date {
            let now = Date()
            timings.append((phase, Int(now.timeIntervalSince(from) * 1000)))
            return now
        }
        let config = try loadConfig()
        let queries = try QueryFiles.load(directory: config.queriesDirectory)
        var t = Date()
        let connection = try connect(config)
        t = lap("connect", t)
        let reader = MirrorReader(connection: connection, queries: queries, log: log)
        try reader.beginSnapshot()
        let mirror = try reader.read()
        try reader.endSnapshot()
        t = lap("extract", t)
        let outcome = Reconciler.reconcile(mirror, config: config)
        timings.append(("normalise", outcome.normaliseMs))
        t = lap("match", t)
        timings[timings.count - 1].ms -= outcome.normaliseMs
        log("matched: \(outcome.findings.count) findings")

        let failing = outcome.findings.contains { $0.severity >= config.failOn }
        let exit: ExitStatus = failing ? .findings : .clean
        var records: [Extract: Int] = [:]
        for e in Extract.allCases { records[e] = mirror.count(e) }
        let runId = Self.runId(started, reportsDirectory: config.reportsDirectory)
        let summary = RunSummary(runId: runId, startedAt: started, finishedAt: Date(), recordsRead: records,
                                 timingsMs: timings, failOn: config.failOn, exitCode: exit.rawValue)
        let writeStart = Date()
        let writer = ReportWriter(reportsDirectory: config.reportsDirectory)
        let path: String
        do {
            path = try writer.publish(findings: outcome.findings, mirror: mirror, summary: summary)
        } catch let error as ReportError {
            throw ReconError(error.description)
        }
        let writeMs = Int(Date().timeIntervalSince(writeStart) * 1000)
        _ = t
        return Result(exit: exit, reportPath: path, findings: outcome.findings,
                      summaryText: Self.describe(outcome.findings, records: records, path: path, writeMs: writeMs,
                                                 timings: timings, exit: exit, failOn: config.failOn))
    }

    /// Run ids are the UTC start time; a second run in the same second gets a suffix.
    static func runId(_ date: Date, reportsDirectory: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let base = f.string(from: date)
        var id = base
        var n = 1
        while FileManager.default.fileExists(atPath: reportsDirectory + "/" + id) {
            n += 1
            id = "\(base)-\(n)"
        }
        return id
    }

    static func describe(_ findings: [Finding], records: [Extract: Int], path: String, writeMs: Int,
                         timings: [(phase: String, ms: Int)], exit: ExitStatus, failOn: Severity) -> String {
        var lines: [String] = []
        lines.append("records read: " + Extract.allCases.map { "\($0.rawValue) \(records[$0] ?? 0)" }.joined(separator: ", "))
        var counts: [String: Int] = [:]
        for f in findings { counts["\(f.type.rawValue) (\(f.entity.rawValue))", default: 0] += 1 }
        if counts.isEmpty {
            lines.append("findings: none")
        } else {
            lines.append("findings: \(findings.count)")
            for (k, v) in counts.sorted(by: { $0.key < $1.key }) {
                lines.append("  " + k.padding(toLength: 28, withPad: " ", startingAt: 0) + String(v))
            }
        }
        lines.append("timings: " + (timings + [("write", writeMs)]).map { "\($0.0) \($0.1) ms" }.joined(separator: ", "))
        lines.append("reports: \(path)/")
        lines.append(exit == .clean ? "outcome: clean (no findings at or above \(failOn.rawValue))"
                                    : "outcome: findings at or above \(failOn.rawValue) (exit 1)")
        return lines.joined(separator: "\n")
    }
}
