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
        guard let position = mapping.position(column) else { return mirror }
        let literal = "{" + values.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
        let sql = "SELECT * FROM (\n" + queries.sql[extract]! + "\n) recon_q WHERE btrim(recon_q.\(column)::text) = ANY($1::text[])"
        let rows: [[String?]]
        do { rows = try connection.query(sql, [literal]) } catch let error as PostgresError {
            throw ReconError("\(queries.path(extract)): \(error)")
        }
        _ = position
        let m = mapping
        func col(_ row: [String?], _ name: String) -> String? { m.position(name).flatMap { row[$0] } }
        switch extract.entity {
        case .customer:
            var t = Table<CustomerRecord>(attributeNames: m.attributes.map(\.name))
            for (i, row) in rows.enumerated() {
                t.records.append(CustomerRecord(id: col(row, "id") ?? "", externalId: col(row, "external_id"), email: col(row, "email"),
                                                phone: col(row, "phone"), name: col(row, "name"), country: col(row, "country"),
                                                updatedAt: col(row, "updated_at"), attributes: m.attributes.map { row[$0.index] }, row: i + 1))
            }
            if extract == .crmCustomers { mirror.crmCustomers = t } else { mirror.erpCustomers = t }
        case .order:
            var t = Table<OrderRecord>(attributeNames: m.attributes.map(\.name))
            for (i, row) in rows.enumerated() {
                t.records.append(OrderRecord(id: col(row, "id") ?? "", status: col(row, "status"), externalId: col(row, "external_id"),
                                             customerId: col(row, "customer_id"), amount: col(row, "amount"), currency: col(row, "currency"),
                                             createdAt: col(row, "created_at"), updatedAt: col(row, "updated_at"),
                                             attributes: m.attributes.map { row[$0.index] }, row: i + 1))
            }
            if extract == .crmOrders { mirror.crmOrders = t } else { mirror.erpOrders = t }
        }
        return mirror
    }

    private func readCustomers(_ extract: Extract, _ m: QueryContract.Mapping) throws -> Table<CustomerRecord> {
        let id = m.position("id")!
        let ext = m.position("external_id"), email = m.position("email"), phone = m.position("phone")
        let name = m.position("name"), country = m.position("country"), updated = m.position("updated_at")
        let attrs = m.attributes.map(\.index)
        var table = Table<CustomerRecord>(attributeNames: m.attributes.map(\.name), canonicalColumns: Set(m.index.keys))
        let started = Date()
        try connection.copyOut(select: queries.sql[extract]!) { row in
            if table.records.count & 0xFFF == 0 { progress?.update("extracting \(extract.rawValue)", rows: table.records.count, started: started) }
            table.records.append(CustomerRecord(
                id: row[id] ?? "", externalId: ext.flatMap { row[$0] }, email: email.flatMap { row[$0] },
                phone: phone.flatMap { row[$0] }, name: name.flatMap { row[$0] }, country: country.flatMap { row[$0] },
                updatedAt: updated.flatMap { row[$0] }, attributes: attrs.map { row[$0] },
                row: table.records.count + 1))
        }
        return table
    }

    private func readOrders(_ extract: Extract, _ m: QueryContract.Mapping) throws -> Table<OrderRecord> {
        let id = m.position("id")!, status = m.position("status")!
        let ext = m.position("external_id"), customer = m.position("customer_id"), amount = m.position("amount")
        let currency = m.position("currency"), created = m.position("created_at"), updated = m.position("updated_at")
        let attrs = m.attributes.map(\.index)
        var table = Table<OrderRecord>(attributeNames: m.attributes.map(\.name), canonicalColumns: Set(m.index.keys))
        let started = Date()
        try connection.copyOut(select: queries.sql[extract]!) { row in
            if table.records.count & 0xFFF == 0 { progress?.update("extracting \(extract.rawValue)", rows: table.records.count, started: started) }
            table.records.append(OrderRecord(
                id: row[id] ?? "", status: row[status], externalId: ext.flatMap { row[$0] },
                customerId: customer.flatMap { row[$0] }, amount: amount.flatMap { row[$0] },
                currency: currency.flatMap { row[$0] }, createdAt: created.flatMap { row[$0] },
                updatedAt: updated.flatMap { row[$0] }, attributes: attrs.map { row[$0] },
                row: table.records.count + 1))
        }
        return table
    }
}
