import ReconCore
import Testing

struct ConfigTests {
    static let good = """
    default_country: de
    order_duplicate_window: 5m
    fail_on: error
    severities:
      invalid: info
    statuses:
      crm: {"Closed Won": won, Open: open}
      erp: {PAID: paid}
      compatible:
        - [won, paid]
      owner: erp
      require_erp_order: [won]
    """

    @Test func parsesEveryKey() throws {
        let c = try ReconConfig.parse(Self.good, file: "recon.yml")
        #expect(c.defaultCountry == "DE")
        #expect(c.orderDuplicateWindowSeconds == 300)
        #expect(c.failOn == .error)
        #expect(c.severities[.invalid] == .info)
        #expect(c.statuses.crm["Closed Won"] == .won)
        #expect(c.statuses.isCompatible(.paid, .won))
        #expect(!c.statuses.isCompatible(.won, .cancelled))
        #expect(c.statuses.requireErpOrder == [.won])
    }

    @Test func plusAddressingIsAllAListOrNone() throws {
        #expect(try ReconConfig.parse("matching:\n  plus_addressing: all\n", file: "recon.yml").mailbox.plusAddressingDomains == nil)
        #expect(try ReconConfig.parse("matching:\n  plus_addressing: [Gmail.com, outlook.com]\n", file: "recon.yml").mailbox.plusAddressingDomains
                == ["gmail.com", "outlook.com"])
        #expect(try ReconConfig.parse("matching:\n  plus_addressing: []\n", file: "recon.yml").mailbox.plusAddressingDomains == [])
        #expect(ReconConfig().mailbox.plusAddressingDomains == nil)
    }

    @Test(arguments: [
        ("databse: x\n", 1, "unknown key \"databse\""),
        ("queries: q\nstatuses:\n  crm: {A: open}\n  owners: erp\n", 4, "unknown key \"statuses.owners\""),
        ("statuses:\n  crm:\n    A: opne\n", 3, "\"opne\" is not one of"),
        ("order_duplicate_window: soon\n", 1, "not a duration"),
        ("fail_on: [error]\n", 1, "must be a single value"),
        ("statuses:\n  compatible:\n    - [won]\n", 3, "exactly two"),
        ("default_country: XX\n", 1, "not an ISO 3166-1"),
        ("statuses: [1, 2]\n", 1, "must be a mapping"),
        ("queries: q\nqueries: r\n", 2, "appears twice"),
        ("a: [unclosed\n", 2, "YAML"),
        ("matching:\n  plus_addressing: some\n", 2, "all or a list of domains"),
        ("matching:\n  plus: all\n", 2, "unknown key \"matching.plus\""),
    ])
    func errorsNameTheLine(yaml: String, line: Int, message: String) {
        do {
            _ = try ReconConfig.parse(yaml, file: "recon.yml")
            Issue.record("expected an error for \(yaml)")
        } catch let error as ConfigError {
            #expect(error.file == "recon.yml")
            #expect(error.line == line, "\(error)")
            #expect(error.description.contains(message), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

struct QueryContractTests {
    @Test func acceptsCanonicalAndAttributeColumns() throws {
        let m = try QueryContract.validate(.crmCustomers, described: [("id", 25), ("email", 1043), ("segment", 25), ("updated_at", 1184)])
        #expect(m.position("id") == 0)
        #expect(m.position("email") == 1)
        #expect(m.attributes.map(\.name) == ["segment"])
    }

    @Test(arguments: [
        (Extract.crmCustomers, [("email", UInt32(25))], "crm_customers.sql: column \"id\" is required"),
        (Extract.erpOrders, [("id", UInt32(25))], "erp_orders.sql: column \"status\" is required"),
        (Extract.crmOrders, [("id", UInt32(25)), ("status", 25), ("amount", 25)], "crm_orders.sql: column \"amount\" has type text"),
        (Extract.erpCustomers, [("id", UInt32(25)), ("updated_at", 25)], "erp_customers.sql: column \"updated_at\" has type text"),
        (Extract.erpCustomers, [("id", UInt32(25)), ("id", 25)], "column \"id\" is returned twice"),
    ])
    func rejects(extract: Extract, columns: [(String, UInt32)], message: String) {
        do {
            _ = try QueryContract.validate(extract, described: columns.map { ($0.0, $0.1) })
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
