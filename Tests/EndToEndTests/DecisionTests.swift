import Foundation
import Postgres
import TestSupport
import Testing

/// Reviewers' decisions about identities against the real PostgreSQL: recorded append-only with
/// who and when, honoured by every later run before the keys, the latest one about a pair
/// counting, and remembered from an approval.
@Suite(.serialized)
struct DecisionTests {
    let batches = BatchTests()

    func findings(_ s: BatchTests.Setup) throws -> [[String]] {
        let entry = try #require(s.f.reportEntries().last)
        return Array(parseCSV(try String(contentsOfFile: s.f.reports + "/" + entry + "/findings.csv", encoding: .utf8)).dropFirst())
    }

    /// (type, records, matched_on, detail) of each customer finding about Ben (crm 2, erp 102).
    func aboutBen(_ s: BatchTests.Setup) throws -> [String: (records: [String], matchedOn: String, detail: String)] {
        var out: [String: (records: [String], matchedOn: String, detail: String)] = [:]
        for r in try findings(s) where r[2] == "customer" && (r[5] == "2" || r[5] == "102") {
            out[r[0], default: ([], r[6], r[10])].records.append("\(r[4]):\(r[5])")
        }
        return out
    }

    func planActions(_ s: BatchTests.Setup) throws -> [String] {
        let entry = try #require(s.f.reportEntries().last)
        return try batches.plan(s.f.reports + "/" + entry + "/plan.json").map { "\($0["operation"]!) \($0["system"]!):\($0["record_id"]!)" }
    }

    @Test func decisionsSurviveRunsAndChangeTheFindings() throws {
        let s = try batches.setup()
        defer { s.f.cleanup() }
        // Night 1: Ben's two records share an email: unlinked, and the batch links them.
        let first = try aboutBen(s)
        #expect(first.values.map { "\($0.records.sorted()) \($0.matchedOn)" } == ["[\"crm:2\", \"erp:102\"] email"], "\(first)")
        #expect(try planActions(s).contains("link crm:2"))
        // A second night plans the batch again and records what it was planned from: the
        // decision below is then the only input that changes.
        #expect(try s.f.recon(env: ["DATABASE_URL": s.nightlyURL]).stdout.contains("planned again, unchanged"))

        // A reviewer says they are two people; the nightly role may not decide.
        let nightly = try batches.recon(s, ["decide", "different", "crm:2", "erp:102", "--reason", "two Bens share a mailbox"])
        #expect(nightly.status == 2, "\(nightly.stdout) \(nightly.stderr)")
        let different = try batches.recon(s, ["decide", "different", "crm:2", "erp:102", "--reason", "two Bens share a mailbox"], as: s.approverURL)
        #expect(different.status == 0 && different.stdout.contains("decision #1 by alice"), "\(different.stdout) \(different.stderr)")

        // Night 2: two orphans, each saying which decision keeps it apart; nothing links them.
        #expect(try s.f.recon(env: ["DATABASE_URL": s.nightlyURL]).status == 1)
        let second = try aboutBen(s)
        #expect(Set(second.values.map { $0.records }) == [["crm:2"], ["erp:102"]], "\(second)")
        #expect(second.values.allSatisfy { $0.detail.contains("by decision #1 (different") }, "\(second)")
        #expect(!(try planActions(s)).contains("link crm:2"))

        // The decisions table is append-only and written only through recon.decide.
        for (url, sql) in [(s.approverURL, "UPDATE recon.decisions SET verdict = 'same'"),
                           (s.approverURL, "INSERT INTO recon.decisions (verdict, a_system, a_id, b_system, b_id, reason, decided_by, source) VALUES ('same', 'crm', '2', 'erp', '102', 'x', 'bob', 'sql')"),
                           (s.ownerURL, "DELETE FROM recon.decisions")] {
            #expect(throws: PostgresError.self, "\(sql)") { try Connection(conninfo: url).execute(sql) }
        }

        // A later decision overrides it; this one joins records no key would join.
        try psql(s.f.url, command: "UPDATE sales.party SET mail = 'benjamin@elsewhere.example' WHERE src = 'erp' AND pk = 102")
        let same = try batches.recon(s, ["decide", "same", "erp:102", "crm:2", "--reason", "one Ben after all; he changed address"], as: s.bobURL)
        #expect(same.status == 0 && same.stdout.contains("decision #2 by bob"), "\(same.stdout) \(same.stderr)")
        #expect(try s.f.recon(env: ["DATABASE_URL": s.nightlyURL]).status == 1)
        let third = try aboutBen(s)
        let unlinked = third.values.first { $0.records.count == 2 }
        #expect(unlinked?.matchedOn == "decision" && unlinked?.detail.contains("by decision #2 (same") == true, "\(third)")
        #expect(try planActions(s).contains("link crm:2"))

        let list = try batches.recon(s, ["decide", "list"], as: s.approverURL)
        #expect(list.stdout.contains("#2 same crm:2 erp:102 by bob") && !list.stdout.contains("#1 different"), "\(list.stdout)")
        let history = try batches.recon(s, ["decide", "list", "--all"], as: s.approverURL)
        #expect(history.stdout.contains("#1 different crm:2 erp:102 [not in force] by alice"), "\(history.stdout)")
    }

    @Test func anExclusionRememberedAtApprovalIsNotSuggestedAgain() throws {
        let s = try batches.setup()
        defer { s.f.cleanup() }
        let link = try #require(try batches.plan(s.planPath).first { ($0["operation"] as? String) == "link" }?["action_id"] as? String)
        let approve = try batches.recon(s, ["batch", "approve", s.batch, "--exclude", link, "--remember"], as: s.approverURL)
        #expect(approve.status == 0 && approve.stdout.contains("decision #1: crm:2 and erp:102 are different customers (from \(link))"),
                "\(approve.stdout) \(approve.stderr)")
        #expect(try s.f.recon(env: ["DATABASE_URL": s.nightlyURL]).status == 1)
        #expect(!(try planActions(s)).contains("link crm:2"))
        #expect(try aboutBen(s).values.allSatisfy { $0.records.count == 1 })
        let rows = try Connection(conninfo: s.f.url).query("SELECT decided_by, source FROM recon.decisions")
        #expect(rows.count == 1 && rows[0][0] == "alice" && rows[0][1]?.contains("--remember") == true, "\(rows)")
    }
}
