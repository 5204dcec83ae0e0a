/// **Customer identity: what a shared key does.** Records `p` (of identity P) and `q` (of
/// identity Q) share an email mailbox or, with `PhoneRule`'s consent, a phone. Then:
/// - when P and Q each already have records in both systems, they stay apart: each is linked to
///   its own counterpart, and a shared address does not undo that (settled before names are read);
/// - when `p` and `q` include records of one system, they are joined: one customer entered twice
///   in that system (a duplicate);
/// - when the key pairs a record with the other system while P or Q already has a record of that
///   other system (by a stronger key) that does not share the value, the key and the external-id
///   link disagree: a **conflict**, reported with every record involved, and nothing is joined;
/// - otherwise they are joined: the key found a record's counterpart.
///
/// Reviewers' decisions come first (`IdentityDecisions`): a `different` keeps records apart
/// whatever they share.
enum SharedKey {
    enum Verdict: Equatable { case join, keepApart, conflict }

    /// Both identities are already linked across the systems.
    static func eachAlreadyLinked(_ identityP: SystemSet, _ identityQ: SystemSet) -> Bool {
        identityP == .both && identityQ == .both
    }

    /// - Parameters:
    ///   - identityP, identityQ: the systems the two identities have records in.
    ///   - recordsP, recordsQ: the systems of the records that share the value.
    static func verdict(identityP: SystemSet, identityQ: SystemSet, recordsP: SystemSet, recordsQ: SystemSet) -> Verdict {
        if eachAlreadyLinked(identityP, identityQ) { return .keepApart }
        if !recordsP.isDisjoint(with: recordsQ) { return .join }
        if !identityP.isDisjoint(with: recordsQ) || !identityQ.isDisjoint(with: recordsP) { return .conflict }
        return .join
    }

    static func conflictDetail(keyNames: String) -> String {
        "the \(keyNames) points to a different counterpart than the external-id link"
    }
}

/// Which of the two systems something has records in.
struct SystemSet: OptionSet, Sendable {
    let rawValue: UInt8
    static let crm = SystemSet(rawValue: 1)
    static let erp = SystemSet(rawValue: 2)
    static let both: SystemSet = [.crm, .erp]

    init(rawValue: UInt8) { self.rawValue = rawValue }
    init(_ system: System) { self = system == .crm ? .crm : .erp }
}
