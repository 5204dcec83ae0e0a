/// Reviewers' decisions about customer identities (`recon decide`, or an action excluded at
/// approval with `--remember`), honoured by every run before the keys:
///
/// - `same`: the two records are one customer, whatever their keys say. They are joined first
///   (evidence `decision`, tier `certain`: a person looked). A `same` that would put two records
///   decided `different` into one customer is not applied.
/// - `different`: the two records are never one customer. No key joins them, not even an
///   external id, directly or through other records; neither is named as the other's near miss.
///
/// The latest decision about a pair is the one that counts (the state database keeps every one;
/// `withdrawn` ends a decision). A decision that names a record missing from the mirror does
/// nothing. A finding that a decision shaped says so in its detail.
public struct IdentityDecisions: Sendable {
    public enum Verdict: String, Sendable, CaseIterable {
        case same, different
        /// Ends the pair's earlier decision (stored, never applied).
        case withdrawn
    }

    public struct Record: Hashable, Sendable, CustomStringConvertible {
        public var system: System
        public var id: String
        public init(system: System, id: String) { self.system = system; self.id = id }

        /// `crm:C0001`, as the reports write records.
        public init?(_ text: String) {
            guard let colon = text.firstIndex(of: ":"), let system = System(rawValue: String(text[..<colon]).lowercased()) else { return nil }
            let id = String(text[text.index(after: colon)...])
            guard !id.isEmpty else { return nil }
            self.init(system: system, id: id)
        }

        public var description: String { "\(system.rawValue):\(id)" }
    }

    public struct Decision: Sendable {
        public var number: Int64
        public var verdict: Verdict
        public var a: Record
        public var b: Record
        public var decidedAt: String
        public init(number: Int64, verdict: Verdict, a: Record, b: Record, decidedAt: String) {
            self.number = number; self.verdict = verdict; self.a = a; self.b = b; self.decidedAt = decidedAt
        }

        /// How a finding's detail names it: "decision #12 (different, 2026-12-01)".
        public var label: String { "decision #\(number) (\(verdict.rawValue), \(decidedAt.prefix(10)))" }
    }

    /// The decision in force per pair (the latest; `withdrawn` ones are dropped).
    public private(set) var inForce: [Decision] = []

    public init(_ decisions: [Decision] = []) {
        var latest: [Set<Record>: Decision] = [:]
        for d in decisions where d.a != d.b {
            let pair: Set<Record> = [d.a, d.b]
            if let known = latest[pair], known.number > d.number { continue }
            latest[pair] = d
        }
        inForce = latest.values.filter { $0.verdict != .withdrawn }.sorted { $0.number < $1.number }
    }

    public var isEmpty: Bool { inForce.isEmpty }
}
