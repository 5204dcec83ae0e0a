import Foundation
import Postgres
import TestSupport
import Testing

/// Nightly operations against the real PostgreSQL: lifecycle over three runs, waivers,
/// thresholds and exit codes, alerts, the run lock, kill -9, metrics, the HTML report and
/// explain, and a canary that no personal data reaches stderr.
@Suite(.serialized)
struct NightlyTests {
    static let thresholdsConfig = OtherMirror.otherConfig + """

    fail_on: none
    thresholds:
      - {type: status_mismatch, new: 0}
      - {open_nights: 2}
    """

    /// finding type → (status, first_seen, nights_open) from a run's findings.csv.
    func lifecycle(_ f: Fixture, _ entry: String) throws -> [String: (status: String, firstSeen: String, nights: String)] {
        let rows = parseCSV(try String(contentsOfFile: f.reports + "/" + entry + "/findings.csv", encoding: .utf8)).dropFirst()
        var out: [String: (String, String, String)] = [:]
        for r in rows { out["\(r[1])/\(r[2])"] = (r[11], r[12], r[13]) }
        return out
    }

    func waiveFinding(_ f: Fixture, _ id: String, reason: String, until: String?) throws -> ProcessResult {
        try Binaries.run(try Binaries.directory() + "/recon",
                         ["waive", id, "--reason", reason, "--config", f.dir + "/recon.yml"] + (until.map { ["--until", $0] } ?? []),
                         environment: ["DATABASE_URL": f.url])
    }

    func findingId(_ f: Fixture, _ entry: String, type: String) throws -> String {
        let rows = parseCSV(try String(contentsOfFile: f.reports + "/" + entry + "/findings.csv", encoding: .utf8)).dropFirst()
        return try #require(rows.first { $0[1] == type }?[0])
    }

    @Test func lifecycleAcrossThreeRunsWithWaivers() throws {
        let f = try fixture(config: Self.thresholdsConfig)
        defer { f.cleanup() }

        // Night 1: everything is new; a new status mismatch breaches.
        let r1 = try f.recon(["--metrics-file", f.dir + "/recon.prom"])
        #expect(r1.status == 1, "\(r1.stderr)")
        let run1 = try #require(f.reportEntries().last)
        let l1 = try lifecycle(f, run1)
        #expect(l1["unlinked/customer"]?.status == "new" && l1["status_mismatch/order"]?.status == "new")
        #expect(l1["status_mismatch/order"]?.nights == "1")
        let mismatch = try findingId(f, run1, type: "status_mismatch")
        try expectPrometheus(String(contentsOfFile: f.dir + "/recon.prom", encoding: .utf8))

        // The mirror changes: the unlinked pair gets its link, a new orphan appears; the
        // mismatch is waived by a person.
        try psql(f.url, command: "UPDATE sales.party SET counterpart = 102 WHERE pk = 2; INSERT INTO sales.party VALUES ('erp', 103, NULL, 'cy@shop.example', NULL, 'DE', 'gold')")
        let waive = try waiveFinding(f, mismatch, reason: "ERP cancellation confirmed by finance", until: "2099-12-31")
        #expect(waive.status == 0, "\(waive.stderr)")
        #expect(waive.stdout.contains("waived \(mismatch) by postgres until 2099-12-31"))

        // Night 2: unlinked resolved, orphan new, mismatch waived (2 nights); nothing breaches.
        let r2 = try f.recon()
        #expect(r2.status == 0, "\(r2.stdout) \(r2.stderr)")
        let run2 = try #require(f.reportEntries().last)
        let l2 = try lifecycle(f, run2)
        #expect(l2["status_mismatch/order"]?.status == "waived")
        #expect(l2["status_mismatch/order"]?.nights == "2")
        #expect(l2["status_mismatch/order"]?.firstSeen == l1["status_mismatch/order"]?.firstSeen)
        #expect(l2["orphan/customer"]?.status == "new")
        #expect(l2["unlinked/customer"] == nil)
        let resolved = parseCSV(try String(contentsOfFile: f.reports + "/" + run2 + "/resolved.csv", encoding: .utf8))
        #expect(resolved.count == 2 && resolved[1][1] == "unlinked")

        // A waiver cannot be given an end in the past, nor a date that does not exist.
        let past = try waiveFinding(f, mismatch, reason: "only until yesterday", until: "2000-01-01")
        #expect(past.status == 2 && past.stderr.contains("--until 2000-01-01 is in the past"), "\(past.stderr)")
        let notADate = try waiveFinding(f, mismatch, reason: "typo", until: "2099-02-30")
        #expect(notADate.status == 2 && notADate.stderr.contains("--until 2099-02-30: not a date; write it as YYYY-MM-DD"), "\(notADate.stderr)")
        // Time passes: the waiver's end is behind us, and the mismatch is persisting again.
        try psql(f.url, command: "UPDATE recon.waivers SET until = '2000-01-01'")

        // Night 3: the mismatch is persisting, open 3 nights > 2: breached.
        let r3 = try f.recon(["--metrics-file", f.dir + "/recon.prom"])
        #expect(r3.status == 1, "\(r3.stdout) \(r3.stderr)")
        #expect(r3.stdout.contains("findings open longer than 2 nights (measured 3)"))
        let run3 = try #require(f.reportEntries().last)
        let l3 = try lifecycle(f, run3)
        #expect(l3["status_mismatch/order"]?.status == "persisting")
        #expect(l3["status_mismatch/order"]?.nights == "3")
        #expect(l3["orphan/customer"]?.status == "persisting" && l3["orphan/customer"]?.nights == "2")
        let summary = try f.summary(run3)
        let counts = try #require(summary["lifecycle"] as? [String: [String: Int]])
        #expect(counts["status_mismatch/order"]?["persisting"] == 1)
        #expect(summary["outcome"] as? String == "breached")
        let prom = try String(contentsOfFile: f.dir + "/recon.prom", encoding: .utf8)
        try expectPrometheus(prom)
        #expect(prom.contains("recon_findings{type=\"status_mismatch\",entity=\"order\",status=\"persisting\"} 1"))
        #expect(prom.contains("recon_run_exit_code 1"))

        // Unknown ids cannot be waived.
        let unknown = try waiveFinding(f, "DUP-C-0000000000000000", reason: "x", until: nil)
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown finding id"))
    }

    /// Rows of a query on the fixture's database.
    func rows(_ f: Fixture, _ sql: String) throws -> [[String?]] {
        let c = try Connection(conninfo: f.url)
        return try c.query(sql)
    }

    /// The state writes only what changed: a finding that persists unchanged is not rewritten
    /// (same row version), a run records in run_findings only what it opened or resolved, and
    /// findings_now counts the nights the reports show.
    @Test func persistingFindingsAreNotRewritten() throws {
        let f = try fixture()
        defer { f.cleanup() }
        #expect(try f.recon().status == 1)
        let run1 = try #require(f.reportEntries().last)
        let opened = try lifecycle(f, run1).count
        let versions1 = try rows(f, "SELECT finding_id, xmin::text FROM recon.findings ORDER BY 1")
        #expect(versions1.count == opened)
        #expect(try rows(f, "SELECT count(*) FROM recon.run_findings WHERE run_id = '\(run1)'") == [[String(opened)]])

        #expect(try f.recon().status == 1)
        let run2 = try #require(f.reportEntries().last)
        #expect(try lifecycle(f, run2).values.allSatisfy { $0.status == "persisting" && $0.nights == "2" })
        #expect(try rows(f, "SELECT finding_id, xmin::text FROM recon.findings ORDER BY 1") == versions1)
        #expect(try rows(f, "SELECT count(*) FROM recon.run_findings WHERE run_id = '\(run2)'") == [["0"]])
        #expect(try rows(f, "SELECT DISTINCT nights_open, last_seen_run FROM recon.findings_now") == [["2", run2]])

        // A changed mirror: only what the run opens and resolves is written.
        try psql(f.url, command: "UPDATE sales.party SET counterpart = 102 WHERE pk = 2; INSERT INTO sales.party VALUES ('erp', 103, NULL, 'cy@shop.example', NULL, 'DE', 'gold')")
        #expect(try f.recon().status == 1)
        let run3 = try #require(f.reportEntries().last)
        let l3 = try lifecycle(f, run3)
        #expect(l3["orphan/customer"]?.status == "new" && l3["status_mismatch/order"]?.nights == "3")
        let events = try rows(f, "SELECT status, count(*)::text FROM recon.run_findings WHERE run_id = '\(run3)' GROUP BY 1 ORDER BY 1")
        #expect(events == [["new", "1"], ["resolved", "1"]])
        let resolved = try rows(f, "SELECT type, nights_open::text, last_seen_run, resolved_run FROM recon.findings WHERE NOT open")
        #expect(resolved == [["unlinked", "2", run2, run3]])
        // Each run and finding once (no key enforces it since schema 9: the writer does), and a
        // run's rows are found through the BRIN index on run_id.
        #expect(try rows(f, "SELECT count(*) = count(DISTINCT (run_id, finding_id)) FROM recon.run_findings") == [["t"]])
        let c = try Connection(conninfo: f.url)
        try c.execute("SET enable_seqscan = off")
        let plan = try c.query("EXPLAIN SELECT finding_id FROM recon.run_findings WHERE run_id = $1", [run3]).compactMap { $0[0] }
        #expect(plan.contains { $0.contains("Bitmap Index Scan on run_findings_run") }, "\(plan)")
    }

    /// A state database's first night is copied straight into its tables; any other night goes
    /// through a staging table and an upsert. The same night recorded either way gives the same
    /// rows (run ids and times aside).
    @Test func theFirstNightIsRecordedAsAnyOther() throws {
        // An invalid address: invalid comes last in the reports' order, before others in the ids'.
        let f = try fixture(extraSQL: " UPDATE sales.party SET counterpart = NULL WHERE pk = 1; INSERT INTO sales.party VALUES ('crm', 3, NULL, 'not an address', NULL, 'DE', 'gold');")
        defer { f.cleanup() }
        let seeded = try TestDatabase.create("e2e_seeded_state")
        defer { TestDatabase.drop(seeded) }
        let seededURL = try TestDatabase.url(database: seeded)
        #expect(try f.recon(["--state-database", seededURL], "migrate").status == 0)
        // One finding resolved long ago: the findings table is not empty, so the night is staged.
        try psql(seededURL, command: """
            INSERT INTO recon.findings (finding_id, type, entity, severity, field, records, detail, first_seen_run, first_seen_at,
                last_seen_run, last_seen_at, nights_open, open, resolved_run, resolved_at, first_seen_seq)
            VALUES ('ORP-C-0000000000000000', 'orphan', 'customer', 'warning', '', 'crm:9', '', 'R0', now(), 'R0', now(), 1, false, 'R0', now(), 0)
            """)
        #expect(try f.recon().status == 1)
        #expect(try f.recon(["--state-database", seededURL]).status == 1)
        func recorded(_ url: String) throws -> [[String?]] {
            let c = try Connection(conninfo: url)
            let run = try #require(try c.query("SELECT run_id FROM recon.runs ORDER BY started_at DESC LIMIT 1").first?[0] ?? nil)
            return try c.query("""
                SELECT finding_id, type, entity, severity, field, records, detail, (first_seen_run = $1)::text,
                       (last_seen_run = $1)::text, (last_seen_at = (SELECT finished_at FROM recon.runs WHERE run_id = $1))::text,
                       nights_open::text, open::text, first_seen_seq::text, digest::text
                FROM recon.findings WHERE finding_id <> 'ORP-C-0000000000000000' ORDER BY 1
                """, [run])
                + c.query("SELECT finding_id, status, (run_id = $1)::text FROM recon.run_findings ORDER BY 1", [run])
        }
        let first = try recorded(f.url), staged = try recorded(seededURL)
        #expect(first.count > 4)
        #expect(first == staged)
        // Either way the rows were written in the order of their ids (the bytes' order): the
        // indexes on finding ids grow at their right edge.
        for url in [f.url, seededURL] {
            let c = try Connection(conninfo: url)
            for table in ["recon.findings", "recon.run_findings"] {
                let written = try c.query("SELECT finding_id FROM \(table) WHERE finding_id <> 'ORP-C-0000000000000000' ORDER BY ctid").map { $0[0] ?? "" }
                #expect(Set(written.map { $0.prefix(3) }).isSuperset(of: ["INV", "UNL"]), "\(written)")
                #expect(written == written.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "\(table)")
            }
        }
    }

    /// What schema 4 added (and 5 to 10 after it), taken away again (to go back to schema 2 or 3).
    static let undoMigration4 = """
        DROP FUNCTION recon.unindex_findings, recon.index_findings, recon.findings_indexed CASCADE;
        DROP TABLE recon.findings_unindexed;
        DELETE FROM recon.schema_version WHERE version = 10;
        DROP INDEX recon.run_findings_run;
        ALTER TABLE recon.run_findings ADD PRIMARY KEY (run_id, finding_id);
        DELETE FROM recon.schema_version WHERE version = 9;
        ALTER TABLE recon.runs DROP COLUMN planned_batch, DROP COLUMN plan_inputs_sha256;
        DELETE FROM recon.schema_version WHERE version = 8;
        ALTER TABLE recon.run_findings ADD FOREIGN KEY (run_id) REFERENCES recon.runs (run_id) ON DELETE CASCADE;
        DELETE FROM recon.schema_version WHERE version = 7;
        DROP FUNCTION recon.decide;
        DROP TABLE recon.decisions;
        DELETE FROM recon.schema_version WHERE version = 6;
        ALTER TABLE recon.runs DROP COLUMN phase, DROP COLUMN reports_directory;
        DELETE FROM recon.schema_version WHERE version = 5;
        DROP FUNCTION recon.in_flight_keys, recon.register_rollback, recon.register_batch, recon.refuse_batch, recon.approve_batch, recon.reject_batch, recon.begin_apply,
            recon.add_corrections, recon.finish_apply, recon.lock_batch, recon.outbox_key;
        DROP FUNCTION recon.owner_only() CASCADE;
        DROP TABLE recon.settings;
        DROP INDEX recon.corrections_batch;
        ALTER TABLE recon.batches DROP COLUMN expires_at, DROP COLUMN allow_self_approval, DROP COLUMN superseded_by, DROP CONSTRAINT batches_status_check;
        ALTER TABLE recon.batches ADD CONSTRAINT batches_status_check CHECK (status IN ('pending', 'approved', 'rejected', 'applied'));
        ALTER TABLE recon.corrections DROP COLUMN correction_id, DROP COLUMN outbox_key, DROP COLUMN finding_ids, DROP COLUMN delivered_run;
        ALTER TABLE recon.corrections ADD PRIMARY KEY (action_id);
        DELETE FROM recon.schema_version WHERE version = 4;
        """

    /// A state database recorded by schema 2 (every finding rewritten each night) upgrades in
    /// place: `recon migrate` numbers its runs and keeps every open finding's nights.
    @Test func upgradeFromSchema2KeepsNights() throws {
        let f = try fixture()
        defer { f.cleanup() }
        #expect(try f.recon().status == 1)
        #expect(try f.recon().status == 1)
        // Back to what schema 2 left after two nights.
        try psql(f.url, command: """
            DROP VIEW recon.findings_now;
            UPDATE recon.findings SET nights_open = 2;
            ALTER TABLE recon.findings DROP COLUMN first_seen_seq, DROP COLUMN digest;
            ALTER TABLE recon.runs DROP COLUMN seq;
            DELETE FROM recon.schema_version WHERE version = 3;
            """ + Self.undoMigration4)
        #expect(try f.recon().status == 2)
        let migrated = try f.recon([], "migrate")
        #expect(migrated.status == 0 && migrated.stdout.contains("applied migration 3"), "\(migrated.stderr)")
        #expect(try rows(f, "SELECT count(*) FROM recon.runs WHERE seq IS NOT NULL") == [["2"]])
        #expect(try f.recon().status == 1)
        let run3 = try #require(f.reportEntries().last)
        #expect(try lifecycle(f, run3).values.allSatisfy { $0.status == "persisting" && $0.nights == "3" })
    }

    @Test func alertCommandGetsTheSummaryAndItsFailureChangesNothing() throws {
        let f = try fixture(config: Self.thresholdsConfig + "\nalert_command: cat > \"$ALERT_DIR/alert.json\"\n")
        defer { f.cleanup() }
        let r = try f.recon(env: ["DATABASE_URL": f.url, "ALERT_DIR": f.dir])
        #expect(r.status == 1)
        let alert = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.dir + "/alert.json"))) as? [String: Any]
        #expect(alert?["outcome"] as? String == "breached")
        #expect((alert?["breaches"] as? [String])?.first?.contains("new status_mismatch") == true)

        // A clean run sends nothing; a failed run does.
        try FileManager.default.removeItem(atPath: f.dir + "/alert.json")
        try f.write("queries/erp_orders.sql", "SELECT nonsense FROM sales.purchase")
        let failed = try f.recon(env: ["DATABASE_URL": f.url, "ALERT_DIR": f.dir])
        #expect(failed.status == 2)
        let errorAlert = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.dir + "/alert.json"))) as? [String: Any]
        #expect(errorAlert?["outcome"] as? String == "error")

        // An alert command that fails is logged; the run's own exit code stands.
        try f.write("queries/erp_orders.sql", OtherMirror.otherQueries["erp_orders.sql"]!)
        try f.write("recon.yml", Self.thresholdsConfig + "\nalert_command: exit 7\n")
        // (Dated well before the run: orders created just now would be settling, and breach nothing.)
        try psql(f.url, command: "INSERT INTO sales.purchase VALUES ('crm', 8, 80, 1, 'booked', 5, 'EUR', '2026-03-05 10:00+00'), ('erp', 80, NULL, 101, 'void', 5, 'EUR', '2026-03-05 10:00+00')")
        let failing = try f.recon()
        #expect(failing.status == 1)
        #expect(failing.stderr.contains("alert command failed"))
    }

    @Test func overlappingRunIsRefusedAndKillNineLeavesNoLockAndNoHalfReport() throws {
        let f = try fixture()
        defer { f.cleanup() }
        // Another run holds the lock.
        let holder = try Connection(conninfo: f.url)
        _ = try holder.query("SELECT pg_advisory_lock($1)", [String(0x72_65_63_6F_6E)])
        let refused = try f.recon()
        #expect(refused.status == 3, "\(refused.stderr)")
        #expect(refused.stderr.contains("another recon run is in progress"))
        #expect(f.reportEntries().isEmpty)
        _ = try holder.query("SELECT pg_advisory_unlock($1)", [String(0x72_65_63_6F_6E)])

        // kill -9 in the middle of the extract; a leftover of an earlier killed run is planted too.
        try FileManager.default.createDirectory(atPath: f.reports + "/.tmp-20000101T000000Z-2147483646", withIntermediateDirectories: true)
        try f.write("queries/erp_orders.sql", "SELECT pk AS id, state AS status, pg_sleep(4)::text AS nap FROM sales.purchase WHERE src = 'erp'")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Binaries.directory() + "/recon")
        p.arguments = ["run", "--config", f.dir + "/recon.yml", "--queries", f.dir + "/queries", "--reports", f.reports, "-q"]
        p.environment = ["DATABASE_URL": f.url, "PATH": "/usr/bin:/bin"]
        try p.run()
        Thread.sleep(forTimeInterval: 1.5)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        #expect(f.reportEntries().filter { !$0.hasPrefix(".") }.isEmpty)

        // kill -9 while the report is being published: a whole report sits in the temporary
        // folder, none under its final name.
        try f.write("queries/erp_orders.sql", OtherMirror.otherQueries["erp_orders.sql"]!)
        let q = Process()
        q.executableURL = p.executableURL
        q.arguments = p.arguments
        q.environment = ["DATABASE_URL": f.url, "PATH": "/usr/bin:/bin", "RECON_TEST_PAUSE": "publish:5"]
        try q.run()
        var waited = 0.0
        while waited < 20, !f.reportEntries().contains(where: { $0.hasPrefix(".tmp-") && f.files($0).contains("index.html") }) {
            Thread.sleep(forTimeInterval: 0.1); waited += 0.1
        }
        kill(q.processIdentifier, SIGKILL)
        q.waitUntilExit()
        #expect(f.reportEntries().contains { $0.hasPrefix(".tmp-") }, "the kill came too late: \(f.reportEntries())")
        #expect(f.reportEntries().filter { !$0.hasPrefix(".") }.isEmpty, "\(f.reportEntries())")

        // The lock went with the killed processes; the next run succeeds and tidies up.
        let next = try f.recon()
        #expect(next.status == 1, "\(next.stderr)")
        #expect(f.reportEntries().filter { $0.hasPrefix(".") }.isEmpty, "\(f.reportEntries())")
        #expect(f.reportEntries().count == 1)
        // Both killed runs are recorded as interrupted, with how far they got; neither took a
        // run number (only published runs count nights).
        let interrupted = try Connection(conninfo: f.url).query("SELECT error FROM recon.runs WHERE outcome = 'error' ORDER BY started_at").map { $0[0] ?? "" }
        #expect(interrupted.count == 2 && interrupted.allSatisfy { $0.hasPrefix("interrupted while ") }, "\(interrupted)")
        #expect(interrupted.last?.contains("writing the reports") == true, "\(interrupted)")
        #expect(try Connection(conninfo: f.url).query("SELECT count(seq) FROM recon.runs") == [["1"]])
    }

    /// No personal data anywhere it should not be: a canary email, phone and name in the mirror
    /// must not reach stdout, stderr (text and JSON logs, trace level), summary.json,
    /// index.html, the metrics file or any table of the recon schema, also when a query fails
    /// with a server error that quotes a value (a cast to regclass, a failed integer cast).
    @Test func noPersonalDataReachesStderrOrLogs() throws {
        let canaries = ["canary.zq", "CANARY.ZQ", "pii.example", "987654", "Zqcanary", "zqcanary"]
        let extra = """
        INSERT INTO sales.party VALUES
          ('crm', 3, NULL, 'canary.zq@pii.example', '+44 7400 987654', 'GB', 'Zqcanary'),
          ('erp', 104, NULL, 'CANARY.ZQ@pii.example', '07400 987654', 'GB', 'Zqcanary-other'),
          ('crm', 4, NULL, 'bad@@canary.zq.pii.example', '987654', 'GB', 'gold');
        """
        let f = try fixture(extraSQL: extra)
        defer { f.cleanup() }
        let metrics = f.dir + "/recon.prom"
        var seen = ""
        for format in ["text", "json"] {
            let r = try f.recon(["--log-format", format, "--log-level", "trace", "--metrics-file", metrics])
            #expect(r.status == 1)
            seen += r.stderr + r.stdout
        }
        // Failing runs whose server errors would quote a canary value, whatever their class.
        for failing in ["SELECT pk AS id, (mail || 'x')::int AS n FROM sales.party WHERE src = 'erp'",
                        "SELECT pk AS id, mail::regclass::text AS email FROM sales.party WHERE src = 'erp' AND pk = 104",
                        "SELECT pk AS id, tier::regclass::text AS email FROM sales.party WHERE src = 'erp' AND pk = 104"] {
            try f.write("queries/erp_customers.sql", failing)
            let failed = try f.recon(["--log-format", "json", "--metrics-file", metrics])
            #expect(failed.status == 2)
            seen += failed.stderr + failed.stdout
        }
        try f.write("queries/erp_customers.sql", OtherMirror.otherQueries["erp_customers.sql"]!)
        let explain = try Binaries.run(try Binaries.directory() + "/recon", ["explain", "crm", "customer", "3", "--config", f.dir + "/recon.yml",
                                                                             "--queries", f.dir + "/queries"], environment: ["DATABASE_URL": f.url])
        #expect(explain.status == 0, "\(explain.stderr)")
        #expect(explain.stdout.contains("c***@p***.example"))
        seen += explain.stderr + explain.stdout
        // Every report folder's summary.json and index.html, and the metrics file.
        for entry in f.reportEntries() {
            for file in ["summary.json", "index.html"] {
                seen += (try? String(contentsOfFile: f.reports + "/" + entry + "/" + file, encoding: .utf8)) ?? ""
            }
        }
        seen += try String(contentsOfFile: metrics, encoding: .utf8)
        // Every table of the recon schema, as text.
        let state = try Connection(conninfo: f.url)
        let tables = try state.query("SELECT tablename FROM pg_tables WHERE schemaname = 'recon'").compactMap { $0[0] }
        #expect(tables.count >= 8, "\(tables)")
        for t in tables {
            seen += try state.query("SELECT t::text FROM recon.\(t) t").map { $0[0] ?? "" }.joined(separator: "\n")
        }
        #expect(seen.contains("SQLSTATE 22P02") && seen.contains("SQLSTATE 42P01") && seen.contains("SQLSTATE 0A000"),
                "the failing queries did not fail as meant")
        for c in canaries { #expect(!seen.contains(c), "\(c) leaked: \(seen.components(separatedBy: "\n").filter { $0.contains(c) }.prefix(3))") }
        // The reports, for people who may see them, do carry the values.
        let entry = try #require(f.reportEntries().first { !$0.hasPrefix(".") })
        #expect(try String(contentsOfFile: f.reports + "/" + entry + "/findings.csv", encoding: .utf8).contains("canary.zq@pii.example"))
    }

    @Test func explainShowsKeysIdentityAndFindings() throws {
        let f = try fixture(extraSQL: "INSERT INTO sales.party VALUES ('crm', 5, NULL, 'Ana@Shop.example', NULL, 'DE', 'gold');")
        defer { f.cleanup() }
        #expect(try f.recon().status == 1)
        let r = try Binaries.run(try Binaries.directory() + "/recon", ["explain", "crm", "customer", "5", "--show-values",
                                                                       "--config", f.dir + "/recon.yml", "--queries", f.dir + "/queries"],
                                 environment: ["DATABASE_URL": f.url])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("email       ana@shop.example  [valid]"), "\(r.stdout)")
        #expect(r.stdout.contains("identity (3 records, certain):"))
        #expect(r.stdout.contains("crm 1: joined by email with crm 5") || r.stdout.contains("joined by email"))
        #expect(r.stdout.contains("duplicate [new, first seen"), "\(r.stdout)")
        let missing = try Binaries.run(try Binaries.directory() + "/recon", ["explain", "erp", "order", "999", "--config", f.dir + "/recon.yml",
                                                                             "--queries", f.dir + "/queries"], environment: ["DATABASE_URL": f.url])
        #expect(missing.status == 2 && missing.stderr.contains("is not in erp_orders.sql's output"))
    }

    @Test func htmlReportRendersInHeadlessChromium() throws {
        let f = try fixture()
        defer { f.cleanup() }
        for _ in 0..<3 { _ = try f.recon() }
        let entry = try #require(f.reportEntries().last)
        let page = f.reports + "/" + entry + "/index.html"
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        #expect(html.contains("<svg") && html.contains("Oldest open findings"))
        let (png, dom) = try renderInChromium(page, workDirectory: f.dir)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "screenshot of \(png.count) bytes")
        #expect(dom.contains("Open findings per type") && dom.contains("status_mismatch"))
        if let keep = ProcessInfo.processInfo.environment["RECON_KEEP_SCREENSHOT"] { try png.write(to: URL(fileURLWithPath: keep)) }
    }

    /// Every line is a HELP or TYPE comment or `name{label="value",…} number`.
    func expectPrometheus(_ text: String) throws {
        var types: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") { continue }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 4 && ["gauge", "counter"].contains(String(parts[3])), "\(line)")
                types[String(parts[2])] = String(parts[3])
                continue
            }
            let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
            let name = String(line[..<nameEnd])
            #expect(types[name] != nil, "sample before its TYPE: \(line)")
            #expect(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" } && !name.isEmpty, "\(line)")
            var rest = line[nameEnd...]
            if rest.first == "{" {
                guard let close = rest.firstIndex(of: "}") else { Issue.record("unclosed labels: \(line)"); continue }
                for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    #expect(kv.count == 2 && kv[1].hasPrefix("\"") && kv[1].hasSuffix("\""), "\(line)")
                }
                rest = rest[rest.index(after: close)...]
            }
            #expect(Double(rest.trimmingCharacters(in: .whitespaces)) != nil, "value: \(line)")
        }
        #expect(types["recon_run_duration_seconds"] != nil && types["recon_last_success_timestamp_seconds"] != nil)
    }
}
