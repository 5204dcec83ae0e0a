/// Disjoint sets over indices `0..<count` (union by rank, path compression): the one union-find
/// that matching uses, for customers (`Components`) and for duplicate orders.
struct DisjointSets {
    private var parent: [Int32]
    private var rank: [UInt8]

    init(count: Int) {
        parent = (0..<Int32(count)).map { $0 }
        rank = Array(repeating: 0, count: count)
    }

    @inline(__always)
    mutating func find(_ x: Int32) -> Int32 {
        var root = x
        while parent[Int(root)] != root { root = parent[Int(root)] }
        var y = x
        while parent[Int(y)] != root {
            let next = parent[Int(y)]
            parent[Int(y)] = root
            y = next
        }
        return root
    }

    /// Joins the sets of `a` and `b`. - Returns: the root that stays and the one that no longer
    /// is a root (nil when they were one set already).
    @discardableResult
    mutating func union(_ a: Int32, _ b: Int32) -> (kept: Int32, absorbed: Int32?) {
        var ra = find(a), rb = find(b)
        if ra == rb { return (ra, nil) }
        if rank[Int(ra)] < rank[Int(rb)] { swap(&ra, &rb) }
        if rank[Int(ra)] == rank[Int(rb)] { rank[Int(ra)] += 1 }
        parent[Int(rb)] = ra
        return (ra, rb)
    }
}

/// Disjoint sets over record indices with per-set facts that matching needs while merging:
/// which systems the set holds, which keys joined it, and its valid emails.
struct Components {
    private var sets: DisjointSets
    /// Bit 0: holds a CRM record, bit 1: holds an ERP record.
    private(set) var systems: [UInt8]
    /// Keys that joined records of the set (`MatchKey` bits).
    private(set) var keys: [UInt8]
    /// The weakest tier of the evidence that joined the set (`MatchTier.rank`).
    private var tiers: [UInt8]
    /// Interned valid emails of the set's records (kept on roots only): the first in an array,
    /// further distinct ones in a side table (most sets have one email: no array per record).
    private var email: [Int32]
    private var moreEmails: [Int32: [Int32]] = [:]
    /// Records decided `different` (`IdentityDecisions`), kept on roots: the records this set must
    /// never join, each with its decision's index.
    private var apart: [Int32: [(record: Int32, decision: Int)]] = [:]

    init(systems: [UInt8], emails: [Int32]) {
        let n = systems.count
        sets = DisjointSets(count: n)
        self.systems = systems
        keys = Array(repeating: 0, count: n)
        tiers = Array(repeating: UInt8(MatchTier.certain.rank), count: n)
        email = emails
    }

    @inline(__always)
    mutating func find(_ x: Int32) -> Int32 { sets.find(x) }

    /// Joins the sets of `a` and `b` on evidence `key` of `tier` (a join within one set adds the
    /// key but not its tier: the set was already joined by other evidence).
    mutating func union(_ a: Int32, _ b: Int32, key: MatchKey, tier: MatchTier = .certain) {
        let (ra, absorbed) = sets.union(a, b)
        guard let rb = absorbed else { keys[Int(ra)] |= key.rawValue; return }
        tiers[Int(ra)] = min(tiers[Int(ra)], tiers[Int(rb)], UInt8(tier.rank))
        if !apart.isEmpty, let moved = apart.removeValue(forKey: rb) { apart[ra, default: []] += moved }
        systems[Int(ra)] |= systems[Int(rb)]
        keys[Int(ra)] |= keys[Int(rb)] | key.rawValue
        if email[Int(rb)] >= 0 {
            var have = emailsOf(root: ra)
            for e in emailsOf(root: rb) where !have.contains(e) {
                if email[Int(ra)] < 0 { email[Int(ra)] = e } else { moreEmails[ra, default: []].append(e) }
                have.append(e)
            }
            email[Int(rb)] = -1
            moreEmails[rb] = nil
        }
    }

    /// Records `a` and `b` must never be in one set (`decision` says so).
    mutating func keepApart(_ a: Int32, _ b: Int32, decision: Int) {
        apart[find(a), default: []].append((b, decision))
        apart[find(b), default: []].append((a, decision))
    }

    /// The decision that keeps the sets of roots `ra` and `rb` apart, if any.
    mutating func decisionKeepingApart(_ ra: Int32, _ rb: Int32) -> Int? {
        guard !apart.isEmpty, let list = apart[ra] else { return nil }
        for entry in list where find(entry.record) == rb { return entry.decision }
        return nil
    }

    func systemsOf(root: Int32) -> UInt8 { systems[Int(root)] }
    func keysOf(root: Int32) -> UInt8 { keys[Int(root)] }
    func tierOf(root: Int32) -> MatchTier {
        switch tiers[Int(root)] { case 2: return .certain; case 1: return .probable; default: return .possible }
    }
    func emailsOf(root: Int32) -> [Int32] {
        let first = email[Int(root)]
        if first < 0 { return [] }
        guard let more = moreEmails[root] else { return [first] }
        return [first] + more
    }
}

/// The keys that can join customers, strongest first.
struct MatchKey: OptionSet, Sendable {
    let rawValue: UInt8
    static let externalId = MatchKey(rawValue: 1)
    static let email = MatchKey(rawValue: 2)
    static let phone = MatchKey(rawValue: 4)
    /// Names that agree, confirming a shared phone (never a key on its own).
    static let name = MatchKey(rawValue: 8)
    /// A reviewer's `same` decision.
    static let decision = MatchKey(rawValue: 16)

    /// The keys' names joined by "+" (`external_id+email`): one text per combination, made once
    /// and shared by every finding that names it.
    var names: String { rawValue < 32 ? Self.namesOfRawValue[Int(rawValue)] : joinedNames }

    private static let namesOfRawValue: [String] = (0..<32).map { MatchKey(rawValue: UInt8($0)).joinedNames }

    private var joinedNames: String {
        var parts: [String] = []
        if contains(.externalId) { parts.append("external_id") }
        if contains(.email) { parts.append("email") }
        if contains(.phone) { parts.append("phone") }
        if contains(.name) { parts.append("name") }
        if contains(.decision) { parts.append("decision") }
        return parts.joined(separator: "+")
    }
}
