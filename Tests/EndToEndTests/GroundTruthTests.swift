import Foundation
import MirrorGen
import TestSupport
import Testing

/// The built `recon` against a generated mirror in the real PostgreSQL: every injected finding
/// found and nothing else, per type.
@Suite(.serialized)
struct GroundTruthTests {
    @Test func findsEveryInjectedFindingAndNothingElse() throws {
        let db = try TestDatabase.create("e2e_truth")
        defer { TestDatabase.drop(db) }
        let url = try TestDatabase.url(database: db)
        let tmp = try makeTemporaryDirectory("recon-e2e")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let truth = try loadMirror(url: url, customers: 800, seed: 7, into: tmp)

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
    func loadMirror(url: String, customers: Int, seed: UInt64, into tmp: String) throws -> [MirrorGenerator.Truth] {
        let sqlPath = tmp + "/mirror.sql"
        _ = FileManager.default.createFile(atPath: sqlPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: sqlPath))
        let truth = MirrorGenerator(customers: customers, seed: seed).generate { handle.write(Data($0.utf8)) }
        try handle.close()
        try psql(url, file: sqlPath)
        return truth
    }

    /// Findings as "type|entity|field|sorted records", one entry per finding id.
    func findings(in folder: String) throws -> [String] {
        let rows = parseCSV(try String(contentsOfFile: folder + "/findings.csv", encoding: .utf8))
        #expect(rows.first == ["finding_id", "type", "entity", "severity", "system", "record_id", "matched_on", "field", "value",
                               "detail", "status", "first_seen", "nights_open"])
        var byId: [String: (key: String, records: [String])] = [:]
        for r in rows.dropFirst() {
            let key = "\(r[1])|\(r[2])|\(r[7])"
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
