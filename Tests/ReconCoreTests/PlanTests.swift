import Foundation
@testable import ReconCore
import Testing

/// Plan generation on small hand-made mirrors: survivorship, ownership, what goes to a human.
struct PlanTests {
    static var config: ReconConfig {
        var c = MatchingTests.config
        c.statuses.crm["Won"] = .won
        c.statuses.crm["Lost"] = .cancelled
        c.statuses.crm["Dropped"] = .cancelled
        var o = Ownership()
        o.fields = ["phone": .crm, "amount": .erp]
        o.createCustomersIn = .erp
        c.ownership = o
        return c
    }

    static func plan(_ m: Mirror, _ c: ReconConfig = config) -> Plan {
        let outcome = Reconciler.reconcile(m, config: c)
        let builder = PlanBuilder(mirror: m, config: c, ownership: c.ownership!, match: outcome.customers)
        return builder.build(findings: outcome.findings, batchId: "B-1", runId: "1", createdAt: "2026-11-29T00:00:00Z")
    }

    @Test func survivorshipPrefersTheLinkedThenTheMostRecentRecord() {
        let m = MatchingTests.customers(
            [CustomerRecord(id: "c1", email: "a@x.com", updatedAt: "2026-11-01 00:00:00+00"),
             CustomerRecord(id: "c2", externalId: "e1", email: "A@x.com", updatedAt: "2026-01-01 00:00:00+00"),
             CustomerRecord(id: "c3", email: "a@x.com", phone: "07400 111111", updatedAt: "2026-12-01 00:00:00+00")],
            [CustomerRecord(id: "e1", email: "a@x.com")])
        let merges = Self.plan(m).actions.filter { $0.operation == .merge }
        #expect(Set(merges.map(\.recordId)) == ["c1", "c3"])
        #expect(merges.allSatisfy { $0.newValue == "c2" })                // linked wins over more recent
        #expect(merges.first?.payload["phone"] == "+447400111111")        // a value the survivor lacks survives, as E.164
        #expect(merges.first?.payload["email"] == "a@x.com")              // the survivor's own value first, normalised

        var c = Self.config
        c.survivorship = [.mostRecent]
        let recent = Self.plan(m, c).actions.filter { $0.operation == .merge }
        #expect(recent.allSatisfy { $0.newValue == "c3" })
    }

    @Test func ownershipDecidesAndTheRestIsForAHuman() {
        var m = MatchingTests.customers(
            [CustomerRecord(id: "c1", externalId: "e1", phone: "07400 111111"), CustomerRecord(id: "c9")],
            [CustomerRecord(id: "e1", phone: "07400 222222"), CustomerRecord(id: "e9")])
        m.crmOrders = Table(records: [
            OrderRecord(id: "d1", status: "Won", externalId: "s1", customerId: "c1", amount: "10"),
            OrderRecord(id: "d2", status: "Won", externalId: "s2", customerId: "c1", amount: "20"),
        ])
        m.erpOrders = Table(records: [
            OrderRecord(id: "s1", status: "CANCELLED", customerId: "e1", amount: "11"),
            OrderRecord(id: "s2", status: "CHARGEBACK", customerId: "e1", amount: "20"),
        ])
        let p = Self.plan(m)
        let actions = Set(p.actions.map { "\($0.operation.rawValue) \($0.system.rawValue):\($0.recordId) \($0.field) \($0.oldValue ?? "-") → \($0.newValue ?? "-")" })
        #expect(actions.contains("update_field erp:e1 phone 07400 222222 → +447400111111"))   // the value to write: E.164
        #expect(actions.contains("update_field crm:d1 amount 10 → 11"))
        #expect(p.actions.contains { $0.operation == .create && $0.system == .erp && $0.recordId == "c9" })
        // Two CRM stages mean cancelled: ambiguous, a human picks; a chargeback has no CRM stage.
        let human = Set(p.needsHuman.map { "\($0.type.rawValue) \($0.records.joined(separator: " "))" })
        #expect(human.contains("status_mismatch crm:d1 erp:s1"))
        #expect(human.contains("status_mismatch crm:d2 erp:s2"))
        #expect(human.contains("orphan erp:e9"))                          // create_customers_in: erp only
        #expect(!p.actions.contains { $0.findingIds.contains { id in p.needsHuman.contains { $0.findingId == id } } })
    }

    /// Actions for one field of one record: the same value once (with every finding behind it),
    /// different values to a human; the result does not depend on the order they were decided in.
    @Test func actionsForOneTargetAreMergedOrLeftToAHuman() {
        func update(_ record: String, _ field: String, _ value: String, _ findings: [String]) -> PlanAction {
            PlanAction(operation: .updateField, system: .erp, entity: .customer, recordId: record, field: field,
                       oldValue: "old", newValue: value, findingIds: findings, reason: "CRM owns \(field)")
        }
        let actions = [update("E1", "phone", "+1", ["FLD-C-1"]), update("E1", "phone", "+2", ["FLD-C-2"]),
                       update("E2", "email", "a@x.com", ["FLD-C-3"]), update("E2", "email", "a@x.com", ["FLD-C-4", "FLD-C-3"]),
                       update("E3", "phone", "+3", ["FLD-C-5", "FLD-C-5"]), update("E3", "email", "b@x.com", ["FLD-C-6"]),
                       PlanAction(operation: .link, system: .erp, entity: .customer, recordId: "E3", field: "external_id",
                                  oldValue: nil, newValue: "C3", findingIds: ["UNL-C-7"], reason: "link")]
        let m = MatchingTests.customers([], [])
        let builder = PlanBuilder(mirror: m, config: Self.config, ownership: Self.config.ownership!,
                                  match: Reconciler.reconcile(m, config: Self.config).customers)
        let plan = builder.combine(actions: actions, human: [], batchId: "B-1", runId: "1", createdAt: "t")
        #expect(plan.actions.count == 4)
        #expect(plan.actions.first { $0.recordId == "E2" }?.findingIds == ["FLD-C-3", "FLD-C-4"])
        #expect(plan.actions.first { $0.recordId == "E3" && $0.field == "phone" }?.findingIds == ["FLD-C-5"])
        #expect(plan.actions.contains { $0.recordId == "E3" && $0.operation == .link })
        #expect(!plan.actions.contains { $0.recordId == "E1" })
        #expect(plan.needsHuman.map(\.findingId) == ["FLD-C-1", "FLD-C-2"])
        #expect(plan.needsHuman.allSatisfy { $0.reason == "several findings would write different values into phone" && $0.records == ["erp:E1"] })
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let shuffled = builder.combine(actions: actions.shuffled(using: &rng), human: [], batchId: "B-1", runId: "1", createdAt: "t")
            #expect(shuffled.canonicalJSON() == plan.canonicalJSON())
        }
        // The same targets for 1,000 records (7,000 actions): combined on two threads, the batch
        // is the one combined on one, whatever the order the actions were decided in.
        let many = (0..<1000).flatMap { r in
            actions.map { a in
                PlanAction(operation: a.operation, system: a.system, entity: a.entity, recordId: "\(a.recordId)-\(r)", field: a.field,
                           oldValue: a.oldValue, newValue: a.newValue, findingIds: a.findingIds.map { "\($0)-\(r)" }, reason: a.reason)
            }
        }
        let alone = builder.combine(actions: many, human: [], batchId: "B-1", runId: "1", createdAt: "t")
        #expect(alone.actions.count == 4000)
        #expect(alone.needsHuman.count == 2000)
        for _ in 0..<3 {
            let both = builder.combine(actions: many.shuffled(using: &rng), human: [], batchId: "B-1", runId: "1", createdAt: "t", threads: 2)
            #expect(both.canonicalJSON() == alone.canonicalJSON())
        }
    }

    /// A batch decided on several threads (each a part of the findings) is the batch decided on
    /// one: the same bytes, so the same hash to approve.
    @Test func planningInPiecesGivesTheSameBatch() {
        var crm: [CustomerRecord] = [], erp: [CustomerRecord] = []
        for i in 0..<1500 {
            // A linked pair whose phones differ, a CRM-only and an ERP-only customer, and every
            // tenth CRM customer twice (by email) with its copy.
            crm.append(CustomerRecord(id: "c\(i)", externalId: "e\(i)", email: "p\(i)@x.com", phone: "07400 \(100_000 + i)"))
            erp.append(CustomerRecord(id: "e\(i)", phone: "07400 \(200_000 + i)"))
            crm.append(CustomerRecord(id: "o\(i)", email: "o\(i)@x.com"))
            erp.append(CustomerRecord(id: "q\(i)", email: "q\(i)@x.com"))
            if i % 10 == 0 { crm.append(CustomerRecord(id: "d\(i)", email: "P\(i)@x.com", updatedAt: "2026-11-01 00:00:00+00")) }
        }
        let m = MatchingTests.customers(crm, erp)
        let c = Self.config
        let outcome = Reconciler.reconcile(m, config: c)
        #expect(outcome.findings.count > 4000)
        func plan(_ pieces: Int) -> Plan {
            let builder = PlanBuilder(mirror: m, config: c, ownership: c.ownership!, match: outcome.customers)
            return builder.build(findings: outcome.findings, batchId: "B-1", runId: "1", createdAt: "t", pieces: pieces)
        }
        let one = plan(1)
        #expect(Set(one.actions.map(\.operation)) == [.updateField, .create, .merge])
        #expect(!one.needsHuman.isEmpty)
        for pieces in [2, 3, 32] { #expect(plan(pieces).canonicalJSON() == one.canonicalJSON()) }
    }

    /// Creates and updates write E.164 phones and normalised emails, or, with
    /// `batches.payload_values: raw`, the owner's values exactly.
    @Test(arguments: [(PayloadValues.normalised, "+447400111111", "+447400333333", "ann@x.com"), (.raw, "07400 111111", "07400 333333", " Ann@X.com")])
    func createsAndUpdatesCarryTheValueToWrite(mode: PayloadValues, phone: String, created: String, email: String) {
        var c = Self.config
        c.payloadValues = mode
        let m = MatchingTests.customers([CustomerRecord(id: "c1", externalId: "e1", phone: "07400 111111"),
                                         CustomerRecord(id: "c9", email: " Ann@X.com", phone: "07400 333333", country: "GB")],
                                        [CustomerRecord(id: "e1", phone: "07400 222222")])
        let p = Self.plan(m, c)
        #expect(p.actions.first { $0.operation == .updateField }?.newValue == phone)
        let create = p.actions.first { $0.operation == .create }
        #expect(create?.payload["phone"] == created && create?.payload["email"] == email, "\(String(describing: create?.payload))")
    }

    @Test func canonicalJSONAndIdsAreStableAndTheRollbackInverts() {
        let m = MatchingTests.customers([CustomerRecord(id: "c1", externalId: "e1", phone: "07400 111111")],
                                        [CustomerRecord(id: "e1", phone: "07400 222222")])
        let a = Self.plan(m), b = Self.plan(m)
        #expect(a.canonicalJSON() == b.canonicalJSON())
        #expect(a.actions.map(\.actionId) == [PlanAction.makeId(system: .erp, recordId: "e1", operation: .updateField, field: "phone", newValue: "+447400111111")])
        let r = a.rollback(batchId: "R-B-1", createdAt: "x")
        #expect(r.rollbackOf == "B-1")
        // The rollback writes back the value the system held, exactly.
        #expect(r.actions.first?.oldValue == "+447400111111" && r.actions.first?.newValue == "07400 222222")
        #expect(r.actions.first?.actionId != a.actions.first?.actionId)
        #expect(Plan.sha256(Array(a.canonicalJSON().utf8)) == Plan.sha256(Array(b.canonicalJSON().utf8)))
    }

    /// The items for a human come out in the order of their finding ids' strings, then reasons,
    /// whether the ids have the usual shape (sorted by their numbers) or not (sorted as strings).
    @Test func itemsForAHumanSortAsTheirIdsAndReasons() {
        var items: [HumanItem] = []
        var seed: UInt64 = 42
        for i in 0..<3_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let type = ["CON", "DUP", "INV", "UNL"][Int(seed >> 60) % 4], entity = seed >> 59 & 1 == 0 ? "C" : "O"
            // Few distinct numbers, so that one id has several items (different reasons, or the same).
            let id = "\(type)-\(entity)-" + String(format: "%016llx", (seed >> 20) % 700 * 0x9E37_79B9)
            items.append(HumanItem(findingId: id, type: .conflict, entity: .customer, records: ["crm:\(i)"],
                                   reason: ["b", "a", "c"][i % 3]))
        }
        let byStrings = items.sorted { ($0.findingId, $0.reason) < ($1.findingId, $1.reason) }
        let plan = Plan(batchId: "B", runId: "R", createdAt: "x", actions: [], needsHuman: items)
        #expect(plan.needsHuman.map(\.findingId) == byStrings.map(\.findingId))
        #expect(plan.needsHuman.map(\.reason) == byStrings.map(\.reason))
        // Equal ids and reasons keep their order.
        #expect(plan.needsHuman.map(\.records) == byStrings.map(\.records))
        let odd = items + [HumanItem(findingId: "X-1", type: .conflict, entity: .customer, records: [], reason: "z")]
        let oddPlan = Plan(batchId: "B", runId: "R", createdAt: "x", actions: [], needsHuman: odd)
        #expect(oddPlan.needsHuman.map(\.findingId) == odd.sorted { ($0.findingId, $0.reason) < ($1.findingId, $1.reason) }.map(\.findingId))
    }

    /// An action is a value: changing a copy leaves the original as it was, and equality compares
    /// the fields (not the shared box).
    @Test func anActionCopyIsIndependent() {
        let a = PlanAction(operation: .updateField, system: .erp, entity: .customer, recordId: "e1", field: "phone",
                           oldValue: "1", newValue: "2", findingIds: ["F-2", "F-1"], payload: ["k": "v"], reason: "r")
        var b = a
        #expect(a == b && a.findingIds == ["F-1", "F-2"])
        b.findingIds.append("F-3")
        b.payload["k"] = "w"
        #expect(a.findingIds == ["F-1", "F-2"] && a.payload == ["k": "v"])
        #expect(b.findingIds == ["F-1", "F-2", "F-3"] && b.payload == ["k": "w"] && a != b)
        b.findingIds.removeLast()
        b.payload["k"] = "v"
        #expect(a == b && a.actionId == b.actionId)
        // Kept as a first id beside the others: none, one and several read back as they were set.
        for ids in [[], ["F-9"], ["F-1", "F-2", "F-3"]] as [[String]] {
            b.findingIds = ids
            #expect(b.findingIds == ids && b.findingIdCount == ids.count && b.singleFindingId == (ids.count == 1 ? ids[0] : nil))
        }
    }

    /// An action's id is kept as the number its 16 hex digits spell: written back, it is the id
    /// `makeId` gives, digits of every value included (leading zeros kept), and actions sort by it
    /// as by their ids' strings.
    @Test func actionIdsAreTheirHashesDigits() {
        #expect(hex16(0) == "0000000000000000" && hex16(0x0123_4567_89ab_cdef) == "0123456789abcdef" && hex16(.max) == "ffffffffffffffff")
        let actions = (0..<500).map { i in
            PlanAction(operation: .link, system: i % 2 == 0 ? .crm : .erp, entity: .customer, recordId: "r\(i)", field: "external_id",
                       oldValue: nil, newValue: "x\(i)", findingIds: ["F-\(i)"], reason: "r")
        }
        for (i, a) in actions.enumerated() {
            #expect(a.actionId == PlanAction.makeId(system: i % 2 == 0 ? .crm : .erp, recordId: "r\(i)", operation: .link,
                                                    field: "external_id", newValue: "x\(i)"))
            #expect(a.actionId.count == 20 && a.actionId.hasPrefix("ACT-"))
            #expect(a.withActionIdBytes { String(decoding: $0, as: UTF8.self) } == a.actionId)
        }
        let plan = Plan(batchId: "B", runId: "R", createdAt: "x", actions: actions.shuffled(), needsHuman: [])
        #expect(plan.actions.map(\.actionId) == actions.map(\.actionId).sorted())
    }

    /// A payload is kept sorted by key: given or set as a dictionary, it reads back as the same
    /// dictionary, its entries in key order, and equal payloads make equal actions.
    @Test func aPayloadIsKeptInKeyOrder() {
        let values = ["phone": "+441632960001", "email": "ann@example.com", "name": "Ann Lee", "country": "GB", "id": "C1", "ä": "x"]
        var a = PlanAction(operation: .create, system: .erp, entity: .customer, recordId: "C1", field: "", oldValue: nil, newValue: nil,
                           findingIds: ["F"], payload: values, reason: "r")
        #expect(a.payload == values)
        #expect(a.payloadEntries.map(\.key) == values.keys.sorted())
        #expect(a.payloadEntries.map(\.value) == values.keys.sorted().map { values[$0]! })
        let b = PlanAction(operation: .create, system: .erp, entity: .customer, recordId: "C1", field: "", oldValue: nil, newValue: nil,
                           findingIds: ["F"], payload: Dictionary(uniqueKeysWithValues: values.reversed()), reason: "r")
        #expect(a == b)
        a.payload = ["survivor": "C2"]
        #expect(a.payloadEntries == [PayloadEntry(key: "survivor", value: "C2")] && a != b)
        a.payload = [:]
        #expect(a.payloadEntries.isEmpty && a.payload.isEmpty)
    }

    /// Equal texts share one copy (the pinned plan JSON shows the batch unchanged by it).
    @Test func sharedTextsGiveBackTheFirstEqualText() {
        var texts = SharedTexts()
        let first = texts.shared(String(repeating: "reason ", count: 5))
        let again = texts.shared(String(repeating: "reason ", count: 5))
        #expect(first == again && texts.shared("short") == "short")
        #expect(first.utf8.withContiguousStorageIfAvailable { $0.baseAddress } == again.utf8.withContiguousStorageIfAvailable { $0.baseAddress })
    }
}
