import Foundation
public import Postgres
public import ReconCore
public import Logging

/// The user's four query files, read from the queries folder.
public struct QueryFiles: Sendable {
    public var directory: String
    public var sql: [Extract: String]

    /// - Throws: `PipelineError` naming the missing or empty file.
    public static func load(directory: String) throws -> QueryFiles {
        var sql: [Extract: String] = [:]
        for extract in Extract.allCases {
            let path = directory + "/" + extract.fileName
            guard let data = FileManager.default.contents(atPath: path) else {
                throw PipelineError.query("\(path): query file not found (the query contract needs \(Extract.allCases.map(\.fileName).joined(separator: ", ")))")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw PipelineError.query("\(path): not valid UTF-8")
            }
            var body = Substring(text)
            while let last = body.last, last.isWhitespace || last == ";" { body = body.dropLast() }
            if body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw PipelineError.query("\(path): query file is empty")
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
            throw PipelineError.mirror("cannot start the snapshot transaction: \(error)")
        }
    }

    /// Exports this transaction's snapshot (`pg_export_snapshot()`) and makes `other` read the
    /// same one (`SET TRANSACTION SNAPSHOT`, as `pg_dump -j` does).
    public func joinSnapshot(_ other: Connection) throws {
        do {
            guard let id = try connection.query("SELECT pg_export_snapshot()").first?.first.flatMap({ $0 }),
                  !id.isEmpty, id.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 70) || $0 == 45 }) else {
                throw PipelineError.mirror("the server returned no usable snapshot id")
            }
            try other.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 0")
            try other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try other.execute("SET TRANSACTION SNAPSHOT '\(id)'")
        } catch let error as PostgresError {
            throw PipelineError.mirror("cannot share the snapshot with a second connection: \(error)")
        }
    }

    public func endSnapshot() throws {
        do { try connection.execute("COMMIT") } catch let error as PostgresError {
            throw PipelineError.mirror("cannot end the snapshot transaction: \(error)")
        }
    }

    /// Asks the server for each query's columns and checks them against the contract.
    /// - Throws: `PipelineError` naming the query file (and the SQLSTATE, or the column).
    public func describe(_ extract: Extract) throws -> QueryContract.Mapping {
        let path = queries.path(extract)
        do {
            let columns = try connection.describe(queries.sql[extract]!)
            return try QueryContract.validate(extract, described: columns.map { ($0.name, $0.typeOID) })
        } catch let error as PostgresError {
            throw PipelineError.query("\(path): \(error)")
        } catch let error as ContractError {
            throw PipelineError.query("\(queries.directory)/\(error)")
        }
    }

    /// What a query would do, from its plan (`EXPLAIN`, never executed): whether it modifies data
    /// anywhere (a `DELETE … RETURNING`, a data-modifying `WITH`), and the tables it reads.
    public func planShape(_ extract: Extract) throws -> (modifies: Bool, tables: Set<String>) {
        let rows: [[String?]]
        do { rows = try connection.query("EXPLAIN (FORMAT JSON, VERBOSE) " + queries.sql[extract]!) } catch let error as PostgresError {
            throw PipelineError.query("\(queries.path(extract)): \(error)")
        }
        guard let text = rows.first?.first ?? nil, let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else {
            throw PipelineError.query("\(queries.path(extract)): the server returned no plan")
        }
        var modifies = false
        var tables: Set<String> = []
        func walk(_ node: Any) {
            if let list = node as? [Any] { list.forEach(walk); return }
            guard let object = node as? [String: Any] else { return }
            if object["Node Type"] as? String == "ModifyTable" { modifies = true }
            if let relation = object["Relation Name"] as? String {
                func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
                tables.insert(((object["Schema"] as? String).map { quoted($0) + "." } ?? "") + quoted(relation))
            }
            for value in object.values { walk(value) }
        }
        walk(json)
        return (modifies, tables)
    }

    /// Reads all four extracts on this connection, one after the other.
    public func read() throws -> Mirror {
        var mirror = Mirror()
        for extract in Extract.allCases { try readExtract(extract, on: connection, progress: progress, into: &mirror) }
        return mirror
    }

    /// Reads the four extracts on two connections at once, `second` having joined this one's
    /// snapshot (`joinSnapshot`). Each connection takes the next extract not yet taken, orders
    /// (usually the larger) first, so the one that finishes early takes more and both end at
    /// about the same time. Both cores decode rows while the server sends them.
    /// - Parameter normalising: offered each customer table as soon as it is read. A connection
    ///   with no extract left starts normalising them on a thread of its own until the other
    ///   connection is done too (that thread finishes its piece while matching begins).
    public func read(parallelWith second: Connection, normalising: CustomerNormalising? = nil) throws -> Mirror {
        let box = ParallelBox(reader: self, connections: [connection, second],
                              queue: [.crmOrders, .erpOrders, .crmCustomers, .erpCustomers])
        Engine.forEach(2) { k in
            var part = Mirror()
            do {
                while let extract = box.next(k) {
                    // Only the first thread draws progress (the terminal line is not shared).
                    try box.reader.readExtract(extract, on: box.connections[k], progress: k == 0 ? box.reader.progress : nil, into: &part)
                    switch extract {
                    case .crmCustomers: normalising?.offer(.crm, part.crmCustomers.records)
                    case .erpCustomers: normalising?.offer(.erp, part.erpCustomers.records)
                    case .crmOrders, .erpOrders: break
                    }
                }
                if box.set(k, .success(part)), let normalising {
                    Engine.start("recon-normalise", stackSize: Engine.matchingStack) { normalising.help(while: { !box.allDone }) }
                }
            } catch {
                box.set(k, .failure(error))
            }
        }
        var mirror = Mirror()
        for k in 0..<2 {
            let part = try box.result(k).get()
            for extract in box.taken(by: k) {
                switch extract {
                case .crmCustomers: mirror.crmCustomers = part.crmCustomers
                case .erpCustomers: mirror.erpCustomers = part.erpCustomers
                case .crmOrders: mirror.crmOrders = part.crmOrders
                case .erpOrders: mirror.erpOrders = part.erpOrders
                }
            }
        }
        return mirror
    }

    /// The planner's row estimate for a query (EXPLAIN, nothing executed), capped, or nil.
    static func estimatedRows(_ sql: String, on connection: Connection) -> Int? {
        guard let plan = try? connection.query("EXPLAIN (FORMAT JSON) " + sql).first?.first ?? nil,
              let range = plan.range(of: "\"Plan Rows\": ") else { return nil }
        let digits = plan[range.upperBound...].prefix { $0.isNumber }
        guard let rows = Int(digits), rows > 0 else { return nil }
        return min(rows + rows / 32, 1 << 28)
    }

    fileprivate func readExtract(_ extract: Extract, on connection: Connection, progress: Progress?, into mirror: inout Mirror) throws {
        let path = queries.path(extract)
        let started = Date()
        do {
            let columns = try connection.describe(queries.sql[extract]!)
            let mapping: QueryContract.Mapping
            do {
                mapping = try QueryContract.validate(extract, described: columns.map { ($0.name, $0.typeOID) })
            } catch let error as ContractError {
                throw PipelineError.query("\(queries.directory)/\(error)")     // the error names the file
            }
            var decoder = StoreDecoder(extract.entity, mapping)
            var store = RowStore(width: decoder.sources.count)
            // Sized by the planner's estimate, so the offsets are not copied each time they double.
            store.reserve(rows: Self.estimatedRows(queries.sql[extract]!, on: connection) ?? 1 << 12, bytesPerRow: 96)
            try connection.copyOutLines(select: queries.sql[extract]!) { line in
                if store.count & 0xFFF == 0 { progress?.update("extracting \(extract.rawValue)", rows: store.count, started: started) }
                try decoder.append(line, to: &store, path: path)
            }
            store.shrink()
            let names = mapping.attributes.map(\.name)
            let canonical = Set(mapping.index.keys)
            switch extract {
            case .crmCustomers: mirror.crmCustomers = Table(attributeNames: names, store: store, canonicalColumns: canonical)
            case .erpCustomers: mirror.erpCustomers = Table(attributeNames: names, store: store, canonicalColumns: canonical)
            case .crmOrders: mirror.crmOrders = Table(attributeNames: names, store: store, canonicalColumns: canonical)
            case .erpOrders: mirror.erpOrders = Table(attributeNames: names, store: store, canonicalColumns: canonical)
            }
        } catch let error as PostgresError {
            throw PipelineError.query("\(path): \(error)")
        }
        let seconds = Date().timeIntervalSince(started)
        progress?.clear()
        logger.info("extracted", metadata: ["query": "\(extract.fileName)", "rows": "\(mirror.count(extract))",
                                            "seconds": "\(String(format: "%.3f", seconds))"])
    }

    /// Re-reads only the records whose `column` (id or external_id) is one of `values`, through
    /// the same query file (wrapped as a subquery, values as a bind parameter).
    /// Every character `String.trimmingWhitespace` trims (Unicode's White_Space property).
    static let whitespace = String(String.UnicodeScalarView((0...0x3000).compactMap(Unicode.Scalar.init).filter { Character($0).isWhitespace }))

    /// - Parameter lowercased: compare the column lowercased (emails: `values` are normalised).
    public func readSome(_ extract: Extract, column: String, values: [String], lowercased: Bool = false) throws -> Mirror {
        var mirror = Mirror()
        guard !values.isEmpty else { return mirror }
        let mapping = try describe(extract)
        guard mapping.position(column) != nil else { return mirror }
        let literal = textArrayLiteral(values)
        // Trimmed of every whitespace character, exactly as the run trims ids (tabs, line breaks,
        // no-break spaces…), so a record the run found is found again.
        let sql = "SELECT * FROM (\n" + queries.sql[extract]! + "\n) recon_q WHERE " + (lowercased ? "lower(btrim(recon_q.\(column)::text, $2))" : "btrim(recon_q.\(column)::text, $2)") + " = ANY($1::text[])"
        let rows: [[String?]]
        do { rows = try connection.query(sql, [literal, Self.whitespace]) } catch let error as PostgresError {
            throw PipelineError.query("\(queries.path(extract)): \(error)")
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

}

/// Results of the two extraction threads (each slot written by one thread, read after both end).
/// Unchecked: each thread uses only its own connection and the reader's immutable settings.
private final class ParallelBox: @unchecked Sendable {
    let reader: MirrorReader
    let connections: [Connection]
    private var results: [Result<Mirror, any Error>?] = [nil, nil]
    private var queue: [Extract]
    private var takenBy: [[Extract]] = [[], []]
    private var failed = false
    private let lock = NSLock()
    init(reader: MirrorReader, connections: [Connection], queue: [Extract]) {
        self.reader = reader
        self.connections = connections
        self.queue = queue
    }
    /// The next extract for thread `k`, nil when none is left or the other thread failed.
    func next(_ k: Int) -> Extract? {
        lock.lock(); defer { lock.unlock() }
        guard !failed, !queue.isEmpty else { return nil }
        let e = queue.removeFirst()
        takenBy[k].append(e)
        return e
    }
    func taken(by k: Int) -> [Extract] { lock.lock(); defer { lock.unlock() }; return takenBy[k] }
    /// Stores thread `k`'s result; true when the other thread is still reading.
    @discardableResult
    func set(_ k: Int, _ r: Result<Mirror, any Error>) -> Bool {
        lock.lock(); defer { lock.unlock() }
        results[k] = r
        if case .failure = r { failed = true }
        return !failed && results[1 - k] == nil
    }
    /// Both threads have their result (or one failed).
    var allDone: Bool {
        lock.lock(); defer { lock.unlock() }
        return failed || (results[0] != nil && results[1] != nil)
    }
    func result(_ k: Int) -> Result<Mirror, any Error> {
        lock.lock(); defer { lock.unlock() }
        return results[k] ?? .failure(PipelineError.mirror("extraction thread \(k) ended without a result"))
    }
}

/// Decodes COPY text lines straight into a row store: each query column moved to its canonical
/// slot (fixed fields, then attributes), NULL kept as NULL, escapes decoded; no Strings made.
struct StoreDecoder {
    /// Per store field: the query column it comes from, or -1 when the query lacks it (NULL).
    let sources: [Int]
    let columns: Int
    private var spans: [CopyLine.Span] = []
    private var scratch: [UInt8] = []
    private var rows = 0

    static let customerFields = ["id", "external_id", "email", "phone", "name", "country", "updated_at"]
    static let orderFields = ["id", "status", "external_id", "customer_id", "amount", "currency", "created_at", "updated_at"]

    /// The query's columns are the store's fields in order (as in the sample queries): a line
    /// without escapes is stored as it came (`RowStore.appendCopyLine`).
    let inOrder: Bool

    init(_ entity: Entity, _ m: QueryContract.Mapping) {
        let fixed = entity == .customer ? Self.customerFields : Self.orderFields
        sources = fixed.map { m.position($0) ?? -1 } + m.attributes.map(\.index)
        columns = m.index.count + m.attributes.count
        inOrder = sources == Array(0..<columns)
        spans.reserveCapacity(columns)
    }

    mutating func append(_ line: UnsafeBufferPointer<UInt8>, to store: inout RowStore, path: String) throws {
        rows += 1
        if inOrder {
            store.beginRow()
            if store.appendCopyLine(line) {
                store.endRow()
                return
            }
        }
        CopyLine.split(line, into: &spans)
        guard spans.count == columns else {
            throw PipelineError.query("\(path): row \(rows) has \(spans.count) fields, the query describes \(columns)")
        }
        if !inOrder { store.beginRow() }
        for src in sources {
            if src < 0 { store.appendField(nil as UnsafeBufferPointer<UInt8>?); continue }
            let s = spans[src]
            if !s.escaped {
                store.appendField(UnsafeBufferPointer(rebasing: line[s.start..<s.end]))
            } else if CopyLine.isNull(line, s) {
                store.appendField(nil as UnsafeBufferPointer<UInt8>?)
            } else {
                CopyLine.unescape(line, s, into: &scratch)
                scratch.withUnsafeBufferPointer { store.appendField($0) }
            }
        }
        store.endRow()
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
