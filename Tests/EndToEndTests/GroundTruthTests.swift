import Foundation
import MirrorGen
import Postgres
import TestSupport
import Testing

/// The built `recon` against a generated mirror in the real PostgreSQL: every injected finding
/// found and nothing else, per type.
@Suite(.serialized)
struct GroundTruthTests {
    @Test func findsEveryInjectedFindingAndNothingElse() throws {
        try groundTruth(database: "e2e_truth", customers: 800, seed: 7, anomalyRate: nil)
    }

    /// A dense mirror (the bench's other profile): most customers carry a case, dealt by chance,
    /// so that cases sit next to each other in every combination the slots allow.
    @Test func findsEveryInjectedFindingOnADenseMirror() throws {
        try groundTruth(database: "e2e_truth_dense", customers: 1_500, seed: 19, anomalyRate: 0.65)
    }

    func groundTruth(database: String, customers: Int, seed: UInt64, anomalyRate: Double?) throws {
        let db = try TestDatabase.create(database)
        defer { TestDatabase.drop(db) }
        let url = try TestDatabase.url(database: db)
        let tmp = try makeTemporaryDirectory("recon-e2e")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let truth = try loadMirror(url: url, customers: customers, seed: seed, anomalyRate: anomalyRate, into: tmp)
        if let anomalyRate {
            // Over half of the customers are in some finding: the dense profile's promise.
            #expect(Set(truth.map(\.customer)).count * 2 > customers, "rate \(anomalyRate)")
        }

        let reports = tmp + "/reports"
        let root = repositoryRoot()
        let bin = try Binaries.directory()
        let migrated = try Binaries.run(bin + "/recon", ["migrate", "--config", root + "/recon.yml"], environment: ["DATABASE_URL": url])
        #expect(migrated.status == 0, "\(migrated.stderr)")
        let result = try Binaries.run(bin + "/recon", ["run", "--config", root + "/recon.yml", "--queries", root + "/queries", "--reports", reports],
                                      environment: ["DATABASE_URL": url])
        #expect(result.status == 1, "stderr: \(result.stderr)")
        let folders = try FileManager.default.contentsOfDirectory(atPath: reports)
        #expect(folders.count == 1)
        let folder = reports + "/" + (folders.first ?? "")
        let found = try findings(in: folder)

        try checkTiersAndCandidates(folder, truth: truth)
        let expected = Dictionary(grouping: truth.map(\.key), by: { String($0.split(separator: "|")[0]) })
        let got = Dictionary(grouping: found, by: { String($0.split(separator: "|")[0]) })
        for type in ["duplicate", "orphan", "missing_order", "status_mismatch", "field_mismatch", "unlinked", "conflict", "invalid"] {
            let e = expected[type] ?? [], g = got[type] ?? []
            #expect(!e.isEmpty, "the generator injects no \(type)")
            let truePositives = multisetIntersectionCount(e, g)
            let precision = g.isEmpty ? 0 : Double(truePositives) / Double(g.count)
            let recall = e.isEmpty ? 0 : Double(truePositives) / Double(e.count)
            #expect(precision == 1.0 && recall == 1.0,
                    "\(type): precision \(precision) recall \(recall); unexpected: \(Array(Set(g).subtracting(e)).sorted().prefix(5)); missed: \(Array(Set(e).subtracting(g)).sorted().prefix(5))")
        }
        // Per-type files and the summary exist; no personal data on stderr.
        for file in ["duplicates.csv", "orphans.csv", "missing_orders.csv", "status_mismatches.csv", "field_mismatches.csv",
                     "unlinked.csv", "conflicts.csv", "invalid.csv", "resolved.csv", "summary.json", "index.html"] {
            #expect(FileManager.default.fileExists(atPath: folder + "/" + file), "\(file) missing")
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/summary.json"))) as? [String: Any]
        #expect((summary?["findings_total"] as? Int) == found.count)
        #expect(!result.stderr.contains("@"))
        #expect(!result.stdout.contains("@"))
        try checkPlan(folder, url: url, truth: truth)
    }

    /// How sure each customer duplicate and unlinked pair is, and every orphan's near misses,
    /// as the generator made them.
    func checkTiersAndCandidates(_ folder: String, truth: [MirrorGenerator.Truth]) throws {
        var tiers: [String: String] = [:]           // "type|records" → tier
        var records: [String: [String]] = [:]
        var meta: [String: (type: String, entity: String, tier: String)] = [:]
        for r in parseCSV(try String(contentsOfFile: folder + "/findings.csv", encoding: .utf8)).dropFirst() {
            records[r[0], default: []].append("\(r[4]):\(r[5])")
            meta[r[0]] = (r[1], r[2], r[7])
        }
        for (id, m) in meta where m.entity == "customer" && (m.type == "duplicate" || m.type == "unlinked") {
            tiers["\(m.type)|\(records[id]!.sorted().joined(separator: " "))"] = m.tier
        }
        var expectedTiers: [String: String] = [:]
        for t in truth where t.entity == "customer" && (t.type == "duplicate" || t.type == "unlinked") {
            expectedTiers["\(t.type)|\(t.records.joined(separator: " "))"] = t.tier
        }
        #expect(Set(expectedTiers.values) == ["certain", "probable", "possible"])
        let wrongTiers = expectedTiers.filter { tiers[$0.key] != $0.value }
        #expect(wrongTiers.isEmpty, "tiers: \(wrongTiers.prefix(5).map { "\($0.key) expected \($0.value), got \(tiers[$0.key] ?? "none")" })")

        // orphans.csv: the candidates column, "system:id (why); …".
        let rows = parseCSV(try String(contentsOfFile: folder + "/orphans.csv", encoding: .utf8))
        let header = try #require(rows.first)
        let at = try #require(header.firstIndex(of: "candidates"))
        var named: [String: [String]] = [:]
        for r in rows.dropFirst() where r[1] == "customer" {
            named["\(r[2]):\(r[3])"] = r[at].isEmpty ? [] : r[at].components(separatedBy: "; ").map { String($0.prefix { $0 != " " }) }.sorted()
        }
        var expectedNamed: [String: [String]] = [:]
        for t in truth where t.type == "orphan" && t.entity == "customer" { expectedNamed[t.records[0]] = t.candidates }
        #expect(expectedNamed.values.contains { !$0.isEmpty }, "the generator makes no near miss")
        let wrong = expectedNamed.filter { named[$0.key] != $0.value }
        #expect(wrong.isEmpty, "candidates: \(wrong.prefix(5).map { "\($0.key) expected \($0.value), got \(named[$0.key] ?? [])" })")
    }

    /// Every finding that has an owner gets exactly the right action; the rest (conflicts,
    /// invalid values, duplicate and orphan orders, ERP-only customers, chargebacks) none.
    func checkPlan(_ folder: String, url: String, truth: [MirrorGenerator.Truth]) throws {
        let rows = parseCSV(try String(contentsOfFile: folder + "/findings.csv", encoding: .utf8)).dropFirst()
        var findings: [String: (type: String, entity: String, field: String, tier: String, members: [(system: String, id: String, value: String)])] = [:]
        for r in rows {
            findings[r[0], default: (r[1], r[2], r[8], r[7], [])].members.append((r[4], r[5], r[9]))
        }
        // Orphans with a near miss, from the ground truth.
        let nearMisses = Set(truth.filter { !$0.candidates.isEmpty }.map { $0.records[0] })
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/plan.json"))) as? [String: Any])
        let actions = try #require(root["actions"] as? [[String: Any]])
        let human = try #require(root["needs_human"] as? [[String: Any]])
        var byFinding: [String: [[String: Any]]] = [:]
        for a in actions { for id in a["finding_ids"] as! [String] { byFinding[id, default: []].append(a) } }
        let humanIds = Set(human.map { $0["finding_id"] as! String })
        func ops(_ id: String) -> [String] {
            (byFinding[id] ?? []).map { "\($0["operation"]!) \($0["system"]!):\($0["record_id"]!) \($0["field"]!)" }.sorted()
        }
        #expect(!findings.isEmpty)
        for (id, f) in findings {
            let m = f.members
            let expected: [String]?     // nil: a human decides
            switch (f.type, f.entity) {
            case ("duplicate", "customer") where f.tier == "possible", ("unlinked", "customer") where f.tier == "possible":
                expected = nil     // one weak attribute: shown, never acted on
            case ("duplicate", "customer"):
                #expect(byFinding[id]?.allSatisfy { ($0["tier"] as? String) == (f.tier == "probable" ? "probable" : nil) } == true,
                        "\(id): a merge on \(f.tier) evidence is marked \(String(describing: byFinding[id]?.first?["tier"]))")
                let records = Set(m.map { "\($0.system):\($0.id)" })
                let merges = byFinding[id] ?? []
                #expect(merges.count == m.count - 1 && merges.allSatisfy { $0["operation"] as? String == "merge" }, "\(id): \(ops(id))")
                let survivor = merges.first?["new_value"] as? String ?? ""
                #expect(records.contains("\(m[0].system):\(survivor)"), "\(id): survivor \(survivor)")
                #expect(Set(merges.map { "\($0["system"]!):\($0["record_id"]!)" }) == records.subtracting(["\(m[0].system):\(survivor)"]))
                continue
            case ("unlinked", _):
                expected = m.map { "link \($0.system):\($0.id) external_id" }.sorted()
                #expect(byFinding[id]?.allSatisfy { ($0["tier"] as? String) == (f.tier == "probable" ? "probable" : nil) } == true,
                        "\(id): a link on \(f.tier) evidence is marked \(String(describing: byFinding[id]?.first?["tier"]))")
            case ("orphan", "customer"):
                // Never a create for a customer that may exist on the other side already.
                expected = m[0].system == "crm" && !nearMisses.contains("crm:\(m[0].id)") ? ["create erp:\(m[0].id) "] : nil
            case ("missing_order", "order"):
                expected = ["create erp:\(m[0].id) "]
            case ("status_mismatch", "order"):
                let erp = m.first { $0.system == "erp" }!.value, crm = m.first { $0.system == "crm" }!
                expected = erp == "CANCELLED" ? ["update_status crm:\(crm.id) status"] : nil   // no CRM stage for a chargeback
            case ("field_mismatch", "customer"):
                let erp = m.first { $0.system == "erp" }!
                expected = ["update_field erp:\(erp.id) \(f.field)"]
                #expect(byFinding[id]?.allSatisfy { ($0["tier"] as? String) == (f.tier == "probable" ? "probable" : nil) } == true,
                        "\(id): an update of a pair matched on \(f.tier) evidence is marked \(String(describing: byFinding[id]?.first?["tier"]))")
            case ("field_mismatch", "order"):
                let crm = m.first { $0.system == "crm" }!
                expected = ["update_field crm:\(crm.id) \(f.field)"]
            default:
                expected = nil      // conflict, invalid, duplicate order, orphan order
            }
            if let expected {
                #expect(ops(id) == expected, "\(f.type) \(f.entity) \(id): \(ops(id))")
                #expect(!humanIds.contains(id), "\(id) has an action and is also left to a human")
            } else {
                #expect(ops(id).isEmpty, "\(f.type) \(f.entity) \(id) should get no action: \(ops(id))")
                #expect(humanIds.contains(id), "\(f.type) \(f.entity) \(id) is not listed for a human")
            }
        }
        // recon batch show tells the approver which actions rest on probable matches.
        let probable = actions.filter { ($0["tier"] as? String) == "probable" }
        #expect(!probable.isEmpty, "the generated mirror gives no action on a probable match")
        let show = try Binaries.run(try Binaries.directory() + "/recon", ["batch", "show", "B-" + (folder as NSString).lastPathComponent,
                                                                           "--limit", "100000", "--config", repositoryRoot() + "/recon.yml"],
                                    environment: ["DATABASE_URL": url])
        #expect(show.stdout.contains("\(probable.count) of the actions rest on probable matches"), "\(show.stdout.prefix(600)) \(show.stderr)")
        #expect(show.stdout.components(separatedBy: "PROBABLE MATCH").count - 1 == probable.count)
        // The batch is registered as pending with the plan file's SHA-256.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/plan.json"))
        let shasum = try Binaries.run("/usr/bin/sha256sum", [folder + "/plan.json"])
        let recorded = try Connection(conninfo: url).query("SELECT plan_sha256, status, actions FROM recon.batches")
        #expect(recorded.count == 1 && recorded[0][1] == "pending" && recorded[0][2] == String(actions.count))
        #expect(shasum.stdout.hasPrefix(recorded.first?[0] ?? "-"), "\(shasum.stdout) vs \(recorded)")
        #expect(!bytes.isEmpty)
    }

    @Test func findingIdsAreStableAcrossRuns() throws {
        let db = try TestDatabase.create("e2e_stable")
        defer { TestDatabase.drop(db) }
        let url = try TestDatabase.url(database: db)
        let tmp = try makeTemporaryDirectory("recon-e2e")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        _ = try loadMirror(url: url, customers: 300, seed: 11, into: tmp)
        // Physical row order changes between the runs; ids must not.
        let root = repositoryRoot()
        let bin = try Binaries.directory()
        let args = ["run", "--config", root + "/recon.yml", "--queries", root + "/queries", "--reports", tmp + "/reports"]
        _ = try Binaries.run(bin + "/recon", ["migrate", "--config", root + "/recon.yml"], environment: ["DATABASE_URL": url])
        let first = try Binaries.run(bin + "/recon", args, environment: ["DATABASE_URL": url])
        try psql(url, command: "CLUSTER erp.customers USING customers_pkey; UPDATE crm.contacts SET modified_at = modified_at")
        let second = try Binaries.run(bin + "/recon", args, environment: ["DATABASE_URL": url])
        #expect(first.status == 1 && second.status == 1)
        let folders = try FileManager.default.contentsOfDirectory(atPath: tmp + "/reports").sorted()
        try #require(folders.count == 2)
        let a = try ids(in: tmp + "/reports/" + folders[0]), b = try ids(in: tmp + "/reports/" + folders[1])
        #expect(!a.isEmpty)
        #expect(a == b)
    }

    /// Generates a mirror, loads it with psql, and returns the ground truth.
    /// Every speed-only path off (`--no-fast-paths`: libphonenumber for every phone, one
    /// connection, tables scanned instead of matching's index) gives byte-for-byte the same
    /// findings.csv, apart from the three lifecycle columns that depend on the runs before, and
    /// the same plan.csv.
    @Test func fastAndSlowPathsGiveTheSameFindings() throws {
        try withGeneratedMirror("e2e_paths", customers: 1_200, seed: 11) { url, tmp in try fastAndSlow(url: url, tmp: tmp) }
    }

    func fastAndSlow(url: String, tmp: String) throws {
        // Phones libphonenumber must answer itself sit beside the fast path's shapes.
        try psql(url, command: """
            UPDATE crm.contacts SET phone_number = phone_number || ' ext. 7' WHERE contact_id LIKE '%3';
            UPDATE erp.customers SET tel = 'tel:' || replace(tel, ' ', '-') WHERE tel LIKE '+%' AND cust_no LIKE '%5';
            """)
        let root = repositoryRoot()
        let bin = try Binaries.directory()
        let env = ["DATABASE_URL": url]
        #expect(try Binaries.run(bin + "/recon", ["migrate", "--config", root + "/recon.yml"], environment: env).status == 0)
        // The slow run records its night in a state database of its own, so that it plans its
        // whole batch too (on the fast run's state it would plan the pending batch again).
        let slowState = try TestDatabase.create("e2e_paths_slow_state")
        defer { TestDatabase.drop(slowState) }
        let slowStateURL = try TestDatabase.url(database: slowState)
        #expect(try Binaries.run(bin + "/recon", ["migrate", "--config", root + "/recon.yml", "--state-database", slowStateURL],
                                 environment: env).status == 0)
        var files: [[String]] = []
        var plans: [String] = []
        for (name, extra) in [("fast", [String]()), ("slow", ["--no-fast-paths", "--state-database", slowStateURL])] {
            let reports = tmp + "/" + name
            let r = try Binaries.run(bin + "/recon", ["run", "--config", root + "/recon.yml", "--queries", root + "/queries",
                                                       "--reports", reports, "--log-format", "json"] + extra, environment: env)
            #expect(r.status == 1, "\(name): \(r.stderr)")
            if name == "fast" {
                #expect(!r.stderr.contains("\"phones_fast_path\":\"0\"") && !r.stderr.contains("\"phones_libphonenumber\":\"0\""),
                        "the fast run should use both phone paths: \(r.stderr)")
            } else {
                #expect(r.stderr.contains("\"phones_fast_path\":\"0\""), "the slow run used the fast path: \(r.stderr)")
            }
            let folder = reports + "/" + (try FileManager.default.contentsOfDirectory(atPath: reports).first ?? "")
            let text = try String(contentsOfFile: folder + "/findings.csv", encoding: .utf8)
            plans.append(try String(contentsOfFile: folder + "/plan.csv", encoding: .utf8))
            files.append(text.components(separatedBy: "\r\n").map { line in
                line.split(separator: ",", omittingEmptySubsequences: false).dropLast(3).joined(separator: ",")
            })
        }
        #expect(files[0].count > 100)
        #expect(files[0].count == files[1].count)
        let differing = zip(files[0], files[1]).first { $0 != $1 }
        #expect(differing == nil, "first difference: \(String(describing: differing))")
        // The plan is built from the records the findings name, found through matching's index
        // or by scanning the tables: the same actions either way.
        #expect(plans[0].count > 100 && plans[0] == plans[1])
    }

    /// A fresh database holding a generated mirror and a temporary folder, both removed afterwards.
    func withGeneratedMirror(_ name: String, customers: Int, seed: UInt64, _ body: (_ url: String, _ tmp: String) throws -> Void) throws {
        let db = try TestDatabase.create(name)
        defer { TestDatabase.drop(db) }
        let url = try TestDatabase.url(database: db)
        let tmp = try makeTemporaryDirectory("recon-" + name)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        _ = try loadMirror(url: url, customers: customers, seed: seed, into: tmp)
        try body(url, tmp)
    }

    func loadMirror(url: String, customers: Int, seed: UInt64, anomalyRate: Double? = nil, into tmp: String) throws -> [MirrorGenerator.Truth] {
        let sqlPath = tmp + "/mirror.sql"
        _ = FileManager.default.createFile(atPath: sqlPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: sqlPath))
        let truth = MirrorGenerator(customers: customers, seed: seed, anomalyRate: anomalyRate).generate { handle.write(Data($0.utf8)) }
        try handle.close()
        try psql(url, file: sqlPath)
        return truth
    }

    /// Findings as "type|entity|field|sorted records", one entry per finding id.
    func findings(in folder: String) throws -> [String] {
        let rows = parseCSV(try String(contentsOfFile: folder + "/findings.csv", encoding: .utf8))
        #expect(rows.first == ["finding_id", "type", "entity", "severity", "system", "record_id", "matched_on", "tier", "field", "value",
                               "detail", "status", "first_seen", "nights_open"])
        var byId: [String: (key: String, records: [String])] = [:]
        for r in rows.dropFirst() {
            let key = "\(r[1])|\(r[2])|\(r[8])"
            byId[r[0], default: (key, [])].records.append("\(r[4]):\(r[5])")
        }
        return byId.values.map { "\($0.key)|\($0.records.sorted().joined(separator: " "))" }
    }

    func ids(in folder: String) throws -> Set<String> {
        Set(parseCSV(try String(contentsOfFile: folder + "/findings.csv", encoding: .utf8)).dropFirst().map { $0[0] })
    }

    func multisetIntersectionCount(_ a: [String], _ b: [String]) -> Int {
        var counts: [String: Int] = [:]
        for x in a { counts[x, default: 0] += 1 }
        var n = 0
        for x in b where (counts[x] ?? 0) > 0 { counts[x]! -= 1; n += 1 }
        return n
    }
}
