import Foundation
import Postgres
import TestSupport
import Testing

/// Correction batches against the real PostgreSQL: plan generation, four eyes, tampering,
/// stale records, applying once (also twice, also concurrently), the append-only audit and the
/// rollback batch.
@Suite(.serialized)
struct BatchTests {
    static let config = """
    default_country: DE
    statuses:
      crm: {booked: won, lost: lost, cancelled: cancelled}
      erp: {ok: paid, void: cancelled}
      compatible: [[won, paid]]
      require_erp_order: [won]
    ownership:
      fields: {tier: crm, amount: erp, status: erp, email: crm}
    batches: {expire_after: 1h}
    """
    /// Ana's ERP tier and the ERP order's amount differ from the CRM's.
    static let changes = "UPDATE sales.party SET tier = 'silver' WHERE src = 'erp' AND pk = 101; UPDATE sales.purchase SET total = 100 WHERE src = 'erp';"

    struct Setup {
        let f: Fixture
        let approverURL: String
        let batch: String
        let planPath: String
    }

    /// Runs recon once (as postgres) and returns the pending batch.
    func setup(config: String = Self.config) throws -> Setup {
        let f = try fixture(config: config, extraSQL: Self.changes)
        try psql(f.url, command: """
            DO $$ BEGIN CREATE ROLE recon_approver LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
            GRANT USAGE ON SCHEMA recon, sales TO recon_approver;
            GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA recon TO recon_approver;
            GRANT USAGE ON ALL SEQUENCES IN SCHEMA recon TO recon_approver;
            GRANT SELECT ON ALL TABLES IN SCHEMA sales TO recon_approver;
            """)
        let run = try f.recon()
        #expect(run.status == 1, "\(run.stderr)")
        let entry = try #require(f.reportEntries().last)
        let batch = "B-" + entry
        #expect(run.stdout.contains("batch \(batch): 4 actions, 0 findings for a human"), "\(run.stdout)")
        return Setup(f: f, approverURL: f.url.replacingOccurrences(of: "user=postgres", with: "user=recon_approver"),
                     batch: batch, planPath: f.reports + "/" + entry + "/plan.json")
    }

    func recon(_ s: Setup, _ args: [String], as url: String? = nil) throws -> ProcessResult {
        try Binaries.run(try Binaries.directory() + "/recon", args + ["--config", s.f.dir + "/recon.yml", "--queries", s.f.dir + "/queries"],
                         environment: ["DATABASE_URL": url ?? s.f.url])
    }

    func outboxRows(_ s: Setup) throws -> Int {
        Int(try Connection(conninfo: s.f.url).query("SELECT count(*) FROM recon.corrections").first?.first.flatMap { $0 } ?? "") ?? -1
    }

    func plan(_ path: String) throws -> [[String: Any]] {
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return try #require(root?["actions"] as? [[String: Any]])
    }

    @Test func planApproveApplyOnceWithFourEyesAndAnAppendOnlyAudit() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        let actions = try plan(s.planPath).map { "\($0["operation"]!) \($0["system"]!) \($0["entity"]!) \($0["record_id"]!) \($0["field"]!) \($0["old_value"] ?? "") → \($0["new_value"] ?? "")" }
        #expect(Set(actions) == [
            "link crm customer 2 external_id <null> → 102",
            "update_field erp customer 101 tier silver → gold",
            "update_field crm order 7 amount 99.50 → 100",
            "update_status crm order 7 status booked → cancelled",
        ], "\(actions)")

        let html = try String(contentsOfFile: (s.planPath as NSString).deletingLastPathComponent + "/index.html", encoding: .utf8)
        #expect(html.contains("<code>\(s.batch)</code></td><td>pending</td>"))
        let show = try recon(s, ["batch", "show", s.batch])
        #expect(show.stdout.contains("update_field: erp customer 101 tier: 'silver' → 'gold'"), "\(show.stdout)")
        #expect(show.stdout.contains("(matches the recorded hash)"))

        // The role that generated the batch cannot approve it; applying before approval is refused.
        let selfApproval = try recon(s, ["batch", "approve", s.batch])
        #expect(selfApproval.status == 2 && selfApproval.stderr.contains("cannot approve it (four eyes)"), "\(selfApproval.stderr)")
        let early = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(early.status == 2 && early.stderr.contains("must be approved"))

        let approve = try recon(s, ["batch", "approve", s.batch], as: s.approverURL)
        #expect(approve.status == 0, "\(approve.stderr)")
        #expect(approve.stdout.contains("as recon_approver"))

        let apply = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("4 applied, 0 stale, 0 already applied"), "\(apply.stdout)")
        #expect(try outboxRows(s) == 4)

        // Twice: refused, zero rows added.
        let again = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(again.status == 2 && again.stderr.contains("already been applied"))
        #expect(try outboxRows(s) == 4)

        // Import files for the systems, and the rollback batch, pending.
        let folder = (s.planPath as NSString).deletingLastPathComponent + "/apply-" + s.batch
        let tier = parseCSV(try String(contentsOfFile: folder + "/erp-customer-update_field-tier.csv", encoding: .utf8))
        #expect(tier.count == 2 && tier[0] == ["record_id", "tier", "action_id"] && tier[1][0] == "101" && tier[1][1] == "gold")
        let jsonl = try String(contentsOfFile: folder + "/corrections.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(jsonl.count == 4)
        let list = try recon(s, ["batch", "list"])
        #expect(list.stdout.contains("R-\(s.batch)") && list.stdout.contains("pending"))

        // The audit: every state change, and it cannot be rewritten.
        let c = try Connection(conninfo: s.f.url)
        let events = try c.query("SELECT event, actor FROM recon.batch_events WHERE batch_id = $1 ORDER BY event_id", [s.batch]).map { "\($0[0]!) \($0[1]!)" }
        #expect(events == ["generated postgres", "approve refused postgres", "apply refused recon_approver", "approved recon_approver",
                           "applied recon_approver", "apply refused recon_approver"], "\(events)")
        for statement in ["UPDATE recon.batch_events SET actor = 'someone else'", "DELETE FROM recon.batch_events", "TRUNCATE recon.batch_events"] {
            let error = try #require(throws: PostgresError.self) { try c.execute(statement) }
            #expect(error.sqlState == "42501", "\(statement): \(error)")
        }
        let approver = try Connection(conninfo: s.approverURL)
        let error = try #require(throws: PostgresError.self) { try approver.execute("DELETE FROM recon.batch_events") }
        #expect(error.sqlState == "42501")
    }

    @Test func aOneByteEditOfThePlanIsRefused() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: s.planPath)))
        let original = bytes
        let at = try #require(bytes.firstIndex(of: UInt8(ascii: "g")))   // in "gold"
        bytes[at] = UInt8(ascii: "b")
        try Data(bytes).write(to: URL(fileURLWithPath: s.planPath))
        let approve = try recon(s, ["batch", "approve", s.batch], as: s.approverURL)
        #expect(approve.status == 2 && approve.stderr.contains("has changed since it was generated"), "\(approve.stderr)")

        // Approved as generated, edited afterwards: apply refused.
        try Data(original).write(to: URL(fileURLWithPath: s.planPath))
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 0)
        try Data(bytes).write(to: URL(fileURLWithPath: s.planPath))
        let apply = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(apply.status == 2 && apply.stderr.contains("differs from what was approved"), "\(apply.stderr)")
        #expect(try outboxRows(s) == 0)
        let show = try recon(s, ["batch", "show", s.batch])
        #expect(show.stdout.contains("DOES NOT MATCH"))
    }

    @Test func rejectedAndExpiredBatchesCannotBeApplied() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        #expect(try recon(s, ["batch", "reject", s.batch, "--reason", "amounts under review"], as: s.approverURL).status == 0)
        let apply = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(apply.status == 2 && apply.stderr.contains("was rejected"))

        let expiring = try setup(config: Self.config.replacingOccurrences(of: "expire_after: 1h", with: "expire_after: 0s"))
        defer { expiring.f.cleanup() }
        Thread.sleep(forTimeInterval: 1.1)
        let late = try recon(expiring, ["batch", "approve", expiring.batch], as: expiring.approverURL)
        #expect(late.status == 2 && late.stderr.contains("has expired"), "\(late.stderr)")
        #expect(try outboxRows(s) == 0 && outboxRows(expiring) == 0)
    }

    @Test func aRecordChangedAfterApprovalIsStaleTheRestApplied() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 0)
        try psql(s.f.url, command: "UPDATE sales.party SET tier = 'bronze' WHERE src = 'erp' AND pk = 101")
        let apply = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("3 applied, 1 stale"), "\(apply.stdout)")
        #expect(apply.stdout.contains("stale") && apply.stdout.contains("erp customer 101 tier: tier has changed"))
        #expect(try outboxRows(s) == 3)
        let stale = parseCSV(try String(contentsOfFile: (s.planPath as NSString).deletingLastPathComponent + "/apply-\(s.batch)/stale.csv", encoding: .utf8))
        #expect(stale.count == 2 && stale[1][4] == "101")
    }

    @Test func twoConcurrentAppliesAddEachActionOnce() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        #expect(try recon(s, ["batch", "approve", s.batch, "--exclude", try plan(s.planPath)[0]["action_id"] as! String], as: s.approverURL).status == 0)
        var processes: [Process] = []
        for _ in 0..<2 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try Binaries.directory() + "/recon")
            p.arguments = ["batch", "apply", s.batch, "--config", s.f.dir + "/recon.yml", "--queries", s.f.dir + "/queries", "-q"]
            p.environment = ["DATABASE_URL": s.approverURL]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            processes.append(p)
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit() }
        #expect(processes.map(\.terminationStatus).sorted() == [0, 2])
        #expect(try outboxRows(s) == 3)   // four actions, one excluded
    }

    @Test func theRollbackBatchRestoresThePreconditionsOnACopy() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 0)
        #expect(try recon(s, ["batch", "apply", s.batch], as: s.approverURL).status == 0)
        let before = try snapshot(s.f.url)

        // A copy of the mirror (with its state), where the import files are replayed.
        let copy = s.f.db + "_copy"
        try psql(try TestDatabase.adminURL(), command: "CREATE DATABASE \(copy) TEMPLATE \(s.f.db)")
        defer { TestDatabase.drop(copy) }
        let copyURL = try TestDatabase.url(database: copy)
        let folder = (s.planPath as NSString).deletingLastPathComponent
        try replay(folder + "/apply-\(s.batch)/corrections.jsonl", on: copyURL)
        let corrected = try snapshot(copyURL)
        #expect(corrected != before)
        #expect(corrected.contains("erp 101 - gold") && corrected.contains("crm 2 102 gold") && corrected.contains("crm 7 cancelled 100"), "\(corrected)")

        // The rollback batch, approved by another role than the one that generated it, applied on the copy.
        let rollback = "R-" + s.batch
        let approveRollback = try recon(s, ["batch", "approve", rollback], as: copyURL)
        #expect(approveRollback.status == 0, "\(approveRollback.stderr)")
        let apply = try recon(s, ["batch", "apply", rollback], as: copyURL.replacingOccurrences(of: "user=postgres", with: "user=recon_approver"))
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("4 applied, 0 stale"), "\(apply.stdout)")
        try replay(folder + "/rollback-\(s.batch)/apply-\(rollback)/corrections.jsonl", on: copyURL)
        #expect(try snapshot(copyURL) == before)
    }

    /// The fixture's rows that the batch touches, as text.
    func snapshot(_ url: String) throws -> [String] {
        let c = try Connection(conninfo: url)
        return try c.query("SELECT src || ' ' || pk || ' ' || coalesce(counterpart::text, '-') || ' ' || coalesce(tier, '-') FROM sales.party ORDER BY src, pk").map { $0[0]! }
            + c.query("SELECT src || ' ' || pk || ' ' || state || ' ' || total::text FROM sales.purchase ORDER BY src, pk").map { $0[0]! }
    }

    /// A stand-in for the systems' bulk importers: applies corrections.jsonl to the fixture's tables.
    func replay(_ path: String, on url: String) throws {
        let c = try Connection(conninfo: url)
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let a = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let system = a["system"] as! String, record = a["record_id"] as! String, value = a["new_value"] as? String
            switch (a["entity"] as! String, a["field"] as! String) {
            case ("customer", "external_id"):
                _ = try c.query("UPDATE sales.party SET counterpart = $1::int WHERE src = $2 AND pk = $3::int", [value, system, record])
            case ("customer", "tier"):
                _ = try c.query("UPDATE sales.party SET tier = $1 WHERE src = $2 AND pk = $3::int", [value, system, record])
            case ("order", "status"):
                _ = try c.query("UPDATE sales.purchase SET state = $1 WHERE src = $2 AND pk = $3::int", [value, system, record])
            case ("order", "amount"):
                _ = try c.query("UPDATE sales.purchase SET total = $1::numeric WHERE src = $2 AND pk = $3::int", [value, system, record])
            default:
                Issue.record("no replay for \(line)")
            }
        }
    }
}
