/// Near misses: records of the other system that may be an orphan customer's counterpart but
/// that no rule joined. They are named in the orphan's finding (its detail, `orphans.csv`) and
/// the batch never creates a customer that has one: a person decides whether it is the same
/// customer (link) or not (create).
///
/// A record of the other system is a candidate when
/// - it shares the orphan's phone and the names do not disagree: they nearly agree (one shared
///   token of three letters or more, e.g. the same surname), or one of them has no name. Names
///   that confirm one person would have joined them unless the phone is a switchboard, so they
///   are named too. A phone shared with someone of an unrelated name (a colleague behind the
///   switchboard) names nobody.
/// - its email has the same local part at another mailbox (`sebastien.petit@apex-trading.fr`,
///   `sebastienpetit@gmail.com`: letters and digits compared, the `+tag` ignored) and the names
///   confirm one person.
public enum CandidateRule {
    /// At most this many candidates are named per orphan.
    public static let limit = 5
    /// Local parts shorter than this (`info`, `jo`) say nothing about a person.
    public static let shortestLocalPart = 5

    /// Why a record sharing the orphan's phone is a candidate, or nil.
    public static func samePhone(_ orphan: PersonName?, _ other: PersonName?) -> String? {
        guard let orphan, let other else { return "same phone, no name to compare" }
        switch NameAgreement.of(orphan, other) {
        case .same, .initial: return "same phone and name"
        case .near: return "same phone, name nearly agrees"
        case .different: return nil
        }
    }

    /// Why a record whose email has the orphan's local part is a candidate, or nil.
    public static func similarEmail(_ orphan: PersonName?, _ other: PersonName?) -> String? {
        guard let orphan, let other, NameAgreement.of(orphan, other).confirms else { return nil }
        return "same name, email with the same local part"
    }

    /// The letters and digits of an address key's local part, before any `+tag`.
    public static func localPart(_ key: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        forEachLocalPartByte(key) { out.append($0) }
    }

    /// A hash of `localPart(key)` computed while reading the key (FNV-1a over the same bytes).
    @inline(__always)
    public static func localPartHash<C: Collection>(_ key: C) -> UInt64 where C.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        forEachLocalPartByte(key) { h = (h ^ UInt64($0)) &* 0x100_0000_01b3 }
        return h
    }

    /// The bytes `localPart` keeps: letters, digits and non-ASCII, up to the `@` or a `+`.
    @inline(__always)
    private static func forEachLocalPartByte<C: Collection>(_ key: C, _ body: (UInt8) -> Void) where C.Element == UInt8 {
        for b in key {
            if b == UInt8(ascii: "@") || b == UInt8(ascii: "+") { break }
            if (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b >= 0x80 {
                body(b)
            }
        }
    }

    /// Candidates as the reports and the plan write them: `erp:K0000031 (same phone, …)`.
    public static func listed(_ candidates: [FindingMember], separator: String) -> String {
        candidates.map { "\($0.system.rawValue):\($0.recordId) (\($0.value))" }.joined(separator: separator)
    }

    /// The detail's sentence: "possible counterpart in ERP: K0000123 (same phone, name nearly agrees)".
    public static func describe(_ candidates: [FindingMember]) -> String {
        guard let first = candidates.first else { return "" }
        let label = first.system.label
        return (candidates.count == 1 ? "possible counterpart in \(label): " : "possible counterparts in \(label): ")
            + candidates.map { "\($0.recordId) (\($0.value))" }.joined(separator: ", ")
    }
}
