import Foundation

/// Milliseconds and resident memory per named step, for the debug log and the benchmark's
/// per-phase breakdown. Each lap also says when it ended (`atMs`, since the first stopwatch of
/// the process was made): with two threads lapping their own steps, that shows which one waited.
public struct Stopwatch: Sendable {
    public private(set) var laps: [(step: String, ms: Int, atMs: Int, rssMiB: Int)] = []
    private var last = ContinuousClock.now
    private static let origin = ContinuousClock.now

    public init() { _ = Self.origin }

    public mutating func lap(_ step: String) {
        let now = ContinuousClock.now
        laps.append((step, Self.ms(now - last), Self.ms(now - Self.origin), Self.residentMiB()))
        last = now
    }

    private static func ms(_ d: Duration) -> Int {
        Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Resident memory of this process in MiB (Linux: /proc/self/statm), 0 when unknown.
    public static func residentMiB() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / (1 << 20)
    }
}
