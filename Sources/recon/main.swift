import ArgumentParser
import Foundation
import ReconPipeline

/// Options shared by the commands that read recon.yml and the mirror.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Path of the config file.")
    var config: String = "recon.yml"

    @Option(name: .long, help: "libpq connection string or URL (default: database: in recon.yml, then DATABASE_URL, then PG* variables). Keep passwords in ~/.pgpass or PGPASSWORD, not here.")
    var database: String?

    @Option(name: .long, help: "Folder of the four query files (default: queries: in recon.yml).")
    var queries: String?

    @Option(name: .long, help: "Folder the report folders are written into (default: reports: in recon.yml).")
    var reports: String?

    @Flag(name: .shortAndLong, help: "Only print errors.")
    var quiet = false

    var runOptions: RunOptions {
        var o = RunOptions()
        o.configPath = config
        o.database = database
        o.queriesDirectory = queries
        o.reportsDirectory = reports
        return o
    }

    func log(_ line: String) {
        if !quiet { FileHandle.standardError.write(Data(("recon: " + line + "\n").utf8)) }
    }
}

struct Recon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recon",
        abstract: "Reconcile a CRM and an ERP from a PostgreSQL mirror.",
        discussion: "Exit codes: 0 clean, 1 findings at or above fail_on, 2 error.",
        subcommands: [Run.self, Check.self],
        defaultSubcommand: Run.self)
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read the mirror, match, and write a report folder.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        let result = try Pipeline(options: common.runOptions, log: common.log).run()
        if !common.quiet { print(result.summaryText) }
        if result.exit != .clean { throw ExitCode(result.exit.rawValue) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate recon.yml and the query files against the mirror without reading rows.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        for line in try Pipeline(options: common.runOptions, log: common.log).check() { print(line) }
    }
}

do {
    var command = try Recon.parseAsRoot()
    try command.run()
} catch let error as ReconError {
    FileHandle.standardError.write(Data("recon: error: \(error.description)\n".utf8))
    exit(ExitStatus.error.rawValue)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    if Recon.exitCode(for: error) == .success { Recon.exit(withError: error) }
    FileHandle.standardError.write(Data((Recon.fullMessage(for: error) + "\n").utf8))
    exit(ExitStatus.error.rawValue)
}
