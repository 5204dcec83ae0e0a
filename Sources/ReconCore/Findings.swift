import Crypto

/// The fixed finding vocabulary (see README, "Findings").
public enum FindingType: String, Sendable, CaseIterable, Comparable {
    case duplicate, orphan
    case missingOrder = "missing_order"
    case statusMismatch = "status_mismatch"
    case fieldMismatch = "field_mismatch"
    case unlinked, conflict, invalid

    public static func < (a: FindingType, b: FindingType) -> Bool { a.order < b.order }

    /// This type with `entity` as one number, in report order (customers first): how findings
    /// are grouped and sorted, and where their id's prefix is.
    @inlinable public func group(with entity: Entity) -> Int { order * 2 + (entity == .customer ? 0 : 1) }

    /// The type whose raw value is `bytes` (a state row's field read without making a `String`).
    public init?(bytes: UnsafeBufferPointer<UInt8>) {
        guard let t = Self.rawBytes.first(where: { $0.bytes.count == bytes.count && $0.bytes.elementsEqual(bytes) }) else { return nil }
        self = t.type
    }

    private static let rawBytes: [(type: FindingType, bytes: [UInt8])] = allCases.map { ($0, Array($0.rawValue.utf8)) }

    /// The types by `order`, made once.
    @usableFromInline static let inOrder: [FindingType] = allCases.sorted()

    /// Position in `allCases` (sorting compares millions of pairs: no array per comparison).
    @inlinable public var order: Int {
        switch self {
        case .duplicate: return 0
        case .orphan: return 1
        case .missingOrder: return 2
        case .statusMismatch: return 3
        case .fieldMismatch: return 4
        case .unlinked: return 5
        case .conflict: return 6
        case .invalid: return 7
        }
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

/// How sure a customer match is (the weakest evidence that joined the identity's records).
public enum MatchTier: String, Sendable, CaseIterable, Comparable {
    /// Joined by an external id or an email (one mailbox).
    case certain
    /// Joined by a shared phone whose records' names agree.
    case probable
    /// Joined by a shared phone alone: no names to compare, no emails that disagree. Shown,
    /// never acted on.
    case possible

    var rank: Int { self == .certain ? 2 : (self == .probable ? 1 : 0) }
    public static func < (a: MatchTier, b: MatchTier) -> Bool { a.rank < b.rank }
}

/// One record taking part in a finding.
public struct FindingMember: Sendable, Equatable {
    public var system: System
    /// Where matching found the record tonight: its row in its system's table of the finding's
    /// entity (customers or orders; a candidate's in the customers), so that the plan and the
    /// reports read it without looking its id up. -1 when not known: looked up by id. Not part
    /// of what the member is: two members that differ only here are equal.
    public var row: Int32
    public var recordId: String
    /// The record's value of the finding's field (or of the key it matched on).
    public var value: String
    /// What the record is in the finding: e.g. "linked", "email-match", "duplicate".
    public var role: String

    public init(system: System, recordId: String, value: String = "", role: String = "", row: Int32 = -1) {
        self.system = system; self.row = row; self.recordId = recordId; self.value = value; self.role = role
    }

    public static func == (a: FindingMember, b: FindingMember) -> Bool {
        a.system == b.system && a.recordId == b.recordId && a.value == b.value && a.role == b.role
    }
}

/// A problem recon found. Its id is derived from what it is about (type, entity, field and the
/// records involved), never from run order, so the same problem has the same id every night.
///
/// Its fields live in one copy-on-write box (`CopyOnWrite`): copying a finding is one reference count.
public struct Finding: Sendable, Prefetchable {
    private struct Fields {
        var type: FindingType
        var entity: Entity
        var severity: Severity
        // Beside the three one-byte fields, in what would be padding (a finding's box stays in
        // the same allocation size as without it).
        var tier: MatchTier?
        var matchedOn: String
        var field: String
        var detail: String
        var members: [FindingMember]
        /// The 16 hex digits of the id; its prefix follows from the type and entity.
        var idValue: UInt64
        var candidates: [FindingMember] = []
    }

    private var fields: CopyOnWrite<Fields>

    /// A finding is its box's reference and nothing else.
    @inlinable public static var boxOffset: Int { 0 }

    // Type and entity are fixed once made: the id's prefix follows from them.
    public var type: FindingType { fields.value.type }
    public var entity: Entity { fields.value.entity }
    public var severity: Severity { get { fields.value.severity } set { fields.value.severity = newValue } }
    /// The key(s) that matched the records: external_id, email, phone, window, …
    public var matchedOn: String { get { fields.value.matchedOn } set { fields.value.matchedOn = newValue } }
    /// The field concerned (field_mismatch, invalid), else empty.
    public var field: String { get { fields.value.field } set { fields.value.field = newValue } }
    public var detail: String { get { fields.value.detail } set { fields.value.detail = newValue } }
    public var members: [FindingMember] { get { fields.value.members } set { fields.value.members = newValue } }
    /// `TYP-E-` + 16 hex digits (`makeId`), made when asked for: the finding keeps the number.
    public var id: String { withIdBytes { String(decoding: $0, as: UTF8.self) } }
    /// The number in the id's 16 hex digits: within one type and entity, ids sort by it.
    public var idValue: UInt64 { fields.value.idValue }
    /// The id's order as two numbers: comparing keys compares ids, without making their text.
    public var idKey: FindingIdKey { FindingIdKey(type: type, entity: entity, value: idValue) }
    /// The id's bytes, valid only inside `body`: written without making the string.
    @inlinable
    public func withIdBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        idKey.withBytes(body)
    }
    /// How sure the match behind a customer duplicate or unlinked pair is, and on a customer
    /// mismatch, that of its pair when less than certain (nil otherwise).
    public var tier: MatchTier? { get { fields.value.tier } set { fields.value.tier = newValue } }
    /// An orphan customer's near misses in the other system: records that may be the same
    /// customer, not joined (`value` says why each is named). A human decides.
    public var candidates: [FindingMember] { get { fields.value.candidates } set { fields.value.candidates = newValue } }

    public init(type: FindingType, entity: Entity, severity: Severity, matchedOn: String = "",
                field: String = "", detail: String = "", members: [FindingMember], identity: [String]? = nil,
                tier: MatchTier? = nil) {
        let id = Finding.makeIdValue(type: type, entity: entity, field: field,
                                     parts: identity ?? members.map { "\($0.system.rawValue):\($0.recordId)" })
        fields = CopyOnWrite(Fields(type: type, entity: entity, severity: severity, tier: tier, matchedOn: matchedOn, field: field,
                                    detail: detail, members: members, idValue: id))
    }

    /// `DUP-C-` + the first 16 hex digits of SHA-256 over type, entity, field and the sorted parts.
    public static func makeId(type: FindingType, entity: Entity, field: String, parts: [String]) -> String {
        FindingIdKey(type: type, entity: entity, value: makeIdValue(type: type, entity: entity, field: field, parts: parts))
            .withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// The first 8 bytes of that SHA-256, big-endian: the id's 16 hex digits as a number.
    static func makeIdValue(type: FindingType, entity: Entity, field: String, parts: [String]) -> UInt64 {
        // The bytes hashed: type, entity and field separated by 0x1F, then each sorted part after 0x1E.
        var text: [UInt8] = []
        text.reserveCapacity(32 + field.utf8.count + parts.reduce(0) { $0 + $1.utf8.count + 1 })
        text.append(contentsOf: type.rawValue.utf8); text.append(0x1F)
        text.append(contentsOf: entity.rawValue.utf8); text.append(0x1F)
        text.append(contentsOf: field.utf8)
        for p in parts.count > 1 ? parts.sorted() : parts { text.append(0x1E); text.append(contentsOf: p.utf8) }
        return SHA256.hash(data: text).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}

/// A finding id in order: its six prefix bytes (`TYP-E-`) and the number in its 16 hex digits,
/// each most significant first. Every id has that shape, so comparing keys compares ids as
/// text, and the text is made only to be written or shown.
public struct FindingIdKey: Comparable, Hashable, Sendable {
    /// The prefix's six bytes, big-endian.
    @usableFromInline let prefix: UInt64
    public let value: UInt64

    @inlinable public init(type: FindingType, entity: Entity, value: UInt64) {
        prefix = Self.prefixes[type.group(with: entity)]
        self.value = value
    }

    /// Each type's and entity's prefix, in report order (`FindingType.order`, customer first).
    @usableFromInline static let prefixes: [UInt64] = {
        var out = [UInt64](repeating: 0, count: FindingType.allCases.count * 2)
        for type in FindingType.allCases {
            for (k, entity) in ["-C-", "-O-"].enumerated() {
                out[type.order * 2 + k] = (type.code + entity).utf8.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            }
        }
        return out
    }()

    public static func < (a: FindingIdKey, b: FindingIdKey) -> Bool { (a.prefix, a.value) < (b.prefix, b.value) }

    /// The key of `id` when it has the shape of the ids recon makes: three capital letters, `-`,
    /// `C` or `O`, `-`, 16 lowercase hex digits (nil for any other text, which is then kept as text).
    public init?(parsing id: String) {
        var id = id
        guard let parsed = id.withUTF8({ p -> (UInt64, UInt64)? in
            guard p.count == Self.byteCount, (0...2).allSatisfy({ (0x41...0x5A).contains(p[$0]) }), p[3] == 0x2D,
                  p[4] == UInt8(ascii: "C") || p[4] == UInt8(ascii: "O"), p[5] == 0x2D,
                  let value = lowercaseHex16(UnsafeBufferPointer(rebasing: p[6...])) else { return nil }
            return ((0..<6).reduce(UInt64(0)) { $0 << 8 | UInt64(p[$1]) }, value)
        }) else { return nil }
        (prefix, value) = parsed
    }

    /// The keys of `ids` (an id of another shape names no finding: it has none).
    public static func keys(of ids: Set<String>) -> Set<FindingIdKey> { Set(ids.compactMap(FindingIdKey.init(parsing:))) }

    /// The id as text.
    public var text: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    /// The bytes of an id as text: `TYP-E-` and 16 hex digits.
    public static let byteCount = 22

    /// The id's 22 bytes, valid only inside `body`. Inlinable, as `PlanAction.withActionIdBytes`.
    @inlinable
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.byteCount) { out in
            for i in 0..<6 { out[i] = UInt8(truncatingIfNeeded: prefix >> (40 - 8 * i)) }
            writeHex16(value, into: out, at: 6)
            return body(UnsafeBufferPointer(out))
        }
    }
}

extension Finding {
    /// A 64-bit digest of what the state stores about a finding besides its lifecycle (severity,
    /// field, records, detail): a finding that persists is rewritten only when this changes.
    public var stateDigest: Int64 {
        // The bytes hashed: severity, field and detail separated by 0x1F, then each member's
        // `system:id` after 0x1E; assembled on the stack (a heap buffer only for long ones).
        let (severity, field, detail) = (severity.rawValue, field, detail)
        return fields.value.members.withUnsafeBufferPointer { members in
            var count = severity.utf8.count + 1 + field.utf8.count + 1 + detail.utf8.count
            for k in members.indices { count += 2 + members[k].system.rawValue.utf8.count + members[k].recordId.utf8.count }
            func digest(_ out: UnsafeMutableBufferPointer<UInt8>) -> Int64 {
                var n = 0
                Self.put(severity, out, &n); Self.put(0x1F, out, &n); Self.put(field, out, &n); Self.put(0x1F, out, &n)
                Self.put(detail, out, &n)
                for k in members.indices {
                    Self.put(0x1E, out, &n); Self.put(members[k].system.rawValue, out, &n)
                    Self.put(0x3A, out, &n); Self.put(members[k].recordId, out, &n)
                }
                return Int64(bitPattern: ByteInterner.hash(UnsafeBufferPointer(rebasing: out[0..<n])))
            }
            if count <= 1024 { return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count, digest) }
            var heap = [UInt8](repeating: 0, count: count)
            return heap.withUnsafeMutableBufferPointer { digest($0) }
        }
    }

    /// Its members as the state stores them (`crm:C1 erp:E2`), appended to `bytes`. The members
    /// are read in place: a loop over `members` in another module copies each one.
    public func appendRecordsText(to bytes: inout [UInt8]) {
        fields.value.members.withUnsafeBufferPointer { members in
            for k in members.indices {
                if k > 0 { bytes.append(0x20) }
                bytes.append(contentsOf: members[k].system.rawValue.utf8)
                bytes.append(UInt8(ascii: ":"))
                bytes.append(contentsOf: members[k].recordId.utf8)
            }
        }
    }

    // The digest's bytes written at `n` (the caller counted the room), with `n` passed in
    // rather than captured, which made every write check exclusive access at run time.
    @inline(__always)
    private static func put(_ s: String, _ out: UnsafeMutableBufferPointer<UInt8>, _ n: inout Int) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { p in
            if let from = p.baseAddress, p.count > 0 { (out.baseAddress! + n).update(from: from, count: p.count) }
            n += p.count
        }
        if done == nil { for b in s.utf8 { out[n] = b; n += 1 } }
    }

    @inline(__always)
    private static func put(_ b: UInt8, _ out: UnsafeMutableBufferPointer<UInt8>, _ n: inout Int) {
        out[n] = b
        n += 1
    }
}

/// JSON string literals, for the few JSON documents recon writes by hand (summary, log lines).
public enum JSONText {
    /// Appends `s` as a JSON string literal (the same bytes as `quote`): the runs of bytes that
    /// need no escape are copied whole.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        // The bytes read where they are (`withUTF8` needs a mutable copy: a retain and release
        // of texts that threads share); a string without contiguous UTF-8 is copied first.
        if s.utf8.withContiguousStorageIfAvailable({ appendQuoted(bytes: $0, to: &out) }) != nil { return }
        var s = s
        s.withUTF8 { appendQuoted(bytes: $0, to: &out) }
    }

    /// `appendQuoted` for a string's UTF-8 bytes.
    public static func appendQuoted(bytes p: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        if needsNoEscape(p) {
            out.append(contentsOf: p)
            out.append(0x22)
            return
        }
        do {
            var start = 0
            for i in 0..<p.count {
                let b = p[i]
                if b >= 0x20 && b != 0x22 && b != 0x5C { continue }
                if i > start { out.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<i])) }
                start = i + 1
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(0x6E)
                case 0x0D: out.append(0x5C); out.append(0x72)
                case 0x09: out.append(0x5C); out.append(0x74)
                default:
                    let hex: (UInt8) -> UInt8 = { $0 < 10 ? 0x30 + $0 : 0x57 + $0 }
                    out.append(0x5C); out.append(0x75); out.append(0x30); out.append(0x30)
                    out.append(hex(b >> 4)); out.append(hex(b & 0xF))
                }
            }
            if start < p.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<p.count])) }
        }
        out.append(0x22)
    }

    /// Whether no byte of `p` is a control, a quote or a backslash (`ByteScan`).
    static func needsNoEscape(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        !ByteScan.contains(p, mayHave: { ByteScan.hasControl($0) | ByteScan.has($0, 0x22) | ByteScan.has($0, 0x5C) != 0 },
                           special: { p[$0] < 0x20 || p[$0] == 0x22 || p[$0] == 0x5C })
    }

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
