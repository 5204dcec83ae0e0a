public import Foundation
import Synchronization
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
        TerminalLine.shared.writeLine(line)
    }
}

func jsonQuote(_ s: String) -> String { JSONText.quote(s) }

/// The one line of stderr that recon redraws in place (the progress line), shared with the log
/// handler: a log line first clears it, so the two never run into each other.
public final class TerminalLine: Sendable {
    public static let shared = TerminalLine()
    /// Whether something is drawn on the line; held while writing, which also orders the writes.
    private let drawn = Mutex(false)

    /// Replaces the line with `text` (no newline).
    func draw(_ text: String) {
        drawn.withLock { drawn in
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
            drawn = true
        }
    }

    /// Erases the line if something is drawn on it.
    public func clear() {
        drawn.withLock { drawn in
            if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            drawn = false
        }
    }

    /// Writes a whole line (a log line) on a clean line.
    func writeLine(_ line: String) {
        drawn.withLock { drawn in
            FileHandle.standardError.write(Data(((drawn ? "\r\u{1B}[K" : "") + line + "\n").utf8))
            drawn = false
        }
    }
}

/// What a run is doing, on one terminal line: rows read and their rate while extracting, and
/// the phase with its elapsed seconds (redrawn four times a second) while matching, planning
/// and writing. Silent when stderr is not a terminal (cron, systemd, pipes).
public final class Progress: Sendable {
    let enabled: Bool
    private struct State {
        var lastDraw = Date.distantPast
        /// Bumped by every change: a ticker whose generation is old stops.
        var generation = 0
    }
    private let state = Mutex(State())

    public init(enabled: Bool) {
        self.enabled = enabled && isatty(2) == 1
    }

    public func update(_ phase: String, rows: Int, started: Date) {
        guard enabled else { return }
        let now = Date()
        let draw: Bool = state.withLock { state in
            state.generation += 1
            guard now.timeIntervalSince(state.lastDraw) >= 0.25 else { return false }
            state.lastDraw = now
            return true
        }
        guard draw else { return }
        let seconds = max(0.001, now.timeIntervalSince(started))
        TerminalLine.shared.draw("\(phase): \(rows.formatted()) rows (\(Int(Double(rows) / seconds).formatted()) rows/s)")
    }

    /// Shows `phase` with a running count of seconds until the next `note`, `update` or `clear`.
    public func note(_ phase: String) {
        guard enabled else { return }
        let mine: Int = state.withLock { state in state.generation += 1; return state.generation }
        let started = Date()
        TerminalLine.shared.draw("\(phase)…")
        Engine.every(0.25, "recon-progress") { [self] in
            guard state.withLock({ $0.generation == mine }) else { return false }
            TerminalLine.shared.draw(String(format: "%@… %.1f s", phase, Date().timeIntervalSince(started)))
            return true
        }
    }

    public func clear() {
        guard enabled else { return }
        state.withLock { $0.generation += 1 }
        TerminalLine.shared.clear()
    }
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
