/// Where a finding stands across runs.
public enum LifecycleStatus: String, Sendable, CaseIterable {
    /// First seen in this run (or seen again after it had been resolved).
    case new
    /// Open in the previous run and still open.
    case persisting
    /// Open, but a waiver (not expired) says a person has accepted it for now.
    case waived
    /// Open in the previous run, gone now.
    case resolved
    /// Involves a record created or updated just before the run (`settle_after`): the systems may
    /// still be catching up. Reported, never breaching, no action planned; not recorded as opened
    /// (a finding open before stays open).
    case settling
}

/// A finding's history, as the state database knows it before this run.
public struct OpenFinding: Sendable {
    public var firstSeenRun: String
    public var firstSeenAt: String     // ISO 8601 UTC
    public var nightsOpen: Int
    public var type: FindingType
    public var entity: Entity
    public var records: String
    /// `Finding.stateDigest` as last stored (nil: stored before the state kept digests).
    public var digest: Int64?
    public init(firstSeenRun: String, firstSeenAt: String, nightsOpen: Int, type: FindingType, entity: Entity, records: String,
                digest: Int64? = nil) {
        self.firstSeenRun = firstSeenRun; self.firstSeenAt = firstSeenAt; self.nightsOpen = nightsOpen
        self.type = type; self.entity = entity; self.records = records; self.digest = digest
    }
}

/// The findings open before this run, kept compactly (docs/PERFORMANCE.md, "Memory"). Ids are
/// interned; the runs that first saw them (a handful of distinct values) are stored once. Records are not kept
/// (only resolved findings need them; the caller fills those in).
public struct OpenFindings: Sendable {
    private var ids = ByteInterner()
    private var nights: [Int32] = []
    private var digests: [Int64] = []
    private var hasDigest: [Bool] = []
    private var types: [FindingType] = []
    private var entities: [Entity] = []
    private var firstSeen: [Int32] = []      // index into `seenRuns`
    private var seenRuns: [(run: String, at: String)] = []
    private var seenRunIndex: [String: Int32] = [:]

    public init() {}

    /// Room for `capacity` findings with ids of recon's shape, taken at once: read from the state,
    /// a night's open findings then fill their arrays without growing them (each growth copies
    /// what is there into memory faulted in afresh).
    public init(capacity: Int) {
        ids = ByteInterner(capacity: capacity, bytes: capacity * FindingIdKey.byteCount)
        nights.reserveCapacity(capacity)
        digests.reserveCapacity(capacity)
        hasDigest.reserveCapacity(capacity)
        types.reserveCapacity(capacity)
        entities.reserveCapacity(capacity)
        firstSeen.reserveCapacity(capacity)
    }

    public init(_ open: [String: OpenFinding]) {
        for (id, h) in open.sorted(by: { $0.key < $1.key }) { add(id: id, h) }
    }

    public var count: Int { nights.count }

    /// Adds an open finding (an id already added is ignored).
    public mutating func add(id: String, _ h: OpenFinding) {
        guard ids.intern(id).inserted else { return }
        nights.append(Int32(clamping: h.nightsOpen))
        digests.append(h.digest ?? 0)
        hasDigest.append(h.digest != nil)
        types.append(h.type)
        entities.append(h.entity)
        let key = h.firstSeenRun + "\u{1F}" + h.firstSeenAt
        if let k = seenRunIndex[key] {
            firstSeen.append(k)
        } else {
            seenRunIndex[key] = Int32(seenRuns.count)
            firstSeen.append(Int32(seenRuns.count))
            seenRuns.append((h.firstSeenRun, h.firstSeenAt))
        }
    }

    /// `add` from a state row's fields as bytes, with no `String` per row: the first-seen run and
    /// time are compared with the last row's (most open findings share a handful of runs).
    public mutating func add(id: UnsafeBufferPointer<UInt8>, firstSeenRun run: UnsafeBufferPointer<UInt8>,
                             firstSeenAt at: UnsafeBufferPointer<UInt8>, nightsOpen: Int, type: FindingType, entity: Entity,
                             digest: Int64?) {
        guard ids.intern(id).inserted else { return }
        nights.append(Int32(clamping: nightsOpen))
        digests.append(digest ?? 0)
        hasDigest.append(digest != nil)
        types.append(type)
        entities.append(entity)
        if let last = lastSeen, Self.same(last.run, run), Self.same(last.at, at) {
            firstSeen.append(last.index)
            return
        }
        let r = String(decoding: run, as: UTF8.self), a = String(decoding: at, as: UTF8.self)
        let key = r + "\u{1F}" + a
        let k: Int32
        if let known = seenRunIndex[key] {
            k = known
        } else {
            k = Int32(seenRuns.count)
            seenRunIndex[key] = k
            seenRuns.append((r, a))
        }
        firstSeen.append(k)
        lastSeen = (Array(run), Array(at), k)
    }
    private var lastSeen: (run: [UInt8], at: [UInt8], index: Int32)?

    /// Whether the last row's run (or time) is this row's: compared a word at a time.
    @inline(__always)
    private static func same(_ a: [UInt8], _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let to = b.baseAddress, !a.isEmpty else { return true }
        return a.withUnsafeBufferPointer { memcmpEqual($0.baseAddress!, to, a.count) }
    }

    /// The position of an open finding's id, or nil.
    public func index(of id: String) -> Int? { ids.find(id).map { Int($0) } }

    /// The open finding with `finding`'s id (looked up by its bytes, without making its text).
    public func index(of finding: Finding) -> Int? { finding.withIdBytes { ids.find($0) }.map { Int($0) } }

    public var isEmpty: Bool { nights.isEmpty }

    public func id(_ i: Int) -> String { ids.string(Int32(i)) }

    public func history(_ i: Int) -> OpenFinding {
        let run = seenRuns[Int(firstSeen[i])]
        return OpenFinding(firstSeenRun: run.run, firstSeenAt: run.at, nightsOpen: Int(nights[i]),
                           type: types[i], entity: entities[i], records: "", digest: digest(i))
    }

    /// The digest stored for finding `i` (nil: none stored).
    func digest(_ i: Int) -> Int64? { hasDigest[i] ? digests[i] : nil }
    func nightsOpen(_ i: Int) -> Int { Int(nights[i]) }
    func firstSeenRun(_ i: Int) -> (run: String, at: String) { seenRuns[Int(firstSeen[i])] }
}

/// A finding of this run with its lifecycle.
public struct TrackedFinding: Sendable, Prefetchable {
    public var finding: Finding { didSet { (idValue, group) = Self.place(of: finding) } }
    /// The finding's id number, kept beside it with its type and entity (`idKey`, `type`,
    /// `entity`): the night's counts, groupings and orderings read them here instead of reaching
    /// into each finding's storage.
    public private(set) var idValue: UInt64
    public var firstSeenRun: String
    public var firstSeenAt: String
    /// Runs in a row in which the finding has been open, this one included (one per night when
    /// recon runs nightly).
    public var nightsOpen: Int
    public var status: LifecycleStatus
    /// Whether the state must (re)write the finding: it is new, or what is stored about it
    /// (severity, field, records, detail) changed. A finding that persists unchanged costs the
    /// state nothing: its nights are counted from the run it was first seen in.
    public var changed: Bool
    /// `type.group(with: entity)`.
    @usableFromInline var group: UInt8

    public init(finding: Finding, status: LifecycleStatus, firstSeenRun: String, firstSeenAt: String, nightsOpen: Int,
                changed: Bool = true) {
        self.finding = finding; self.status = status; self.firstSeenRun = firstSeenRun
        self.firstSeenAt = firstSeenAt; self.nightsOpen = nightsOpen; self.changed = changed
        (idValue, group) = Self.place(of: finding)
    }

    /// `finding` comes first.
    @inlinable public static var boxOffset: Int { Finding.boxOffset }

    private static func place(of f: Finding) -> (UInt64, UInt8) {
        (f.idValue, UInt8(f.type.group(with: f.entity)))
    }

    // Inlinable: the reports read these for every finding, in place in the lifecycle's array.
    @inlinable public var type: FindingType { FindingType.inOrder[Int(group >> 1)] }
    @inlinable public var entity: Entity { group & 1 == 0 ? .customer : .order }
    @inlinable public var idKey: FindingIdKey { FindingIdKey(type: type, entity: entity, value: idValue) }
    /// The finding's type and entity as one number, in report order.
    @inlinable public var typeAndEntity: Int { Int(group) }
}

/// The lifecycle of one run: its findings with their status, and what was resolved.
public struct Lifecycle: Sendable {
    public var current: [TrackedFinding]
    /// Findings open in the previous run that are gone now, with their history.
    public var resolved: [(id: String, history: OpenFinding)]

    /// - Parameters:
    ///   - open: findings open before this run, by id.
    ///   - waived: ids with a waiver that has not expired.
    public static func compute(findings: [Finding], open: [String: OpenFinding], waived: Set<String>, settling: Set<String> = [],
                               runId: String, now: String) -> Lifecycle {
        compute(findings: findings, open: OpenFindings(open), waived: waived, settling: settling, runId: runId, now: now)
    }

    /// - Parameters:
    ///   - open: findings open before this run.
    ///   - waived: ids with a waiver that has not expired (a waiver wins over settling).
    ///   - settling: ids of the findings that involve a record still settling (`SettleWindow`).
    public static func compute(findings: [Finding], open: OpenFindings, waived: Set<String>, settling: Set<String> = [],
                               runId: String, now: String) -> Lifecycle {
        var current: [TrackedFinding] = []
        current.reserveCapacity(findings.count)
        var seen = [Bool](repeating: false, count: open.count)
        var seenCount = 0
        let (waived, settling) = (FindingIdKey.keys(of: waived), FindingIdKey.keys(of: settling))
        for f in findings.prefetching {
            var state = waived.isEmpty ? nil : waived.contains(f.idKey) ? LifecycleStatus.waived : nil
            if state == nil, !settling.isEmpty, settling.contains(f.idKey) { state = .settling }
            if let i = open.isEmpty ? nil : open.index(of: f) {
                if !seen[i] { seen[i] = true; seenCount += 1 }
                let first = open.firstSeenRun(i)
                current.append(TrackedFinding(finding: f, status: state ?? .persisting,
                                              firstSeenRun: first.run, firstSeenAt: first.at, nightsOpen: open.nightsOpen(i) + 1,
                                              changed: state != .settling && open.digest(i) != f.stateDigest))
            } else if state == .settling {
                // Not opened: the state records it only if it is still there after the window.
                current.append(TrackedFinding(finding: f, status: .settling, firstSeenRun: runId, firstSeenAt: now, nightsOpen: 0,
                                              changed: false))
            } else {
                current.append(TrackedFinding(finding: f, status: state ?? .new,
                                              firstSeenRun: runId, firstSeenAt: now, nightsOpen: 1))
            }
        }
        var resolved: [(id: String, history: OpenFinding)] = []
        if seenCount < open.count {
            for i in 0..<open.count where !seen[i] { resolved.append((open.id(i), open.history(i))) }
            resolved.sort { $0.id < $1.id }
        }
        return Lifecycle(current: current, resolved: resolved)
    }

    /// How many findings of each type and entity, indexed by `typeAndEntity`. Read in place here,
    /// beside the findings' type: a loop in another module copies each finding it reads a field
    /// of, retaining its storage (a cache miss per finding over hundreds of thousands).
    public func countsByTypeAndEntity() -> [Int] {
        var counts = [Int](repeating: 0, count: FindingType.allCases.count * 2)
        for i in current.indices { counts[current[i].typeAndEntity] += 1 }
        return counts
    }

    /// The `limit` open findings first seen longest ago (first seen, then most nights open, then
    /// id), waived and settling ones left out: kept in one pass as a short sorted list, not a sort
    /// of every open finding; read in place, each copied only when it is kept.
    public func oldestOpen(limit: Int) -> [TrackedFinding] {
        // The id's order is its key's (`FindingIdKey`: its type's prefix, then its number), read
        // from the table here: a global read inside the loop would make each finding a copy.
        let prefixes = FindingIdKey.prefixes
        func order(_ t: TrackedFinding) -> (String, Int, UInt64, UInt64) { (t.firstSeenAt, -t.nightsOpen, prefixes[Int(t.group)], t.idValue) }
        var kept: [TrackedFinding] = []
        current.withUnsafeBufferPointer { all in
            guard let first = all.baseAddress else { return }
            for i in all.indices {
                // Each field read through the pointer: an element read whole would be a copy.
                let t = first + i
                guard t.pointee.status != .waived && t.pointee.status != .settling else { continue }
                let key = (t.pointee.firstSeenAt, -t.pointee.nightsOpen, prefixes[Int(t.pointee.group)], t.pointee.idValue)
                if kept.count == limit, !(key < order(kept[limit - 1])) { continue }
                kept.insert(t.pointee, at: kept.firstIndex { key < order($0) } ?? kept.count)
                if kept.count > limit { kept.removeLast() }
            }
        }
        return kept
    }

    /// Counts per "type/entity" and status (plus "open": new + persisting). Counted in a table
    /// indexed by type, entity and status (hundreds of thousands of findings), named at the end.
    public func counts() -> [String: [String: Int]] {
        let statuses = LifecycleStatus.allCases
        let open = statuses.count       // the "open" column, after the statuses
        func row(_ type: FindingType, _ entity: Entity) -> Int { type.group(with: entity) }
        func column(_ status: LifecycleStatus) -> Int { statuses.firstIndex(of: status)! }   // of five
        var table = [Int](repeating: 0, count: FindingType.allCases.count * 2 * (open + 1))
        let resolvedColumn = column(.resolved)
        // By index, reading each finding's kept type and entity: its storage is not touched.
        for i in current.indices {
            let status = current[i].status
            let base = current[i].typeAndEntity * (open + 1)
            table[base + column(status)] += 1
            if status != .waived && status != .settling { table[base + open] += 1 }
        }
        for r in resolved { table[row(r.history.type, r.history.entity) * (open + 1) + resolvedColumn] += 1 }
        var out: [String: [String: Int]] = [:]
        for type in FindingType.allCases {
            for entity in Entity.allCases {
                let base = row(type, entity) * (open + 1)
                var cells: [String: Int] = [:]
                for (k, s) in statuses.enumerated() where table[base + k] > 0 { cells[s.rawValue] = table[base + k] }
                if table[base + open] > 0 { cells["open"] = table[base + open] }
                if !cells.isEmpty { out["\(type.rawValue)/\(entity.rawValue)"] = cells }
            }
        }
        return out
    }
}

/// A rule that breaches a run: more than `limit` findings (of a type and entity, if given) that
/// are new, or open, or any finding open for more than `limit` nights. Waived and settling findings
/// never count.
public struct Threshold: Sendable, Equatable {
    public enum Measure: String, Sendable { case new, open, openNights = "open_nights" }
    public var type: FindingType?
    public var entity: Entity?
    public var measure: Measure = .new
    public var limit: Int = 0
    public init(type: FindingType? = nil, entity: Entity? = nil, measure: Measure = .new, limit: Int = 0) {
        self.type = type; self.entity = entity; self.measure = measure; self.limit = limit
    }

    public var description: String {
        let scope = [type?.rawValue, entity?.rawValue].compactMap { $0 }.joined(separator: " ")
        let what = scope.isEmpty ? "findings" : scope
        switch measure {
        case .new: return "more than \(limit) new \(what)"
        case .open: return "more than \(limit) open \(what)"
        case .openNights: return "\(what) open longer than \(limit) nights"
        }
    }

    /// The measured value for this rule, and whether it breaches.
    public func evaluate(_ findings: [TrackedFinding]) -> (value: Int, breached: Bool) {
        // In place: copying hundreds of thousands of findings into a filtered array costs more
        // than the measure.
        var new = 0, open = 0, longest = 0
        for i in findings.indices {
            let status = findings[i].status
            guard status != .waived, status != .settling, type == nil || findings[i].type == type,
                  entity == nil || findings[i].entity == entity else { continue }
            open += 1
            if status == .new { new += 1 }
            longest = max(longest, findings[i].nightsOpen)
        }
        switch measure {
        case .new: return (new, new > limit)
        case .open: return (open, open > limit)
        case .openNights: return (longest, longest > limit)
        }
    }
}
