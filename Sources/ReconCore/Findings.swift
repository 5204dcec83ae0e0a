import Crypto

/// The fixed finding vocabulary (see README, "Findings").
public enum FindingType: String, Sendable, CaseIterable, Comparable {
    case duplicate, orphan
    case missingOrder = "missing_order"
    case statusMismatch = "status_mismatch"
    case fieldMismatch = "field_mismatch"
    case unlinked, conflict, invalid

    public static func < (a: FindingType, b: FindingType) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    var code: String {
        switch self {
        case .duplicate: return "DUP"
        case .orphan: return "ORP"
        case .missingOrder: return "MIS"
        case .statusMismatch: return "STA"
        case .fieldMismatch: return "FLD"
        case .unlinked: return "UNL"
        case .conflict: return "CON"
        case .invalid: return "INV"
        }
    }

    /// The report file for people, one per type.
    public var reportFileName: String {
        switch self {
        case .duplicate: return "duplicates.csv"
        case .orphan: return "orphans.csv"
        case .missingOrder: return "missing_orders.csv"
        case .statusMismatch: return "status_mismatches.csv"
        case .fieldMismatch: return "field_mismatches.csv"
        case .unlinked: return "unlinked.csv"
        case .conflict: return "conflicts.csv"
        case .invalid: return "invalid.csv"
        }
    }

    public static let defaultSeverities: [FindingType: Severity] = [
        .duplicate: .warning, .orphan: .warning, .missingOrder: .error, .statusMismatch: .error,
        .fieldMismatch: .warning, .unlinked: .warning, .conflict: .error, .invalid: .warning,
    ]
}

/// One record taking part in a finding.
public struct FindingMember: Sendable, Equatable {
    public var system: System
    public var recordId: String
    /// The record's value of the finding's field (or of the key it matched on).
    public var value: String
    /// What the record is in the finding: e.g. "linked", "email-match", "duplicate".
    public var role: String

    public init(system: System, recordId: String, value: String = "", role: String = "") {
        self.system = system; self.recordId = recordId; self.value = value; self.role = role
    }
}

/// A problem recon found. Its id is derived from what it is about (type, entity, field and the
/// records involved), never from run order, so the same problem has the same id every night.
public struct Finding: Sendable {
    public var type: FindingType
    public var entity: Entity
    public var severity: Severity
    /// The key(s) that matched the records: external_id, email, phone, window, …
    public var matchedOn: String
    /// The field concerned (field_mismatch, invalid), else empty.
    public var field: String
    public var detail: String
    public var members: [FindingMember]
    public var id: String

    public init(type: FindingType, entity: Entity, severity: Severity, matchedOn: String = "",
                field: String = "", detail: String = "", members: [FindingMember], identity: [String]? = nil) {
        self.type = type; self.entity = entity; self.severity = severity; self.matchedOn = matchedOn
        self.field = field; self.detail = detail; self.members = members
        self.id = Finding.makeId(type: type, entity: entity, field: field,
                                 parts: identity ?? members.map { "\($0.system.rawValue):\($0.recordId)" })
    }

    /// `DUP-C-` + the first 16 hex digits of SHA-256 over type, entity, field and the sorted parts.
    public static func makeId(type: FindingType, entity: Entity, field: String, parts: [String]) -> String {
        var text = type.rawValue + "\u{1F}" + entity.rawValue + "\u{1F}" + field
        for p in parts.sorted() { text += "\u{1E}" + p }
        let digest = SHA256.hash(data: Array(text.utf8))
        var hex = ""
        for byte in digest.prefix(8) {
            hex += String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
        }
        return "\(type.code)-\(entity == .customer ? "C" : "O")-\(hex)"
    }
}

/// JSON string literals, for the few JSON documents recon writes by hand (summary, log lines).
public enum JSONText {
    public static func quote(_ s: String) -> String {
        // Most values need no escaping: one scan of the bytes, then a single concatenation.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) { return "\"" + s + "\"" }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
