/// The contract between a user's query files and recon: which columns each extract must and may
/// return, and of which PostgreSQL types. Everything else a query returns is an attribute.
public enum QueryContract {
    public enum Kind: String, Sendable {
        case identifier = "text (or an integer or uuid)"
        case text = "text"
        case timestamp = "timestamptz (or timestamp or date)"
        case numeric = "numeric (or an integer or float)"

        /// Type OIDs accepted for this kind.
        var oids: Set<UInt32> {
            switch self {
            case .text: return [25, 1043, 1042, 19, 705]
            case .identifier: return [25, 1043, 1042, 19, 705, 20, 21, 23, 2950, 1700]
            case .timestamp: return [1184, 1114, 1082]
            case .numeric: return [1700, 20, 21, 23, 700, 701]
            }
        }
    }

    public struct Column: Sendable {
        public var name: String
        public var kind: Kind
        public var required: Bool
        public var meaning: String
    }

    public static func columns(for entity: Entity) -> [Column] {
        switch entity {
        case .customer:
            return [
                Column(name: "id", kind: .identifier, required: true, meaning: "the key in its own system"),
                Column(name: "external_id", kind: .identifier, required: false, meaning: "the counterpart's id in the other system"),
                Column(name: "email", kind: .text, required: false, meaning: "email address"),
                Column(name: "phone", kind: .text, required: false, meaning: "phone number as written"),
                Column(name: "name", kind: .text, required: false, meaning: "display name"),
                Column(name: "country", kind: .text, required: false, meaning: "ISO 3166-1 alpha-2 region for phones without +"),
                Column(name: "updated_at", kind: .timestamp, required: false, meaning: "last change"),
            ]
        case .order:
            return [
                Column(name: "id", kind: .identifier, required: true, meaning: "the key in its own system"),
                Column(name: "status", kind: .text, required: true, meaning: "raw status as the system writes it"),
                Column(name: "external_id", kind: .identifier, required: false, meaning: "counterpart order id in the other system"),
                Column(name: "customer_id", kind: .identifier, required: false, meaning: "this system's customer id"),
                Column(name: "amount", kind: .numeric, required: false, meaning: "order total"),
                Column(name: "currency", kind: .text, required: false, meaning: "ISO 4217 code"),
                Column(name: "created_at", kind: .timestamp, required: false, meaning: "when the order was entered"),
                Column(name: "updated_at", kind: .timestamp, required: false, meaning: "last change"),
            ]
        }
    }

    /// Where each canonical column sits in a query's output, and which columns are attributes.
    public struct Mapping: Sendable {
        public var index: [String: Int]
        public var attributes: [(name: String, index: Int)]
        public func position(_ name: String) -> Int? { index[name] }
    }

    /// Checks a query's described columns against the contract.
    /// - Throws: `ContractError` naming the file and the column.
    public static func validate(_ extract: Extract, described: [(name: String, typeOID: UInt32)]) throws -> Mapping {
        var index: [String: Int] = [:]
        var attributes: [(name: String, index: Int)] = []
        let contract = Dictionary(uniqueKeysWithValues: QueryContract.columns(for: extract.entity).map { ($0.name, $0) })
        for (i, column) in described.enumerated() {
            if index[column.name] != nil || attributes.contains(where: { $0.name == column.name }) {
                throw ContractError(file: extract.fileName, column: column.name, problem: "is returned twice")
            }
            if let spec = contract[column.name] {
                guard spec.kind.oids.contains(column.typeOID) else {
                    throw ContractError(file: extract.fileName, column: column.name,
                                        problem: "has type \(typeName(column.typeOID)); expected \(spec.kind.rawValue)")
                }
                index[column.name] = i
            } else {
                attributes.append((column.name, i))
            }
        }
        for spec in QueryContract.columns(for: extract.entity) where spec.required && index[spec.name] == nil {
            throw ContractError(file: extract.fileName, column: spec.name,
                                problem: "is required but missing (\(spec.meaning))")
        }
        return Mapping(index: index, attributes: attributes)
    }

    static func typeName(_ oid: UInt32) -> String {
        let names: [UInt32: String] = [
            16: "boolean", 17: "bytea", 20: "bigint", 21: "smallint", 23: "integer", 25: "text",
            114: "json", 700: "real", 701: "double precision", 790: "money", 1042: "character",
            1043: "character varying", 1082: "date", 1083: "time", 1114: "timestamp",
            1184: "timestamptz", 1700: "numeric", 2950: "uuid", 3802: "jsonb",
        ]
        return names[oid] ?? "type oid \(oid)"
    }
}

/// A query that breaks the contract: names the file and the column.
public struct ContractError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var column: String
    public var problem: String
    public var description: String { "\(file): column \"\(column)\" \(problem)" }
}
