import Foundation
@testable import ReconCore
@testable import ReconReports
import Testing

/// index.html's oldest open findings: kept in one pass over the findings, and the same as a sort
/// of every open finding would give.
struct IndexPageTests {
    static func lifecycle() -> Lifecycle {
        var rng = SystemRandomNumberGenerator()
        let statuses: [LifecycleStatus] = [.new, .persisting, .persisting, .waived, .settling]
        let current = (0..<500).map { i in
            TrackedFinding(finding: Finding(type: .orphan, entity: i % 2 == 0 ? .customer : .order, severity: .warning,
                                            members: [FindingMember(system: .crm, recordId: "R\(i)")]),
                           status: statuses[Int.random(in: 0..<statuses.count, using: &rng)],
                           firstSeenRun: "run", firstSeenAt: "2026-11-\(10 + Int.random(in: 0..<5, using: &rng)) 00:00:00+00",
                           nightsOpen: Int.random(in: 1...4, using: &rng))
        }
        return Lifecycle(current: current.shuffled(), resolved: [])
    }

    @Test func theOldestOpenFindingsAreTheFirstOfTheSort() {
        for _ in 0..<20 {
            let lifecycle = Self.lifecycle()
            let kept = lifecycle.oldestOpen(limit: HTMLReport.oldestOpenLimit)
            let sorted = lifecycle.current.filter { $0.status != .waived && $0.status != .settling }
                .sorted { ($0.firstSeenAt, -$0.nightsOpen, $0.finding.id) < ($1.firstSeenAt, -$1.nightsOpen, $1.finding.id) }
            #expect(kept.map(\.finding.id) == sorted.prefix(HTMLReport.oldestOpenLimit).map(\.finding.id))
        }
    }

    /// A folder that wrote the findings renders index.html and summary.json as one that did not.
    @Test func theFolderGathersWhatThePageNeeds() throws {
        let lifecycle = Self.lifecycle()
        let summary = RunSummary(runId: "20261203T010000Z", startedAt: Date(timeIntervalSince1970: 1_796_000_000),
                                 finishedAt: Date(timeIntervalSince1970: 1_796_000_100), outcome: "breached", exitCode: 1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recon-index-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = ReportWriter(reportsDirectory: dir)
        func page(writingFindings: Bool) throws -> (String, String) {
            let folder = try writer.begin(summary.runId)
            defer { folder.discard() }
            if writingFindings {
                try folder.writeFindings(lifecycle: lifecycle, mirror: Mirror(), index: nil)
            }
            try folder.complete(summary: summary, lifecycle: lifecycle, history: [], pending: nil)
            func read(_ name: String) throws -> String { try String(contentsOfFile: folder.tempPath + "/" + name, encoding: .utf8) }
            return (try read("index.html"), try read("summary.json"))
        }
        // The two folders are completed at different moments: their finish times (taken when the
        // folder is completed) and the write timing may differ, nothing else.
        func same(_ text: String) -> String {
            text.replacingOccurrences(of: #""write": \d+"#, with: "", options: .regularExpression)
                .replacingOccurrences(of: #"finished \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#, with: "finished", options: .regularExpression)
                .replacingOccurrences(of: #""finished_at": "[^"]*""#, with: "", options: .regularExpression)
        }
        let gathered = try page(writingFindings: true), computed = try page(writingFindings: false)
        #expect(same(gathered.0) == same(computed.0))
        #expect(same(gathered.1) == same(computed.1))
        #expect(gathered.0.contains("Oldest open findings"))
    }
}
