/// Milliseconds per named step, for the debug log and the benchmark's per-phase breakdown.
public struct Stopwatch: Sendable {
    public private(set) var laps: [(step: String, ms: Int)] = []
    private var last = ContinuousClock.now

    public init() {}

    public mutating func lap(_ step: String) {
        let now = ContinuousClock.now
        let d = now - last
        laps.append((step, Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)))
        last = now
    }
}
