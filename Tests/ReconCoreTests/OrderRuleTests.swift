@testable import ReconCore
import Testing

/// The order rules of `Sources/ReconCore/Rules`, each on its own, without a mirror.
struct OrderRuleTests {
    static var statuses: StatusConfig {
        var s = StatusConfig()
        s.compatible = [StatusPair(.won, .invoiced)]
        s.requireErpOrder = [.won]
        s.owner = .erp
        return s
    }

    @Test(arguments: [
        (CanonicalStatus?.some(.won), CanonicalStatus?.some(.invoiced), nil),          // listed as compatible
        (.some(.invoiced), .some(.won), nil),                                          // in either order
        (.some(.paid), .some(.paid), nil),                                             // the same
        (.some(.won), .some(.cancelled), "CRM won vs ERP cancelled; ERP owns order status"),
        (nil, .some(.cancelled), nil),                                                 // unmapped: invalid, not a mismatch
    ] as [(CanonicalStatus?, CanonicalStatus?, String?)])
    func statusMismatch(crm: CanonicalStatus?, erp: CanonicalStatus?, detail: String?) {
        #expect(StatusMismatch.detail(crm: crm, erp: erp, statuses: Self.statuses) == detail)
    }

    @Test func fieldMismatchNeedsBothValues() {
        #expect(FieldMismatch.differs(Int64?.some(1), 2))
        #expect(!FieldMismatch.differs(Int64?.some(1), 1))
        #expect(!FieldMismatch.differs(nil, Int64?.some(1)))
        #expect(!FieldMismatch.differs(String?.none, nil))
        #expect(!FieldMismatch.keyDiffers(Int32?.some(1), 2, matchConflictsOnKey: true))
        #expect(FieldMismatch.keyDiffers(Int32?.some(1), 2, matchConflictsOnKey: false))
        #expect(FieldMismatch.sharedAttributes(crm: ["tier", "region"], erp: ["region", "x", "tier"]).map { "\($0.name) \($0.c) \($0.e)" }
                == ["tier 0 2", "region 1 0"])
    }

    @Test func anOrderWithoutCounterpart() {
        let s = Self.statuses
        #expect(UnmatchedOrder.verdict(system: .erp, status: .paid, dangling: false, statuses: s) == .orphan(detail: "no CRM counterpart"))
        #expect(UnmatchedOrder.verdict(system: .erp, status: nil, dangling: true, statuses: s)
                == .orphan(detail: "no CRM counterpart; external_id points to a CRM order that does not exist"))
        #expect(UnmatchedOrder.verdict(system: .crm, status: .won, dangling: false, statuses: s)
                == .missing(detail: "CRM status won requires an ERP order; none is linked"))
        #expect(UnmatchedOrder.verdict(system: .crm, status: .open, dangling: false, statuses: s) == .fine)
        #expect(UnmatchedOrder.verdict(system: .crm, status: nil, dangling: false, statuses: s) == .fine)
        #expect(UnmatchedOrder.customerMissingDetail(system: .erp, hasCustomerId: false) == "order has no customer_id")
    }

    @Test func duplicateChainsFollowTheWindowFromOrderToOrder() {
        let created: [Int: Int64] = [0: 0, 1: 600, 2: 1_200, 3: 5_000, 4: 9_000, 5: 9_100]
        // 15 minutes: 0-1-2 chain (each 10 minutes after the one before), 3 alone, 4-5.
        #expect(OrderDuplicates.chains([0, 1, 2, 3, 4, 5], created: { created[$0]! }, window: 900) == [[0, 1, 2], [4, 5]])
        #expect(OrderDuplicates.chains([3], created: { created[$0]! }, window: 900) == [])
        #expect(OrderDuplicates.chains([], created: { created[$0]! }, window: 900) == [])
    }

    @Test func lookAlikesWithTheirOwnCounterpartsAreRealOrders() {
        let own: [Int: [Int]] = [0: [10], 1: [11]], shared: [Int: [Int]] = [0: [10], 1: [10]], one: [Int: [Int]] = [0: [10], 1: []]
        #expect(OrderDuplicates.eachHasItsOwnCounterpart([0, 1], counterparts: { own[$0]! }))
        #expect(!OrderDuplicates.eachHasItsOwnCounterpart([0, 1], counterparts: { shared[$0]! }))
        #expect(!OrderDuplicates.eachHasItsOwnCounterpart([0, 1], counterparts: { one[$0]! }))
        #expect(OrderDuplicates.matchedOn(OrderDuplicates.byExternalId | OrderDuplicates.byWindow) == "external_id|customer_id+amount+currency+window")
    }
}

/// `PlanDecision`: the batch's route per finding, before any record is read.
struct PlanDecisionTests {
    static func finding(_ type: FindingType, _ entity: Entity, _ members: [(System, String)], tier: MatchTier? = nil) -> Finding {
        Finding(type: type, entity: entity, severity: .warning, members: members.map { FindingMember(system: $0.0, recordId: $0.1) }, tier: tier)
    }

    @Test func routes() {
        var own = Ownership()
        own.createCustomersIn = .erp
        own.createOrdersIn = .erp
        let none = Ownership()
        #expect(PlanDecision.route(Self.finding(.duplicate, .customer, [(.crm, "1"), (.crm, "2")]), ownership: own) == .merge)
        #expect(PlanDecision.route(Self.finding(.duplicate, .customer, [(.crm, "1"), (.crm, "2")], tier: .possible), ownership: own)
                == .human(reason: "joined only by a shared phone, with no names to confirm one person: check by hand"))
        #expect(PlanDecision.route(Self.finding(.unlinked, .customer, [(.crm, "1"), (.erp, "9")], tier: .probable), ownership: own) == .link)
        #expect(PlanDecision.route(Self.finding(.unlinked, .customer, [(.crm, "1"), (.crm, "2"), (.erp, "9")]), ownership: own)
                == .human(reason: "more than one record on a side: link by hand"))
        #expect(PlanDecision.route(Self.finding(.orphan, .customer, [(.crm, "1")]), ownership: own) == .createCustomer)
        #expect(PlanDecision.route(Self.finding(.orphan, .customer, [(.erp, "1")]), ownership: own)
                == .human(reason: "ownership.create_customers_in does not create ERP-only customers in CRM"))
        #expect(PlanDecision.route(Self.finding(.orphan, .customer, [(.crm, "1"), (.crm, "2")]), ownership: own)
                == .human(reason: PlanDecision.severalRecordsForOneCustomer))
        #expect(PlanDecision.route(Self.finding(.missingOrder, .order, [(.crm, "1")]), ownership: own) == .createOrder)
        #expect(PlanDecision.route(Self.finding(.missingOrder, .order, [(.crm, "1")]), ownership: none)
                == .human(reason: "ownership.create_orders_in does not create missing ERP orders"))
        #expect(PlanDecision.route(Self.finding(.statusMismatch, .order, [(.crm, "1"), (.erp, "2")]), ownership: own) == .updateStatus)
        #expect(PlanDecision.route(Self.finding(.fieldMismatch, .customer, [(.crm, "1"), (.erp, "2")]), ownership: own) == .updateField)
        #expect(PlanDecision.route(Self.finding(.orphan, .order, [(.erp, "1")]), ownership: own)
                == .human(reason: "no automatic correction for orphan order"))
    }
}

/// `UnlinkedOrder` and `ExternalLink`.
struct LinkRuleTests {
    @Test func anUnlinkedCRMOrderTakesTheClosestERPOrderThenTheSmallestId() {
        let created: [Int: Int64] = [0: 1_000, 1: 1_300, 2: 700, 3: 5_000]
        let ids = [0: "E9", 1: "E2", 2: "E1", 3: "E3"]
        // 1,000: order 0 (0 s away) wins; at 1,000 ± 300, orders 1 and 2 tie and E1 wins.
        #expect(UnlinkedOrder.closest(to: 1_000, among: [3, 1, 0, 2], createdAt: { created[$0]! }, id: { ids[$0]! }) == 2)
        #expect(UnlinkedOrder.closest(to: 1_000, among: [3, 1, 2], createdAt: { created[$0]! }, id: { ids[$0]! }) == 2)
    }

    @Test func anExternalIdLinksNamesNothingOrDangles() {
        func of(_ text: String) -> ExternalLink {
            var text = text
            return text.withUTF8 { ExternalLink.of($0) { String(decoding: $0, as: UTF8.self) == "K1" ? 7 : nil } }
        }
        #expect(of("") == .none)
        #expect(of("K1") == .resolved(7))
        #expect(of("K404") == .dangling)
    }
}
