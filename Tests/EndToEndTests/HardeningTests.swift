import Foundation
import Postgres
import TestSupport
import Testing

/// A PostgreSQL cluster of the test's own (scripts/pg.sh), for a state database that the test
/// stops and starts under a running recon without touching the shared test cluster.
struct OwnCluster {
    let dir: String
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/pg.sh").path

    /// Starts it (initdb the first time). - Returns: its connection string.
    /// - Parameter options: more server settings (pg.sh's RECON_PG_OPTIONS).
    @discardableResult
    func start(options: String = "") throws -> String {
        // system(3), not Process: the server would inherit Process's own pipe, and waiting for
        // the script would then last as long as the server.
        let status = system("RECON_PG_OPTIONS='\(options)' '\(Self.script)' start '\(dir)' >'\(dir).url' 2>'\(dir).err' </dev/null")
        let url = (try? String(contentsOfFile: dir + ".url", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard status == 0, !url.isEmpty else {
            throw TestSetupError("cannot start a cluster in \(dir): \((try? String(contentsOfFile: dir + ".err", encoding: .utf8)) ?? "")")
        }
        return url
    }

    func stop() {
        _ = system("'\(Self.script)' stop '\(dir)' >/dev/null 2>&1 </dev/null")
    }
}

/// A recon run in the background, its stderr in a file.
struct RunningRecon {
    let process: Process
    let stderrFile: String
    var stderr: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    init(_ f: Fixture, _ args: [String] = [], env: [String: String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: try Binaries.directory() + "/recon")
        process.arguments = ["run", "--config", f.dir + "/recon.yml", "--queries", f.dir + "/queries", "--reports", f.reports] + args
        process.environment = ["PATH": "/usr/bin:/bin"].merging(env) { $1 }
        stderrFile = f.dir + "/stderr-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrFile))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    /// Waits (at most `seconds`) until `condition` holds.
    static func await(_ seconds: Double = 30, _ condition: () -> Bool) -> Bool {
        var waited = 0.0
        while waited < seconds {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05); waited += 0.05
        }
        return condition()
    }
}

/// The nightly run against what goes wrong at night: a crash, a full disk or a lost state
/// database at each step of publishing, a state database that restarts under a run, SIGTERM
/// and SIGINT, server notices under JSON logs, and `--version`.
@Suite(.serialized) struct HardeningTests {
    func rows(_ url: String, _ sql: String) throws -> [[String]] {
        try Connection(conninfo: url).query(sql).map { $0.map { $0 ?? "" } }
    }

    /// The small mirror on the shared test cluster, its state in a cluster of the test's own
    /// (started and migrated), and the environment that points recon at both.
    func fixtureWithOwnStateDatabase() throws -> (Fixture, OwnCluster, String, [String: String]) {
        let f = try fixture(migrate: false)
        let cluster = OwnCluster(dir: f.dir + "/state")
        let stateURL = try cluster.start()
        let env = ["DATABASE_URL": f.url, "RECON_STATE_DATABASE_URL": stateURL]
        #expect(try f.recon([], "migrate", env: env).status == 0)
        return (f, cluster, stateURL, env)
    }

    func lastSuccess(_ metricsFile: String) throws -> String {
        let text = try String(contentsOfFile: metricsFile, encoding: .utf8)
        return text.split(separator: "\n").first { $0.hasPrefix("recon_last_success_timestamp_seconds ") }.map(String.init) ?? "none"
    }

    /// Each boundary of publication, broken in turn: the state records a night exactly when its
    /// folder is published, and the next published run reports what the broken ones missed.
    @Test func aRunIsPublishedAndRecordedTogetherOrNotAtAll() throws {
        let (f, cluster, stateURL, env) = try fixtureWithOwnStateDatabase()
        defer { cluster.stop(); f.cleanup() }
        let metrics = f.dir + "/recon.prom"
        let first = try f.recon(["--metrics-file", metrics], env: env)
        #expect(first.status == 1, "\(first.stderr)")
        let firstSuccess = try lastSuccess(metrics)
        #expect(firstSuccess != "none")
        // A second status mismatch, for the runs below to report (or fail to).
        try psql(f.url, command: "INSERT INTO sales.purchase VALUES ('crm', 8, 80, 1, 'booked', 5, 'EUR', '2026-03-05 10:00+00'), ('erp', 80, NULL, 101, 'void', 5, 'EUR', '2026-03-05 10:00+00')")
        func published() -> [String] { f.reportEntries().filter { !$0.hasPrefix(".") } }
        func wholeTemporaryFolder() -> Bool { f.reportEntries().contains { $0.hasPrefix(".tmp-") && f.files($0).contains("index.html") } }

        // 1. Killed with the whole report in its temporary folder and the state written but not
        //    committed: no folder, nothing recorded.
        let killedBeforePublish = try RunningRecon(f, env: env.merging(["RECON_TEST_PAUSE": "publish:30"]) { $1 })
        #expect(RunningRecon.await(30, wholeTemporaryFolder))
        kill(killedBeforePublish.process.processIdentifier, SIGKILL)
        killedBeforePublish.process.waitUntilExit()
        #expect(published().count == 1)

        // 2. Killed after the folder was published, before the commit: the folder stays, the
        //    state does not count the night.
        let killedBeforeCommit = try RunningRecon(f, env: env.merging(["RECON_TEST_PAUSE": "commit:30"]) { $1 })
        #expect(RunningRecon.await { published().count == 2 })
        kill(killedBeforeCommit.process.processIdentifier, SIGKILL)
        killedBeforeCommit.process.waitUntilExit()

        // 3. The state database lost before the commit: exit 2, the folder taken back and a
        //    failure folder published in its place.
        let lostState = try RunningRecon(f, env: env.merging(["RECON_TEST_PAUSE": "publish:3"]) { $1 })
        #expect(RunningRecon.await(30, wholeTemporaryFolder))
        cluster.stop()
        lostState.process.waitUntilExit()
        #expect(lostState.process.terminationStatus == 2, "\(lostState.stderr)")
        #expect(lostState.stderr.contains("state database"), "\(lostState.stderr)")
        let lostFolder = try #require(published().last)
        #expect(try f.summary(lostFolder)["outcome"] as? String == "error")
        try cluster.start()

        // 4. No space left for the reports: exit 2, nothing recorded but the error; the metrics
        //    still show the first run as the last success.
        let small = f.dir + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let mount = try Binaries.run("/bin/mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", small], environment: [:])
        try #require(mount.status == 0, "mounting a small tmpfs needs root: \(mount.stderr)")
        defer { _ = try? Binaries.run("/bin/umount", [small], environment: [:]) }
        try Data(repeating: 0x41, count: 12 * 1024).write(to: URL(fileURLWithPath: small + "/filler"))
        let full = try Binaries.run(try Binaries.directory() + "/recon",
                                    ["run", "--config", f.dir + "/recon.yml", "--queries", f.dir + "/queries", "--reports", small,
                                     "--metrics-file", metrics], environment: env)
        #expect(full.status == 2, "\(full.stderr)")
        #expect(full.stderr.contains("No space left") || full.stderr.contains("no space left"), "\(full.stderr)")
        #expect(try lastSuccess(metrics) == firstSuccess)

        // The next run reports the new mismatch as new: no broken run swallowed it.
        let next = try f.recon(["--metrics-file", metrics], env: env)
        #expect(next.status == 1, "\(next.stderr)")
        let nextFolder = try #require(published().last)
        let lifecycle = try #require(try f.summary(nextFolder)["lifecycle"] as? [String: [String: Int]])
        #expect(lifecycle["status_mismatch/order"]?["new"] == 1, "\(lifecycle)")
        #expect(lifecycle["status_mismatch/order"]?["persisting"] == 1, "\(lifecycle)")
        #expect(try lastSuccess(metrics) != firstSuccess)

        // Only published runs are numbered; every broken one says what happened to it.
        let runs = try rows(stateURL, "SELECT outcome, seq, coalesce(error, '') FROM recon.runs ORDER BY started_at")
        #expect(runs.count == 6, "\(runs)")
        guard runs.count == 6 else { return }
        #expect(runs.map { $0[1] } == ["1", "", "", "", "", "2"], "\(runs)")
        #expect(runs[1][0] == "error" && runs[1][2].hasPrefix("interrupted while writing the reports"), "\(runs[1])")
        #expect(runs[2][0] == "error" && runs[2][2].contains("reports were published but the process ended"), "\(runs[2])")
        #expect(runs[3][0] == "error" && runs[3][2].contains("state database"), "\(runs[3])")
        #expect(runs[4][0] == "error" && runs[4][2].lowercased().contains("no space left"), "\(runs[4])")
        // The nights of the first mismatch count the two recorded runs.
        let nights = try rows(stateURL, "SELECT nights_open FROM recon.findings_now WHERE type = 'status_mismatch' ORDER BY nights_open")
        #expect(nights.map { $0[0] } == ["1", "2"], "\(nights)")
    }

    /// The state database restarts under a run: the run loses its lock and stops; a second run
    /// takes the lock; only one of them records the night.
    @Test func aRunThatLosesItsLockStops() throws {
        let (f, cluster, stateURL, env) = try fixtureWithOwnStateDatabase()
        defer { cluster.stop(); f.cleanup() }
        try f.write("queries/erp_orders.sql", "SELECT pk AS id, state AS status, party AS customer_id, pg_sleep(3)::text AS nap FROM sales.purchase WHERE src = 'erp'")
        let first = try RunningRecon(f, env: env)
        Thread.sleep(forTimeInterval: 1)
        cluster.stop()
        try cluster.start()
        let second = try f.recon(env: env)
        first.process.waitUntilExit()
        #expect(first.process.terminationStatus == 2, "\(first.stderr)")
        #expect(first.stderr.contains("lost the run lock"), "\(first.stderr)")
        #expect(second.status == 1, "\(second.stderr)")
        #expect(try rows(stateURL, "SELECT count(seq) FROM recon.runs") == [["1"]])
        #expect(f.reportEntries().filter { $0.hasPrefix(".") }.isEmpty, "\(f.reportEntries())")
    }

    /// SIGTERM (systemd stop) and SIGINT (Ctrl-C): the run stops at once, leaves no temporary
    /// folder, records why, exits 143 or 130, and the lock is free for the next run.
    @Test func signalsStopARunCleanly() throws {
        let f = try fixture()
        defer { f.cleanup() }
        let term = try RunningRecon(f, env: ["DATABASE_URL": f.url, "RECON_TEST_PAUSE": "publish:30"])
        #expect(RunningRecon.await { f.reportEntries().contains { $0.hasPrefix(".tmp-") && f.files($0).contains("index.html") } })
        let sent = Date()
        kill(term.process.processIdentifier, SIGTERM)
        term.process.waitUntilExit()
        #expect(Date().timeIntervalSince(sent) < 10)
        #expect(term.process.terminationReason == .exit && term.process.terminationStatus == 143, "\(term.stderr)")
        #expect(term.stderr.contains("interrupted by SIGTERM"))
        #expect(f.reportEntries().isEmpty, "\(f.reportEntries())")

        try f.write("queries/erp_orders.sql", "SELECT pk AS id, state AS status, party AS customer_id, pg_sleep(8)::text AS nap FROM sales.purchase WHERE src = 'erp'")
        let int = try RunningRecon(f, env: ["DATABASE_URL": f.url])
        Thread.sleep(forTimeInterval: 1)
        kill(int.process.processIdentifier, SIGINT)
        int.process.waitUntilExit()
        #expect(int.process.terminationReason == .exit && int.process.terminationStatus == 130, "\(int.stderr)")
        let errors = try rows(f.url, "SELECT error FROM recon.runs ORDER BY started_at").map { $0[0] }
        #expect(errors == ["interrupted by SIGTERM", "interrupted by SIGINT"], "\(errors)")

        try f.write("queries/erp_orders.sql", OtherMirror.otherQueries["erp_orders.sql"]!)
        let next = try f.recon()
        #expect(next.status == 1, "\(next.stderr)")
    }

    /// Under `--log-format json` every line of stderr is JSON: the server's warnings (their text
    /// withheld when a function raised them) and the last error line too.
    @Test func jsonLogsAreJSONWithServerNotices() throws {
        let f = try fixture(extraSQL: """
            CREATE FUNCTION sales.loud(t text) RETURNS text LANGUAGE plpgsql AS $$
            BEGIN RAISE WARNING 'odd address %', t; RETURN t; END $$;
            """)
        defer { f.cleanup() }
        try f.write("queries/erp_customers.sql", "SELECT pk AS id, sales.loud(mail) AS email, tel AS phone, cc AS country, tier FROM sales.party WHERE src = 'erp'")
        let r = try f.recon(["--log-format", "json"])
        #expect(r.status == 1, "\(r.stderr)")
        try f.write("queries/crm_orders.sql", "SELECT nonsense FROM sales.purchase")
        let failed = try f.recon(["--log-format", "json"])
        #expect(failed.status == 2)
        let lines = (r.stderr + failed.stderr).split(separator: "\n")
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not JSON: \(line)")
        }
        #expect(lines.contains { $0.contains("\"server warning\"") }, "\(r.stderr)")
        #expect(!r.stderr.contains("shop.example"), "\(r.stderr)")
    }

    @Test func versionNamesRecordLibpqAndLibphonenumber() throws {
        let r = try Binaries.run(try Binaries.directory() + "/recon", ["--version"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(r.stdout)")
        #expect(lines.first?.hasPrefix("recon ") == true && lines.first?.contains("(commit ") == true, "\(r.stdout)")
        #expect(lines.contains { $0.range(of: #"^libpq \d+\.\d+"#, options: .regularExpression) != nil }, "\(r.stdout)")
        #expect(lines.contains { $0.range(of: #"^libphonenumber \d+\.\d+"#, options: .regularExpression) != nil }, "\(r.stdout)")
        #expect(lines.contains { $0.range(of: #"^phone metadata libphonenumber \d+\.\d+\.\d+ \(\d{4}-\d\d-\d\d\), from https://pypi.org/project/phonenumbers/"#,
                                          options: .regularExpression) != nil }, "\(r.stdout)")
    }

    /// The numbering plans: named where an operator looks (check, summary.json, index.html), and a
    /// missing or damaged file stops the run with a clear error instead of judging with old plans.
    @Test func phoneMetadataIsNamedAndItsAbsenceStopsTheRun() throws {
        let f = try fixture()
        defer { f.cleanup() }
        let shipped = try Binaries.directory() + "/recon_ReconCore.resources/phone-metadata.bin"
        let header = try #require(String(data: try Data(contentsOf: URL(fileURLWithPath: shipped)).prefix(300), encoding: .isoLatin1))
        let version = try #require(header.split(separator: "\n").first { $0.hasPrefix("version ") }).dropFirst(8)

        let check = try f.recon([], "check")
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("phone metadata: libphonenumber \(version) ("), "\(check.stdout)")
        let run = try f.recon()
        #expect(run.status == 1, "\(run.stderr)")
        let entry = try #require(f.reportEntries().first)
        let plans = try #require(try f.summary(entry)["phone_metadata"] as? [String: String])
        #expect(plans["libphonenumber"] == String(version))
        let page = try String(contentsOfFile: f.reports + "/" + entry + "/index.html", encoding: .utf8)
        #expect(page.contains("phones judged with libphonenumber \(version) ("))

        // Missing: exit 2, the error names where it looked; nothing is judged.
        let missing = try f.recon(env: ["DATABASE_URL": f.url, "RECON_PHONE_METADATA": f.dir + "/none.bin"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("phone metadata not found (looked for \(f.dir)/none.bin)"), "\(missing.stderr)")
        // Damaged (one byte of the body changed): refused by its checksum.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: shipped)))
        bytes[bytes.count - 10] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: f.dir + "/damaged.bin"))
        let damaged = try f.recon([], "check", env: ["DATABASE_URL": f.url, "RECON_PHONE_METADATA": f.dir + "/damaged.bin"])
        #expect(damaged.status != 0)
        #expect(damaged.stderr.contains("damaged.bin: the phone metadata does not match its sha256 line"), "\(damaged.stderr)")
    }
}

/// recon on a terminal (a tmux pseudo-terminal, read back as a person would see it): the
/// progress line is cleared before each log line, and the phases after extraction show movement.
@Suite struct TerminalTests {
    static func tmux(_ args: String) -> Int32 { system("tmux " + args + " >/dev/null 2>&1 </dev/null") }

    static func screen(_ session: String, _ file: String) -> String {
        _ = system("tmux capture-pane -p -J -S -200 -t \(session) >'\(file)' 2>/dev/null </dev/null")
        return (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
    }

    @Test func progressAndLogLinesDoNotCollide() throws {
        let f = try fixture(extraSQL: "INSERT INTO sales.party SELECT 'crm', g, NULL, NULL, NULL, 'DE', 'x' FROM generate_series(1000, 150000) g;")
        defer { f.cleanup() }
        let session = "recon-\(UUID().uuidString.prefix(8))"
        let script = f.dir + "/run.sh"
        try """
            #!/bin/sh
            export DATABASE_URL='\(f.url)' RECON_TEST_PAUSE=publish:3
            '\(try Binaries.directory())/recon' run --config '\(f.dir)/recon.yml' --queries '\(f.dir)/queries' --reports '\(f.reports)'
            echo "EXIT=$?"
            sleep 120
            """.write(toFile: script, atomically: true, encoding: .utf8)
        try #require(Self.tmux("new-session -d -s \(session) -x 200 -y 60 'sh \(script)'") == 0, "tmux is not installed: `make test` installs it")
        defer { _ = Self.tmux("kill-session -t \(session)") }
        let shot = f.dir + "/screen.txt"
        // While the report waits to be published, the phase line ticks.
        var first = ""
        #expect(RunningRecon.await(60) { first = Self.screen(session, shot); return first.contains("writing reports… ") })
        Thread.sleep(forTimeInterval: 1)
        let second = Self.screen(session, shot)
        let ticking = { (s: String) in s.split(separator: "\n").last { $0.contains("writing reports… ") }.map(String.init) ?? "" }
        #expect(!ticking(first).isEmpty && ticking(first) != ticking(second), "\(ticking(first)) / \(ticking(second))")
        var end = ""
        #expect(RunningRecon.await(60) { end = Self.screen(session, shot); return end.contains("EXIT=") })
        #expect(end.contains("EXIT=1"), "\(end)")
        // Every log line starts on a line of its own.
        let stamp = #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (trace|debug|info|notice|warning|error)"#
        let glued = end.split(separator: "\n").filter { line in
            guard let r = line.range(of: stamp, options: .regularExpression) else { return false }
            return r.lowerBound != line.startIndex
        }
        #expect(glued.isEmpty, "\(glued)")
        #expect(end.contains("info recon: extracted"), "\(end)")
    }
}

/// `sslmode=verify-full`: a cluster of the test's own serves TLS on loopback with a certificate
/// made here (openssl) for `localhost`; recon connects with the right CA and host, and refuses a
/// wrong CA or a host the certificate does not name.
@Suite struct TLSTests {
    static func sh(_ command: String) -> Int32 { system(command + " </dev/null") }

    @Test func verifyFullChecksTheCAAndTheHostName() throws {
        let dir = try makeTemporaryDirectory("recon-tls")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tls = dir + "/tls"
        try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: true)
        let openssl = """
            cd '\(tls)' && \
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=recon-test-ca -keyout ca.key -out ca.crt && \
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout other.key -out other.crt && \
            openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr && \
            printf 'subjectAltName=DNS:localhost\\n' > san.ext && \
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.crt && \
            chmod 600 server.key && { [ "$(id -u)" -ne 0 ] || chown postgres server.key server.crt; }
            """
        try #require(Self.sh("(\(openssl)) >'\(dir)/openssl.log' 2>&1") == 0,
                     "openssl failed: \((try? String(contentsOfFile: dir + "/openssl.log", encoding: .utf8)) ?? "")")
        let port = Int.random(in: 20_000...40_000)
        let cluster = OwnCluster(dir: dir + "/pg")
        // (Its printed unix-socket address assumes port 5432; TCP is used below.)
        _ = try? cluster.start(options: "-c listen_addresses=127.0.0.1 -c port=\(port) -c ssl=on -c ssl_cert_file=\(tls)/server.crt -c ssl_key_file=\(tls)/server.key")
        defer { cluster.stop() }
        try "default_country: DE\nstatuses:\n  crm: {a: won}\n  erp: {b: paid}\n".write(toFile: dir + "/recon.yml", atomically: true, encoding: .utf8)
        func migrate(host: String, ca: String, mode: String = "verify-full") throws -> ProcessResult {
            try Binaries.run(try Binaries.directory() + "/recon", ["migrate", "--config", dir + "/recon.yml"], environment: [
                "DATABASE_URL": "host=\(host) port=\(port) user=postgres dbname=postgres sslmode=\(mode) sslrootcert=\(tls)/\(ca) connect_timeout=5"])
        }
        #expect(RunningRecon.await(20) { (try? migrate(host: "localhost", ca: "ca.crt"))?.status == 0 }, "the TLS cluster did not come up")
        let good = try migrate(host: "localhost", ca: "ca.crt")
        #expect(good.status == 0, "\(good.stderr)")
        let wrongCA = try migrate(host: "localhost", ca: "other.crt")
        #expect(wrongCA.status == 2 && wrongCA.stderr.contains("certificate verify failed"), "\(wrongCA.stderr)")
        let wrongHost = try migrate(host: "127.0.0.1", ca: "ca.crt")
        #expect(wrongHost.status == 2 && wrongHost.stderr.contains("does not match host name"), "\(wrongHost.stderr)")
        // verify-ca checks the CA but not the name: the same host is accepted.
        #expect(try migrate(host: "127.0.0.1", ca: "ca.crt", mode: "verify-ca").status == 0)
    }
}
