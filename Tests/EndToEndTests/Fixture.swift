import Foundation
import TestSupport
import Testing

/// A tiny mirror of another shape: one table per entity for both systems, integer keys.
enum OtherMirror {
    static let otherSchema = """
CREATE SCHEMA sales;
CREATE TABLE sales.party (src text, pk int, counterpart int, mail text, tel text, cc text, tier text);
CREATE TABLE sales.purchase (src text, pk int, other_pk int, party int, state text, total numeric, cur text, at timestamptz);
INSERT INTO sales.party VALUES
  ('crm', 1, 101, 'ana@shop.example', '+49 151 11111111', 'DE', 'gold'),
  ('crm', 2, NULL, 'ben@shop.example', NULL, 'DE', 'gold'),
  ('erp', 101, NULL, 'ana@shop.example', '0151 11111111', 'DE', 'gold'),
  ('erp', 102, NULL, 'BEN@shop.example', NULL, 'DE', 'gold');
INSERT INTO sales.purchase VALUES
  ('crm', 7, 70, 1, 'booked', 99.50, 'EUR', '2026-03-01 10:00+00'),
  ('erp', 70, NULL, 101, 'void', 99.5, 'EUR', '2026-03-01 10:05+00');
"""
    static let otherQueries: [String: String] = [
    "crm_customers.sql": "SELECT pk::text AS id, counterpart AS external_id, mail AS email, tel AS phone, cc AS country, tier FROM sales.party WHERE src = 'crm'",
    "erp_customers.sql": "SELECT pk AS id, mail AS email, tel AS phone, cc AS country, tier FROM sales.party WHERE src = 'erp';",
    "crm_orders.sql": "SELECT pk AS id, state AS status, other_pk AS external_id, party AS customer_id, total AS amount, cur AS currency, at AS created_at FROM sales.purchase WHERE src = 'crm'",
    "erp_orders.sql": "SELECT pk AS id, state AS status, party AS customer_id, total AS amount, cur AS currency, at AS created_at FROM sales.purchase WHERE src = 'erp' -- trailing comment",
]
    static let otherConfig = """
default_country: DE
statuses:
  crm: {booked: won, lost: lost}
  erp: {ok: paid, void: cancelled}
  compatible: [[won, paid]]
  require_erp_order: [won]
"""
}

struct Fixture {
    let db: String
    let url: String
    let dir: String
    func cleanup() {
        TestDatabase.drop(db)
        try? FileManager.default.removeItem(atPath: dir)
    }
    var reports: String { dir + "/reports" }

    func recon(_ args: [String] = [], _ command: String = "run", env: [String: String]? = nil) throws -> ProcessResult {
        try Binaries.run(try Binaries.directory() + "/recon",
                         [command, "--config", dir + "/recon.yml", "--queries", dir + "/queries", "--reports", reports] + args,
                         environment: env ?? ["DATABASE_URL": url])
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    }

    /// Report folders, including hidden temporary ones.
    func reportEntries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: reports)) ?? []).sorted()
    }

    /// The files of report folder `entry`.
    func files(_ entry: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: reports + "/" + entry)) ?? [])
    }

    func summary(_ entry: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: reports + "/" + entry + "/summary.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// - Parameter migrate: false leaves `recon migrate` to the test (to run it as another role).
func fixture(config: String? = nil, extraSQL: String = "", migrate: Bool = true) throws -> Fixture {
    let db = try TestDatabase.create("e2e_other")
    let url = try TestDatabase.url(database: db)
    try psql(url, command: OtherMirror.otherSchema + extraSQL)
    let dir = try makeTemporaryDirectory("recon-other")
    try FileManager.default.createDirectory(atPath: dir + "/queries", withIntermediateDirectories: true)
    let f = Fixture(db: db, url: url, dir: dir)
    for (name, sql) in OtherMirror.otherQueries { try f.write("queries/" + name, sql) }
    try f.write("recon.yml", config ?? OtherMirror.otherConfig)
    if migrate {
        let migrated = try f.recon([], "migrate")
        try #require(migrated.status == 0, "\(migrated.stderr)")
    }
    return f
}


/// A page rendered by headless chromium: its screenshot (PNG) and the DOM it built.
func renderInChromium(_ page: String, workDirectory dir: String, size: String = "1280,1400") throws -> (png: Data, dom: String) {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    let browser = try #require(chromium, "chromium is not installed: `make test` installs it (RECON_BOOTSTRAP_TEST=1 scripts/bootstrap.sh)")
    let shot = dir + "/page-\(UUID().uuidString).png"
    let args = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=" + size,
                "--user-data-dir=" + dir + "/chromium"]
    let r = try Binaries.run(browser, args + ["--screenshot=" + shot, "file://" + page])
    #expect(r.status == 0, "\(r.stderr)")
    let png = try Data(contentsOf: URL(fileURLWithPath: shot))
    let dom = try Binaries.run(browser, args + ["--dump-dom", "file://" + page])
    return (png, dom.stdout)
}
