@testable import ReconCore
import Testing

/// plan.json's exact bytes: its SHA-256 is what an approver signs, so the canonical form must not
/// drift when the writer is changed for speed.
struct PlanJSONPinTests {
    @Test func canonicalJSONBytesArePinned() {
        let action = PlanAction(operation: .merge, system: .crm, entity: .customer, recordId: "C1", field: "",
                                oldValue: nil, newValue: "C\"2\\", findingIds: ["DUP-C-1", "DUP-C-2"],
                                payload: ["b": "x\ny", "a": "1\u{1}"], reason: "merge\tduplicates")
        let human = HumanItem(findingId: "CON-C-1", type: .conflict, entity: .customer, records: ["crm:C1", "erp:E1"], reason: "owner unknown")
        let plan = Plan(batchId: "B-1", runId: "R-1", createdAt: "2026-11-29T00:00:00Z", actions: [action, action], needsHuman: [human])
        let expected = "{\"actions\":[\n{\"action_id\":\"ACT-18a22b202785b4a4\",\"entity\":\"customer\",\"field\":\"\",\"finding_ids\":[\"DUP-C-1\",\"DUP-C-2\"],\"new_value\":\"C\\\"2\\\\\",\"old_value\":null,\"operation\":\"merge\",\"payload\":{\"a\":\"1\\u0001\",\"b\":\"x\\ny\"},\"reason\":\"merge\\tduplicates\",\"record_id\":\"C1\",\"system\":\"crm\"},\n{\"action_id\":\"ACT-18a22b202785b4a4\",\"entity\":\"customer\",\"field\":\"\",\"finding_ids\":[\"DUP-C-1\",\"DUP-C-2\"],\"new_value\":\"C\\\"2\\\\\",\"old_value\":null,\"operation\":\"merge\",\"payload\":{\"a\":\"1\\u0001\",\"b\":\"x\\ny\"},\"reason\":\"merge\\tduplicates\",\"record_id\":\"C1\",\"system\":\"crm\"}\n],\"batch_id\":\"B-1\",\"created_at\":\"2026-11-29T00:00:00Z\",\"needs_human\":[\n{\"entity\":\"customer\",\"finding_id\":\"CON-C-1\",\"reason\":\"owner unknown\",\"records\":[\"crm:C1\",\"erp:E1\"],\"type\":\"conflict\"}\n],\"rollback_of\":null,\"run_id\":\"R-1\",\"version\":1}\n"
        #expect(plan.canonicalJSON() == expected)
        let empty = Plan(batchId: "B-2", runId: "R-2", createdAt: "t", rollbackOf: "B-1", actions: [], needsHuman: [])
        #expect(empty.canonicalJSON() == "{\"actions\":[\n],\"batch_id\":\"B-2\",\"created_at\":\"t\",\"needs_human\":[\n],\"rollback_of\":\"B-1\",\"run_id\":\"R-2\",\"version\":1}\n")
    }

    /// The streamed writer gives the same bytes and the hash of those bytes.
    @Test func streamedBytesAndHashMatchTheString() {
        let actions = (0..<3000).map { i in
            PlanAction(operation: .updateField, system: .erp, entity: .customer, recordId: "E\(i)", field: "phone",
                       oldValue: "x", newValue: "+4474001\(i)", findingIds: ["FLD-C-\(i)"], reason: "owner says so")
        }
        let plan = Plan(batchId: "B-2", runId: "R-2", createdAt: "t", actions: actions, needsHuman: [])
        var bytes: [UInt8] = []
        var chunks = 0
        let sha = plan.writeCanonicalJSON { bytes += $0; chunks += 1 }
        #expect(String(decoding: bytes, as: UTF8.self) == plan.canonicalJSON())
        #expect(sha == Plan.sha256(plan.canonicalJSON()))
        #expect(chunks >= 1)
    }

    /// The bytes and hash written with the JSON formatted on several threads are the streamed
    /// ones, for plans of every size around the blocks it formats (4,096 items each).
    @Test func parallelBytesAndHashMatchTheStreamedOnes() {
        for (actionCount, humanCount) in [(0, 0), (1, 0), (0, 1), (4095, 3), (4096, 4096), (4097, 9000), (20_000, 1)] {
            let actions = (0..<actionCount).map { i in
                PlanAction(operation: i % 3 == 0 ? .create : .updateField, system: i % 2 == 0 ? .erp : .crm, entity: .customer,
                           recordId: "E\(i)", field: "phone", oldValue: i % 5 == 0 ? nil : "x\"\(i)", newValue: "+4474001\(i)",
                           findingIds: ["FLD-C-\(i)"], payload: i % 3 == 0 ? ["name": "N\(i)", "email": "e\(i)@example.com"] : [:],
                           reason: "owner says so")
            }
            let humans = (0..<humanCount).map { i in
                HumanItem(findingId: "CON-C-\(i)", type: .conflict, entity: .customer, records: ["crm:C\(i)"], reason: "why \(i)")
            }
            let plan = Plan(batchId: "B-3", runId: "R-3", createdAt: "t", actions: actions, needsHuman: humans)
            var streamedBytes: [UInt8] = [], parallelBytes: [UInt8] = []
            let streamed = plan.writeCanonicalJSON { streamedBytes += $0 }
            #expect(plan.canonicalJSONSHA256(threads: 2) == streamed, "\(actionCount) actions, \(humanCount) items")
            #expect(plan.canonicalJSONSHA256(threads: 1) == streamed)
            #expect(plan.writeCanonicalJSON(threads: 3) { parallelBytes += $0 } == streamed)
            #expect(parallelBytes == streamedBytes, "\(actionCount) actions, \(humanCount) items")
        }
    }

    @Test func hexTailsAreReadOnlyFromIdsOfTheirShape() {
        #expect(FindingIdKey(parsing: "DUP-C-00000000000000ff")?.value == 255)
        #expect(FindingIdKey(parsing: "DUP-C-0123456789abcdef")?.value == 0x0123_4567_89AB_CDEF)
        #expect(FindingIdKey(parsing: "DUP-C-00000000000000FF") == nil)
        #expect(FindingIdKey(parsing: "DUP-C-0000000000000ff") == nil)
        #expect(FindingIdKey(parsing: "DUP-C-0123456789abcdeg") == nil)
        #expect(FindingIdKey(parsing: "") == nil)
    }
}
