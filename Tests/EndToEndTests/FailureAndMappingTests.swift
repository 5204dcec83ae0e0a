import Foundation
import Postgres
import TestSupport
import Testing

/// Runs that must stop with exit 2, a message naming the file, and no report folder; and a mirror
/// with a schema of its own, reconciled by writing only query files and recon.yml.
@Suite(.serialized)
struct FailureAndMappingTests {
    @Test func anotherSchemaIsReconciledThroughQueriesAndConfigOnly() throws {
        let f = try fixture()
        defer { f.cleanup() }
        let check = try f.recon([], "check")
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("crm_customers.sql: ok (attributes: tier)"))

        let run = try f.recon()
        #expect(run.status == 1, "\(run.stderr)")
        let folder = f.reports + "/" + (f.reportEntries().first ?? "")
        let rows = parseCSV(try String(contentsOfFile: folder + "/findings.csv", encoding: .utf8)).dropFirst()
        let got = Set(rows.map { "\($0[1]) \($0[2]) \($0[4]):\($0[5]) \($0[8])" })
        #expect(got == [
            "unlinked customer crm:2 ", "unlinked customer erp:102 ",
            "status_mismatch order crm:7 status", "status_mismatch order erp:70 status",
        ])

        // Fix the data: the next run is clean and exits 0.
        try psql(f.url, command: "UPDATE sales.party SET counterpart = 102 WHERE pk = 2; UPDATE sales.purchase SET state = 'ok' WHERE pk = 70")
        let clean = try f.recon()
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(clean.stdout.contains("findings: 0 (open or waived), 2 resolved since the last run"), "\(clean.stdout)")
        let last = try #require(f.reportEntries().last)
        let resolved = parseCSV(try String(contentsOfFile: f.reports + "/" + last + "/resolved.csv", encoding: .utf8))
        #expect(resolved.count == 3)
    }

    /// Each case: what to break, the exit code, and what stderr must name.
    @Test(arguments: [
        ("config", "recon.yml", "default_country: DE\nstatuses:\n  crm: {booked: won}\n  erp: {ok: paid}\n  ownr: erp\n", "recon.yml:5:3: unknown key \"statuses.ownr\""),
        ("syntax", "queries/erp_orders.sql", "SELEC pk FROM sales.purchase", "erp_orders.sql: query failed: SQLSTATE 42601"),
        ("table", "queries/crm_orders.sql", "SELECT pk AS id, state AS status FROM sales.nope", "crm_orders.sql: query failed: SQLSTATE 42P01"),
        ("column", "queries/crm_customers.sql", "SELECT mail AS email FROM sales.party", "crm_customers.sql: column \"id\" is required"),
        ("type", "queries/erp_orders.sql", "SELECT pk AS id, state AS status, 'x'::text AS amount FROM sales.purchase", "erp_orders.sql: column \"amount\" has type text"),
        ("missing", "queries/erp_customers.sql", "", "erp_customers.sql: query file not found"),
        ("lost", "queries/erp_customers.sql",
         "SELECT pk AS id, mail AS email, pg_terminate_backend(pg_backend_pid()) AS boom FROM sales.party, generate_series(1, 1000)",
         "erp_customers.sql: connection lost"),
        ("data", "queries/erp_customers.sql", "SELECT pk AS id, (mail || 'x')::int AS n FROM sales.party", "SQLSTATE 22P02"),
    ])
    func errorsStopTheRunWithExit2AndNoReport(name: String, file: String, content: String, message: String) throws {
        let f = try fixture()
        defer { f.cleanup() }
        if name == "missing" {
            try FileManager.default.removeItem(atPath: f.dir + "/" + file)
        } else {
            try f.write(file, content)
        }
        let r = try f.recon()
        #expect(r.status == 2, "\(name): exit \(r.status), stderr \(r.stderr)")
        #expect(r.stderr.contains(message), "\(name): \(r.stderr)")
        // The file is named once (never `q/crm_customers.sql: crm_customers.sql: …`).
        #expect(r.stderr.range(of: #"(\w+\.sql): (\S*/)?\1:"#, options: .regularExpression) == nil, "\(name): \(r.stderr)")
        // A failed run leaves only its summary (with the error) and the HTML page saying so.
        let entries = f.reportEntries()
        #expect(entries.count == 1, "\(name): report entries \(entries)")
        if let entry = entries.first {
            #expect(f.files(entry) == ["summary.json", "index.html"], "\(name): \(f.files(entry))")
            let summary = try f.summary(entry)
            #expect(summary["outcome"] as? String == "error")
            #expect((summary["error"] as? String)?.contains(message) == true)
        }
        #expect(!r.stderr.contains("@shop.example") && !r.stderr.contains("ana"), "\(name) leaks data: \(r.stderr)")
    }

    @Test func cannotConnectIsExit2() throws {
        let f = try fixture()
        defer { f.cleanup() }
        let r = try f.recon(["--database", "host=/nonexistent port=1 dbname=x connect_timeout=2"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("cannot connect"))
        #expect(f.reportEntries().count == 1)
    }

    @Test func connectionComesFromPGVariablesWhenNothingElseIsSet() throws {
        let f = try fixture()
        defer { f.cleanup() }
        // The test URL is "host=… port=… user=… dbname=…": hand it to libpq as PG* variables.
        var env: [String: String] = [:]
        for part in f.url.split(separator: " ") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            let names = ["host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE"]
            if kv.count == 2, let n = names[kv[0]] { env[n] = kv[1] }
        }
        let r = try f.recon([], "check", env: env)
        #expect(r.status == 0, "\(r.stderr)")
    }
}
/// Reports hold emails, phones and names: readable by their owner only, unless recon.yml widens it.
@Suite struct ReportPermissionTests {
    func modes(_ f: Fixture) throws -> (folder: Int, files: Set<Int>) {
        let entry = try #require(f.reportEntries().last)
        let fm = FileManager.default
        let folder = try fm.attributesOfItem(atPath: f.reports + "/" + entry)[.posixPermissions] as? Int ?? -1
        let files = Set(try fm.contentsOfDirectory(atPath: f.reports + "/" + entry).map {
            try fm.attributesOfItem(atPath: f.reports + "/" + entry + "/" + $0)[.posixPermissions] as? Int ?? -1
        })
        return (folder, files)
    }

    @Test func reportsAreTheOwnersOnlyByDefault() throws {
        let f = try fixture()
        defer { f.cleanup() }
        // Whatever the caller's umask (the tests' is usually 022).
        #expect(try f.recon().status == 1)
        let m = try modes(f)
        #expect(m.folder == 0o700 && m.files == [0o600], "folder \(String(m.folder, radix: 8)), files \(m.files.map { String($0, radix: 8) })")

        try f.write("recon.yml", OtherMirror.otherConfig + "\nreport_mode: \"0640\"\n")
        #expect(try f.recon().status == 1)
        let g = try modes(f)
        #expect(g.folder == 0o750 && g.files == [0o640], "folder \(String(g.folder, radix: 8)), files \(g.files.map { String($0, radix: 8) })")

        try f.write("recon.yml", OtherMirror.otherConfig + "\nreport_mode: \"0755\"\n")
        let bad = try f.recon([], "check")
        #expect(bad.status == 2 && bad.stderr.contains("report_mode must be an octal file mode"), "\(bad.stderr)")
    }
}

/// `recon check` as a least-privilege guard: it refuses a query that would modify data without
/// running it, and warns about a mirror role that could write.
@Suite struct CheckPrivilegeTests {
    @Test func aDataModifyingQueryIsRefusedWithoutRunningIt() throws {
        let f = try fixture()
        defer { f.cleanup() }
        func purchases() throws -> String? { try Connection(conninfo: f.url).query("SELECT count(*) FROM sales.purchase").first?.first ?? nil }
        let before = try purchases()
        for sql in ["WITH gone AS (DELETE FROM sales.purchase RETURNING pk) SELECT pk AS id, 'ok' AS status, NULL::int AS customer_id, 1.0 AS amount, 'EUR' AS currency, now() AS created_at FROM gone",
                    "DELETE FROM sales.purchase WHERE src = 'erp' RETURNING pk AS id, state AS status, party AS customer_id, total AS amount, cur AS currency, at AS created_at"] {
            try f.write("queries/erp_orders.sql", sql)
            let check = try f.recon([], "check")
            #expect(check.status == 2 && check.stderr.contains("erp_orders.sql: the query modifies data"), "\(check.stderr)")
            #expect(try purchases() == before)
        }
    }

    @Test func aMirrorRoleThatCanWriteIsWarnedAbout() throws {
        let f = try fixture()
        defer { f.cleanup() }
        let asAdmin = try f.recon([], "check")
        #expect(asAdmin.status == 0 && asAdmin.stdout.contains("WARNING: the mirror role is a superuser"), "\(asAdmin.stdout) \(asAdmin.stderr)")
        try psql(f.url, command: """
            DO $$ BEGIN CREATE ROLE recon_writer LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
            GRANT USAGE ON SCHEMA sales TO recon_writer; GRANT SELECT ON ALL TABLES IN SCHEMA sales TO recon_writer;
            GRANT INSERT ON sales.purchase TO recon_writer;
            GRANT USAGE, CREATE ON SCHEMA recon TO recon_writer; GRANT SELECT ON ALL TABLES IN SCHEMA recon TO recon_writer;
            """)
        let writer = try f.recon([], "check", env: ["DATABASE_URL": f.url.replacingOccurrences(of: "user=postgres", with: "user=recon_writer")])
        #expect(writer.stdout.contains("WARNING: the mirror role can write tables the queries read (\"sales\".\"purchase\")"),
                "\(writer.stdout) \(writer.stderr)")
        #expect(!writer.stdout.contains("superuser"))
    }
}

/// Nothing waits forever, and a server that is not there yet is waited for, a bounded number of times.
@Suite(.serialized) struct TimeoutAndRetryTests {
    @Test func aTableLockedByAnotherSessionFailsTheRunWithinTheLockTimeout() throws {
        let f = try fixture()
        defer { f.cleanup() }
        try f.write("recon.yml", OtherMirror.otherConfig + "\ntimeouts: {lock: 2s}\n")
        let holder = try Connection(conninfo: f.url)
        try holder.execute("BEGIN")
        try holder.execute("LOCK TABLE sales.purchase IN ACCESS EXCLUSIVE MODE")
        defer { try? holder.execute("ROLLBACK") }
        let started = Date()
        let run = try f.recon()
        #expect(run.status == 2 && run.stderr.contains("55P03") && run.stderr.contains("lock timeout"), "\(run.stderr)")
        #expect(Date().timeIntervalSince(started) < 60, "the run waited for the lock")
    }

    @Test func aServerThatStartsLateIsWaitedFor() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = try makeTemporaryDirectory("recon-late-pg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A cluster of its own, made and stopped; recon is started while it is down, and the
        // cluster two seconds later.
        let script = """
            set -u
            url=$("$ROOT/scripts/pg.sh" start "$DIR") || exit 10
            psql -qX "$url" -c "CREATE DATABASE late" >/dev/null || exit 11
            "$ROOT/scripts/pg.sh" stop "$DIR"
            "$RECON" migrate --database "${url/dbname=postgres/dbname=late}" --config "$ROOT/recon.yml" >"$DIR/out" 2>"$DIR/err" </dev/null &
            sleep 2
            "$ROOT/scripts/pg.sh" start "$DIR" >/dev/null 2>&1 </dev/null
            wait $!; status=$?
            "$ROOT/scripts/pg.sh" stop "$DIR"
            cat "$DIR/err"
            exit $status
            """
        let r = try Binaries.run("/bin/bash", ["-c", script],
                                 environment: ["ROOT": root, "DIR": dir, "RECON": try Binaries.directory() + "/recon"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("connect failed, retrying"), "\(r.stdout)")
    }
}

/// What a nightly job's wrapper reads: `-q` still says the outcome in one line; JSON logs are JSON
/// to the last line.
@Suite struct QuietAndJSONTests {
    @Test func quietPrintsOneLine() throws {
        let f = try fixture()
        defer { f.cleanup() }
        let r = try f.recon(["-q"])
        #expect(r.status == 1)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("breached (exit 1); reports: " + f.reports + "/"), "\(r.stdout)")
    }

    @Test func everyStderrLineIsJSONAlsoTheLastError() throws {
        let f = try fixture()
        defer { f.cleanup() }
        try f.write("queries/erp_orders.sql", "SELECT nonsense FROM sales.purchase")
        for command in ["run", "check"] {
            let r = try f.recon(["--log-format", "json"], command)
            #expect(r.status == 2)
            let lines = r.stderr.split(separator: "\n")
            #expect(!lines.isEmpty)
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object != nil, "not JSON: \(line)")
            }
            let last = try #require(lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
            #expect(last["level"] as? String == "error" && (last["message"] as? String)?.contains("erp_orders.sql") == true, "\(last)")
        }
    }
}
