import Foundation
public import Postgres
public import ReconCore
public import Logging

/// An error that stops a run (exit code 2). Messages name files, lines, columns, queries and
/// SQLSTATEs, never a record's values.
public struct ReconError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The user's four query files, read from the queries folder.
public struct QueryFiles: Sendable {
    public var directory: String
    public var sql: [Extract: String]

    /// - Throws: `ReconError` naming the missing or empty file.
    public static func load(directory: String) throws -> QueryFiles {
        var sql: [Extract: String] = [:]
        for extract in Extract.allCases {
            let path = directory + "/" + extract.fileName
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ReconError("\(path): query file not found (the query contract needs \(Extract.allCases.map(\.fileName).joined(separator: ", ")))")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ReconError("\(path): not valid UTF-8")
            }
            var body = Substring(text)
            while let last = body.last, last.isWhitespace || last == ";" { body = body.dropLast() }
            if body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ReconError("\(path): query file is empty")
            }
            sql[extract] = String(body)
        }
        return QueryFiles(directory: directory, sql: sql)
    }

    public func path(_ extract: Extract) -> String { directory + "/" + extract.fileName }
}

/// Reads the four extracts from one snapshot of the mirror.
public struct MirrorReader {
    public let connection: Connection
    public let queries: QueryFiles
    public var logger: Logger
    public var progress: Progress?

    public init(connection: Connection, queries: QueryFiles, logger: Logger, progress: Progress? = nil) {
        self.connection = connection
        self.queries = queries
        self.logger = logger
        self.progress = progress
    }

    /// Opens a REPEATABLE READ READ ONLY transaction, so every extract sees one snapshot.
    /// - Returns: the snapshot (`pg_current_snapshot()`), recorded with the run.
    @discardableResult
    public func beginSnapshot() throws -> String? {
        do {
            try connection.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 0")
            try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return try connection.query("SELECT pg_current_snapshot()::text").first?.first.flatMap { $0 }
        } catch let error as PostgresError {
            throw ReconError("cannot start the snapshot transaction: \(error)")
        }
    }

    public func endSnapshot() throws {
        do { try connection.execute("COMMIT") } catch let error as PostgresError {
            throw ReconError("cannot end the snapshot transaction: \(error)")
        }
    }

    /// Asks the server for each query's columns and checks them against the contract.
    /// - Throws: `ReconError` naming the query file (and the SQLSTATE, or the column).
    public func describe(_ extract: Extract) throws -> QueryContract.Mapping {
        let path = queries.path(extract)
        do {
            let columns = try connection.describe(queries.sql[extract]!)
            return try QueryContract.validate(extract, described: columns.map { ($0.name, $0.typeOID) })
        } catch let error as PostgresError {
            throw ReconError("\(path): \(error)")
        } catch let error as ContractError {
            throw ReconError("\(queries.directory)/\(error)")
        }
    }

    /// Reads all four extracts.
    public func read(timing: (Extract, Int, Double) -> Void = { _, _, _ in }) throws -> Mirror {
        var mirror = Mirror()
        for extract in Extract.allCases {
            let mapping = try describe(extract)
            let started = Date()
            let path = queries.path(extract)
            do {
                switch extract.entity {
                case .customer:
                    let table = try readCustomers(extract, mapping)
                    if extract == .crmCustomers { mirror.crmCustomers = table } else { mirror.erpCustomers = table }
                case .order:
                    let table = try readOrders(extract, mapping)
                    if extract == .crmOrders { mirror.crmOrders = table } else { mirror.erpOrders = table }
                }
            } catch let error as PostgresError {
                throw ReconError("\(path): \(error)")
            }
            let seconds = Date().timeIntervalSince(started)
            progress?.clear()
            timing(extract, mirror.count(extract), seconds)
            logger.info("extracted", metadata: ["query": "\(extract.fileName)", "rows": "\(mirror.count(extract))",
                                                "seconds": "\(String(format: "%.3f", seconds))"])
        }
        return mirror
    }

    /// Re-reads only the records whose `column` (id or external_id) is one of `values`, through
    /// the same query file (wrapped as a subquery, values as a bind parameter).
    public func readSome(_ extract: Extract, column: String, values: [String]) throws -> Mirror {
        var mirror = Mirror()
        guard !values.isEmpty else { return mirror }
        let mapping = try describe(extract)
        guard mapping.position(column) != nil else { return mirror }
        let literal = "{" + values.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
        let sql = "SELECT * FROM (\n" + queries.sql[extract]! + "\n) recon_q WHERE btrim(recon_q.\(column)::text) = ANY($1::text[])"
        let rows: [[String?]]
        do { rows = try connection.query(sql, [literal]) } catch let error as PostgresError {
            throw ReconError("\(queries.path(extract)): \(error)")
        }
        let build = RecordBuilder(mapping)
        switch extract.entity {
        case .customer:
            let t = Table<CustomerRecord>(attributeNames: mapping.attributes.map(\.name),
                                          records: rows.enumerated().map { build.customer($0.element, row: $0.offset + 1) })
            if extract == .crmCustomers { mirror.crmCustomers = t } else { mirror.erpCustomers = t }
        case .order:
            let t = Table<OrderRecord>(attributeNames: mapping.attributes.map(\.name),
                                       records: rows.enumerated().map { build.order($0.element, row: $0.offset + 1) })
            if extract == .crmOrders { mirror.crmOrders = t } else { mirror.erpOrders = t }
        }
        return mirror
    }

    private func readCustomers(_ extract: Extract, _ m: QueryContract.Mapping) throws -> Table<CustomerRecord> {
        let build = RecordBuilder(m)
        var table = Table<CustomerRecord>(attributeNames: m.attributes.map(\.name), canonicalColumns: Set(m.index.keys))
        let started = Date()
        try connection.copyOut(select: queries.sql[extract]!) { row in
            if table.records.count & 0xFFF == 0 { progress?.update("extracting \(extract.rawValue)", rows: table.records.count, started: started) }
            table.records.append(build.customer(row.fields, row: table.records.count + 1))
        }
        return table
    }

    private func readOrders(_ extract: Extract, _ m: QueryContract.Mapping) throws -> Table<OrderRecord> {
        let build = RecordBuilder(m)
        var table = Table<OrderRecord>(attributeNames: m.attributes.map(\.name), canonicalColumns: Set(m.index.keys))
        let started = Date()
        try connection.copyOut(select: queries.sql[extract]!) { row in
            if table.records.count & 0xFFF == 0 { progress?.update("extracting \(extract.rawValue)", rows: table.records.count, started: started) }
            table.records.append(build.order(row.fields, row: table.records.count + 1))
        }
        return table
    }
}

/// Turns one result row into a canonical record, by the positions the query contract found.
struct RecordBuilder {
    let id, status, ext, email, phone, name, country, customer, amount, currency, created, updated: Int?
    let attributes: [Int]

    init(_ m: QueryContract.Mapping) {
        id = m.position("id"); status = m.position("status"); ext = m.position("external_id")
        email = m.position("email"); phone = m.position("phone"); name = m.position("name"); country = m.position("country")
        customer = m.position("customer_id"); amount = m.position("amount"); currency = m.position("currency")
        created = m.position("created_at"); updated = m.position("updated_at")
        attributes = m.attributes.map(\.index)
    }

    func customer(_ f: [String?], row: Int) -> CustomerRecord {
        CustomerRecord(id: id.flatMap { f[$0] } ?? "", externalId: ext.flatMap { f[$0] }, email: email.flatMap { f[$0] },
                       phone: phone.flatMap { f[$0] }, name: name.flatMap { f[$0] }, country: country.flatMap { f[$0] },
                       updatedAt: updated.flatMap { f[$0] }, attributes: attributes.map { f[$0] }, row: row)
    }

    func order(_ f: [String?], row: Int) -> OrderRecord {
        OrderRecord(id: id.flatMap { f[$0] } ?? "", status: status.flatMap { f[$0] }, externalId: ext.flatMap { f[$0] },
                    customerId: customer.flatMap { f[$0] }, amount: amount.flatMap { f[$0] }, currency: currency.flatMap { f[$0] },
                    createdAt: created.flatMap { f[$0] }, updatedAt: updated.flatMap { f[$0] }, attributes: attributes.map { f[$0] },
                    row: row)
    }
}
