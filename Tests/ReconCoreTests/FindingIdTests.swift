import Foundation
@testable import ReconCore
import Testing

/// A finding keeps its id as a number and makes the text when asked; actions and items for a
/// human keep the ids they name as keys. None of that may show: the text, its order and what
/// compares equal are those of the strings.
struct FindingIdTests {
    static func finding(_ type: FindingType, _ entity: Entity, _ ids: [String]) -> Finding {
        Finding(type: type, entity: entity, severity: .warning,
                members: ids.map { FindingMember(system: .crm, recordId: $0) })
    }

    /// Findings of every type and entity, a few of each.
    static let findings: [Finding] = FindingType.allCases.flatMap { type in
        [Entity.customer, .order].flatMap { entity in (0..<40).map { finding(type, entity, ["r\($0)", "s\($0 * 7)"]) } }
    }

    @Test func theIdIsTheTextMakeIdWrites() {
        for f in Self.findings {
            let text = Finding.makeId(type: f.type, entity: f.entity, field: f.field,
                                      parts: f.members.map { "\($0.system.rawValue):\($0.recordId)" })
            #expect(f.id == text)
            #expect(f.withIdBytes { String(decoding: $0, as: UTF8.self) } == text)
            #expect(f.idKey.text == text)
            #expect(FindingIdKey(parsing: text) == f.idKey)
            #expect(text.count == 22 && text.hasPrefix(f.type.code + (f.entity == .customer ? "-C-" : "-O-")))
        }
        // A known id, as earlier versions wrote it (the state and approved batches hold these):
        // the first 8 bytes of SHA-256 over "duplicate␟customer␟␞crm:a␞crm:b", by Python's hashlib.
        #expect(Self.finding(.duplicate, .customer, ["a", "b"]).id == "DUP-C-43744dab7f0ca792")
    }

    @Test func keysSortAsTheirTexts() {
        let keys = Self.findings.map(\.idKey)
        #expect(keys.sorted().map(\.text) == keys.map(\.text).sorted())
        // Sorting findings into report order does not need their texts either.
        let sorted = Reconciler.sortedByTypeEntityId(Self.findings.shuffled())
        #expect(sorted.map(\.id) == Self.findings.sorted { ($0.type, $0.entity, $0.id) < ($1.type, $1.entity, $1.id) }.map(\.id))
    }

    /// The night's list made from parts: a report order worked out in two parts and merged,
    /// and the customers' findings taken in their order beside the orders' sorted ones, give the
    /// list one sort of everything gives.
    @Test func mergedReportOrdersAreOneSortsOrder() {
        let all = Self.findings.shuffled()
        let expected = Reconciler.sortedByTypeEntityId(all).map(\.id)
        let cut = all.count / 3
        let order = Reconciler.merged(Reconciler.reportOrder(all, 0..<cut), Reconciler.reportOrder(all, cut..<all.count))
        #expect(order.map { all[$0.index].id } == expected)
        let customers = all.filter { $0.entity == .customer }, orders = all.filter { $0.entity == .order }
        let night = Reconciler.merged(customers, order: Reconciler.reportOrder(customers, customers.indices),
                                      Reconciler.sortedByTypeEntityId(orders))
        #expect(night.map(\.id) == expected)
    }

    @Test func onlyAnIdsShapeParsesAsAKey() {
        #expect(FindingIdKey(parsing: "DUP-C-0123456789abcdef")?.text == "DUP-C-0123456789abcdef")
        for other in ["", "DUP-C-0123456789ABCDEF", "DUP-X-0123456789abcdef", "dup-C-0123456789abcdef", "DUP-C-0123456789abcde",
                      "DUP-C-0123456789abcdef0", "DUP_C-0123456789abcdef", "DUP-C-0123456789abcdeg", "=UP-C-0123456789abcdef"] {
            #expect(FindingIdKey(parsing: other) == nil, "\(other)")
        }
    }

    @Test func waiversAndSettlingIdsAreMatchedByKey() {
        let (a, b, c) = (Self.findings[0], Self.findings[100], Self.findings[200])
        #expect(FindingIdKey.keys(of: [a.id, b.id, "not an id", a.id.lowercased()]) == [a.idKey, b.idKey])
        // The lifecycle matches waived and settling ids to the findings they name, and only those.
        let l = Lifecycle.compute(findings: [a, b, c], open: OpenFindings(), waived: [a.id, "not an id"], settling: [b.id, c.id + " "],
                                  runId: "r1", now: "2026-12-03T00:00:00Z")
        #expect(l.current.map(\.status) == [.waived, .settling, .new])
    }

    @Test func actionsAndItemsAreTheSameHoweverTheirIdsCameIn() {
        let f = Self.findings[3]
        func action(_ ids: [String]?) -> PlanAction {
            if let ids {
                return PlanAction(operation: .updateField, system: .erp, entity: .customer, recordId: "e1", field: "phone",
                                  oldValue: "1", newValue: "2", findingIds: ids, reason: "crm owns phone")
            }
            return PlanAction(operation: .updateField, system: .erp, entity: .customer, recordId: "e1", field: "phone",
                              oldValue: "1", newValue: "2", finding: f, reason: "crm owns phone")
        }
        // Made by the planner from the finding, or read back from plan.json as text.
        #expect(action(nil) == action([f.id]))
        #expect(action(nil).singleFindingId == f.id && action(nil).findingIds == [f.id] && action(nil).singleFindingKey == f.idKey)
        // An id of another shape (a hand-edited plan) is kept as it was written, and written back so.
        let odd = action(["not-an-id \"quoted\""])
        #expect(odd.singleFindingKey == nil && odd.singleFindingId == "not-an-id \"quoted\"")
        #expect(odd != action(nil))
        // Several ids: sorted, the first as a key, the rest as text.
        let two = action([Self.findings[9].id, f.id])
        #expect(two.findingIds == [f.id, Self.findings[9].id].sorted() && two.singleFindingId == nil && two.singleFindingKey == nil)

        let item = HumanItem(finding: f, records: ["crm:r3"], reason: "a person decides")
        #expect(item == HumanItem(findingId: f.id, type: f.type, entity: f.entity, records: ["crm:r3"], reason: "a person decides"))
        #expect(item.findingId == f.id && item.findingKey == f.idKey)
    }

    @Test func aPlanWritesTheSameBytesFromKeysAsFromTexts() {
        let built = Self.findings.prefix(30).map { f in
            PlanAction(operation: .updateField, system: .erp, entity: f.entity, recordId: f.members[0].recordId, field: "phone",
                       oldValue: nil, newValue: "x", finding: f, reason: "r")
        }
        let read = built.map { a in
            PlanAction(operation: a.operation, system: a.system, entity: a.entity, recordId: a.recordId, field: a.field,
                       oldValue: a.oldValue, newValue: a.newValue, findingIds: a.findingIds, reason: a.reason)
        }
        let items = Self.findings.suffix(30).map { HumanItem(finding: $0, records: ["crm:\($0.members[0].recordId)"], reason: "why") }
        let textItems = items.map { HumanItem(findingId: $0.findingId, type: $0.type, entity: $0.entity, records: $0.records, reason: $0.reason) }
        let a = Plan(batchId: "B-1", runId: "1", createdAt: "2026-12-03T00:00:00Z", actions: built, needsHuman: items)
        let b = Plan(batchId: "B-1", runId: "1", createdAt: "2026-12-03T00:00:00Z", actions: read, needsHuman: textItems)
        #expect(a.canonicalJSON() == b.canonicalJSON())
        #expect(a.canonicalJSON().contains("\"finding_ids\":[\"\(built[0].findingIds[0])\"]"))
        #expect(a.needsHuman.map(\.findingId) == items.map(\.findingId).sorted())
    }
}
