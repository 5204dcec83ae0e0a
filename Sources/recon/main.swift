import ArgumentParser
import Foundation
import Logging
import ReconCore
import ReconPipeline

/// Options shared by the commands that read recon.yml and the databases.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Path of the config file.")
    var config: String = "recon.yml"

    @Option(name: .long, help: "Mirror: libpq connection string or URL (default: database: in recon.yml, then DATABASE_URL, then PG* variables). Keep passwords in ~/.pgpass or PGPASSWORD, not here.")
    var database: String?

    @Option(name: .long, help: "State database (default: state_database: in recon.yml, then RECON_STATE_DATABASE_URL, then the mirror's).")
    var stateDatabase: String?

    @Option(name: .long, help: "Folder of the four query files (default: queries: in recon.yml).")
    var queries: String?

    @Option(name: .long, help: "Folder the report folders are written into (default: reports: in recon.yml).")
    var reports: String?

    @Option(name: .long, help: "Log format: text or json (JSON lines).")
    var logFormat: String = "text"

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(name: .shortAndLong, help: "Only log warnings and errors; print no summary.")
    var quiet = false

    func validate() throws {
        guard ReconLogHandler.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be text or json") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
    }

    var runOptions: RunOptions {
        var o = RunOptions()
        o.configPath = config
        o.database = database
        o.stateDatabase = stateDatabase
        o.queriesDirectory = queries
        o.reportsDirectory = reports
        return o
    }

    func logger() -> Logger {
        let format = ReconLogHandler.Format(rawValue: logFormat) ?? .text
        let level = quiet ? Logger.Level.warning : (Logger.Level(rawValue: logLevel) ?? .info)
        return Logger(label: "recon") { label in ReconLogHandler(label: label, format: format, level: level) }
    }

    func pipeline(_ extra: (inout RunOptions) -> Void = { _ in }) -> Pipeline {
        var o = runOptions
        extra(&o)
        return Pipeline(options: o, logger: logger())
    }
}

struct Recon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recon",
        abstract: "Reconcile a CRM and an ERP from a PostgreSQL mirror.",
        discussion: "Exit codes: 0 clean, 1 threshold breached, 2 error, 3 another run in progress, 130 / 143 stopped by SIGINT / SIGTERM.",
        version: BuildInfo.text,
        subcommands: [Run.self, Check.self, Migrate.self, Waive.self, Explain.self, Decide.self, Batch.self],
        defaultSubcommand: Run.self)
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read the mirror, match, track findings across runs, write a report folder.")
    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Write Prometheus text metrics here (for node_exporter's textfile collector), atomically.")
    var metricsFile: String?

    @Flag(name: .long, help: "Turn every speed-only path off (phone fast path, parallel extraction): slower, same findings. For checking recon itself.")
    var noFastPaths = false

    func run() throws {
        let result = common.pipeline { o in
            o.metricsFile = metricsFile
            o.fastPaths = !noFastPaths
            o.progress = !common.quiet && common.logFormat == "text"
            o.releaseMemory = false     // the process ends right after
            o.catchSignals = true
            o.jsonLogs = common.logFormat == "json"
        }.run()
        switch result.exit {
        case .clean, .breached:
            print(common.quiet ? result.quietLine : result.summaryText)
        case .error:
            FileHandle.standardError.write(Data((finalErrorLine(result.summaryText, json: common.logFormat == "json") + "\n").utf8))
        case .alreadyRunning:
            FileHandle.standardError.write(Data((result.summaryText + "\n").utf8))
        }
        if result.exit != .clean { throw ExitCode(result.exit.rawValue) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate recon.yml, the query files and the state schema without reading rows.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        for line in try common.pipeline().check() { print(line) }
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the recon schema in the state database.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        for line in try common.pipeline().migrate() { print(line) }
    }
}

struct Waive: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Accept a finding for now: it stays in the reports as waived and breaches nothing.")
    @Argument(help: "The finding id, e.g. DUP-C-1f3a9c0b7d2e4a68.")
    var findingId: String
    @Option(name: .long, help: "Why it is waived (recorded with who and when).")
    var reason: String
    @Option(name: .long, help: "Last day the waiver holds (YYYY-MM-DD); afterwards the finding is persisting again.")
    var until: String?
    @OptionGroup var common: CommonOptions

    func run() throws {
        print(try common.pipeline().waive(findingId: findingId, reason: reason, until: until))
    }
}

struct Decide: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record that two customers are one (same) or not (different); every later run honours it before the keys.",
        subcommands: [Same.self, Different.self, Withdraw.self, List.self])

    /// The two records and the reason every decision takes.
    struct Pair: ParsableArguments {
        @Argument(help: "A record as system:id, e.g. crm:C0001.") var a: String
        @Argument(help: "The other record, e.g. erp:K0001.") var b: String
        @Option(name: .long, help: "Why (kept with the decision, who and when).") var reason: String
        @OptionGroup var common: CommonOptions
        func decide(_ verdict: IdentityDecisions.Verdict) throws { print(try common.pipeline().decide(verdict, a, b, reason: reason)) }
    }

    struct Same: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Two records are one customer: later runs join them.")
        @OptionGroup var pair: Pair
        func run() throws { try pair.decide(.same) }
    }

    struct Different: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Two records are different customers: no later run joins them.")
        @OptionGroup var pair: Pair
        func run() throws { try pair.decide(.different) }
    }

    struct Withdraw: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End the decision about two records (a new decision; the old one stays in the history).")
        @OptionGroup var pair: Pair
        func run() throws { try pair.decide(.withdrawn) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The decisions in force, with who, when and why.")
        @Flag(name: .long, help: "Every decision ever recorded, also those a later one replaced.") var all = false
        @OptionGroup var common: CommonOptions
        func run() throws { print(try common.pipeline().listDecisions(all: all)) }
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Why did recon say this? A record's keys, identity and findings.")
    @Argument(help: "crm or erp.") var system: String
    @Argument(help: "customer or order.") var entity: String
    @Argument(help: "The record's id in its system.") var id: String
    @Flag(name: .long, help: "Show emails and phones unmasked.") var showValues = false
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard System(rawValue: system) != nil else { throw ValidationError("system must be crm or erp") }
        guard Entity(rawValue: entity) != nil else { throw ValidationError("entity must be customer or order") }
    }

    func run() throws {
        print(try common.pipeline().explain(system: System(rawValue: system)!, entity: Entity(rawValue: entity)!,
                                            id: id, showValues: showValues))
    }
}

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Review, approve, reject and apply correction batches.",
        subcommands: [List.self, Show.self, Approve.self, Reject.self, Apply.self, Export.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The batches and their status.")
        @OptionGroup var common: CommonOptions
        func run() throws { print(try common.pipeline().listBatches()) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What a batch would change: record, field, old → new, why.")
        @Argument var batch: String
        @Option(name: .long, parsing: .upToNextOption, help: "Only these operations (link,update_status,…).") var operation: [String] = []
        @Option(name: .long, help: "Only actions on this system (crm or erp).") var system: String?
        @Option(name: .long, help: "Only actions resolving findings of this type.") var findingType: String?
        @Option(name: .long, help: "Show at most this many actions (default 200).") var limit: Int = 200
        @OptionGroup var common: CommonOptions
        func run() throws {
            var filter = ActionFilter(limit: max(0, limit))
            do { filter.operations = try ActionSelection.operations(operation) } catch let e as SelectionError { throw ValidationError(e.description) }
            if let system {
                guard let s = System(rawValue: system) else { throw ValidationError("--system must be crm or erp") }
                filter.system = s
            }
            if let findingType {
                guard let t = FindingType(rawValue: findingType) else {
                    throw ValidationError("--finding-type must be one of \(FindingType.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                filter.findingType = t
            }
            print(try common.pipeline().showBatch(batch, filter: filter))
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a pending batch (not by the role that generated it).")
        @Argument var batch: String
        @Option(name: .long, parsing: .upToNextOption, help: "Only these operations, e.g. link,update_status.") var only: [String] = []
        @Option(name: .customLong("exclude-operation"), parsing: .upToNextOption, help: "Leave out these operations, e.g. create.") var excludeOperation: [String] = []
        @Option(name: .long, parsing: .upToNextOption, help: "Action ids to leave out.") var exclude: [String] = []
        @Flag(name: .long, help: "Remember each merge or link left out by --exclude as a 'different' decision, so later runs stop suggesting it.")
        var remember = false
        @OptionGroup var common: CommonOptions
        func run() throws {
            var selection = ActionSelection(excludedIds: Set(exclude))
            do {
                selection.only = try ActionSelection.operations(only)
                selection.excludedOperations = try ActionSelection.operations(excludeOperation)
            } catch let e as SelectionError { throw ValidationError(e.description) }
            if remember && exclude.isEmpty { throw ValidationError("--remember records the actions left out with --exclude; name them") }
            print(try common.pipeline().approveBatch(batch, selection: selection, remember: remember))
        }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a batch; it can never be applied.")
        @Argument var batch: String
        @Option(name: .long, help: "Why.") var reason: String
        @OptionGroup var common: CommonOptions
        func run() throws { print(try common.pipeline().rejectBatch(batch, reason: reason)) }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply an approved batch once: stale actions are skipped, the rest go to the outbox and the import files.")
        @Argument var batch: String
        @OptionGroup var common: CommonOptions
        func run() throws { print(try common.pipeline().applyBatch(batch).text) }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write an applied batch's import files again, from the outbox.")
        @Argument var batch: String
        @Option(name: .long, help: "A folder to write them into (default: the batch's apply folder, replaced).") var into: String?
        @OptionGroup var common: CommonOptions
        func run() throws { print(try common.pipeline().exportBatch(batch, into: into)) }
    }
}

/// Whether the command line asked for JSON logs (also for the last error line, whatever failed).
let jsonLogs: Bool = {
    let args = Array(CommandLine.arguments.dropFirst())
    if args.contains("--log-format=json") { return true }
    return zip(args, args.dropFirst()).contains { $0 == "--log-format" && $1 == "json" }
}()

do {
    var command = try Recon.parseAsRoot()
    try command.run()
} catch let error as PipelineError {
    FileHandle.standardError.write(Data((finalErrorLine(error.description, json: jsonLogs) + "\n").utf8))
    exit(ExitStatus.error.rawValue)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if Recon.exitCode(for: error) == .success { Recon.exit(withError: error) }
    let line = jsonLogs ? finalErrorLine(Recon.message(for: error), json: true) : Recon.fullMessage(for: error)
    FileHandle.standardError.write(Data((line + "\n").utf8))
    exit(ExitStatus.error.rawValue)
}
