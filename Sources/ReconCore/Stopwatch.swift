import Foundation

/// Milliseconds and resident memory per named step, for the debug log and the benchmark's
/// per-phase breakdown.
public struct Stopwatch: Sendable {
    public private(set) var laps: [(step: String, ms: Int, rssMiB: Int)] = []
    private var last = ContinuousClock.now

    public init() {}

    public mutating func lap(_ step: String) {
        let now = ContinuousClock.now
        let d = now - last
        laps.append((step, Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000), Self.residentMiB()))
        last = now
    }

    /// Resident memory of this process in MiB (Linux: /proc/self/statm), 0 when unknown.
    public static func residentMiB() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / (1 << 20)
    }
}
