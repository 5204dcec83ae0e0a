/// When a shared phone joins customers. A phone is weak evidence: a company switchboard, a
/// family landline or a reused number reach several people. What tells one person with two
/// addresses from two colleagues behind one switchboard is the name.
///
/// The rule, for two groups of records (`p`, `q`) that share a valid phone and are not yet one
/// customer:
/// 1. When both groups have names: they join if some name of `p` and some name of `q` agree
///    (`NameAgreement.confirms`: the same name, or an initial and the same surname), whatever
///    their emails, tier `probable`, key `phone+name`. Names that do not agree keep them apart.
/// 2. When either group has no name: they join only if their emails do not disagree (one side
///    has none), tier `possible` (shown, never acted on), key `phone`.
/// 3. Either way, a phone that the names of its records show is shared by three or more people
///    (a switchboard) joins nobody.
///
/// The rule only ever joins or declines to join: a different name never splits what an external
/// id or an email joined (people marry, use nicknames), and recon never joins on a name alone.
/// The checks that apply to every key (a record already linked to its own counterpart) follow in
/// `CustomerMatcher.decide`.
public enum PhoneRule {
    public enum Verdict: Equatable {
        case join(MatchTier)
        case apart(reason: String)
    }

    /// - Parameter emailsDiffer: both groups have emails and none is shared.
    /// - Parameter peopleOnPhone: how many different people the names of every record holding the
    ///   phone show (`people(_:)`); asked only when the names agree.
    public static func judge(_ p: [PersonName], _ q: [PersonName], emailsDiffer: Bool, peopleOnPhone: () -> Int) -> Verdict {
        if !p.isEmpty && !q.isEmpty {
            let agree = p.contains { a in q.contains { b in NameAgreement.of(a, b).confirms } }
            guard agree else { return .apart(reason: "their names differ") }
            let people = peopleOnPhone()
            if people >= 3 { return .apart(reason: "the phone is shared by \(people) people with different names (a switchboard)") }
            return .join(.probable)
        }
        if emailsDiffer { return .apart(reason: "their emails differ and there is no name to confirm one person") }
        let people = peopleOnPhone()
        if people >= 3 { return .apart(reason: "the phone is shared by \(people) people with different names (a switchboard)") }
        return .join(.possible)
    }

    /// How many different people a phone's names show: names are taken in order, each joining
    /// the first person whose first name it agrees with.
    public static func people(_ names: [PersonName]) -> Int {
        var people: [PersonName] = []
        for n in names where !people.contains(where: { NameAgreement.of($0, n).confirms }) { people.append(n) }
        return people.count
    }
}
