/// The two systems recon reconciles.
public enum System: String, Sendable, CaseIterable, Comparable {
    case crm, erp

    public var other: System { self == .crm ? .erp : .crm }
    public var label: String { rawValue.uppercased() }
    public static func < (a: System, b: System) -> Bool { a.rawValue < b.rawValue }
}

/// One value per system, read by `System` (never by a 0/1 index).
public struct PerSystem<Value> {
    public var crm: Value
    public var erp: Value

    public init(crm: Value, erp: Value) {
        self.crm = crm
        self.erp = erp
    }

    /// Both values made by `make`, CRM first.
    public init(_ make: (System) throws -> Value) rethrows {
        crm = try make(.crm)
        erp = try make(.erp)
    }

    public subscript(_ system: System) -> Value {
        get { system == .crm ? crm : erp }
        set { if system == .crm { crm = newValue } else { erp = newValue } }
    }

    public func map<T>(_ transform: (Value) throws -> T) rethrows -> PerSystem<T> {
        PerSystem<T>(crm: try transform(crm), erp: try transform(erp))
    }
}

extension PerSystem: Sendable where Value: Sendable {}

public enum Entity: String, Sendable, CaseIterable, Comparable {
    case customer, order
    public static func < (a: Entity, b: Entity) -> Bool { a.rawValue < b.rawValue }

    /// The entity whose raw value is `bytes` (a state row's field read without making a `String`).
    public init?(bytes: UnsafeBufferPointer<UInt8>) {
        switch bytes.count {
        case 8 where bytes.elementsEqual(Self.customerBytes): self = .customer
        case 5 where bytes.elementsEqual(Self.orderBytes): self = .order
        default: return nil
        }
    }

    private static let customerBytes = Array("customer".utf8), orderBytes = Array("order".utf8)
}

/// The four extracts, one query file each.
public enum Extract: String, Sendable, CaseIterable {
    case crmCustomers = "crm_customers"
    case erpCustomers = "erp_customers"
    case crmOrders = "crm_orders"
    case erpOrders = "erp_orders"

    public var system: System { (self == .crmCustomers || self == .crmOrders) ? .crm : .erp }
    public var entity: Entity { (self == .crmCustomers || self == .erpCustomers) ? .customer : .order }
    public var fileName: String { rawValue + ".sql" }

    public static func of(_ system: System, _ entity: Entity) -> Extract {
        switch (system, entity) {
        case (.crm, .customer): return .crmCustomers
        case (.erp, .customer): return .erpCustomers
        case (.crm, .order): return .crmOrders
        case (.erp, .order): return .erpOrders
        }
    }
}

/// A customer as one system holds it, in recon's canonical columns (values as read, trimmed of
/// nothing: normalisation happens in matching, so reports can show what the system holds).
public struct CustomerRecord: Sendable {
    public var id: String
    public var externalId: String?
    public var email: String?
    public var phone: String?
    public var name: String?
    public var country: String?
    public var updatedAt: String?
    /// Values of the attribute columns, in the order of `Table.attributeNames`.
    public var attributes: [String?]
    /// 1-based row number in the query's output, for messages about records without a usable id.
    public var row: Int

    public init(id: String, externalId: String? = nil, email: String? = nil, phone: String? = nil,
                name: String? = nil, country: String? = nil, updatedAt: String? = nil,
                attributes: [String?] = [], row: Int = 0) {
        self.id = id; self.externalId = externalId; self.email = email; self.phone = phone
        self.name = name; self.country = country; self.updatedAt = updatedAt
        self.attributes = attributes; self.row = row
    }
}

/// An order (CRM deal, ERP sales order) in recon's canonical columns.
public struct OrderRecord: Sendable {
    public var id: String
    public var status: String?
    public var externalId: String?
    public var customerId: String?
    public var amount: String?
    public var currency: String?
    public var createdAt: String?
    public var updatedAt: String?
    public var attributes: [String?]
    public var row: Int

    public init(id: String, status: String?, externalId: String? = nil, customerId: String? = nil,
                amount: String? = nil, currency: String? = nil, createdAt: String? = nil,
                updatedAt: String? = nil, attributes: [String?] = [], row: Int = 0) {
        self.id = id; self.status = status; self.externalId = externalId; self.customerId = customerId
        self.amount = amount; self.currency = currency; self.createdAt = createdAt
        self.updatedAt = updatedAt; self.attributes = attributes; self.row = row
    }
}

/// The rows of one extract plus the names of its attribute (non-canonical) columns.
public struct Table<Record: StoredRecord>: Sendable {
    public var attributeNames: [String]
    public var records: Records<Record>
    /// The canonical columns the query returns (nil: all of them, for tables built in memory).
    public var canonicalColumns: Set<String>?
    public init(attributeNames: [String] = [], records: [Record] = [], canonicalColumns: Set<String>? = nil) {
        self.attributeNames = attributeNames
        self.records = Records(records, attributeCount: attributeNames.count)
        self.canonicalColumns = canonicalColumns
    }

    /// A table read straight into a row store (fixed fields, then the attributes in order).
    public init(attributeNames: [String], store: RowStore, canonicalColumns: Set<String>?) {
        self.attributeNames = attributeNames
        self.records = Records(store: store)
        self.canonicalColumns = canonicalColumns
    }

    /// Whether the query returns `column` (a canonical column or an attribute).
    public func has(_ column: String) -> Bool {
        attributeNames.contains(column) || (canonicalColumns?.contains(column) ?? true)
    }
}

/// Everything read from one snapshot of the mirror.
public struct Mirror: Sendable {
    public var crmCustomers: Table<CustomerRecord>
    public var erpCustomers: Table<CustomerRecord>
    public var crmOrders: Table<OrderRecord>
    public var erpOrders: Table<OrderRecord>

    public init(crmCustomers: Table<CustomerRecord> = .init(), erpCustomers: Table<CustomerRecord> = .init(),
                crmOrders: Table<OrderRecord> = .init(), erpOrders: Table<OrderRecord> = .init()) {
        self.crmCustomers = crmCustomers; self.erpCustomers = erpCustomers
        self.crmOrders = crmOrders; self.erpOrders = erpOrders
    }

    public func customers(_ system: System) -> Table<CustomerRecord> {
        system == .crm ? crmCustomers : erpCustomers
    }
    public func orders(_ system: System) -> Table<OrderRecord> {
        system == .crm ? crmOrders : erpOrders
    }

    /// A system's customers, lent rather than copied: for a pass over one table.
    public subscript(customers system: System) -> Table<CustomerRecord> {
        _read { if system == .crm { yield crmCustomers } else { yield erpCustomers } }
    }
    /// A system's orders, lent rather than copied (`mirror[customers:]`).
    public subscript(orders system: System) -> Table<OrderRecord> {
        _read { if system == .crm { yield crmOrders } else { yield erpOrders } }
    }

    // Lookups made once or more per finding (the plan, the reports) read the stored table in
    // place. Through the subscripts above, the caller copies the mirror and then the table it
    // lends: every table's arrays retained and released for one field, on objects both threads
    // share.

    /// Field `k` (a `CustomerRecord.Field` / `OrderRecord.Field` raw value) of a record.
    public func field(_ entity: Entity, _ system: System, row: Int, _ k: Int) -> String? {
        switch (entity, system) {
        case (.customer, .crm): crmCustomers.records.field(row, k)
        case (.customer, .erp): erpCustomers.records.field(row, k)
        case (.order, .crm): crmOrders.records.field(row, k)
        case (.order, .erp): erpOrders.records.field(row, k)
        }
    }

    /// Field `k` of a record as bytes (nil for NULL), valid only inside `body`.
    public func withField(_ entity: Entity, _ system: System, row: Int, _ k: Int, _ body: (UnsafeBufferPointer<UInt8>?) -> Void) {
        switch (entity, system) {
        case (.customer, .crm): crmCustomers.records.store.withField(row, k, body)
        case (.customer, .erp): erpCustomers.records.store.withField(row, k, body)
        case (.order, .crm): crmOrders.records.store.withField(row, k, body)
        case (.order, .erp): erpOrders.records.store.withField(row, k, body)
        }
    }

    public func customer(_ system: System, row: Int) -> CustomerRecord {
        system == .crm ? crmCustomers.records[row] : erpCustomers.records[row]
    }
    public func order(_ system: System, row: Int) -> OrderRecord {
        system == .crm ? crmOrders.records[row] : erpOrders.records[row]
    }

    /// The attributes a system's query returns for an entity, in their order.
    public func attributeNames(_ entity: Entity, _ system: System) -> [String] {
        switch (entity, system) {
        case (.customer, .crm): crmCustomers.attributeNames
        case (.customer, .erp): erpCustomers.attributeNames
        case (.order, .crm): crmOrders.attributeNames
        case (.order, .erp): erpOrders.attributeNames
        }
    }

    /// Whether a system's query for an entity returns `column` (`Table.has`). Not inlined: inlined
    /// into a caller holding the mirror in a class, it copied the table first.
    @inline(never)
    public func has(_ entity: Entity, _ system: System, _ column: String) -> Bool {
        switch (entity, system) {
        case (.customer, .crm): crmCustomers.has(column)
        case (.customer, .erp): erpCustomers.has(column)
        case (.order, .crm): crmOrders.has(column)
        case (.order, .erp): erpOrders.has(column)
        }
    }

    public func count(_ extract: Extract) -> Int {
        switch extract {
        case .crmCustomers: return crmCustomers.records.count
        case .erpCustomers: return erpCustomers.records.count
        case .crmOrders: return crmOrders.records.count
        case .erpOrders: return erpOrders.records.count
        }
    }
}
