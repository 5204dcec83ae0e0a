import Foundation
import ReconCore
import Testing

/// Small hand-made mirrors, one rule each.
struct MatchingTests {
    static var config: ReconConfig {
        var c = ReconConfig()
        c.defaultCountry = "GB"
        c.statuses.crm = ["Won": .won, "Open": .open, "Cancelled": .cancelled]
        c.statuses.erp = ["PAID": .paid, "CANCELLED": .cancelled, "CHARGEBACK": .chargeback]
        c.statuses.compatible = [StatusPair(.won, .paid)]
        c.statuses.requireErpOrder = [.won]
        return c
    }

    static func customers(_ crm: [CustomerRecord], _ erp: [CustomerRecord], attributes: [String] = []) -> Mirror {
        Mirror(crmCustomers: Table(attributeNames: attributes, records: crm),
               erpCustomers: Table(attributeNames: attributes, records: erp))
    }

    /// (type, entity, field, sorted records) of each finding.
    static func summary(_ m: Mirror, _ c: ReconConfig = config) -> Set<String> {
        Set(Reconciler.reconcile(m, config: c).findings.map { f in
            "\(f.type.rawValue) \(f.entity.rawValue) \(f.field) " + f.members.map { "\($0.system.rawValue):\($0.recordId)" }.sorted().joined(separator: ",")
        })
    }

    @Test func linkedPairWithFormattingDifferencesIsClean() {
        let m = Self.customers(
            [CustomerRecord(id: "c1", externalId: "e1", email: "Ann@Example.com", phone: "07400 123456", country: "GB")],
            [CustomerRecord(id: "e1", email: " ann@example.COM ", phone: "+44 7400 123456")])
        #expect(Self.summary(m).isEmpty)
    }

    @Test func linkWorksFromEitherSide() {
        let m = Self.customers([CustomerRecord(id: "c1")], [CustomerRecord(id: "e1", externalId: " c1 ")])
        #expect(Self.summary(m).isEmpty)
    }

    @Test func sharedSwitchboardWithDifferentEmailsIsNotADuplicate() {
        let m = Self.customers(
            [CustomerRecord(id: "c1", email: "a@acme.com", phone: "+44 7400 111111"),
             CustomerRecord(id: "c2", email: "b@acme.com", phone: "07400 111111")],
            [CustomerRecord(id: "e1", externalId: "c1", email: "a@acme.com", phone: "+447400111111"),
             CustomerRecord(id: "e2", externalId: "c2", email: "b@acme.com", phone: "+447400111111")])
        #expect(Self.summary(m).isEmpty)
    }

    @Test func sharedPhoneJoinsWhenOneSideHasNoEmail() {
        let m = Self.customers(
            [CustomerRecord(id: "c1", externalId: "e1", email: "a@acme.com", phone: "+44 7400 111111")],
            [CustomerRecord(id: "e1", email: "a@acme.com", phone: "+447400111111"),
             CustomerRecord(id: "e2", phone: "07400 111111")])
        #expect(Self.summary(m) == ["duplicate customer  erp:e1,erp:e2"])
    }

    @Test func sameEmailInOneSystemIsADuplicate() {
        let m = Self.customers(
            [CustomerRecord(id: "c1", externalId: "e1", email: "a@x.com"), CustomerRecord(id: "c2", email: "A@X.com")],
            [CustomerRecord(id: "e1", email: "a@x.com")])
        #expect(Self.summary(m) == ["duplicate customer  crm:c1,crm:c2"])
    }

    @Test func emailPointingElsewhereThanTheLinkIsAConflict() {
        let m = Self.customers(
            [CustomerRecord(id: "c1", externalId: "e1", email: "a@x.com")],
            [CustomerRecord(id: "e1", email: "accounts@x.com"), CustomerRecord(id: "e2", email: "a@x.com")])
        #expect(Self.summary(m) == ["conflict customer  crm:c1,erp:e1,erp:e2"])
    }

    @Test func crossSystemEmailMatchWithoutLinkIsUnlinked() {
        let m = Self.customers([CustomerRecord(id: "c1", email: "a@x.com")], [CustomerRecord(id: "e1", email: "a@x.com")])
        #expect(Self.summary(m) == ["unlinked customer  crm:c1,erp:e1"])
    }

    @Test func orphansIncludingDanglingLinks() {
        let m = Self.customers([CustomerRecord(id: "c1", externalId: "nope")], [CustomerRecord(id: "e1")])
        #expect(Self.summary(m) == ["orphan customer  crm:c1", "orphan customer  erp:e1"])
        let f = Reconciler.reconcile(m, config: Self.config).findings.first { $0.members.first?.recordId == "c1" }
        #expect(f?.detail.contains("does not exist") == true)
    }

    @Test func fieldMismatchOnPhoneAndAttribute() {
        let m = Self.customers(
            [CustomerRecord(id: "c1", externalId: "e1", phone: "07400 111111", attributes: ["SMB"])],
            [CustomerRecord(id: "e1", phone: "07400 222222", attributes: ["Enterprise"])], attributes: ["segment"])
        #expect(Self.summary(m) == ["field_mismatch customer phone crm:c1,erp:e1", "field_mismatch customer segment crm:c1,erp:e1"])
    }

    @Test func invalidValuesAndIds() {
        let m = Self.customers(
            [CustomerRecord(id: "c1", externalId: "e1", email: "bad@@x", phone: "123"),
             CustomerRecord(id: "c1", externalId: "e1"), CustomerRecord(id: "  ", row: 3)],
            [CustomerRecord(id: "e1", country: "UK")])
        #expect(Self.summary(m) == ["invalid customer email crm:c1", "invalid customer phone crm:c1", "invalid customer id crm:c1",
                                    "invalid customer id crm:", "invalid customer country erp:e1"])
    }

    @Test func findingIdsDoNotDependOnRowOrder() {
        let crm = [CustomerRecord(id: "c1", email: "a@x.com"), CustomerRecord(id: "c2", email: "a@x.com"), CustomerRecord(id: "c3")]
        let erp = [CustomerRecord(id: "e1", email: "b@x.com"), CustomerRecord(id: "e2")]
        let a = Reconciler.reconcile(Self.customers(crm, erp), config: Self.config).findings.map(\.id).sorted()
        let b = Reconciler.reconcile(Self.customers(crm.reversed(), erp.reversed()), config: Self.config).findings.map(\.id).sorted()
        #expect(a == b)
        #expect(a.count == 5)   // duplicate c1+c2, their orphan identity, c3, e1, e2
    }

    /// The orders' thread tells the caller once when it first has nothing to do (where a night
    /// starts finding the records changed just before it), after the linked orders are
    /// compared: waiting for the customers' identities, or else with its part done; the slow
    /// path, with no second thread, never does.
    @Test func theOrdersThreadSaysOnceWhenItIsIdle() {
        final class Calls: @unchecked Sendable {
            private let lock = NSLock()
            private var names: [String] = []
            func add(_ name: String) { lock.lock(); names.append(name); lock.unlock() }
            var all: [String] { lock.lock(); defer { lock.unlock() }; return names }
        }
        let m = Self.customers([CustomerRecord(id: "c1", email: "a@x.com")], [CustomerRecord(id: "e1", email: "a@x.com")])
        let fast = Calls(), slow = Calls()
        let findings = Reconciler.reconcile(m, config: Self.config, onOrdersCompared: { fast.add("compared") },
                                            onOrdersIdle: { fast.add("idle") }).findings
        #expect(fast.all == ["compared", "idle"])
        let slowFindings = Reconciler.reconcile(m, config: Self.config, fastPaths: false, onOrdersCompared: { slow.add("compared") },
                                                onOrdersIdle: { slow.add("idle") }).findings
        #expect(slow.all.isEmpty)
        #expect(findings.map(\.id) == slowFindings.map(\.id))
    }

    /// Each member's row, where matching sets it, is its record's row in the table of the
    /// finding's entity (a candidate's among the customers): past blank ids and ids repeated by a
    /// later row, on both paths. Only the members named by an id that has no row of its own
    /// (a blank or repeated id) are left to be looked up by id.
    @Test func membersCarryTheirRecordsRows() {
        var m = Self.customers(
            [CustomerRecord(id: " "),
             CustomerRecord(id: "c1", externalId: "e1", email: "a@x.com", phone: "+44 20 7946 0001", attributes: ["gold"]),
             CustomerRecord(id: "c1", email: "again@x.com"),
             CustomerRecord(id: "c2", email: "dup@x.com"), CustomerRecord(id: "c3", email: "dup@x.com"),
             CustomerRecord(id: "c4", email: "not an email"),
             CustomerRecord(id: "c5", email: "u@x.com"),
             CustomerRecord(id: "c6", externalId: "e6", email: "mine@x.com"),
             CustomerRecord(id: "c7", email: "k.schulze@firm.de", phone: "+49 151 23456789", name: "Karin Schulze")],
            [CustomerRecord(id: ""),
             CustomerRecord(id: "e1", email: "a@x.com", phone: "+44 20 7946 0002", attributes: ["silver"]),
             CustomerRecord(id: "e5", email: "u@x.com"),
             CustomerRecord(id: "e6", email: "other@x.com"), CustomerRecord(id: "e7", email: "mine@x.com"),
             CustomerRecord(id: "e9", email: "katharina.s@web.de", phone: "0151 23456789", name: "Katharina Schulze", country: "DE")],
            attributes: ["tier"])
        m.crmOrders = Table(records: [
            OrderRecord(id: "", status: nil),
            OrderRecord(id: "d1", status: "Won", externalId: "s1", customerId: "c1", amount: "10"),
            OrderRecord(id: "d1", status: "Won", customerId: "c1", amount: "12"),
            OrderRecord(id: "d2", status: "Won", customerId: "c1", amount: "20"),
            OrderRecord(id: "d3", status: "Won", externalId: "s3", customerId: "c1", amount: "30"),
            OrderRecord(id: "d5", status: "Closed??", customerId: "c1"),
            OrderRecord(id: "d6", status: "Open", customerId: "c1", amount: "ten"),
            OrderRecord(id: "d7", status: "Won", customerId: "cX", amount: "40"),
            OrderRecord(id: "d8", status: "Won", customerId: "c1", amount: "50", currency: "EUR")])
        m.erpOrders = Table(records: [
            OrderRecord(id: "s1", status: "CHARGEBACK", customerId: "e1", amount: "11"),
            OrderRecord(id: "s9", status: "PAID", customerId: "e1", amount: "99"),
            OrderRecord(id: "s3", status: "PAID", externalId: "d3", customerId: "e1", amount: "30"),
            OrderRecord(id: "s4", status: "PAID", externalId: "d3", customerId: "e1", amount: "30"),
            OrderRecord(id: "s8", status: "PAID", customerId: "e1", amount: "50.00", currency: "EUR")])
        for fast in [true, false] {
            let findings = Reconciler.reconcile(m, config: Self.config, fastPaths: fast).findings
            var types = Set<String>(), withRows = 0, candidates = 0
            for f in findings {
                types.insert("\(f.type.rawValue) \(f.entity.rawValue)")
                for (member, entity) in f.members.map({ ($0, f.entity) }) + f.candidates.map({ ($0, Entity.customer) }) {
                    guard member.row >= 0 else {
                        #expect(f.type == .invalid && f.field == "id", "\(f.id): \(member.recordId) has no row")
                        continue
                    }
                    let id = entity == .customer ? m.customers(member.system).records[Int(member.row)].id
                                                 : m.orders(member.system).records[Int(member.row)].id
                    #expect(id.trimmingCharacters(in: .whitespaces) == member.recordId, "\(f.id): row \(member.row)")
                    withRows += 1
                    if member.role == "candidate" { candidates += 1 }
                }
            }
            #expect(types.isSuperset(of: ["duplicate customer", "orphan customer", "unlinked customer", "conflict customer",
                                          "field_mismatch customer", "invalid customer", "status_mismatch order", "field_mismatch order",
                                          "missing_order order", "orphan order", "duplicate order", "unlinked order", "invalid order"]),
                    "\(types.sorted())")
            #expect(candidates > 0)
            #expect(withRows > 20)
        }
    }

    // MARK: Orders

    static func orders(_ crm: [OrderRecord], _ erp: [OrderRecord]) -> Mirror {
        var m = customers([CustomerRecord(id: "c1", externalId: "e1")], [CustomerRecord(id: "e1")])
        m.crmOrders = Table(records: crm)
        m.erpOrders = Table(records: erp)
        return m
    }

    @Test func compatibleStatusesAndEqualAmountsAreClean() {
        let m = Self.orders([OrderRecord(id: "d1", status: "Won", externalId: "s1", customerId: "c1", amount: "10.50", currency: "eur")],
                            [OrderRecord(id: "s1", status: "PAID", customerId: "e1", amount: "10.5", currency: "EUR")])
        #expect(Self.summary(m).isEmpty)
    }

    @Test func orderFindings() {
        let m = Self.orders(
            [OrderRecord(id: "d1", status: "Won", externalId: "s1", customerId: "c1", amount: "10"),
             OrderRecord(id: "d2", status: "Won", customerId: "c1", amount: "20"),                      // missing
             OrderRecord(id: "d3", status: "Open", customerId: "c1", amount: "30"),                     // open: fine
             OrderRecord(id: "d4", status: "Won", externalId: "s4", customerId: "cX", amount: "40"),    // unknown customer
             OrderRecord(id: "d5", status: "Closed??", externalId: "s5", customerId: "c1")],            // unmapped
            [OrderRecord(id: "s1", status: "CHARGEBACK", customerId: "e1", amount: "11"),
             OrderRecord(id: "s4", status: "PAID", customerId: "e1", amount: "40"),
             OrderRecord(id: "s5", status: "PAID", customerId: "e1"),
             OrderRecord(id: "s9", status: "PAID", customerId: "e1", amount: "99")])                    // orphan
        #expect(Self.summary(m) == [
            "status_mismatch order status crm:d1,erp:s1", "field_mismatch order amount crm:d1,erp:s1",
            "missing_order order  crm:d2", "orphan order customer_id crm:d4", "invalid order status crm:d5",
            "orphan order  erp:s9",
        ])
    }

    @Test func duplicatesInWindowAndByCounterpart() {
        let m = Self.orders(
            [OrderRecord(id: "d1", status: "Won", externalId: "s1", customerId: "c1", amount: "10", currency: "EUR", createdAt: "2026-01-01 10:00:00+00"),
             OrderRecord(id: "d2", status: "Won", customerId: "c1", amount: "10", currency: "EUR", createdAt: "2026-01-01 10:04:00+00"),
             OrderRecord(id: "d3", status: "Won", externalId: "s3", customerId: "c1", amount: "10", currency: "EUR", createdAt: "2026-01-01 12:00:00+00")],
            [OrderRecord(id: "s1", status: "PAID", customerId: "e1", amount: "10", currency: "EUR"),
             OrderRecord(id: "s3", status: "PAID", externalId: "d3", customerId: "e1", amount: "10", currency: "EUR"),
             OrderRecord(id: "s4", status: "PAID", externalId: "d3", customerId: "e1", amount: "10", currency: "EUR")])
        #expect(Self.summary(m) == ["duplicate order  crm:d1,crm:d2", "duplicate order  erp:s3,erp:s4"])
    }

    @Test func twoRealOrdersInTheWindowAreNotDuplicates() {
        let m = Self.orders(
            [OrderRecord(id: "d1", status: "Won", externalId: "s1", customerId: "c1", amount: "10", createdAt: "2026-01-01 10:00:00+00"),
             OrderRecord(id: "d2", status: "Won", externalId: "s2", customerId: "c1", amount: "10", createdAt: "2026-01-01 10:01:00+00")],
            [OrderRecord(id: "s1", status: "PAID", customerId: "e1", amount: "10"), OrderRecord(id: "s2", status: "PAID", customerId: "e1", amount: "10")])
        #expect(Self.summary(m).isEmpty)
    }

    @Test func matchingUnlinkedOrdersOfOneCustomer() {
        let m = Self.orders([OrderRecord(id: "d1", status: "Won", customerId: "c1", amount: "10", currency: "EUR")],
                            [OrderRecord(id: "s1", status: "PAID", customerId: "e1", amount: "10.00", currency: "EUR")])
        #expect(Self.summary(m) == ["unlinked order  crm:d1,erp:s1"])
    }
}
