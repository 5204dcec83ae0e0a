import Foundation
import Postgres
import ReconCore
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
        /// The nightly run's role (it generates the batches), and the README's two approvers.
        let nightlyURL: String
        let approverURL: String
        let bobURL: String
        let ownerURL: String
        let batch: String
        let planPath: String
    }

    /// The README's "Roles and grants" blocks, as written, with the fixture's names: the mirror
    /// schemas crm and erp are its schema sales, the state database recon is its database.
    static func readmeGrants(database: String) throws -> [String] {
        let readme = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md").path, encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "### Roles and grants").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        let blocks = section.components(separatedBy: "```sql\n").dropFirst().map { $0.components(separatedBy: "```").first ?? "" }
        try #require(blocks.count == 2, "the README's roles section has a block before and one after migrate")
        return blocks.map {
            $0.replacingOccurrences(of: "SCHEMA crm, erp", with: "SCHEMA sales")
                .replacingOccurrences(of: "SCHEMA recon, crm, erp", with: "SCHEMA recon, sales")
                .replacingOccurrences(of: "DATABASE recon", with: "DATABASE \(database)")
        }
    }

    /// Runs SQL statement by statement as the admin; roles that exist already (the cluster is
    /// shared by the tests) are kept.
    static func runAsAdmin(_ url: String, _ sql: String) throws {
        let c = try Connection(conninfo: url)
        let statements = sql.components(separatedBy: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
            .components(separatedBy: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        for statement in statements {
            do { try c.execute(statement) } catch let e as PostgresError where e.sqlState == "42710" && statement.hasPrefix("CREATE ROLE") {}
        }
    }

    /// The README's roles: recon_owner migrates, recon_state runs nightly (and reads the mirror,
    /// which shares its database), alice and bob approve. Runs recon once and returns the pending batch.
    func setup(config: String = Self.config, extraSQL: String = Self.changes, actions: Int = 4) throws -> Setup {
        let f = try fixture(config: config, extraSQL: extraSQL, migrate: false)
        func url(_ role: String) -> String { f.url.replacingOccurrences(of: "user=postgres", with: "user=\(role)") }
        let grants = try Self.readmeGrants(database: f.db)
        try Self.runAsAdmin(f.url, grants[0])
        let migrated = try f.recon([], "migrate", env: ["DATABASE_URL": url("recon_owner")])
        try #require(migrated.status == 0, "\(migrated.stderr)")
        try Self.runAsAdmin(f.url, grants[1])
        try Self.runAsAdmin(f.url, "GRANT USAGE ON SCHEMA sales TO recon_state; GRANT SELECT ON ALL TABLES IN SCHEMA sales TO recon_state")
        let run = try f.recon(env: ["DATABASE_URL": url("recon_state")])
        #expect(run.status == 1, "\(run.stderr)")
        let entry = try #require(f.reportEntries().last)
        let batch = "B-" + entry
        #expect(run.stdout.contains("batch \(batch): \(actions) actions, 0 findings for a human"), "\(run.stdout)")
        return Setup(f: f, nightlyURL: url("recon_state"), approverURL: url("alice"), bobURL: url("bob"), ownerURL: url("recon_owner"),
                     batch: batch, planPath: f.reports + "/" + entry + "/plan.json")
    }

    func recon(_ s: Setup, _ args: [String], as url: String? = nil) throws -> ProcessResult {
        try Binaries.run(try Binaries.directory() + "/recon", args + ["--config", s.f.dir + "/recon.yml", "--queries", s.f.dir + "/queries"],
                         environment: ["DATABASE_URL": url ?? s.nightlyURL])
    }

    /// Starts the recon commands together (each with its role's connection string) and returns
    /// their exit statuses.
    func atOnce(_ s: Setup, _ commands: [(args: [String], url: String)]) throws -> [Int32] {
        let processes = try commands.map { command in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try Binaries.directory() + "/recon")
            p.arguments = command.args + ["--config", s.f.dir + "/recon.yml", "--queries", s.f.dir + "/queries"]
            p.environment = ["DATABASE_URL": command.url]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit() }
        return processes.map(\.terminationStatus)
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
        #expect(approve.stdout.contains("as alice"))

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
        #expect(events == ["generated recon_state", "approve refused recon_state", "apply refused alice", "approved alice",
                           "applied alice", "apply refused alice"], "\(events)")
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
        let statuses = try atOnce(s, [(["batch", "apply", s.batch, "-q"], s.approverURL), (["batch", "apply", s.batch, "-q"], s.approverURL)])
        #expect(statuses.sorted() == [0, 2])
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
        let apply = try recon(s, ["batch", "apply", rollback], as: copyURL.replacingOccurrences(of: "user=postgres", with: "user=bob"))
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("4 applied, 0 stale"), "\(apply.stdout)")
        try replay(folder + "/rollback-\(s.batch)/apply-\(rollback)/corrections.jsonl", on: copyURL)
        #expect(try snapshot(copyURL) == before)
    }

    func events(_ s: Setup, _ batch: String? = nil) throws -> [String] {
        try Connection(conninfo: s.f.url).query("SELECT event, actor FROM recon.batch_events WHERE batch_id = $1 ORDER BY event_id",
                                                [batch ?? s.batch]).map { "\($0[0]!) \($0[1]!)" }
    }

    /// The attacks of issue 15, run as the README's roles with exactly its grants: none of them
    /// changes a batch, and each refusal is in the audit.
    @Test func theDatabaseEnforcesFourEyesWhateverTheRoleTries() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        let alice = try Connection(conninfo: s.approverURL)
        for attack in ["UPDATE recon.batches SET created_by = 'recon_state'",
                       "UPDATE recon.batches SET status = 'approved', approved_by = 'bob'",
                       "INSERT INTO recon.batch_events (batch_id, event, actor) SELECT batch_id, 'approved', 'bob' FROM recon.batches",
                       "INSERT INTO recon.corrections (action_id, outbox_key, batch_id, operation, system, entity, record_id, field) SELECT 'ACT-x', 'k', batch_id, 'create', 'erp', 'customer', 'x', '' FROM recon.batches",
                       "DELETE FROM recon.batches",
                       "UPDATE recon.settings SET value = 'true'"] {
            let error = try #require(throws: PostgresError.self, "\(attack)") { try alice.execute(attack) }
            #expect(error.sqlState == "42501", "\(attack): \(error)")
        }
        // The nightly role cannot approve its own batch, also when its recon.yml allows
        // self-approval: the database's own setting does not.
        let selfApproval = try recon(s, ["batch", "approve", s.batch])
        #expect(selfApproval.status == 2 && selfApproval.stderr.contains("four eyes"), "\(selfApproval.stderr)")
        let state = try Connection(conninfo: s.nightlyURL)
        let denied = try #require(throws: PostgresError.self) { try state.execute("SELECT recon.approve_batch('\(s.batch)', 'x', '{}', '')") }
        #expect(denied.sqlState == "42501")
        // An approver cannot register a batch (which would supersede the night's), nor a rollback
        // batch of a batch that is not being applied.
        for call in ["SELECT recon.register_batch('B-alice', 'r', NULL, '/nowhere', 'abc', 1, 0, 3600, true)",
                     "SELECT recon.register_rollback('R-alice', 'r', '\(s.batch)', '/nowhere', 'abc', 1, 3600)"] {
            let error = try #require(throws: PostgresError.self, "\(call)") { try alice.execute(call) }
            #expect(error.sqlState == "42501", "\(call): \(error)")
        }
        // The database's own four-eyes check: a role approving a batch it registered, asking for
        // self-approval that recon.settings does not allow.
        let admin = try Connection(conninfo: s.f.url)
        _ = try admin.query("SELECT recon.register_batch('B-self', 'r', $1, '/nowhere', 'abc', 1, 0, 3600, true)", [s.batch])
        #expect(try admin.query("SELECT recon.approve_batch('B-self', 'abc', '{}', '')").first?.first??.contains("four eyes") == true)

        // The owner sets the status by hand: apply refuses, for want of the approval's audit event.
        try psql(s.ownerURL, command: "UPDATE recon.batches SET status = 'approved', approved_by = 'bob', approved_sha256 = plan_sha256")
        let forged = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(forged.status == 2 && forged.stderr.contains("no matching approved event"), "\(forged.stderr)")
        #expect(try outboxRows(s) == 0)
        try psql(s.ownerURL, command: "UPDATE recon.batches SET status = 'pending', approved_by = NULL, approved_sha256 = NULL")

        // Refused attempts are audited: an unknown --exclude, a tampered plan, approving twice.
        #expect(try recon(s, ["batch", "approve", s.batch, "--exclude", "ACT-0000000000000000"], as: s.approverURL).status == 2)
        let original = try Data(contentsOf: URL(fileURLWithPath: s.planPath))
        try Data(original + Data(" ".utf8)).write(to: URL(fileURLWithPath: s.planPath))
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 2)
        try original.write(to: URL(fileURLWithPath: s.planPath))
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 0)
        let twice = try recon(s, ["batch", "approve", s.batch], as: s.bobURL)
        #expect(twice.status == 2 && twice.stderr.contains("only a pending batch can be approved"), "\(twice.stderr)")
        let audit = try events(s)
        #expect(audit == ["generated recon_state", "approve refused recon_state", "apply refused alice",
                          "approve refused alice", "approve refused alice", "approved alice", "approve refused bob"], "\(audit)")
    }

    /// The first night's indexes built after the rows (schema 10), tried as the nightly role
    /// with exactly the README's grants: it cannot keep recon.findings without its key or
    /// findings_open, nor drop them while the table has rows.
    @Test func theNightlyRoleCannotLeaveTheFindingsUnindexed() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        let admin = try Connection(conninfo: s.f.url)
        func indexes() throws -> [String] {
            try admin.query("SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'recon' AND tablename = 'findings' ORDER BY 1")
                .map { $0[0] ?? "" }
        }
        let expected = ["findings_open: CREATE INDEX findings_open ON recon.findings USING btree (open) WHERE open",
                        "findings_pkey: CREATE UNIQUE INDEX findings_pkey ON recon.findings USING btree (finding_id)"]
        // The setup's night was this state's first, recorded by recon_state: the indexes are back.
        #expect(try indexes() == expected)
        #expect(try admin.query("SELECT count(*) FROM recon.findings_unindexed") == [["0"]])
        let findings = try admin.query("SELECT count(*) FROM recon.findings")
        #expect(findings != [["0"]])

        let state = try Connection(conninfo: s.nightlyURL)
        // The README's grant: the setup's first night could take the path that drops them.
        #expect(try state.query("SELECT has_function_privilege('recon.unindex_findings()', 'EXECUTE'), has_function_privilege('recon.index_findings()', 'EXECUTE')") == [["t", "t"]])
        for attack in ["DROP INDEX recon.findings_open", "ALTER TABLE recon.findings DROP CONSTRAINT findings_pkey",
                       "DELETE FROM recon.findings", "TRUNCATE recon.findings"] {
            let error = try #require(throws: PostgresError.self, "\(attack)") { try state.execute(attack) }
            #expect(error.sqlState == "42501", "\(attack): \(error)")
        }
        // With findings recorded, the function drops nothing.
        try state.execute("BEGIN")
        #expect(try state.query("SELECT recon.unindex_findings()") == [["f"]])
        try state.execute("COMMIT")
        #expect(try indexes() == expected)

        // An empty table (as on a first night): dropped, but a commit without them fails and
        // rolls the drop back, whether the check waits for the commit or was made immediate.
        try psql(s.ownerURL, command: "TRUNCATE recon.findings")
        try state.execute("BEGIN")
        #expect(try state.query("SELECT recon.unindex_findings()") == [["t"]])
        let commit = try #require(throws: PostgresError.self) { try state.execute("COMMIT") }
        #expect(commit.sqlState == "23000" && "\(commit)".contains("recon.index_findings()"), "\(commit)")
        #expect(try indexes() == expected)
        try state.execute("BEGIN")
        try state.execute("SET CONSTRAINTS ALL IMMEDIATE")
        let immediate = try #require(throws: PostgresError.self) { try state.execute("SELECT recon.unindex_findings()") }
        #expect(immediate.sqlState == "23000", "\(immediate)")
        try state.execute("ROLLBACK")
        #expect(try indexes() == expected)
        // Rows with one id twice while the key is away: the key cannot be built, nor the commit made.
        try state.execute("BEGIN")
        #expect(try state.query("SELECT recon.unindex_findings()") == [["t"]])
        try state.execute("""
            INSERT INTO recon.findings (finding_id, type, entity, severity, records, first_seen_run, first_seen_at, last_seen_run,
                last_seen_at, nights_open, open) SELECT 'ORP-C-1', 'orphan', 'customer', 'warning', 'crm:1', 'R', now(), 'R', now(), 1, true
            FROM generate_series(1, 2)
            """)
        let duplicate = try #require(throws: PostgresError.self) { try state.execute("SELECT recon.index_findings()") }
        #expect(duplicate.sqlState == "23505", "\(duplicate)")
        try state.execute("ROLLBACK")
        #expect(try indexes() == expected)
        #expect(try admin.query("SELECT count(*) FROM recon.findings") == [["0"]])
        // Dropped and built again in one transaction: committed as any first night's.
        try state.execute("BEGIN")
        #expect(try state.query("SELECT recon.unindex_findings()") == [["t"]])
        try state.execute("SELECT recon.index_findings()")
        try state.execute("COMMIT")
        #expect(try indexes() == expected)
        #expect(try admin.query("SELECT count(*) FROM recon.findings_unindexed") == [["0"]])
    }

    @Test func twoApprovalsAtOnceExactlyOneWins() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        let exclude = try plan(s.planPath)[0]["action_id"] as! String
        let statuses = try atOnce(s, [(["batch", "approve", s.batch, "--exclude", exclude], s.approverURL),
                                      (["batch", "approve", s.batch], s.bobURL)])
        #expect(statuses.sorted() == [0, 2])
        let audit = try events(s)
        #expect(audit.filter { $0.hasPrefix("approved ") }.count == 1 && audit.filter { $0.hasPrefix("approve refused") }.count == 1, "\(audit)")
        // The stored approval is the winner's.
        let row = try #require(try Connection(conninfo: s.f.url).query("SELECT approved_by, cardinality(excluded) FROM recon.batches WHERE batch_id = $1", [s.batch]).first)
        #expect((row[0] == "alice" && row[1] == "1") || (row[0] == "bob" && row[1] == "0"), "\(row)")
    }

    /// The expiry is the generating run's, whatever recon.yml the approver or applier uses.
    @Test func theExpiryIsFixedWhenTheBatchIsGenerated() throws {
        let s = try setup(config: Self.config.replacingOccurrences(of: "expire_after: 1h", with: "expire_after: 1s"))
        defer { s.f.cleanup() }
        try s.f.write("recon.yml", Self.config)   // 1h
        Thread.sleep(forTimeInterval: 1.2)
        let late = try recon(s, ["batch", "approve", s.batch], as: s.approverURL)
        #expect(late.status == 2 && late.stderr.contains("has expired"), "\(late.stderr)")
        let c = try Connection(conninfo: s.approverURL)
        let sha = try #require(try c.query("SELECT plan_sha256 FROM recon.batches WHERE batch_id = $1", [s.batch]).first?.first ?? nil)
        #expect(try c.query("SELECT recon.approve_batch($1, $2, '{}', '')", [s.batch, sha]).first?.first??.contains("expired") == true)
        #expect(try c.query("SELECT status FROM recon.batches WHERE batch_id = $1", [s.batch]).first?.first == "expired")
    }

    /// Import files hold the value to write: no spreadsheet guard, phones in E.164.
    @Test func importFilesHoldExactValues() throws {
        let config = Self.config.replacingOccurrences(of: "email: crm}", with: "email: crm, phone: crm}")
        let s = try setup(config: config, extraSQL: Self.changes + " UPDATE sales.party SET tel = '0151 22222222' WHERE src = 'erp' AND pk = 101;"
                          + " UPDATE sales.purchase SET total = -12.50 WHERE src = 'erp';", actions: 5)
        defer { s.f.cleanup() }
        let phone = try #require(try plan(s.planPath).first { ($0["field"] as? String) == "phone" })
        #expect(phone["new_value"] as? String == "+4915111111111" && phone["old_value"] as? String == "0151 22222222", "\(phone)")
        // The README's approve example: the state connection string names the approver.
        let approve = try Binaries.run(try Binaries.directory() + "/recon",
                                       ["batch", "approve", s.batch, "--config", s.f.dir + "/recon.yml", "--queries", s.f.dir + "/queries"],
                                       environment: ["DATABASE_URL": s.nightlyURL, "RECON_STATE_DATABASE_URL": s.approverURL])
        #expect(approve.status == 0 && approve.stdout.contains("as alice"), "\(approve.stdout) \(approve.stderr)")
        let apply = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(apply.status == 0, "\(apply.stderr)")
        let folder = (s.planPath as NSString).deletingLastPathComponent + "/apply-" + s.batch
        let phones = try String(contentsOfFile: folder + "/erp-customer-update_field-phone.csv", encoding: .utf8)
        #expect(phones.contains("101,+4915111111111,ACT-"), "\(phones)")
        let amounts = try String(contentsOfFile: folder + "/crm-order-update_field-amount.csv", encoding: .utf8)
        #expect(amounts.contains("7,-12.50,ACT-"), "\(amounts)")
        // plan.csv is for people: a plain signed number needs no guard there either.
        let planCSV = try String(contentsOfFile: (s.planPath as NSString).deletingLastPathComponent + "/plan.csv", encoding: .utf8)
        #expect(planCSV.contains(",+4915111111111,") && !planCSV.contains("'+4915111111111"))
    }

    /// A correction sent, imported, then undone in the system is sent again the next night; not
    /// delivered yet, it is not sent twice (two approved batches proposing it add it once), and the
    /// next nights' batches leave it out.
    @Test func aCorrectionThatDriftsBackIsSentAgainNeverTwiceForOneState() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        func night() throws -> (batch: String, stdout: String) {
            let run = try s.f.recon(env: ["DATABASE_URL": s.nightlyURL])
            #expect(run.status <= 1, "\(run.stderr)")
            return ("B-" + (try #require(s.f.reportEntries().last)), run.stdout)
        }
        // Two approved batches with the same four actions: the second adds nothing.
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 0)
        let second = try night().batch
        #expect(try recon(s, ["batch", "approve", second], as: s.bobURL).status == 0)
        #expect(try recon(s, ["batch", "apply", s.batch], as: s.approverURL).stdout.contains("4 applied, 0 stale, 0 already applied"))
        let resend = try recon(s, ["batch", "apply", second], as: s.bobURL)
        #expect(resend.stdout.contains("0 applied, 0 stale, 4 already applied"), "\(resend.stdout) \(resend.stderr)")
        #expect(try outboxRows(s) == 4)

        // The outbox's keys are what the binary computes.
        for row in try Connection(conninfo: s.f.url).query("SELECT action_id, old_value, outbox_key, recon.outbox_key(action_id, old_value) FROM recon.corrections") {
            #expect(PlanAction.outboxKey(actionId: row[0]!, oldValue: row[1]) == row[2] && row[2] == row[3], "\(row)")
        }

        // Not imported yet: the next night leaves the four out of its batch.
        let third = try night()
        #expect(third.stdout.contains("0 actions, 0 findings for a human") && third.stdout.contains("4 more already sent, awaiting import (left out)"),
                "\(third.stdout)")

        // Imported; a night sees the findings resolved; someone sets the tier back.
        let folder = (s.planPath as NSString).deletingLastPathComponent
        try replay(folder + "/apply-\(s.batch)/corrections.jsonl", on: s.f.url)
        _ = try night()
        try psql(s.f.url, command: "UPDATE sales.party SET tier = 'silver' WHERE src = 'erp' AND pk = 101")
        let fifth = try night()
        #expect(fifth.stdout.contains("1 actions") && !fifth.stdout.contains("already sent"), "\(fifth.stdout)")
        #expect(try recon(s, ["batch", "approve", fifth.batch], as: s.approverURL).status == 0)
        let again = try recon(s, ["batch", "apply", fifth.batch], as: s.approverURL)
        #expect(again.status == 0 && again.stdout.contains("1 applied, 0 stale, 0 already applied"), "\(again.stdout) \(again.stderr)")
        #expect(try outboxRows(s) == 5)
    }

    /// With no space left for the import files, apply changes nothing (no outbox rows, no
    /// `applied`), and succeeds once there is room.
    @Test func applyIsAllOrNothingWithItsFiles() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 0)
        // The run's folder moved onto a tiny file system, filled up.
        let runFolder = (s.planPath as NSString).deletingLastPathComponent
        let saved = runFolder + ".saved"
        try FileManager.default.moveItem(atPath: runFolder, toPath: saved)
        try FileManager.default.createDirectory(atPath: runFolder, withIntermediateDirectories: false)
        let mount = try Binaries.run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", runFolder], environment: [:])
        try #require(mount.status == 0, "mounting a small tmpfs needs root: \(mount.stderr)")
        defer { _ = try? Binaries.run("/bin/umount", [runFolder], environment: [:]) }
        for name in try FileManager.default.contentsOfDirectory(atPath: saved) {
            try FileManager.default.copyItem(atPath: saved + "/" + name, toPath: runFolder + "/" + name)
        }
        _ = try Binaries.run("/bin/dd", ["if=/dev/zero", "of=\(runFolder)/filler", "bs=4k", "count=1000"], environment: [:])
        let full = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(full.status == 2 && full.stderr.contains("cannot write the import files"), "\(full.stderr)")
        #expect(!full.stderr.contains("NSCocoaErrorDomain") && !full.stderr.contains("no transaction in progress"), "\(full.stderr)")
        #expect(try outboxRows(s) == 0)
        let audit = try events(s)
        #expect(audit.suffix(2) == ["approved alice", "apply refused alice"], "\(audit)")
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: runFolder)).contains { $0.hasPrefix(".tmp-") })

        try FileManager.default.removeItem(atPath: runFolder + "/filler")
        let retry = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(retry.status == 0 && retry.stdout.contains("4 applied"), "\(retry.stdout) \(retry.stderr)")
        #expect(FileManager.default.fileExists(atPath: runFolder + "/apply-\(s.batch)/corrections.jsonl"))
        #expect(FileManager.default.fileExists(atPath: runFolder + "/rollback-\(s.batch)/plan.json"))

        // The import files can always be written again from the outbox.
        let export = try recon(s, ["batch", "export", s.batch, "--into", s.f.dir], as: s.approverURL)
        #expect(export.status == 0, "\(export.stderr)")
        let exported = try String(contentsOfFile: s.f.dir + "/export-\(s.batch)/erp-customer-update_field-tier.csv", encoding: .utf8)
        #expect(exported.contains("101,gold,ACT-"))
    }

    /// A create whose counterpart appeared between approval and apply (a late webhook, an
    /// integration's retry) is stale, not applied: by external id in either direction, by email.
    @Test func aCounterpartThatArrivedAfterApprovalIsNotCreatedTwice() throws {
        let config = Self.config.replacingOccurrences(of: "email: crm}", with: "email: crm}\n  create_customers_in: erp\n  create_orders_in: erp")
        let s = try setup(config: config, extraSQL: Self.changes + """
             INSERT INTO sales.party VALUES ('crm', 3, NULL, 'cy@shop.example', NULL, 'DE', 'gold');
             INSERT INTO sales.purchase VALUES ('crm', 8, NULL, 1, 'booked', 50, 'EUR', '2026-03-02 10:00+00');
             """, actions: 6)
        defer { s.f.cleanup() }
        let creates = try plan(s.planPath).filter { ($0["operation"] as? String) == "create" }.map { "\($0["entity"]!) \($0["record_id"]!)" }
        #expect(Set(creates) == ["customer 3", "order 8"], "\(creates)")
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 0)
        // The integration creates both before the batch is applied: the ERP order, named by the
        // CRM order's external_id; the ERP customer, with the same email written otherwise.
        try psql(s.f.url, command: """
            INSERT INTO sales.purchase VALUES ('erp', 71, NULL, 101, 'ok', 50, 'EUR', '2026-03-02 10:05+00');
            UPDATE sales.purchase SET other_pk = 71 WHERE src = 'crm' AND pk = 8;
            INSERT INTO sales.party VALUES ('erp', 103, NULL, ' CY@Shop.example', NULL, 'DE', 'gold');
            """)
        let apply = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(apply.status == 0 && apply.stdout.contains("4 applied, 2 stale"), "\(apply.stdout) \(apply.stderr)")
        #expect(apply.stdout.contains("the source's external_id names it") && apply.stdout.contains("same email exists now"), "\(apply.stdout)")
    }

    /// Three nights without a decision, each planning something else, leave one pending batch;
    /// the older ones say what superseded them.
    @Test func aNightsBatchSupersedesThePendingOne() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        var batches = [s.batch]
        for tier in ["bronze", "copper"] {
            try psql(s.f.url, command: "UPDATE sales.party SET tier = '\(tier)' WHERE src = 'erp' AND pk = 101")
            #expect(try s.f.recon(env: ["DATABASE_URL": s.nightlyURL]).status == 1)
            batches.append("B-" + (try #require(s.f.reportEntries().last)))
        }
        let rows = try Connection(conninfo: s.f.url).query("SELECT batch_id, status, coalesce(superseded_by, '') FROM recon.batches ORDER BY created_at, batch_id")
        #expect(rows.map { $0.map { $0 ?? "" } } == [[batches[0], "superseded", batches[1]], [batches[1], "superseded", batches[2]], [batches[2], "pending", ""]],
                "\(rows)")
        let list = try recon(s, ["batch", "list"])
        #expect(list.stdout.contains("(superseded by \(batches[2]))"), "\(list.stdout)")
        #expect(try events(s, batches[0]) == ["generated recon_state", "superseded recon_state"])
        let late = try recon(s, ["batch", "approve", batches[0]], as: s.approverURL)
        #expect(late.status == 2 && late.stderr.contains("it is superseded"), "\(late.stderr)")
    }

    /// A night that plans exactly the pending batch again leaves it pending (the approver keeps
    /// reviewing the batch they started on) and writes no copy of its plan; a plan file that no
    /// longer has its registered hash, or any change to the plan, gives a new batch. A night whose
    /// inputs are the ones the batch was planned from keeps it without planning it again.
    @Test func anUnchangedNightLeavesThePendingBatchAsItIs() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        var kept: [String] = []
        func night() throws -> (stdout: String, entry: String) {
            let r = try s.f.recon(["--log-format", "json"], env: ["DATABASE_URL": s.nightlyURL])
            #expect(r.status == 1, "\(r.stderr)")
            kept.append(r.stderr.contains("same inputs, not planned again") ? "same inputs"
                        : r.stderr.contains("planned again, the same") ? "planned again" : "new")
            return (r.stdout, try #require(s.f.reportEntries().last))
        }
        func recorded() throws -> [String] {
            try Connection(conninfo: s.f.url).query("""
                SELECT planned_batch || ' ' || left(plan_inputs_sha256, 12) FROM recon.runs WHERE planned_batch IS NOT NULL ORDER BY started_at, run_id
                """).map { $0[0] ?? "" }
        }
        let same = try night()
        #expect(same.stdout.contains("batch \(s.batch) planned again, unchanged: 4 actions"), "\(same.stdout)")
        // The first night had no batch pending, so it worked out no digest of its inputs; this
        // one planned the batch again, found it the same and recorded what it was planned from.
        // The next night's inputs are the same: it keeps the batch without planning it.
        #expect(try night().stdout.contains("batch \(s.batch) planned again, unchanged: 4 actions"))
        let inputs = try recorded()
        #expect(kept == ["planned again", "same inputs"] && inputs.count == 2 && Set(inputs).count == 1 && inputs[0].hasPrefix(s.batch + " "),
                "\(kept) \(inputs)")
        #expect(!s.f.files(same.entry).contains("plan.json") && !s.f.files(same.entry).contains("plan.csv")
                && !s.f.files(same.entry).contains("plan.xlsx") && !s.f.files(same.entry).contains("batch.html"), "\(s.f.files(same.entry))")
        let html = try String(contentsOfFile: s.f.reports + "/" + same.entry + "/index.html", encoding: .utf8)
        #expect(html.contains("planned again tonight, unchanged") && html.contains("tonight's plan is \(s.batch) unchanged"), "\(html)")
        let pending = try Connection(conninfo: s.f.url).query("SELECT batch_id FROM recon.batches WHERE status = 'pending'")
        #expect(pending.map { $0[0] ?? "" } == [s.batch])
        #expect(try events(s, s.batch) == ["generated recon_state"])
        // Still approvable as it was.
        #expect(try recon(s, ["batch", "show", s.batch]).status == 0)

        // A plan file changed behind the state's back: the night writes a new batch, whatever
        // its inputs.
        let original = try String(contentsOfFile: s.planPath, encoding: .utf8)
        try (original + " ").write(toFile: s.planPath, atomically: true, encoding: .utf8)
        let replaced = try night()
        #expect(replaced.stdout.contains("batch B-\(replaced.entry): 4 actions"), "\(replaced.stdout)")
        #expect(s.f.files(replaced.entry).contains("plan.json"))

        // And any change to what is planned does too.
        #expect(try night().stdout.contains("unchanged"))
        // A change to the mirror that changes no action (a customer in both systems, alike) is
        // planned in full, and found the same.
        try psql(s.f.url, command: "INSERT INTO sales.party VALUES ('crm', 3, 103, 'cy@shop.example', NULL, 'DE', 'gold'), ('erp', 103, NULL, 'cy@shop.example', NULL, 'DE', 'gold')")
        #expect(try night().stdout.contains("unchanged"))
        #expect(kept == ["planned again", "same inputs", "new", "same inputs", "planned again"], "\(kept)")
        try psql(s.f.url, command: "UPDATE sales.party SET tier = 'bronze' WHERE src = 'erp' AND pk = 101")
        let changed = try night()
        #expect(changed.stdout.contains("batch B-\(changed.entry): 4 actions"), "\(changed.stdout)")
        let rows = try Connection(conninfo: s.f.url).query("SELECT batch_id, status FROM recon.batches ORDER BY created_at, batch_id")
        #expect(rows.map { "\($0[0] ?? "") \($0[1] ?? "")" } == ["\(s.batch) superseded", "B-\(replaced.entry) superseded", "B-\(changed.entry) pending"],
                "\(rows)")
        // recon.yml now asks for another self-approval than the pending batch was generated with.
        try s.f.write("recon.yml", Self.config.replacingOccurrences(of: "batches: {expire_after: 1h}", with: "batches: {expire_after: 1h, allow_self_approval: true}"))
        let asked = try night()
        #expect(asked.stdout.contains("batch B-\(asked.entry): 4 actions"), "\(asked.stdout)")
    }

    /// A waiver is part of what a batch is planned from: with the mirror as it was, waiving the
    /// finding behind one action plans a new batch without that action.
    @Test func aWaiverPlansTheBatchAgain() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        let update = try #require(try plan(s.planPath).first { ($0["operation"] as? String) == "update_field" })
        let finding = try #require((update["finding_ids"] as? [String])?.first)
        // A night that plans the batch again records what it was planned from.
        #expect(try s.f.recon(env: ["DATABASE_URL": s.nightlyURL]).stdout.contains("planned again, unchanged"))
        let waived = try recon(s, ["waive", finding, "--reason", "the tier is being migrated"], as: s.approverURL)
        #expect(waived.status == 0, "\(waived.stdout) \(waived.stderr)")
        let night = try s.f.recon(env: ["DATABASE_URL": s.nightlyURL])
        let entry = try #require(s.f.reportEntries().last)
        #expect(night.stdout.contains("batch B-\(entry): 3 actions"), "\(night.stdout) \(night.stderr)")
        #expect(try plan(s.f.reports + "/" + entry + "/plan.json").allSatisfy { ($0["finding_ids"] as? [String]) != [finding] })
    }

    /// A deal won five minutes before the run whose ERP order is not there yet is settling: in
    /// the reports, breaching nothing, no create planned; once the window has passed and the order
    /// is still missing, it is a new missing order and the create is planned.
    @Test func aDealWonMinutesBeforeTheRunSettles() throws {
        let config = Self.config.replacingOccurrences(of: "email: crm}", with: "email: crm}\n  create_orders_in: erp")
            + "\nthresholds:\n  - {type: missing_order, new: 0}\n"
        let s = try setup(config: config, extraSQL: Self.changes + """
             INSERT INTO sales.purchase VALUES ('crm', 8, NULL, 1, 'booked', 50, 'EUR', now() - interval '5 minutes');
             """)
        defer { s.f.cleanup() }
        func missingOrder(_ entry: String) throws -> [String]? {
            parseCSV(try String(contentsOfFile: s.f.reports + "/" + entry + "/findings.csv", encoding: .utf8)).first { $0.count > 10 && $0[1] == "missing_order" }
        }
        let first = try #require(s.f.reportEntries().last)
        #expect(try missingOrder(first)?[11] == "settling")
        let summary = try s.f.summary(first)
        let counts = (summary["lifecycle"] as? [String: [String: Int]])?["missing_order/order"]
        #expect(counts?["settling"] == 1 && counts?["new"] == nil, "\(String(describing: counts))")
        #expect(!((summary["breaches"] as? [Any])?.description.contains("missing_order") ?? false), "\(summary)")
        #expect(try plan(s.planPath).allSatisfy { ($0["operation"] as? String) != "create" })

        // An hour and more later, still no ERP order: new, breaching, and the create is planned.
        try psql(s.f.url, command: "UPDATE sales.purchase SET at = now() - interval '2 hours' WHERE src = 'crm' AND pk = 8")
        let run = try s.f.recon(env: ["DATABASE_URL": s.nightlyURL])
        #expect(run.status == 1 && run.stdout.contains("more than 0 new missing_order"), "\(run.stdout)")
        let second = try #require(s.f.reportEntries().last)
        #expect(try missingOrder(second)?[11] == "new")
        let creates = try plan(s.f.reports + "/" + second + "/plan.json").filter { ($0["operation"] as? String) == "create" }
        #expect(creates.count == 1 && creates.first?["record_id"] as? String == "8", "\(creates)")
    }

    /// An approver reviews by summary and filters, approves a selection by operation, and only
    /// it is applied; the selection is in the audit, the exact list left out in the batch.
    @Test func aSelectionIsApprovedAndOnlyItIsApplied() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        let show = try recon(s, ["batch", "show", s.batch, "--operation", "update_field", "--limit", "1"], as: s.approverURL)
        #expect(show.status == 0, "\(show.stderr)")
        for line in ["summary: 4 actions, 0 findings for a human", "link            crm customer          1         0",
                     "update_field    crm order             1         0", "2 actions of 4 (filtered):", "… 1 more"] {
            #expect(show.stdout.contains(line), "\(line)\n\(show.stdout)")
        }
        let typed = try recon(s, ["batch", "show", s.batch, "--finding-type", "status_mismatch", "--system", "crm"], as: s.approverURL)
        #expect(typed.stdout.contains("1 actions of 4 (filtered):") && typed.stdout.contains("update_status: crm order 7"), "\(typed.stdout)")
        let bad = try recon(s, ["batch", "approve", s.batch, "--only", "link,upsert"], as: s.approverURL)
        #expect(bad.status == 2 && bad.stderr.contains("\"upsert\" is not an operation"), "\(bad.stderr)")

        let approve = try recon(s, ["batch", "approve", s.batch, "--only", "update_field,update_status", "--exclude-operation", "update_status"],
                                as: s.approverURL)
        #expect(approve.status == 0 && approve.stdout.contains("2 of 4 actions will be applied"), "\(approve.stdout) \(approve.stderr)")
        let detail = try Connection(conninfo: s.f.url).query(
            "SELECT detail FROM recon.batch_events WHERE batch_id = $1 AND event = 'approved'", [s.batch]).first?.first ?? nil
        #expect(detail == "--only update_field,update_status --exclude-operation update_status (2 of 4 actions)", "\(String(describing: detail))")
        let apply = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(apply.status == 0 && apply.stdout.contains("2 applied, 0 stale, 0 already applied, 2 excluded"), "\(apply.stdout) \(apply.stderr)")
        let applied = try Connection(conninfo: s.f.url).query("SELECT operation FROM recon.corrections ORDER BY 1").map { $0[0] ?? "" }
        #expect(applied == ["update_field", "update_field"])
        let shown = try recon(s, ["batch", "show", s.batch], as: s.approverURL)
        #expect(shown.stdout.contains("approved by alice, 2 actions left out") && shown.stdout.contains("update_status   crm order             1         1"),
                "\(shown.stdout)")
    }

    /// batch.html: the review page, self-contained, rendered by headless chromium.
    @Test func theReviewPageRendersInHeadlessChromium() throws {
        let config = Self.config.replacingOccurrences(of: "email: crm}", with: "email: crm}\n  create_customers_in: erp")
        let s = try setup(config: config, extraSQL: Self.changes + " INSERT INTO sales.party VALUES ('crm', 3, NULL, 'cy@shop.example', '+49 151 33333333', 'DE', 'gold');",
                          actions: 5)
        defer { s.f.cleanup() }
        let page = (s.planPath as NSString).deletingLastPathComponent + "/batch.html"
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        for action in try plan(s.planPath) { #expect(html.contains(action["action_id"] as! String)) }
        let (png, dom) = try renderInChromium(page, workDirectory: s.f.dir, size: "1366,900")
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "screenshot of \(png.count) bytes")
        #expect(dom.contains("Summary: 5 actions, 0 findings for a human") && dom.contains("update_status · crm order · 1 action<")
                && dom.contains("silver") && dom.contains("+4915133333333"), "\(dom.prefix(2000))")
        if let keep = ProcessInfo.processInfo.environment["RECON_KEEP_BATCH_SCREENSHOT"] { try png.write(to: URL(fileURLWithPath: keep)) }
    }

    /// The review files in a real spreadsheet (LibreOffice Calc, headless): plan.xlsx shows a
    /// phone, a signed amount and a formula-like value exactly, typed, and runs nothing; plan.csv
    /// runs no formula either.
    @Test func aSpreadsheetShowsTheReviewFilesAsTheyAre() throws {
        let config = Self.config.replacingOccurrences(of: "email: crm}", with: "email: crm, phone: crm}")
        let s = try setup(config: config, extraSQL: Self.changes + " UPDATE sales.party SET tel = '0151 22222222' WHERE src = 'erp' AND pk = 101;"
                          + " UPDATE sales.purchase SET total = -12.50 WHERE src = 'erp';"
                          + " UPDATE sales.party SET tier = '=1+1' WHERE src = 'crm' AND pk = 1;", actions: 5)
        defer { s.f.cleanup() }
        let folder = (s.planPath as NSString).deletingLastPathComponent
        let soffice = try #require(["/usr/bin/soffice", "/usr/bin/libreoffice"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "LibreOffice is not installed: `make test` installs it (RECON_BOOTSTRAP_TEST=1 scripts/bootstrap.sh)")
        func throughCalc(_ file: String) throws -> [[String]] {
            let out = s.f.dir + "/calc-" + UUID().uuidString
            let r = try Binaries.run(soffice, ["-env:UserInstallation=file://" + s.f.dir + "/lo-profile", "--headless", "--calc",
                                               "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false", "--outdir", out, file])
            #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
            let name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension + ".csv"
            // Calc ends its lines with LF; the test's reader splits records on CRLF.
            let text = try String(contentsOfFile: out + "/" + name, encoding: .utf8)
            return parseCSV(text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n"))
        }
        let xlsx = try throughCalc(folder + "/plan.xlsx")
        #expect(xlsx.first == ["action_id", "operation", "system", "entity", "record_id", "field", "old_value", "new_value", "finding_ids", "reason", "tier"])
        func row(_ field: String) -> [String]? { xlsx.first { $0.count > 7 && $0[5] == field } }
        #expect(row("phone")?[6] == "0151 22222222" && row("phone")?[7] == "+4915111111111", "\(xlsx)")
        #expect(row("amount")?[6] == "99.5" && row("amount")?[7] == "-12.5", "\(xlsx)")
        #expect(row("tier")?[6] == "silver" && row("tier")?[7] == "=1+1", "\(xlsx)")
        #expect(!xlsx.joined().contains { $0.hasPrefix("'") })
        // plan.csv: the formula-like value is guarded and stays text; nothing is computed.
        let csv = try throughCalc(folder + "/plan.csv")
        let tier = csv.first { $0.count > 7 && $0[5] == "tier" }
        #expect(tier?[7] == "'=1+1", "\(csv)")
    }

    /// Ids with a tab or a no-break space are found again by apply, as the run found them.
    @Test func theReReadTrimsAsTheRunDoes() throws {
        let s = try setup()
        defer { s.f.cleanup() }
        try psql(s.f.url, command: "ALTER TABLE sales.party ALTER COLUMN pk TYPE text; UPDATE sales.party SET pk = E'101\\t' WHERE src = 'erp' AND pk = '101'")
        try s.f.write("queries/erp_customers.sql", "SELECT pk || E'\\u00a0' AS id, mail AS email, tel AS phone, cc AS country, tier FROM sales.party WHERE src = 'erp';")
        #expect(try recon(s, ["batch", "approve", s.batch], as: s.approverURL).status == 0)
        let apply = try recon(s, ["batch", "apply", s.batch], as: s.approverURL)
        #expect(apply.status == 0 && apply.stdout.contains("4 applied, 0 stale"), "\(apply.stdout) \(apply.stderr)")
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
