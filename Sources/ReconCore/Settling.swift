/// Records still settling: integrations lag. A deal won at 23:58 whose ERP order the integration
/// creates at 00:03 (a delayed webhook, a retry after a timeout) is not a missing order in a run at
/// 00:00; it is on its way.
///
/// The rule: a record created or updated within `settle_after` before the run started (its
/// `updated_at`, and for orders also `created_at`) is *recent*, and every finding that involves a
/// recent record is `settling`: reported with that status, never breaching a threshold or
/// `fail_on`, and no correction is planned for it. If it is still wrong once the window has passed,
/// the next run reports it as usual (new, or persisting if it was open before).
///
/// Edge cases: a timestamp up to `settle_after` *after* the run's start counts as recent too (clocks
/// of the systems and of recon differ); one further in the future does not, so a record with a
/// bogus date far ahead is never hidden. A record without a timestamp is never recent.
/// `settle_after: 0` turns the rule off.
public struct SettleWindow: Sendable {
    /// Epoch seconds: recent means `from <= t <= to`.
    public let from: Int64
    public let to: Int64

    public init(runStartedAt: Int64, seconds: Int) {
        from = runStartedAt - Int64(seconds)
        to = runStartedAt + Int64(seconds)
        // A day either side covers any UTC offset the text may carry.
        firstDay = Array(Self.day(from - 86_400).utf8)
        lastDay = Array(Self.day(to + 86_400).utf8)
    }

    /// `YYYY-MM-DD` bounds: a timestamp whose ISO text starts with a day outside them is not
    /// recent, without parsing it (almost every record of a mirror).
    private let firstDay: [UInt8]
    private let lastDay: [UInt8]

    static func day(_ epoch: Int64) -> String {
        let (y, m, d) = CivilDate.ymd(epoch)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(y)-\(two(m))-\(two(d))"
    }

    /// Whether an ISO timestamp's text is recent; texts of another shape are parsed.
    func isRecent(text b: UnsafeBufferPointer<UInt8>) -> Bool {
        if b.count >= 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), firstDay.count == 10, lastDay.count == 10 {
            let day = UnsafeBufferPointer(rebasing: b[0..<10])
            if day.lexicographicallyPrecedes(firstDay) || lastDay.lexicographicallyPrecedes(day) { return false }
        }
        return isRecent(ValueNormaliser.epochSeconds(bytes: b))
    }

    public var isOff: Bool { from == to }

    public func isRecent(_ epoch: Int64?) -> Bool {
        guard let epoch, !isOff else { return false }
        return epoch >= from && epoch <= to
    }

    /// The ids (trimmed, as findings name them) of the recent records, per system and entity.
    public struct RecentRecords: Sendable {
        public var customers: PerSystemIds = PerSystemIds()
        public var orders: PerSystemIds = PerSystemIds()
        public var isEmpty: Bool { customers.isEmpty && orders.isEmpty }
        public init() {}
    }

    public struct PerSystemIds: Sendable {
        public var crm: Set<String> = []
        public var erp: Set<String> = []
        public subscript(_ s: System) -> Set<String> {
            get { s == .crm ? crm : erp }
            set { if s == .crm { crm = newValue } else { erp = newValue } }
        }
        public var isEmpty: Bool { crm.isEmpty && erp.isEmpty }
    }

    /// One pass over the mirror's timestamps.
    /// - Parameter pieces: each table is scanned in this many ranges of rows, across the cores
    ///   when more than one.
    public func recentRecords(in mirror: Mirror, pieces: Int = 1) -> RecentRecords {
        var recent = RecentRecords()
        guard !isOff else { return recent }
        let pieces = max(1, pieces)
        var parts: [(system: System, entity: Entity, rows: Range<Int>)] = []
        for s in System.allCases {
            for (entity, count) in [(Entity.customer, mirror.customers(s).records.count), (.order, mirror.orders(s).records.count)] {
                for k in 0..<pieces { parts.append((s, entity, count * k / pieces..<count * (k + 1) / pieces)) }
            }
        }
        func scan(_ k: Int) -> [String] {
            let (s, entity, rows) = parts[k]
            var ids: [String] = []
            if entity == .customer {
                let customers = mirror.customers(s).records.store
                for row in rows where isRecent(customers, row, CustomerRecord.Field.updatedAt) {
                    if let id = ValueNormaliser.trimmed(customers.string(row, CustomerRecord.Field.id)) { ids.append(id) }
                }
            } else {
                let orders = mirror.orders(s).records.store
                for row in rows where isRecent(orders, row, OrderRecord.Field.updatedAt) || isRecent(orders, row, OrderRecord.Field.createdAt) {
                    if let id = ValueNormaliser.trimmed(orders.string(row, OrderRecord.Field.id)) { ids.append(id) }
                }
            }
            return ids
        }
        let found = pieces > 1 ? Engine.map(parts.count, scan) : parts.indices.map(scan)
        for (part, ids) in zip(parts, found) {
            if part.entity == .customer { recent.customers[part.system].formUnion(ids) } else { recent.orders[part.system].formUnion(ids) }
        }
        return recent
    }

    /// The ids of the findings that involve a recent record.
    public func settling(_ findings: [Finding], recent: RecentRecords) -> Set<String> {
        guard !recent.isEmpty else { return [] }
        var ids: Set<String> = []
        for f in findings.prefetching {
            let records = f.entity == .customer ? recent.customers : recent.orders
            if f.members.contains(where: { records[$0.system].contains($0.recordId) }) { ids.insert(f.id) }
        }
        return ids
    }

    private func isRecent(_ store: RowStore, _ row: Int, _ field: Int) -> Bool {
        store.withField(row, field) { $0.map { isRecent(text: $0) } ?? false }
    }
}

/// The proleptic Gregorian date (UTC) of a moment in epoch seconds (Howard Hinnant's algorithm).
public enum CivilDate {
    public static func ymd(_ epoch: Int64) -> (year: Int, month: Int, day: Int) {
        let z = Int((epoch >= 0 ? epoch : epoch - 86_399) / 86_400) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (UTC) of a moment in epoch seconds: what the state's
    /// `to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')` makes in a UTC session.
    public static func isoUTC(_ epoch: Int64) -> String {
        let (y, m, d) = ymd(epoch)
        let secs = Int(((epoch % 86_400) + 86_400) % 86_400)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secs / 3600, 2)):\(pad(secs / 60 % 60, 2)):\(pad(secs % 60, 2))Z"
    }
}
