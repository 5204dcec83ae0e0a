import Foundation
import ReconCore
import Testing

/// Names as evidence, one mailbox written several ways, the phone rule and near misses.
struct NameAgreementTests {
    func agreement(_ a: String, _ b: String) -> NameAgreement? {
        guard let x = PersonName(a), let y = PersonName(b) else { return nil }
        return NameAgreement.of(x, y)
    }

    @Test func theSameNameWrittenDifferently() {
        #expect(agreement("Sébastien Petit", "SEBASTIEN PETIT") == .same)
        #expect(agreement("Kozłowski Jan", "Jan Kozlowski") == .same)
        #expect(agreement("Jörg Müller", "Jorg Muller") == .same)
        #expect(agreement("Blanc Sandrine", "Sandrine  Blanc") == .same)
        #expect(agreement("Mary O'Brien", "mary obrien") == .same)
        #expect(agreement("Jean-Pierre Durand", "Jean Pierre Durand") == .same)
        #expect(agreement("Van Dijk Anna", "Anna Vandijk") == .same)
        #expect(agreement("Stephanei Wood", "Stephanie Wood") == .same)
        #expect(agreement("Anna Maria Schulze", "Anna Schulze") == .same)
    }

    @Test func anInitialIsWeakerAndNeedsTheSurname() {
        #expect(agreement("K. Schulze", "Katharina Schulze") == .initial)
        #expect(agreement("K. Schulze", "Katharina Schmidt") == .different)
        #expect(agreement("M. Schulze", "Katharina Schulze") == .near)
        #expect(NameAgreement.initial.confirms && !NameAgreement.near.confirms)
    }

    @Test func differentPeopleDoNotAgree() {
        #expect(agreement("Anna Müller", "Karin Müller") == .near)
        #expect(agreement("John Smith", "Mary Jones") == .different)
        #expect(agreement("Smith", "John Smith") == .near)
        // Short tokens must be equal: one letter apart is another name.
        #expect(agreement("Li Wei", "Lu Wei") == .near)
        // Two typos, or a typo in a short word, is not the same name.
        #expect(agreement("Stefan Wood", "Stephanie Wood") == .near)
        #expect(PersonName("  ") == nil && PersonName("1234") == nil && PersonName(nil) == nil)
    }
}

struct MailboxTests {
    let all = MailboxRule()

    @Test func oneMailboxHoweverWritten() {
        #expect(all.canonical("mary.obrien@gmail.com") == "maryobrien@gmail.com")
        #expect(all.canonical("maryobrien@googlemail.com") == "maryobrien@gmail.com")
        #expect(all.canonical("thijs.d+newsletter@ziggo.nl") == "thijs.d@ziggo.nl")
        #expect(all.canonical("m.a.r.y+x@googlemail.com") == "mary@gmail.com")
        // Dots matter elsewhere; a leading + is not a tag.
        #expect(all.canonical("mary.obrien@example.com") == "mary.obrien@example.com")
        #expect(all.canonical("+tag@example.com") == "+tag@example.com")
    }

    @Test func plusAddressingCanBeLimitedToSomeDomains() {
        let some = MailboxRule(plusAddressingDomains: ["gmail.com"])
        #expect(some.canonical("a+b@gmail.com") == "a@gmail.com")
        #expect(some.canonical("a+b@example.com") == "a+b@example.com")
        let off = MailboxRule(plusAddressingDomains: [])
        #expect(off.canonical("a+b@example.com") == "a+b@example.com")
    }
}

struct PhoneRuleTests {
    func names(_ s: String...) -> [PersonName] { s.compactMap { PersonName($0) } }

    @Test func namesDecideWhatAPhoneJoins() {
        #expect(PhoneRule.judge(names("Sandrine Blanc"), names("BLANC Sandrine"), emailsDiffer: true, peopleOnPhone: { 1 }) == .join(.probable))
        #expect(PhoneRule.judge(names("Ann Lee"), names("Bob Ray"), emailsDiffer: false, peopleOnPhone: { 2 }) == .apart(reason: "their names differ"))
        #expect(PhoneRule.judge(names("Ann Lee"), [], emailsDiffer: false, peopleOnPhone: { 1 }) == .join(.possible))
        if case .apart = PhoneRule.judge([], [], emailsDiffer: true, peopleOnPhone: { 0 }) {} else { Issue.record("no names and different emails joined") }
        if case .apart = PhoneRule.judge(names("Ann Lee"), names("Ann Lee"), emailsDiffer: true, peopleOnPhone: { 3 }) {} else {
            Issue.record("a switchboard joined two records")
        }
        #expect(PhoneRule.people(names("Ann Lee", "ann lee", "Bob Ray", "A. Lee")) == 2)
    }
}

/// The rules on small mirrors, as `MatchingTests` does.
struct IdentityMatchingTests {
    typealias C = CustomerRecord

    static func findings(_ crm: [C], _ erp: [C]) -> [Finding] {
        Reconciler.reconcile(MatchingTests.customers(crm, erp), config: MatchingTests.config).findings
    }

    static func summary(_ fs: [Finding]) -> Set<String> {
        Set(fs.map { f in
            "\(f.type.rawValue) \(f.field) " + f.members.map { "\($0.system.rawValue):\($0.recordId)" }.sorted().joined(separator: ",")
                + (f.tier.map { " \($0.rawValue)" } ?? "")
        })
    }

    @Test func onePersonWithAWorkAndAPrivateAddressIsOneCustomer() {
        let fs = Self.findings(
            [C(id: "c1", email: "sebastien.petit@apex-trading.fr", phone: "+33 7 55 84 11 48", name: "Sébastien Petit", country: "FR")],
            [C(id: "e1", email: "SEBASTIENPETIT@GMAIL.COM", phone: "07 55 84 11 48", name: "SÉBASTIEN PETIT", country: "FR")])
        #expect(Self.summary(fs) == ["unlinked  crm:c1,erp:e1 probable", "field_mismatch email crm:c1,erp:e1 probable"])
        #expect(fs.first { $0.type == .unlinked }?.matchedOn == "phone+name")
    }

    @Test func colleaguesBehindOneSwitchboardStayApart() {
        let fs = Self.findings(
            [C(id: "c1", email: "a@acme.com", phone: "+44 20 7946 0000", name: "Ann Lee"),
             C(id: "c2", phone: "+44 20 7946 0000", name: "Bob Ray")],
            [C(id: "e1", email: "c@acme.com", phone: "020 7946 0000", name: "Carla Diaz", country: "GB")])
        #expect(Self.summary(fs) == ["orphan  crm:c1", "orphan  crm:c2", "orphan  erp:e1"])
    }

    @Test func aDifferentNameNeverSplitsAnEmailMatch() {
        let fs = Self.findings([C(id: "c1", email: "kim@x.com", name: "Kim Novak")], [C(id: "e1", email: "kim@x.com", name: "Kim Meyer")])
        #expect(Self.summary(fs) == ["unlinked  crm:c1,erp:e1 certain"])
    }

    @Test func oneMailboxIsOneCustomerAndNoMismatch() {
        let fs = Self.findings(
            [C(id: "c1", externalId: "e1", email: "mary.obrien@gmail.com"), C(id: "c2", email: "thijs.d+news@ziggo.nl")],
            [C(id: "e1", email: "maryobrien@googlemail.com"), C(id: "e2", email: "thijs.d@ziggo.nl")])
        #expect(Self.summary(fs) == ["unlinked  crm:c2,erp:e2 certain"])
    }

    @Test func aDuplicateInsideOneSystemByPhoneAndName() {
        let fs = Self.findings(
            [C(id: "c1", externalId: "e1", email: "blanc.sandrine@orange.fr", phone: "0141862155", name: "Sandrine Blanc", country: "FR"),
             C(id: "c2", email: "sandrine.blanc@orange.fr", phone: "01 41 86 21 55", name: "Blanc Sandrine", country: "FR")],
            [C(id: "e1", email: "blanc.sandrine@orange.fr")])
        #expect(Self.summary(fs) == ["duplicate  crm:c1,crm:c2 probable"])
    }

    @Test func aNearMissIsNamedInTheOrphansFinding() {
        let fs = Self.findings(
            [C(id: "c1", email: "k.schulze@firm.de", phone: "+49 151 23456789", name: "Karin Schulze")],
            [C(id: "e1", email: "katharina.s@web.de", phone: "0151 23456789", name: "Katharina Schulze", country: "DE"),
             C(id: "e2", email: "ops@firm.de", phone: "+49 151 99999999", name: "Jo Bauer")])
        let orphan = fs.first { $0.type == .orphan && $0.members[0].recordId == "c1" }
        #expect(orphan?.candidates.map(\.recordId) == ["e1"])
        #expect(orphan?.detail.contains("possible counterpart in ERP: e1 (same phone, name nearly agrees)") == true)
        #expect(fs.first { $0.type == .orphan && $0.members[0].recordId == "e2" }?.candidates.isEmpty == true)
    }

    @Test func aNearMissBySimilarEmailNeedsTheName() {
        let fs = Self.findings(
            [C(id: "c1", email: "sebastien.petit@apex-trading.fr", name: "Sébastien Petit"),
             C(id: "c2", email: "john.smith@acme.com", name: "John Smith")],
            [C(id: "e1", email: "sebastienpetit@gmail.com", name: "Sebastien Petit"),
             C(id: "e2", email: "johnsmith@other.org", name: "Mary Smith")])
        let orphans = Dictionary(uniqueKeysWithValues: fs.filter { $0.type == .orphan }.map { ($0.members[0].recordId, $0.candidates.map(\.recordId)) })
        #expect(orphans["c1"] == ["e1"] && orphans["e1"] == ["c1"])
        #expect(orphans["c2"] == [] && orphans["e2"] == [])
    }

    /// Enough orphans for matching to name their near misses in parts, on two threads:
    /// the same candidates, in the same findings, as on the slow path's one piece. Surnames are
    /// letters (`Schab`, `Schac`, …); each CRM orphan has an ERP near miss by phone (Karin and
    /// Katharina) and every third one another by its email's local part.
    @Test func nearMissesAreTheSameInPiecesAsInOne() {
        func surname(_ i: Int) -> String {
            var s = "Sch", n = i
            for _ in 0..<3 { s.append(Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8(n % 26)))); n /= 26 }
            return s
        }
        var crm: [C] = [], erp: [C] = []
        for i in 0..<1_500 {
            let phone = String(format: "%07d", 1_000_000 + i)
            crm.append(C(id: "c\(i)", email: "karin.\(surname(i).lowercased())@firm.de", phone: "+49 151 2" + phone, name: "Karin \(surname(i))"))
            erp.append(C(id: "e\(i)", email: "k.\(surname(i).lowercased())@web.de", phone: "0151 2" + phone, name: "Katharina \(surname(i))", country: "DE"))
            if i % 3 == 0 {
                erp.append(C(id: "m\(i)", email: "karin\(surname(i).lowercased())@mail.de", name: "Karin \(surname(i))"))
            }
        }
        let m = MatchingTests.customers(crm, erp)
        let fast = Reconciler.reconcile(m, config: MatchingTests.config).findings
        let slow = Reconciler.reconcile(m, config: MatchingTests.config, fastPaths: false).findings
        func named(_ fs: [Finding]) -> [String] {
            fs.filter { !$0.candidates.isEmpty }.map { "\($0.id) \($0.detail) " + $0.candidates.map { "\($0.recordId)=\($0.value)" }.joined(separator: ",") }
        }
        let (a, b) = (named(fast), named(slow))
        #expect(fast.count == slow.count && a.count == b.count)
        #expect(zip(a, b).first { $0 != $1 } == nil)
        // Every CRM orphan named its phone's near miss, and every third its email's as well.
        let c7 = fast.first { $0.type == .orphan && $0.members.map(\.recordId) == ["c7"] }
        #expect(c7?.candidates.map(\.recordId) == ["e7"])
        let c9 = fast.first { $0.type == .orphan && $0.members.map(\.recordId) == ["c9"] }
        #expect(c9?.candidates.map(\.recordId) == ["e9", "m9"])
        #expect(fast.filter { $0.type == .orphan && $0.members.first?.system == .crm && !$0.candidates.isEmpty }.count == 1_500)
    }
}

/// Reviewers' decisions on small mirrors.
struct DecisionRuleTests {
    typealias C = CustomerRecord
    typealias D = IdentityDecisions

    static func decision(_ n: Int64, _ v: D.Verdict, _ a: String, _ b: String) -> D.Decision {
        D.Decision(number: n, verdict: v, a: D.Record(a)!, b: D.Record(b)!, decidedAt: "2026-12-01T10:00:00Z")
    }

    static func findings(_ crm: [C], _ erp: [C], _ decisions: [D.Decision]) -> [Finding] {
        Reconciler.reconcile(MatchingTests.customers(crm, erp), config: MatchingTests.config, decisions: D(decisions)).findings
    }

    @Test func theLatestDecisionAboutAPairCounts() {
        let d = D([Self.decision(1, .different, "crm:c1", "erp:e1"), Self.decision(3, .same, "erp:e1", "crm:c1"),
                   Self.decision(2, .different, "crm:c1", "erp:e1"), Self.decision(4, .withdrawn, "crm:c2", "erp:e2"),
                   Self.decision(5, .same, "crm:c2", "erp:e2")])
        #expect(d.inForce.map(\.number) == [3, 5])
        #expect(D([Self.decision(1, .same, "crm:c1", "erp:e1"), Self.decision(2, .withdrawn, "erp:e1", "crm:c1")]).isEmpty)
    }

    @Test func differentSplitsEvenAnExternalIdLink() {
        let fs = Self.findings([C(id: "c1", externalId: "e1", email: "a@x.com")], [C(id: "e1", email: "a@x.com")],
                               [Self.decision(7, .different, "crm:c1", "erp:e1")])
        #expect(IdentityMatchingTests.summary(fs) == ["orphan  crm:c1", "orphan  erp:e1"])
        #expect(fs.allSatisfy { $0.detail.contains("by decision #7 (different, 2026-12-01)") && $0.candidates.isEmpty })
    }

    @Test func differentHoldsThroughOtherRecords() {
        // c2 shares c1's email and e1's phone and name: joining it to both would chain c1 and e1.
        let fs = Self.findings(
            [C(id: "c1", email: "a@x.com", name: "Ann Lee"), C(id: "c2", email: "a@x.com", phone: "+44 7400 111111", name: "Ann Lee")],
            [C(id: "e1", phone: "07400 111111", name: "Ann Lee", country: "GB")],
            [Self.decision(1, .different, "crm:c1", "erp:e1")])
        #expect(!fs.contains { f in f.members.contains { $0.recordId == "c1" } && f.members.contains { $0.recordId == "e1" } })
    }

    @Test func sameJoinsWhatNoKeyWouldUnlessADifferentForbidsIt() {
        let crm = [C(id: "c1", email: "a@x.com"), C(id: "c2", email: "b@y.com")]
        let erp = [C(id: "e1", email: "z@z.com")]
        let joined = Self.findings(crm, erp, [Self.decision(1, .same, "crm:c1", "erp:e1")])
        #expect(IdentityMatchingTests.summary(joined) == ["unlinked  crm:c1,erp:e1 certain", "orphan  crm:c2", "field_mismatch email crm:c1,erp:e1"])
        #expect(joined.first { $0.type == .unlinked }?.matchedOn == "decision")
        let refused = Self.findings(crm, erp, [Self.decision(1, .same, "crm:c1", "erp:e1"), Self.decision(2, .same, "crm:c2", "erp:e1"),
                                               Self.decision(3, .different, "crm:c1", "crm:c2")])
        // c1-e1 joins first; c2-e1 would put c1 and c2 together: not applied.
        #expect(IdentityMatchingTests.summary(refused).contains("unlinked  crm:c1,erp:e1 certain"))
        #expect(IdentityMatchingTests.summary(refused).contains("orphan  crm:c2"))
    }
}
