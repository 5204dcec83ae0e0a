public import Foundation
public import Logging
import ReconCore

/// swift-log handler for recon: one line per event on stderr, human-readable or JSON lines.
/// Callers log counts, names and durations only; never record values (see README, "Logs").
public struct ReconLogHandler: LogHandler {
    public enum Format: String, Sendable { case text, json }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: Format

    public init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        // Milliseconds: a run's log shows where its time went.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let time = formatter.string(from: Date())
        var line: String
        switch format {
        case .text:
            line = "\(time) \(event.level.rawValue) \(label): \(event.message)"
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { line += " \(k)=\(v)" }
        case .json:
            var fields: [(String, String)] = [("ts", time), ("level", event.level.rawValue), ("logger", label), ("message", "\(event.message)")]
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { fields.append((k, "\(v)")) }
            line = "{" + fields.map { "\(jsonQuote($0.0)):\(jsonQuote($0.1))" }.joined(separator: ",") + "}"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

func jsonQuote(_ s: String) -> String { JSONText.quote(s) }

/// Rows read and rate, redrawn on one terminal line while a long phase runs. Silent when stderr
/// is not a terminal (cron, systemd, pipes).
public final class Progress {
    let enabled: Bool
    private var lastDraw = Date.distantPast

    public init(enabled: Bool) {
        self.enabled = enabled && isatty(2) == 1
    }

    public func update(_ phase: String, rows: Int, started: Date) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.25 else { return }
        lastDraw = now
        let seconds = max(0.001, now.timeIntervalSince(started))
        let text = "\r\u{1B}[K\(phase): \(rows.formatted()) rows (\(Int(Double(rows) / seconds).formatted()) rows/s)"
        FileHandle.standardError.write(Data(text.utf8))
    }

    public func note(_ phase: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(phase)…".utf8))
    }

    public func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Work on a second thread whose result (or error) the caller collects with `wait`; with
/// `inParallel` false it runs at once on the caller's thread (`--no-fast-paths`).
/// Unchecked: the closure must own what it touches until `wait` returns (here: the state
/// connection, which the main thread leaves alone meanwhile).
final class BackgroundJob<T>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(inParallel: Bool, _ work: @escaping () throws -> T) {
        if !inParallel {
            result = Result { try work() }
            done.signal()
            return
        }
        let box = UncheckedWork(work)
        Thread.detachNewThread { [self] in
            result = Result { try box.work() }
            done.signal()
        }
    }

    func wait() throws -> T {
        done.wait()
        done.signal()   // a second wait returns at once
        return try result!.get()
    }
}

/// A `BackgroundJob` started later: by `start` (from any thread, once), or by `wait`.
final class DeferredJob<T>: @unchecked Sendable {
    private let inParallel: Bool
    private let work: () throws -> T
    private var job: BackgroundJob<T>?
    private let lock = NSLock()

    init(inParallel: Bool, _ work: @escaping () throws -> T) {
        self.inParallel = inParallel
        self.work = work
    }

    /// Starts the work on a thread of its own (a second call does nothing).
    func start() {
        lock.lock(); defer { lock.unlock() }
        if job == nil { job = BackgroundJob(inParallel: inParallel, work) }
    }

    /// The result, starting the work first when nothing has.
    func wait() throws -> T {
        start()
        lock.lock()
        let job = self.job!
        lock.unlock()
        return try job.wait()
    }

    /// Waits for the work when it was started (after an error elsewhere: nothing new starts).
    func waitIfStarted() {
        lock.lock()
        let job = self.job
        lock.unlock()
        _ = try? job?.wait()
    }
}

private struct UncheckedWork<T>: @unchecked Sendable {
    let work: () throws -> T
    init(_ work: @escaping () throws -> T) { self.work = work }
}

/// The last line of a failed command on stderr: `recon: error: …`, or under `--log-format json`
/// a JSON object like every log line, so that each line of stderr parses.
public func finalErrorLine(_ message: String, json: Bool) -> String {
    guard json else { return "recon: error: \(message)" }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let fields = [("ts", formatter.string(from: Date())), ("level", "error"), ("logger", "recon"), ("message", message)]
    return "{" + fields.map { "\(jsonQuote($0.0)):\(jsonQuote($0.1))" }.joined(separator: ",") + "}"
}
