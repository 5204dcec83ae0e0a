@testable import ReconCore
import Testing

/// Selections, filters and the summary of a batch, on hand-made actions.
struct BatchReviewTests {
    static func action(_ op: Operation, _ system: System, _ id: String, finding: String) -> PlanAction {
        PlanAction(operation: op, system: system, entity: op == .updateStatus ? .order : .customer, recordId: id,
                   field: op == .link ? "external_id" : "x", oldValue: nil, newValue: "v", findingIds: [finding], payload: [:], reason: "r")
    }

    static let plan = Plan(batchId: "B-1", runId: "1", createdAt: "t", actions: [
        action(.link, .crm, "1", finding: "UNL-C-0000000000000001"),
        action(.updateField, .erp, "2", finding: "FLD-C-0000000000000002"),
        action(.updateStatus, .crm, "3", finding: "STA-O-0000000000000003"),
        action(.create, .erp, "4", finding: "ORP-C-0000000000000004"),
    ], needsHuman: [HumanItem(findingId: "CON-C-0000000000000005", type: .conflict, entity: .customer, records: ["crm:9"], reason: "r")])

    static func id(_ op: Operation) -> String { plan.actions.first { $0.operation == op }!.actionId }

    @Test(arguments: [
        (ActionSelection(), ["link", "update_field", "update_status", "create"], "all actions"),
        (ActionSelection(only: [.link, .updateStatus]), ["link", "update_status"], "--only link,update_status"),
        (ActionSelection(excludedOperations: [.create]), ["link", "update_field", "update_status"], "--exclude-operation create"),
        (ActionSelection(only: [.link, .create], excludedIds: [Self.id(.link)]), ["create"],
         "--only create,link --exclude \(Self.id(.link))"),
    ])
    func selections(selection: ActionSelection, kept: [String], written: String) {
        #expect(Set(Self.plan.actions.filter(selection.includes).map(\.operation.rawValue)) == Set(kept))
        #expect(selection.description == written)
    }

    @Test func operationsAreReadAndChecked() throws {
        #expect(try ActionSelection.operations(["link,update_status", " create "]) == [.link, .updateStatus, .create])
        #expect(throws: SelectionError.unknownOperation("upsert")) { try ActionSelection.operations(["link,upsert"]) }
    }

    @Test func filtersAndSummary() {
        #expect(Self.plan.actions.filter(ActionFilter(findingType: .fieldMismatch).matches).map(\.recordId) == ["2"])
        #expect(Set(Self.plan.actions.filter(ActionFilter(system: .crm).matches).map(\.recordId)) == ["1", "3"])
        #expect(Self.plan.needsHuman.filter(ActionFilter(operations: [.link]).matches).isEmpty)
        let summary = BatchSummary(Self.plan, excluded: [Self.id(.create)])
        #expect(summary.rows.map { "\($0.operation.rawValue) \($0.system.rawValue) \($0.actions) \($0.excluded)" }
                == ["create erp 1 1", "link crm 1 0", "update_field erp 1 0", "update_status crm 1 0"])
        #expect(summary.lines.last == "for a human: conflict 1")
        #expect(FindingType(findingId: "MIS-O-00") == .missingOrder && FindingType(findingId: "nope") == nil)
    }
}
