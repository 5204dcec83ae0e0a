import Crypto
import Foundation

/// Which system is the source of truth per field, and where records that exist on one side only
/// belong (recon.yml `ownership:`).
public struct Ownership: Sendable {
    /// Field → owning system: email, phone, name, country, amount, currency, status, or an attribute name.
    public var fields: [String: System] = [:]
    /// Customers found only in the other system are created here (nil: a human decides).
    public var createCustomersIn: System?
    /// Orders the CRM requires (missing_order) are created here (nil: a human decides).
    public var createOrdersIn: System?
    public init() {}
}

public enum SurvivorshipRule: String, Sendable, CaseIterable {
    /// The record with an external-id link to the other system survives.
    case linked
    /// Then the most recently updated (updated_at).
    case mostRecent = "most_recent"
    /// Then the one with the most non-empty fields.
    case mostComplete = "most_complete"
}

public enum Operation: String, Sendable, CaseIterable {
    case merge, link, create
    case updateStatus = "update_status"
    case updateField = "update_field"
    // Inverses, used by rollback batches.
    case unmerge, delete
}

/// One change a batch proposes to one record of one system.
///
/// Like `Finding`, its fields live in one copy-on-write box (`CopyOnWrite`). A dense night's batch
/// holds hundreds of thousands of actions, so the box keeps its id as the number its text is made
/// from, and a first finding id beside the rarer others (no array for the usual one).
public struct PlanAction: Sendable, Equatable, Prefetchable {
    private struct Fields: Equatable {
        /// The 16 hex digits of the id (`actionId`).
        var id: UInt64
        var operation: Operation
        var system: System
        var entity: Entity
        var tier: MatchTier?      // in what would be padding after the one-byte fields
        var recordId: String
        var field: String
        var oldValue: String?
        var newValue: String?
        var firstFindingId: StoredFindingId?
        var moreFindingIds: [String]
        /// Sorted by key, each key once: the order the writers need, without a dictionary's table.
        var payload: [PayloadEntry]
        var reason: String
    }

    private var fields: CopyOnWrite<Fields>

    /// An action is its box's reference and nothing else.
    @inlinable public static var boxOffset: Int { 0 }

    /// `ACT-` + 16 hex digits (`makeId`).
    public var actionId: String { "ACT-" + hex16(fields.value.id) }
    /// The number behind `actionId`: actions sort by it as by their ids.
    @usableFromInline var idValue: UInt64 { fields.value.id }
    public var operation: Operation { get { fields.value.operation } set { fields.value.operation = newValue } }
    public var system: System { get { fields.value.system } set { fields.value.system = newValue } }
    public var entity: Entity { get { fields.value.entity } set { fields.value.entity = newValue } }
    public var recordId: String { get { fields.value.recordId } set { fields.value.recordId = newValue } }
    public var field: String { get { fields.value.field } set { fields.value.field = newValue } }
    /// What the plan saw (the precondition): the field's value, or for merge/create the record's fingerprint.
    public var oldValue: String? { get { fields.value.oldValue } set { fields.value.oldValue = newValue } }
    public var newValue: String? { get { fields.value.newValue } set { fields.value.newValue = newValue } }
    public var findingIds: [String] {
        get {
            guard let first = fields.value.firstFindingId?.text else { return [] }
            let more = fields.value.moreFindingIds
            return more.isEmpty ? [first] : [first] + more
        }
        set {
            fields.value.firstFindingId = newValue.first.map(StoredFindingId.init)
            fields.value.moreFindingIds = newValue.count > 1 ? Array(newValue.dropFirst()) : []
        }
    }
    /// The finding id when the action resolves exactly one (the usual case), without building
    /// `findingIds`; nil when it resolves none or several.
    public var singleFindingId: String? { fields.value.moreFindingIds.isEmpty ? fields.value.firstFindingId?.text : nil }
    /// `singleFindingId` as a key when it has a finding id's shape (nil otherwise): written
    /// from its bytes (`FindingIdKey.withBytes`), which need no quoting or escaping.
    public var singleFindingKey: FindingIdKey? {
        guard fields.value.moreFindingIds.isEmpty, case .key(let key)? = fields.value.firstFindingId else { return nil }
        return key
    }
    /// `actionId`'s bytes, valid only inside `body`: written without making the string.
    /// Inlinable: the writers in other modules call it per action, and a generic call there,
    /// unspecialised, looked up its type's metadata at run time each time.
    @inlinable
    public func withActionIdBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let v = idValue
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { out in
            out[0] = UInt8(ascii: "A"); out[1] = UInt8(ascii: "C"); out[2] = UInt8(ascii: "T"); out[3] = UInt8(ascii: "-")
            writeHex16(v, into: out, at: 4)
            return body(UnsafeBufferPointer(out))
        }
    }
    /// How many findings the action resolves (without building `findingIds`).
    public var findingIdCount: Int { fields.value.firstFindingId == nil ? 0 : 1 + fields.value.moreFindingIds.count }
    /// Extra data: surviving values of a merge, the new record of a create.
    public var payload: [String: String] {
        get { Dictionary(uniqueKeysWithValues: fields.value.payload.lazy.map { ($0.key, $0.value) }) }
        set { fields.value.payload = PayloadEntry.sorted(newValue) }
    }
    /// `payload` sorted by key, as plan.json lists it (without building a dictionary).
    public var payloadEntries: [PayloadEntry] { fields.value.payload }
    public var reason: String { get { fields.value.reason } set { fields.value.reason = newValue } }
    /// Set on a link or merge whose records were joined on weaker evidence than an id or an
    /// email (`probable`: a shared phone and agreeing names), so that an approver sees it.
    public var tier: MatchTier? { get { fields.value.tier } set { fields.value.tier = newValue } }

    public init(operation: Operation, system: System, entity: Entity, recordId: String, field: String,
                oldValue: String?, newValue: String?, findingIds: [String], payload: [String: String] = [:], reason: String,
                tier: MatchTier? = nil) {
        let sorted = findingIds.count > 1 ? findingIds.sorted() : findingIds
        self.init(operation: operation, system: system, entity: entity, recordId: recordId, field: field, oldValue: oldValue,
                  newValue: newValue, first: sorted.first.map(StoredFindingId.init), more: sorted.count > 1 ? Array(sorted.dropFirst()) : [],
                  payload: payload, reason: reason, tier: tier)
    }

    /// An action that resolves one finding (how the planner makes them: the id is kept as its key).
    public init(operation: Operation, system: System, entity: Entity, recordId: String, field: String,
                oldValue: String?, newValue: String?, finding: Finding, payload: [String: String] = [:], reason: String,
                tier: MatchTier? = nil) {
        self.init(operation: operation, system: system, entity: entity, recordId: recordId, field: field, oldValue: oldValue,
                  newValue: newValue, first: .key(finding.idKey), more: [], payload: payload, reason: reason, tier: tier)
    }

    private init(operation: Operation, system: System, entity: Entity, recordId: String, field: String,
                 oldValue: String?, newValue: String?, first: StoredFindingId?, more: [String], payload: [String: String], reason: String,
                 tier: MatchTier?) {
        fields = CopyOnWrite(Fields(id: PlanAction.makeIdValue(system: system, recordId: recordId, operation: operation, field: field, newValue: newValue),
                                    operation: operation, system: system, entity: entity, tier: tier, recordId: recordId, field: field,
                                    oldValue: oldValue, newValue: newValue, firstFindingId: first,
                                    moreFindingIds: more, payload: PayloadEntry.sorted(payload), reason: reason))
    }

    public static func == (a: PlanAction, b: PlanAction) -> Bool {
        a.fields.isShared(with: b.fields) || a.fields.value == b.fields.value
    }

    /// `ACT-` + 16 hex digits of SHA-256 over target system, record, operation, field and new value.
    public static func makeId(system: System, recordId: String, operation: Operation, field: String, newValue: String?) -> String {
        "ACT-" + hex16(makeIdValue(system: system, recordId: recordId, operation: operation, field: field, newValue: newValue))
    }

    /// The first 8 bytes of that SHA-256, big-endian: the id's 16 hex digits as a number.
    static func makeIdValue(system: System, recordId: String, operation: Operation, field: String, newValue: String?) -> UInt64 {
        SHA256.hash(data: hashInput([system.rawValue, recordId, operation.rawValue, field, newValue ?? "\u{0}null"]))
            .prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// The outbox's key for this action: the action bound to its precondition (its old value). The
    /// same formula as the state database's `recon.outbox_key` (migration 4), which is the one that
    /// counts; a test holds the two equal.
    public var outboxKey: String { Self.outboxKey(actionId: actionId, oldValue: oldValue) }

    public static func outboxKey(actionId: String, oldValue: String?) -> String {
        let text = actionId + "\n" + (oldValue.map { "=" + $0 } ?? "NULL")
        return "OBX-" + hex(SHA256.hash(data: Array(text.utf8)).prefix(16))
    }
}

/// A finding id as an action keeps it: as its key when it has the shape of the ids recon makes
/// (`FindingIdKey(parsing:)`), so that each action holds no string of its own; else as text.
/// One id has one form, so actions compare equal however they were made.
enum StoredFindingId: Equatable, Sendable {
    case key(FindingIdKey)
    case text(String)

    init(_ id: String) { self = FindingIdKey(parsing: id).map { .key($0) } ?? .text(id) }

    var text: String {
        switch self {
        case .key(let key): return key.text
        case .text(let text): return text
        }
    }
}

/// A finding no action resolves: a person decides.
public struct HumanItem: Sendable, Equatable {
    private var storedId: StoredFindingId
    public var findingId: String { get { storedId.text } set { storedId = StoredFindingId(newValue) } }
    /// `findingId` as a key when it has a finding id's shape (see `PlanAction.singleFindingKey`).
    public var findingKey: FindingIdKey? { if case .key(let key) = storedId { return key } else { return nil } }
    public var type: FindingType
    public var entity: Entity
    public var records: [String]
    public var reason: String
    public init(findingId: String, type: FindingType, entity: Entity, records: [String], reason: String) {
        self.storedId = StoredFindingId(findingId); self.type = type; self.entity = entity; self.records = records; self.reason = reason
    }

    /// The item for `finding` (how the planner makes them: its id kept as its key).
    public init(finding: Finding, records: [String], reason: String) {
        self.storedId = .key(finding.idKey); self.type = finding.type; self.entity = finding.entity; self.records = records
        self.reason = reason
    }
}

/// One key and value of an action's payload.
public struct PayloadEntry: Sendable, Equatable {
    public var key: String
    public var value: String

    /// A payload's entries sorted by key.
    static func sorted(_ payload: [String: String]) -> [PayloadEntry] {
        payload.isEmpty ? [] : payload.map { PayloadEntry(key: $0.key, value: $0.value) }.sorted { $0.key < $1.key }
    }
}

/// A correction batch: the actions for one run's findings, in a canonical JSON form whose
/// SHA-256 is what an approver approves.
public struct Plan: Sendable {
    public var batchId: String
    public var runId: String
    public var createdAt: String
    public var rollbackOf: String?
    public var actions: [PlanAction]
    public var needsHuman: [HumanItem]

    /// - Parameter inParallel: sort the actions and the items across the cores (the same order).
    public init(batchId: String, runId: String, createdAt: String, rollbackOf: String? = nil, actions: [PlanAction], needsHuman: [HumanItem],
                inParallel: Bool = false) {
        self.batchId = batchId; self.runId = runId; self.createdAt = createdAt; self.rollbackOf = rollbackOf
        self.actions = Plan.sortedById(actions, inParallel: inParallel)
        self.needsHuman = Plan.sortedByFindingId(needsHuman, inParallel: inParallel)
    }

    /// Canonical JSON: keys sorted, no insignificant white space but one action per line, UTF-8.
    /// A night plan's `created_at`: its run's start, read from the run id (`20261202T225501Z`,
    /// maybe with a `-2` suffix) as `2026-12-02T22:55:01Z`; nil for an id of another shape. A
    /// plan can then be written again for a batch known only by its row (same bytes, same hash).
    public static func createdAt(ofRun runId: String) -> String? {
        let c = Array(runId.utf8.prefix(16))
        guard c.count == 16, c[8] == UInt8(ascii: "T"), c[15] == UInt8(ascii: "Z"),
              c.enumerated().allSatisfy({ $0.offset == 8 || $0.offset == 15 || (0x30...0x39).contains($0.element) }) else { return nil }
        let d = String(decoding: c, as: UTF8.self)
        func part(_ from: Int, _ count: Int) -> Substring { d.dropFirst(from).prefix(count) }
        return "\(part(0, 4))-\(part(4, 2))-\(part(6, 2))T\(part(9, 2)):\(part(11, 2)):\(part(13, 2))Z"
    }

    public func canonicalJSON() -> String {
        var out: [UInt8] = []
        appendCanonicalJSON(to: &out) { _ in }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical bytes in pieces, for writing and hashing a large plan without holding all
    /// of it: `emit` receives them in order.
    public func canonicalJSON(_ emit: (String) -> Void) {
        var buffer: [UInt8] = []
        appendCanonicalJSON(to: &buffer) { b in
            emit(String(decoding: b, as: UTF8.self))
            b.removeAll(keepingCapacity: true)
        }
        emit(String(decoding: buffer, as: UTF8.self))
    }

    /// Appends the canonical bytes to `out`, calling `flush` whenever it holds a megabyte or more
    /// (`flush` empties it). Keys in sorted order, written as bytes: this runs over every action
    /// of a nightly plan.
    func appendCanonicalJSON(to out: inout [UInt8], flush: (inout [UInt8]) -> Void) {
        for part in canonicalParts() {
            switch part {
            case .text(let bytes): out.append(contentsOf: bytes)
            case .actions(let range):
                for i in range {
                    appendAction(i, to: &out)
                    if out.count >= 1 << 20 { flush(&out) }
                }
            case .needsHuman(let range):
                for i in range {
                    appendNeedsHuman(i, to: &out)
                    if out.count >= 1 << 20 { flush(&out) }
                }
            }
        }
    }

    /// The canonical document in order: fixed text, then every action, fixed text, every item
    /// for a human, and the closing fields.
    private enum CanonicalPart {
        case text([UInt8])
        case actions(Range<Int>)
        case needsHuman(Range<Int>)
    }

    private func canonicalParts() -> [CanonicalPart] {
        func quoted(_ s: String?) -> String {
            guard let s else { return "null" }
            var out: [UInt8] = []
            JSONText.appendQuoted(s, to: &out)
            return String(decoding: out, as: UTF8.self)
        }
        let middle = (actions.isEmpty ? "" : "\n") + "],\"batch_id\":" + quoted(batchId) + ",\"created_at\":" + quoted(createdAt)
            + ",\"needs_human\":[\n"
        let end = (needsHuman.isEmpty ? "" : "\n") + "],\"rollback_of\":" + quoted(rollbackOf) + ",\"run_id\":" + quoted(runId)
            + ",\"version\":1}\n"
        return [.text(Array("{\"actions\":[\n".utf8)), .actions(actions.indices), .text(Array(middle.utf8)),
                .needsHuman(needsHuman.indices), .text(Array(end.utf8))]
    }

    /// Action `i` (preceded by its separator when it is not the first).
    private func appendAction(_ i: Int, to out: inout [UInt8]) {
        func raw(_ s: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
        func q(_ s: String?) { if let s { JSONText.appendQuoted(s, to: &out) } else { raw("null") } }
        actions.prefetch(i + prefetchDistance)
        let a = actions[i]
        if i > 0 { raw(",\n") }
        // The id needs no escaping: its bytes between quotes.
        raw("{\"action_id\":\""); a.withActionIdBytes { out.append(contentsOf: $0) }; raw("\",\"entity\":"); q(a.entity.rawValue); raw(",\"field\":"); q(a.field)
        raw(",\"finding_ids\":")
        if let key = a.singleFindingKey {
            raw("[\""); key.withBytes { out.append(contentsOf: $0) }; raw("\"]")
        } else if let id = a.singleFindingId { out.append(0x5B); JSONText.appendQuoted(id, to: &out); out.append(0x5D) } else { Self.appendList(a.findingIds, to: &out) }
        raw(",\"new_value\":"); q(a.newValue)
        raw(",\"old_value\":"); q(a.oldValue); raw(",\"operation\":"); q(a.operation.rawValue); raw(",\"payload\":{")
        for (k, entry) in a.payloadEntries.enumerated() {
            if k > 0 { out.append(0x2C) }
            JSONText.appendQuoted(entry.key, to: &out); out.append(0x3A); q(entry.value)
        }
        raw("},\"reason\":"); q(a.reason); raw(",\"record_id\":"); q(a.recordId); raw(",\"system\":"); q(a.system.rawValue)
        if let tier = a.tier { raw(",\"tier\":"); q(tier.rawValue) }
        raw("}")
    }

    /// Item `i` for a human (preceded by its separator when it is not the first).
    private func appendNeedsHuman(_ i: Int, to out: inout [UInt8]) {
        func raw(_ s: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
        func q(_ s: String) { JSONText.appendQuoted(s, to: &out) }
        let h = needsHuman[i]
        if i > 0 { raw(",\n") }
        raw("{\"entity\":"); q(h.entity.rawValue); raw(",\"finding_id\":")
        if let key = h.findingKey { out.append(0x22); key.withBytes { out.append(contentsOf: $0) }; out.append(0x22) } else { q(h.findingId) }
        raw(",\"reason\":"); q(h.reason)
        raw(",\"records\":"); Self.appendList(h.records, to: &out); raw(",\"type\":"); q(h.type.rawValue); raw("}")
    }

    private static func appendList(_ items: [String], to out: inout [UInt8]) {
        out.append(0x5B)
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(0x2C) }
            JSONText.appendQuoted(item, to: &out)
        }
        out.append(0x5D)
    }

    /// Streams the canonical bytes to `write` in chunks of about a megabyte and returns their
    /// SHA-256 (what an approver signs), computed on the way.
    public func writeCanonicalJSON(_ write: ([UInt8]) -> Void) -> String {
        var hasher = SHA256()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20 + 65536)
        func flush(_ b: inout [UInt8]) {
            guard !b.isEmpty else { return }
            b.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            write(b)
            b.removeAll(keepingCapacity: true)
        }
        appendCanonicalJSON(to: &buffer, flush: flush)
        flush(&buffer)
        return hex(hasher.finalize())
    }

    /// The SHA-256 of the canonical bytes (the same as `writeCanonicalJSON`'s), with the actions
    /// and items formatted on `threads` threads.
    public func canonicalJSONSHA256(threads: Int) -> String {
        writeCanonicalJSON(threads: threads) { _ in }
    }

    /// `writeCanonicalJSON`'s bytes and hash, with the actions and items formatted on `threads`
    /// threads, a block of them each at a time, then hashed and passed to `write` in order (the
    /// same bytes, in chunks of another size).
    public func writeCanonicalJSON(threads: Int, _ write: ([UInt8]) -> Void) -> String {
        guard threads > 1 else { return writeCanonicalJSON(write) }
        var hasher = SHA256()
        let block = 4096
        let window = threads * 2
        var buffers = [[UInt8]](repeating: [], count: window)
        func emit(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            write(bytes)
        }
        func blocks(_ range: Range<Int>, _ append: @Sendable (Int, inout [UInt8]) -> Void) {
            var start = range.lowerBound
            while start < range.upperBound {
                let blocks = min(window, (range.upperBound - start + block - 1) / block)
                let first = start
                buffers.withUnsafeMutableBufferPointer { b in
                    nonisolated(unsafe) let b = b
                    DispatchQueue.concurrentPerform(iterations: blocks) { k in
                        b[k].removeAll(keepingCapacity: true)
                        for i in (first + k * block)..<min(range.upperBound, first + (k + 1) * block) { append(i, &b[k]) }
                    }
                }
                for k in 0..<blocks { emit(buffers[k]) }
                start = min(range.upperBound, first + blocks * block)
            }
        }
        let plan = self
        for part in canonicalParts() {
            switch part {
            case .text(let bytes): emit(bytes)
            case .actions(let range): blocks(range) { i, out in plan.appendAction(i, to: &out) }
            case .needsHuman(let range): blocks(range) { i, out in plan.appendNeedsHuman(i, to: &out) }
            }
        }
        return hex(hasher.finalize())
    }

    /// Actions in id order. Ids are `ACT-` + 16 hex digits: sorted by that number (integer keys,
    /// no string compares, no moves of whole actions); any other shape falls back to the strings.
    static func sortedById(_ actions: [PlanAction], inParallel: Bool = false) -> [PlanAction] {
        let pieces = inParallel ? 8 : 1
        let keys = Engine.sorted(Engine.array(count: actions.count, pieces: pieces) { (actions[$0].idValue, $0) }, inParallel: inParallel) { $0 < $1 }
        return Engine.array(count: keys.count, pieces: pieces) { actions[keys[$0].1] }
    }

    /// Items by finding id, then reason. Finding ids are `TYP-E-` + 16 lowercase hex digits:
    /// their first six bytes and that number order them as their strings do, so the strings are
    /// compared only between items of one finding; any other shape falls back to the strings.
    static func sortedByFindingId(_ items: [HumanItem], inParallel: Bool = false) -> [HumanItem] {
        let pieces = inParallel ? 8 : 1
        let found = Engine.array(count: items.count, pieces: pieces) { i -> (prefix: UInt64, value: UInt64, index: Int)? in
            guard let key = items[i].findingKey else { return nil }
            return (key.prefix, key.value, i)
        }
        var keys: [(prefix: UInt64, value: UInt64, index: Int)] = []
        keys.reserveCapacity(items.count)
        for key in found {
            guard let key else { return items.sorted { ($0.findingId, $0.reason) < ($1.findingId, $1.reason) } }
            keys.append(key)
        }
        keys = Engine.sorted(keys, inParallel: inParallel) { a, b in
            if a.prefix != b.prefix { return a.prefix < b.prefix }
            if a.value != b.value { return a.value < b.value }
            let ra = items[a.index].reason, rb = items[b.index].reason
            return ra != rb ? ra < rb : a.index < b.index
        }
        return Engine.array(count: keys.count, pieces: pieces) { items[keys[$0].index] }
    }

    public static func sha256(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    /// SHA-256 of a file, read a megabyte at a time; nil when it cannot be read.
    public static func sha256(ofFile path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n > 0 { buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(n))) } }
            if n < buffer.count { break }
        }
        guard ferror(file) == 0 else { return nil }
        return hex(hasher.finalize())
    }

    /// SHA-256 of a text's UTF-8 bytes, without copying them.
    public static func sha256(_ text: String) -> String {
        var text = text
        return text.withUTF8 { hex(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
    }

    /// The inverse batch: each action undone, its precondition being the value it wrote.
    public func rollback(batchId: String, createdAt: String) -> Plan {
        rollback(of: actions, batchId: batchId, createdAt: createdAt)
    }

    /// The batch that undoes `applied` (actions of this plan that were applied): each inverted,
    /// its precondition being the value written.
    public func rollback(of applied: [PlanAction], batchId: String, createdAt: String) -> Plan {
        let inverse: [PlanAction] = applied.map { a in
            switch a.operation {
            case .updateField, .updateStatus, .link:
                return PlanAction(operation: a.operation, system: a.system, entity: a.entity, recordId: a.recordId, field: a.field,
                                  oldValue: a.newValue, newValue: a.oldValue, findingIds: a.findingIds, payload: a.payload,
                                  reason: "roll back \(a.actionId)")
            case .create:
                return PlanAction(operation: .delete, system: a.system, entity: a.entity, recordId: a.recordId, field: "",
                                  oldValue: nil, newValue: nil, findingIds: a.findingIds, payload: a.payload, reason: "roll back \(a.actionId)")
            case .merge:
                return PlanAction(operation: .unmerge, system: a.system, entity: a.entity, recordId: a.recordId, field: "",
                                  oldValue: a.newValue, newValue: a.oldValue, findingIds: a.findingIds, payload: a.payload,
                                  reason: "roll back \(a.actionId)")
            case .unmerge, .delete:
                return a
            }
        }
        return Plan(batchId: batchId, runId: runId, createdAt: createdAt, rollbackOf: self.batchId, actions: inverse, needsHuman: [])
    }
}

/// The number written by exactly 16 lowercase hex digits (as `hex` writes them), else nil: for
/// those, the order of the numbers is the order of the strings.
func lowercaseHex16<C: Collection>(_ digits: C) -> UInt64? where C.Element == UInt8 {
    guard digits.count == 16 else { return nil }
    var v: UInt64 = 0
    for d in digits {
        switch d {
        case 0x30...0x39: v = v << 4 | UInt64(d - 0x30)
        case 0x61...0x66: v = v << 4 | UInt64(d - 0x57)
        default: return nil
        }
    }
    return v
}

/// The 16 lowercase hex digits of `v`, most significant first (a small string: no allocation).
func hex16(_ v: UInt64) -> String {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { out in
        writeHex16(v, into: out, at: 0)
        return String(decoding: UnsafeBufferPointer(out), as: UTF8.self)
    }
}

/// Writes the 16 lowercase hex digits of `v` into `out` from `at`.
@usableFromInline @inline(__always)
func writeHex16(_ v: UInt64, into out: UnsafeMutableBufferPointer<UInt8>, at: Int) {
    for i in 0..<16 {
        let d = UInt8(truncatingIfNeeded: v >> (60 - 4 * i)) & 0xF
        out[at + i] = d < 10 ? 0x30 + d : 0x57 + d
    }
}

/// Lowercase hex digits of `bytes`, built as bytes (no Character appends).
func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for b in bytes {
        let hi = b >> 4, lo = b & 0xF
        out.append(hi < 10 ? 0x30 + hi : 0x57 + hi)
        out.append(lo < 10 ? 0x30 + lo : 0x57 + lo)
    }
    return String(decoding: out, as: UTF8.self)
}

/// A record's fingerprint: what a merge or create saw of it (id, canonical fields, attributes).
public enum Fingerprint {
    public static func customer(_ r: CustomerRecord) -> String {
        make([r.id, r.externalId, r.email, r.phone, r.name, r.country, r.updatedAt] + r.attributes)
    }
    public static func order(_ r: OrderRecord) -> String {
        make([r.id, r.status, r.externalId, r.customerId, r.amount, r.currency, r.createdAt, r.updatedAt] + r.attributes)
    }
    static func make(_ values: [String?]) -> String {
        "fp:" + hex(SHA256.hash(data: hashInput(values.map { $0 ?? "\u{0}" })).prefix(8))
    }
}

/// The UTF-8 bytes of `parts` joined by 0x1F (what the ids and fingerprints hash), built as bytes.
func hashInput(_ parts: [String]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(parts.reduce(parts.count) { $0 + $1.utf8.count })
    for (i, p) in parts.enumerated() {
        if i > 0 { out.append(0x1F) }
        out.append(contentsOf: p.utf8)
    }
    return out
}
