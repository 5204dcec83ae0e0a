import Foundation
import Postgres

/// A test failure with a message (thrown from helpers).
public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The throwaway cluster that `make test` starts. Database tests fail (never skip) without it.
public enum TestDatabase {
    /// - Throws: when RECON_TEST_DATABASE_URL is not set: run the tests through `make test`.
    public static func adminURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["RECON_TEST_DATABASE_URL"], !url.isEmpty else {
            throw TestSetupError("RECON_TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL")
        }
        return url
    }

    /// A connection string for database `name` on the test cluster.
    public static func url(database name: String) throws -> String {
        try adminURL() + " dbname=\(name)"
    }

    /// Creates a fresh, empty database and returns its name.
    public static func create(_ prefix: String) throws -> String {
        let name = "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try Connection(conninfo: adminURL())
        try admin.execute("CREATE DATABASE \(name)")
        return name
    }

    public static func drop(_ name: String) {
        guard let admin = try? Connection(conninfo: adminURL()) else { return }
        _ = try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// The output of a finished process.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Binaries {
    /// Where `swift build` put recon and recon-mirror (RECON_BIN_DIR, set by `make test`).
    public static func directory() throws -> String {
        if let d = ProcessInfo.processInfo.environment["RECON_BIN_DIR"], !d.isEmpty { return d }
        // Fall back to the folder of the test bundle, which SwiftPM puts beside the products.
        var url = Bundle.main.bundleURL
        for _ in 0..<4 {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("recon").path) { return url.path }
            url = url.deletingLastPathComponent()
        }
        throw TestSetupError("cannot find the built recon binary: set RECON_BIN_DIR or run `make test`")
    }

    /// Runs a program to completion; stdout/stderr are captured through files (no pipe deadlocks).
    public static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                           directory: String? = nil, stdinFile: String? = nil, stdoutFile: String? = nil) throws -> ProcessResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        for (k, v) in environment { env[k] = v }
        p.environment = env
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let tmp = NSTemporaryDirectory() + "recon-test-\(UUID().uuidString)"
        let outPath = stdoutFile ?? tmp + ".out", errPath = tmp + ".err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardOutput = out
        p.standardError = err
        if let stdinFile { p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: stdinFile)) }
        try p.run()
        p.waitUntilExit()
        try out.close(); try err.close()
        let stdout = stdoutFile == nil ? (try String(contentsOfFile: outPath, encoding: .utf8)) : ""
        let stderr = try String(contentsOfFile: errPath, encoding: .utf8)
        if stdoutFile == nil { try? FileManager.default.removeItem(atPath: outPath) }
        try? FileManager.default.removeItem(atPath: errPath)
        return ProcessResult(status: p.terminationStatus, stdout: stdout, stderr: stderr)
    }
}

/// A fresh temporary folder.
public func makeTemporaryDirectory(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// RFC 4180 CSV reader for checking reports (quoted fields, doubled quotes, CRLF).
public func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var inQuotes = false
    var chars = Array(text.unicodeScalars)[...]
    while let c = chars.popFirst() {
        if inQuotes {
            if c == "\"" {
                if chars.first == "\"" { field.unicodeScalars.append("\""); chars.removeFirst() } else { inQuotes = false }
            } else { field.unicodeScalars.append(c) }
        } else if c == "\"" {
            inQuotes = true
        } else if c == "," {
            row.append(field); field = ""
        } else if c == "\r" && chars.first == "\n" {
            chars.removeFirst(); row.append(field); rows.append(row); row = []; field = ""
        } else {
            field.unicodeScalars.append(c)
        }
    }
    if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
    return rows
}

/// Runs psql against a database (for loading SQL files and fixtures).
public func psql(_ url: String, file: String? = nil, command: String? = nil) throws {
    var args = ["-q", "-v", "ON_ERROR_STOP=1", "-X"]
    if let file { args += ["-f", file] }
    if let command { args += ["-c", command] }
    args.append(url)
    let r = try Binaries.run("/usr/bin/psql", args)
    guard r.status == 0 else { throw TestSetupError("psql failed: \(r.stderr)") }
}

/// The repository's root folder (for recon.yml and queries/).
public func repositoryRoot(_ filePath: String = #filePath) -> String {
    URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}
