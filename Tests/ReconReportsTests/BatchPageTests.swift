import Foundation
import ReconCore
@testable import ReconReports
import Testing

/// batch.html on a batch larger than a page: each group's count, its first actions in the
/// plan's order, and where the rest are.
struct BatchPageTests {
    static func action(_ op: ReconCore.Operation, _ system: System, _ record: String) -> PlanAction {
        PlanAction(operation: op, system: system, entity: .customer, recordId: record, field: op == .link ? "external_id" : "",
                   oldValue: nil, newValue: op == .link ? "E-\(record)" : nil, findingIds: ["UNL-C-00000000000000\(String(record.suffix(2)))"],
                   reason: "why \(record)")
    }

    @Test func aLargeGroupShowsItsFirstActionsAndSaysHowManyMore() {
        let extra = 3
        let links = (0..<(BatchPage.rowsPerGroup + extra)).map { Self.action(.link, .crm, String(format: "C%05d", $0)) }
        let creates = [Self.action(.create, .erp, "C99998"), Self.action(.create, .erp, "C99999")]
        let plan = Plan(batchId: "B-1", runId: "1", createdAt: "2026-12-03T00:00:00Z", actions: (links + creates).shuffled(), needsHuman: [])
        let page = BatchPage.render(plan, sha256: "00")

        let groups = page.components(separatedBy: "<details").dropFirst()
        #expect(groups.count == 2)
        // In the summary's order (operation, then target): create before link.
        let create = groups.first!, link = groups.last!
        #expect(create.hasPrefix(" open><summary>create · erp customer · 2 actions</summary>"))
        #expect(link.hasPrefix("><summary>link · crm customer · \(links.count) actions</summary>"))
        func shown(_ group: String) -> [String] {
            group.components(separatedBy: "<tr><td><code>").dropFirst().map { String($0.prefix(while: { $0 != "<" })) }
        }
        let linkIds = plan.actions.filter { $0.operation == .link }.map(\.actionId)
        #expect(shown(link) == Array(linkIds.prefix(BatchPage.rowsPerGroup)))
        #expect(shown(create) == plan.actions.filter { $0.operation == .create }.map(\.actionId))
        #expect(link.contains("… \(extra) more in plan.csv"))
        #expect(!create.contains("more in plan.csv"))
        #expect(page.contains("<h2>Summary: \(links.count + creates.count) actions, 0 findings for a human</h2>"))
    }
}
