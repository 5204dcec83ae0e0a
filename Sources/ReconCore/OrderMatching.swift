import Dispatch
import Foundation

/// Orders: external-id links in either direction, the customer check, duplicates (entered twice
/// within the window, or two orders linked to one counterpart), orphans, missing orders, status
/// and field mismatches, and orders of one customer identity that match but are not linked.
struct OrderMatcher {
    let mirror: Mirror
    let config: ReconConfig
    var findings: [Finding] = []
    /// Per system: trimmed order id → code, and each code's row (set by `prepare`).
    var idCodes = PerSystem(crm: ByteInterner(), erp: ByteInterner())
    var rowOfCode = PerSystem<[Int32]>(crm: [], erp: [])
    var steps = Stopwatch()
    /// One copy of each finding detail text (`SharedTexts`).
    private var texts = SharedTexts()

    init(mirror: Mirror, config: ReconConfig) {
        self.mirror = mirror
        self.config = config
    }

    private func severity(_ t: FindingType) -> Severity { config.severities[t] ?? .warning }

    /// One usable order, normalised. Values are interned codes; their text comes from the
    /// codes (`amountCodes`, `currencyCodes`) or the row store when a finding needs it.
    /// Not written after `prepare` (each order's customer and identity are kept beside them,
    /// in `customerRaw` and `run`'s own array): the linked pairs are compared on either thread
    /// while this one goes on (`LinkedOrders`).
    struct Prepared {
        // Three million of these at a million customers per side: 8-byte fields first and no
        // optionals in storage (nil is a sentinel), 32 bytes each.
        private var createdRaw: Int64 = .min
        /// The canonical amount as `AmountCodes` encodes it (`AmountCodes.none`: no amount).
        var amount: Int64 = AmountCodes.none
        var record: Int32
        /// The order id's code in `idCodes` of its system.
        var idCode: Int32
        /// Uppercased currency, -1 for none.
        var currencyCode: Int32 = -1
        var system: System
        var status: CanonicalStatus?

        init(system: System, record: Int32, idCode: Int32) {
            self.system = system; self.record = record; self.idCode = idCode
        }

        var created: Int64? {
            get { createdRaw == .min ? nil : createdRaw }
            set { createdRaw = newValue ?? .min }
        }
        var hasAmount: Bool { amount != AmountCodes.none }
        /// The amount's code, nil for none (what the rules compare).
        var amountValue: Int64? { hasAmount ? amount : nil }
        /// The uppercased currency's code, nil for none.
        var currency: Int32? { currencyCode >= 0 ? currencyCode : nil }

        /// The order's trimmed id, from the id codes of both systems.
        func id(in idCodes: PerSystem<ByteInterner>) -> String { idCodes[system].string(idCode) }
    }

    /// Each order's customer (set by `resolveCustomers`): ≥ 0 the customer's code; -1 no
    /// customer id; ≤ -2: (-2 - code) among the customer ids that name no customer.
    private var customerRaw: [Int32] = []

    /// Equal for orders naming the same trimmed customer id (nil: no customer id): the
    /// customer's code, or 2^40 + the code of an id that names no customer.
    @inline(__always)
    private func customerKey(_ o: Int) -> UInt64? {
        let raw = customerRaw[o]
        return raw == -1 ? nil : raw >= 0 ? UInt64(raw) : 1 << 40 | UInt64(-2 - Int64(raw))
    }

    private var amountCodes = AmountCodes()
    private var currencyCodes = ByteInterner()

    private func idText(_ p: Prepared) -> String { p.id(in: idCodes) }

    private func amountText(_ p: Prepared) -> String? { amountCodes.text(p.amount) }

    /// The order's trimmed customer id as the query returned it.
    private func customerIdText(_ p: Prepared) -> String? {
        ValueNormaliser.trimmed(mirror.orders(p.system).records.field(Int(p.record), OrderRecord.Field.customerId))
    }

    private var orders: [Prepared] = []
    /// How far ahead lookup loops prefetch table slots: enough misses in flight to hide much of
    /// the memory latency once the tables outgrow the cache.
    static let lookahead = 8

    /// Normalises every order (everything but its customer, which needs customer matching):
    /// independent of the customers, so it runs beside them on the other core.
    mutating func prepare() {
        orders.reserveCapacity(mirror.crmOrders.records.count + mirror.erpOrders.records.count)
        var scratch: [UInt8] = []
        typealias F = OrderRecord.Field
        for system in System.allCases {
            let recs = mirror.orders(system).records
            let store = recs.store
            let file = Extract.of(system, .order).fileName
            let statusMap = config.statuses.map(system)
            // Raw statuses by their trimmed bytes (a handful of distinct values).
            var statusCodes = ByteInterner()
            var statusOfCode: [CanonicalStatus] = []
            for (raw, canonical) in statusMap where statusCodes.intern(raw).inserted { statusOfCode.append(canonical) }
            var ids = IdColumn(recs, system: system, file: file)
            var rows: [Int32] = []
            rows.reserveCapacity(recs.count)
            for i in 0..<recs.count {
                // The table slot of the id a few rows ahead starts loading now.
                if i + Self.lookahead < recs.count, let p = store.bytes(i + Self.lookahead, F.id),
                   let t = ByteText.trimmedBytes(p) {
                    ids.codes.prefetch(t)
                }
                guard case .first(let code) = ids.state(recs, store, i, problem: {
                    invalid(system, $0, field: "id", value: $1, detail: $2, identity: $3)
                }) else { continue }
                var p = Prepared(system: system, record: Int32(i), idCode: code)
                let statusCode: Int32? = ByteText.trimmed(store.bytes(i, F.status) ?? UnsafeBufferPointer(start: nil, count: 0)) {
                    statusCodes.find($0)
                }
                if let statusCode {
                    p.status = statusOfCode[Int(statusCode)]
                } else {
                    let rawStatus = recs.field(i, F.status)
                    let empty = rawStatus?.trimmingWhitespace().isEmpty ?? true
                    invalid(system, ids.codes.string(code), field: "status", value: rawStatus ?? "",
                            detail: InvalidValue.status(empty: empty, system: system), row: Int32(i))
                }
                let amountState: Bool? = store.bytes(i, F.amount).map { ValueNormaliser.amount(bytes: $0, into: &scratch) }
                if amountState == true {
                    p.amount = scratch.withUnsafeBufferPointer { amountCodes.code(canonical: $0) }
                } else if amountState == false {
                    invalid(system, ids.codes.string(code), field: "amount", value: recs.field(i, F.amount) ?? "", detail: InvalidValue.amount, row: Int32(i))
                }
                if let f = store.bytes(i, F.currency), ValueNormaliser.currency(bytes: f, into: &scratch) {
                    p.currencyCode = scratch.withUnsafeBufferPointer { currencyCodes.intern($0).code }
                }
                p.created = store.bytes(i, F.createdAt).flatMap { ValueNormaliser.epochSeconds(bytes: $0) }
                rows.append(Int32(i))
                orders.append(p)
            }
            ids.reportRepeats { invalid(system, $0, field: "id", value: $1, detail: $2, identity: $3) }
            idCodes[system] = ids.codes
            rowOfCode[system] = rows
        }
        steps.lap("orders.prepare")
    }

    // Links in either direction (set by `link`). Counterparts: the first in an array, more (an
    // order linked to two) in a side table.
    private var firstCounterpart: [Int32] = []
    private var moreCounterparts: [Int32: [Int]] = [:]
    private var dangling: [Bool] = []
    private var linkPairs: [(Int32, Int32)] = []
    /// Customer ids that name no customer (their codes are offset by 2^40 in `customerKey`).
    private var otherCustomers = ByteInterner()
    /// Customer codes per system (set by `resolveCustomers`).
    private var customerCodeCount = PerSystem(crm: 0, erp: 0)
    /// Orders whose sibling in a duplicate has a counterpart (set by `groupDuplicates`).
    private var explainedByDuplicate: [Bool] = []

    /// Links orders by external id, in either direction: needs only `prepare`, so it runs
    /// while the customers are still being matched.
    mutating func link() {
        typealias F = OrderRecord.Field
        let n = orders.count
        firstCounterpart = [Int32](repeating: -1, count: n)
        dangling = [Bool](repeating: false, count: n)
        let crmStore = mirror.crmOrders.records.store, erpStore = mirror.erpOrders.records.store
        let crmOrderCount = idCodes.crm.count
        let crmCodes = idCodes.crm, erpCodes = idCodes.erp
        withExtendedLifetime((crmStore, erpStore)) {
            for o in 0..<n {
                let p = orders[o]
                let fromCRM = p.system == .crm
                if o + Self.lookahead < n {
                    let a = orders[o + Self.lookahead]
                    if let f = a.system == .crm ? crmStore.bytes(Int(a.record), F.externalId) : erpStore.bytes(Int(a.record), F.externalId),
                       let t = ByteText.trimmedBytes(f) {
                        if a.system == .crm { erpCodes.prefetch(t) } else { crmCodes.prefetch(t) }
                    }
                }
                let link: ExternalLink
                if let f = fromCRM ? crmStore.bytes(Int(p.record), F.externalId) : erpStore.bytes(Int(p.record), F.externalId) {
                    // Orders are prepared in order of first appearance, CRM first: an id's code
                    // plus the system's offset is the order's index in `orders`.
                    @inline(__always) func lookUp(_ t: UnsafeBufferPointer<UInt8>) -> ExternalLink {
                        ExternalLink.of(t) { t in
                            (fromCRM ? erpCodes.find(t) : crmCodes.find(t)).map { fromCRM ? crmOrderCount + Int($0) : Int($0) }
                        }
                    }
                    if let t = ByteText.trimmedBytes(f) { link = lookUp(t) } else { link = ByteText.trimmed(f) { lookUp($0) } }
                } else {
                    link = .none
                }
                let other: Int
                switch link {
                case .none: continue
                case .dangling: dangling[o] = true; continue
                case .resolved(let order): other = order
                }
                let (c, e) = p.system == .crm ? (o, other) : (other, o)
                // Both sides may name each other: one link.
                if firstCounterpart[c] == Int32(e) || (moreCounterparts[Int32(c)]?.contains(e) ?? false) { continue }
                linkPairs.append((Int32(c), Int32(e)))
                addCounterpart(c, e)
                addCounterpart(e, c)
            }
        }
        steps.lap("orders.links")
    }

    private mutating func addCounterpart(_ a: Int, _ b: Int) {
        if firstCounterpart[a] < 0 { firstCounterpart[a] = Int32(b) } else { moreCounterparts[Int32(a), default: []].append(b) }
    }

    private func hasCounterpart(_ o: Int) -> Bool { firstCounterpart[o] >= 0 }


    /// Each order's customer code among the customers (`customerIds`: per system, trimmed id →
    /// code, as customer matching interned them), or a code of its own for an id that names no
    /// customer. Needs only the customers' ids, not their identities: it runs while the
    /// customers are still being matched.
    mutating func resolveCustomers(_ customerIds: PerSystem<ByteInterner>) {
        typealias F = OrderRecord.Field
        let crmCustomers = customerIds.crm, erpCustomers = customerIds.erp
        let crmStore = mirror.crmOrders.records.store, erpStore = mirror.erpOrders.records.store
        var raw = [Int32](repeating: -1, count: orders.count)
        withExtendedLifetime((crmStore, erpStore)) {
            for o in 0..<orders.count {
                let crm = orders[o].system == .crm
                guard let f = crm ? crmStore.bytes(Int(orders[o].record), F.customerId) : erpStore.bytes(Int(orders[o].record), F.customerId) else { continue }
                let t = ByteText.trimmedBytes(f)
                if let t, t.isEmpty { continue }
                if let t, let code = crm ? crmCustomers.find(t) : erpCustomers.find(t) {
                    raw[o] = code
                    continue
                }
                raw[o] = ByteText.trimmed(f) { c in
                    if c.isEmpty { return -1 }
                    if let code = customerIds[orders[o].system].find(c) { return code }
                    return -2 - otherCustomers.intern(c).code
                }
            }
        }
        customerRaw = raw
        customerCodeCount = customerIds.map(\.count)
        steps.lap("orders.customers")
    }

    /// Duplicates, and the statuses and fields of linked pairs: they need the links and each
    /// order's customer code, not customer identities, so they run while the customers are still
    /// being matched (after `link` and `resolveCustomers`).
    mutating func groupAndCompare() {
        groupDuplicates()
        compareLinked()
    }

    /// Duplicates (after `link` and `resolveCustomers`).
    mutating func groupDuplicates() {
        // Locals for the closures below: a closure that calls a method copies the whole matcher
        // (a few dozen references) each time it is made.
        let orders = self.orders, idCodes = self.idCodes, amountCodes = self.amountCodes
        let firstCounterpart = self.firstCounterpart, moreCounterparts = self.moreCounterparts
        func counterparts(_ o: Int) -> [Int] {
            firstCounterpart[o] < 0 ? [] : [Int(firstCounterpart[o])] + (moreCounterparts[Int32(o)] ?? [])
        }
        let n = orders.count
        // Duplicates: a union of (a) orders linked to one counterpart and (b) one customer's
        // orders with equal amount and currency within the window.
        var sets = DisjointSets(count: n)
        func find(_ x: Int) -> Int { Int(sets.find(Int32(x))) }
        func union(_ a: Int, _ b: Int) { sets.union(Int32(a), Int32(b)) }
        var duplicateEvidence = [UInt8](repeating: 0, count: n)   // OrderDuplicates.byExternalId, .byWindow
        for (o, _) in moreCounterparts {
            let cs = counterparts(Int(o))
            for c in cs.dropFirst() { union(cs[0], c) }
            for c in cs { duplicateEvidence[c] |= OrderDuplicates.byExternalId }
        }
        // Group by (system, customer, amount, currency): a counting sort of the orders by their
        // customer (dense integer keys), then each customer's few orders ordered by amount and
        // currency; runs of two or more go to the window check.
        let customerCount = customerCodeCount
        let others = otherCustomers.count
        let base = PerSystem(crm: 0, erp: customerCount.crm + others)
        let buckets = customerCount.crm + customerCount.erp + 2 * others
        func bucket(_ o: Int) -> Int? {
            let p = orders[o]
            guard let key = customerKey(o), p.hasAmount, p.created != nil else { return nil }
            return base[p.system] + (key >> 40 == 0 ? Int(key) : customerCount[p.system] + Int(key & 0xFF_FFFF_FFFF))
        }
        let byCustomer = GroupedByKey(count: n, keys: buckets, key: bucket)
        var windowGroups: [[Int]] = []
        for b in 0..<buckets where byCustomer.count(b) >= 2 {
            let members = byCustomer[b].map { Int($0) }.sorted {
                (orders[$0].amount, orders[$0].currencyCode, $0) < (orders[$1].amount, orders[$1].currencyCode, $1)
            }
            var at = 0
            while at < members.count {
                var end = at + 1
                while end < members.count, orders[members[end]].amount == orders[members[at]].amount,
                      orders[members[end]].currencyCode == orders[members[at]].currencyCode { end += 1 }
                if end - at >= 2 { windowGroups.append(Array(members[at..<end])) }
                at = end
            }
        }
        let window = Int64(config.orderDuplicateWindowSeconds)
        func idOf(_ o: Int) -> String { orders[o].id(in: idCodes) }
        for group in windowGroups {
            let sorted = group.sorted { (orders[$0].created!, idOf($0)) < (orders[$1].created!, idOf($1)) }
            for chain in OrderDuplicates.chains(sorted, created: { orders[$0].created! }, window: window)
            where !OrderDuplicates.eachHasItsOwnCounterpart(chain, counterparts: counterparts) {
                for o in chain.dropFirst() { union(chain[0], o) }
                for o in chain { duplicateEvidence[o] |= OrderDuplicates.byWindow }
            }
        }
        var dupGroups: [Int: [Int]] = [:]
        for o in 0..<n where duplicateEvidence[o] != 0 { dupGroups[find(o), default: []].append(o) }
        explainedByDuplicate = [Bool](repeating: false, count: n)
        for (_, group) in dupGroups.sorted(by: { $0.key < $1.key }) where group.count >= 2 {
            let evidence = group.reduce(UInt8(0)) { $0 | duplicateEvidence[$1] }
            let system = orders[group[0]].system
            findings.append(Finding(type: .duplicate, entity: .order, severity: severity(.duplicate),
                                    matchedOn: OrderDuplicates.matchedOn(evidence),
                                    detail: texts.shared("\(group.count) \(system.label) orders for one order"),
                                    members: group.map {
                                        FindingMember(system: system, recordId: idOf($0),
                                                      value: amountCodes.text(orders[$0].amount) ?? "", role: "duplicate", row: orders[$0].record)
                                    }))
            // A copy whose sibling has a counterpart is explained by the duplicate finding.
            if group.contains(where: { firstCounterpart[$0] >= 0 }) {
                for o in group where firstCounterpart[o] < 0 { explainedByDuplicate[o] = true }
            }
        }

        steps.lap("orders.duplicates")
    }

    /// Linked pairs: statuses and fields (after `link`; independent of customers and duplicates),
    /// on this thread.
    mutating func compareLinked() {
        let linked = LinkedOrders()
        linked.start(linkedComparison())
        linked.help()
        findings += linked.result()
        steps.lap("orders.fields")
    }

    /// What comparing the linked pairs reads, none of which changes after `link`.
    func linkedComparison() -> LinkedOrders.Comparison {
        let crmAttrs = mirror.crmOrders.attributeNames, erpAttrs = mirror.erpOrders.attributeNames
        return LinkedOrders.Comparison(
            mirror: mirror, statuses: config.statuses, orders: orders, pairs: linkPairs, idCodes: idCodes,
            shared: FieldMismatch.sharedAttributes(crm: crmAttrs, erp: erpAttrs),
            statusSeverity: severity(.statusMismatch), fieldSeverity: severity(.fieldMismatch))
    }

    /// Everything after `prepare`, on this thread: links, customers, the rest.
    mutating func linkAndCompare(customers: CustomerMatch) {
        link()
        resolveCustomers(customers.idCodes)
        groupAndCompare()
        run(identityOfCode: customers.identityOfCode)
    }

    /// Matches the linked orders against each other and the customers (after `link`,
    /// `resolveCustomers` and `groupDuplicates`), given what it needs of the finished customer
    /// matching: each customer code's identity, per system.
    mutating func run(identityOfCode: PerSystem<[Int32]>) {
        let n = orders.count
        // Each order's customer identity, -1 when the customer does not exist.
        var identity = [Int32](repeating: -1, count: n)
        for o in 0..<n where customerRaw[o] >= 0 {
            identity[o] = identityOfCode[orders[o].system][Int(customerRaw[o])]
        }
        let dangling = dangling
        // Customer check.
        // Only where the query maps customer_id; a NULL there is an order without a customer.
        let hasCustomerColumn = PerSystem { mirror.orders($0).has("customer_id") }
        var customerMissing = [Bool](repeating: false, count: n)
        for o in 0..<n where hasCustomerColumn[orders[o].system] && identity[o] < 0 {
            let p = orders[o]
            customerMissing[o] = true
            findings.append(Finding(type: .orphan, entity: .order, severity: severity(.orphan),
                                    field: "customer_id",
                                    detail: texts.shared(UnmatchedOrder.customerMissingDetail(system: p.system, hasCustomerId: customerRaw[o] != -1)),
                                    members: [FindingMember(system: p.system, recordId: idText(p), value: customerIdText(p) ?? "", role: "orphan", row: p.record)],
                                    identity: ["\(p.system.rawValue):\(idText(p))", "customer_id"]))
        }

        steps.lap("orders.customer_check")
        let explainedByDuplicate = self.explainedByDuplicate
        // Orders of one customer identity that look alike but are not linked.
        var pairedUnlinked = [Bool](repeating: false, count: n)
        struct IdentityKey: Comparable {
            let identity: Int32, amount: Int64, currency: Int32
            static func < (a: IdentityKey, b: IdentityKey) -> Bool {
                if a.identity != b.identity { return a.identity < b.identity }
                if a.amount != b.amount { return a.amount < b.amount }
                return a.currency < b.currency
            }
        }
        func identityKey(_ o: Int) -> IdentityKey? {
            let p = orders[o]
            guard identity[o] >= 0, p.hasAmount else { return nil }
            return IdentityKey(identity: identity[o], amount: p.amount, currency: p.currencyCode)
        }
        // The ERP candidates by key, in order within a key, in one sorted array; each is taken once.
        var candidates: [(key: IdentityKey, order: Int32)] = []
        for o in 0..<n where orders[o].system == .erp && !hasCounterpart(o) && !explainedByDuplicate[o] && !customerMissing[o] {
            if let k = identityKey(o) { candidates.append((k, Int32(o))) }
        }
        candidates.sort { (a: (key: IdentityKey, order: Int32), b: (key: IdentityKey, order: Int32)) -> Bool in
            a.key == b.key ? a.order < b.order : a.key < b.key
        }
        var taken = [Bool](repeating: false, count: candidates.count)
        var list: [Int] = [], at: [Int] = []
        for o in 0..<n where orders[o].system == .crm && !hasCounterpart(o) && !explainedByDuplicate[o] && !customerMissing[o] {
            guard let k = identityKey(o) else { continue }
            var lo = 0, hi = candidates.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if candidates[mid].key < k { lo = mid + 1 } else { hi = mid }
            }
            list.removeAll(keepingCapacity: true)
            at.removeAll(keepingCapacity: true)
            var i = lo
            while i < candidates.count && candidates[i].key == k {
                if !taken[i] { list.append(Int(candidates[i].order)); at.append(i) }
                i += 1
            }
            guard !list.isEmpty else { continue }
            let best = UnlinkedOrder.closest(to: orders[o].created ?? 0, among: list, createdAt: { orders[$0].created ?? 0 },
                                             id: { idText(orders[$0]) })
            let e = list[best]
            taken[at[best]] = true
            pairedUnlinked[o] = true
            pairedUnlinked[e] = true
            findings.append(Finding(type: .unlinked, entity: .order, severity: severity(.unlinked),
                                    matchedOn: UnlinkedOrder.matchedOn, detail: UnlinkedOrder.detail,
                                    members: [FindingMember(system: .crm, recordId: idText(orders[o]), value: amountText(orders[o]) ?? "", role: "crm", row: orders[o].record),
                                              FindingMember(system: .erp, recordId: idText(orders[e]), value: amountText(orders[e]) ?? "", role: "erp", row: orders[e].record)]))
        }

        steps.lap("orders.unlinked")
        // Orphan ERP orders and missing ERP orders.
        for o in 0..<n where !hasCounterpart(o) && !pairedUnlinked[o] && !explainedByDuplicate[o] {
            let p = orders[o]
            switch UnmatchedOrder.verdict(system: p.system, status: p.status, dangling: dangling[o], statuses: config.statuses) {
            case .orphan(let detail):
                findings.append(Finding(type: .orphan, entity: .order, severity: severity(.orphan), detail: texts.shared(detail),
                                        members: [FindingMember(system: .erp, recordId: idText(p),
                                                                value: mirror.erpOrders.records.field(Int(p.record), OrderRecord.Field.externalId) ?? "", role: "orphan", row: p.record)]))
            case .missing(let detail):
                findings.append(Finding(type: .missingOrder, entity: .order, severity: severity(.missingOrder), detail: texts.shared(detail),
                                        members: [FindingMember(system: .crm, recordId: idText(p),
                                                                value: mirror.crmOrders.records.field(Int(p.record), OrderRecord.Field.status) ?? "", role: "missing", row: p.record)]))
            case .fine:
                break
            }
        }

        steps.lap("orders.orphans")
    }

    /// Lets go of what only the orders' own rules read (the prepared orders, links and
    /// customers), keeping the id codes and rows the record index needs: after `run`, once the
    /// findings are taken, while the customers are still being reported on the other thread.
    mutating func releaseWorkingSet() {
        orders = []
        customerRaw = []
        amountCodes = AmountCodes()
        currencyCodes = ByteInterner()
        firstCounterpart = []
        moreCounterparts = [:]
        dangling = []
        linkPairs = []
        otherCustomers = ByteInterner()
        explainedByDuplicate = []
        texts = SharedTexts()
    }

    private mutating func invalid(_ system: System, _ recordId: String, field: String, value: String,
                                  detail: String, identity: [String]? = nil, row: Int32 = -1) {
        findings.append(Finding(type: .invalid, entity: .order, severity: severity(.invalid), field: field,
                                detail: texts.shared(detail), members: [FindingMember(system: system, recordId: recordId, value: value, row: row)],
                                identity: identity))
    }
}

/// Canonical amounts (`ValueNormaliser.amount`) as single 64-bit values, so orders compare
/// amounts without a table of millions of distinct texts: fixed point with nine decimals when
/// the amount has at most nine digits on each side of the point (|value| < 10^18), else a code
/// among the amounts that do not fit (Int64.min + code, far below any fixed-point value).
/// Equal canonical texts give equal values and different ones different values.
struct AmountCodes {
    static let none = Int64.max
    private static let scale: Int64 = 1_000_000_000
    private var others = ByteInterner()

    /// The value of a canonical amount: `-`? digits (`.` digits)?, no redundant zeros.
    mutating func code(canonical t: UnsafeBufferPointer<UInt8>) -> Int64 {
        var i = 0
        let negative = i < t.count && t[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var int: Int64 = 0, intDigits = 0
        while i < t.count, t[i] != UInt8(ascii: ".") { int = int &* 10 &+ Int64(t[i] &- 48); intDigits += 1; i += 1 }
        var frac: Int64 = 0, fracDigits = 0
        if i < t.count {
            i += 1
            while i < t.count { frac = frac &* 10 &+ Int64(t[i] &- 48); fracDigits += 1; i += 1 }
        }
        guard intDigits <= 9, fracDigits <= 9 else { return Int64.min + Int64(others.intern(t).code) }
        for _ in fracDigits..<9 { frac *= 10 }
        let value = int * Self.scale + frac
        return negative ? -value : value
    }

    /// The canonical text of an amount's value, nil for none.
    func text(_ v: Int64) -> String? {
        if v == Self.none { return nil }
        if v < Int64.min / 2 { return others.string(Int32(v - Int64.min)) }
        let a = v.magnitude
        var s = (v < 0 ? "-" : "") + String(a / UInt64(Self.scale))
        var frac = a % UInt64(Self.scale)
        if frac > 0 {
            var digits = 9
            while frac % 10 == 0 { frac /= 10; digits -= 1 }
            let f = String(frac)
            s += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return s
    }
}

/// Where each trimmed customer and order id is in the mirror's tables (its first row), from the
/// interners matching built: the plan and the reports find the records findings name without
/// scanning millions of rows again.
///
/// A class: the plan and the reports look rows up once or more per finding, and a struct of
/// eight tables would be copied (each of its arrays retained and released) at every lookup.
public final class RecordIndex: Sendable {
    let customerIds: PerSystem<ByteInterner>
    let customerRows: PerSystem<[Int32]>
    let orderIds: PerSystem<ByteInterner>
    let orderRows: PerSystem<[Int32]>

    init(customerIds: PerSystem<ByteInterner>, customerRows: PerSystem<[Int32]>, orderIds: PerSystem<ByteInterner>, orderRows: PerSystem<[Int32]>) {
        self.customerIds = customerIds
        self.customerRows = customerRows
        self.orderIds = orderIds
        self.orderRows = orderRows
    }

    public func customerRow(_ system: System, _ id: String) -> Int? {
        customerIds[system].find(id).map { Int(customerRows[system][Int($0)]) }
    }

    public func orderRow(_ system: System, _ id: String) -> Int? {
        orderIds[system].find(id).map { Int(orderRows[system][Int($0)]) }
    }

    /// The row of a finding's member (a customer or an order, per `entity`): where matching
    /// found it, else looked up by its id.
    public func row(of member: FindingMember, _ entity: Entity) -> Int? {
        if member.row >= 0 { return Int(member.row) }
        return entity == .customer ? customerRow(member.system, member.recordId) : orderRow(member.system, member.recordId)
    }
}

/// One customer table's normalisation in pieces (row ranges), each done by whichever thread
/// claims it first and handed on in row order (`NormalisedTable`) once all are done.
final class CustomerNormalisationPieces: Sendable {
    private let pieces: SharedPieces<Records<CustomerRecord>, PreNormalised>

    init(_ records: Records<CustomerRecord>) {
        pieces = SharedPieces(records, items: records.count, pieces: records.count >= 64 * 1024 ? 16 : 1)
    }

    /// Normalises pieces no other thread has claimed, with this thread's `phones`, while
    /// `keepGoing` says so (asked before each piece is claimed).
    func help(phones: PhoneNormaliser, while keepGoing: () -> Bool = { true }) {
        pieces.help(while: keepGoing) { records, rows in PreNormalised(records, rows: rows, phones: phones) }
    }

    /// The whole table normalised, once every piece is (waiting for those on other threads).
    func result() -> NormalisedTable {
        NormalisedTable(pieces.parts())
    }
}

/// The customers' emails and phones normalised from the moment each customer table is read:
/// a connection that has no extract left helps with the tables already read (CRM first) while
/// the other connection still streams, instead of leaving its core idle; matching takes the
/// pieces nobody has claimed yet (`Reconciler.reconcile(…, normalising:)`).
public final class CustomerNormalising: @unchecked Sendable {
    // @unchecked: `tables` is read and written under `lock`; the pieces share themselves safely.
    private let defaultRegion: String
    private var tables = PerSystem<CustomerNormalisationPieces?>(crm: nil, erp: nil)
    private let lock = NSLock()

    public init(defaultCountry: String) {
        defaultRegion = defaultCountry
    }

    /// System `system`'s customers are read: their pieces may be claimed from now on.
    public func offer(_ system: System, _ records: Records<CustomerRecord>) {
        lock.lock(); defer { lock.unlock() }
        tables[system] = CustomerNormalisationPieces(records)
    }

    /// Normalises pieces of the tables offered so far, CRM first, while `keepGoing` says so
    /// (asked before each piece).
    public func help(while keepGoing: () -> Bool) {
        let phones = PhoneNormaliser(defaultRegion: defaultRegion)
        for system in System.allCases {
            lock.lock()
            let table = tables[system]
            lock.unlock()
            table?.help(phones: phones, while: keepGoing)
        }
    }

    /// System `system`'s pieces, when its table was offered.
    func pieces(_ system: System) -> CustomerNormalisationPieces? {
        lock.lock(); defer { lock.unlock() }
        return tables[system]
    }
}

/// The two matchers while they run on two threads (each thread touches only its own).
private final class TwoThreadMatch: @unchecked Sendable {
    // @unchecked: each thread writes only its own matcher and fields; the other reads them only
    // after the semaphore the writer signals (`indexed`, `identified`, `done`).
    var customers: CustomerMatcher
    var orders: OrderMatcher
    var match: CustomerMatch?
    /// The customers' id interners, handed over once they are built.
    var customerIds = PerSystem(crm: ByteInterner(), erp: ByteInterner())
    /// Each customer code's identity (per system), handed over once identities are built.
    var identityOfCode = PerSystem<[Int32]>(crm: [], erp: [])
    /// The orders' findings, sorted on the orders' thread.
    var orderFindings: [Finding] = []
    /// How the customers' phones were answered (both tables, both threads).
    var phoneCounts = (fast: 0, slow: 0)
    /// Each system's customers are normalised in pieces, by whichever thread is free.
    let normalising: PerSystem<CustomerNormalisationPieces>
    /// The linked orders compared in pieces, by whichever thread is free.
    let linked = LinkedOrders()

    init(customers: CustomerMatcher, orders: OrderMatcher, mirror: Mirror, early: CustomerNormalising?) {
        self.customers = customers
        self.orders = orders
        normalising = PerSystem { early?.pieces($0) ?? CustomerNormalisationPieces(mirror.customers($0).records) }
    }

    /// `system`'s customers normalised (on the customers' thread), with their phone counts.
    func normalised(_ system: System) -> NormalisedTable {
        let whole = normalising[system].result()
        phoneCounts.fast += whole.phonesFast
        phoneCounts.slow += whole.phonesSlow
        return whole
    }

    func takeOrders() -> OrderMatcher {
        let o = orders
        orders = OrderMatcher(mirror: Mirror(), config: o.config)
        return o
    }
}

/// The whole matching step: customers, then orders (which need customer identities).
public enum Reconciler {
    public struct Outcome: Sendable {
        public var findings: [Finding]
        public var customers: CustomerMatch
        /// Time spent normalising emails and phones (part of matching), in milliseconds.
        public var normaliseMs: Int
        /// Where each customer and order id is in the mirror's tables.
        public var index: RecordIndex
        /// Phones answered by the fast path and by libphonenumber's Parse.
        public var phonesFast = 0
        public var phonesSlow = 0
        /// Milliseconds per matching step (debug log).
        public var steps: [(step: String, ms: Int, atMs: Int, rssMiB: Int)] = []
    }

    /// A finding's place in report order: its type and entity as one number, its id's number,
    /// then its position in its list.
    struct ReportOrder: Comparable, Sendable {
        let group: Int, value: UInt64, index: Int
        static func < (a: ReportOrder, b: ReportOrder) -> Bool { (a.group, a.value, a.index) < (b.group, b.value, b.index) }
    }

    /// The report order (type, entity, id) of `findings[range]`, sorted. Ids are `TYP-E-` + 16
    /// hex digits, so within one type and entity their order is that of the hex number: integer
    /// keys, no string compares.
    static func reportOrder(_ findings: [Finding], _ range: Range<Int>) -> [ReportOrder] {
        var keys: [ReportOrder] = []
        keys.reserveCapacity(range.count)
        for i in range {
            findings.prefetch(i + prefetchDistance)
            keys.append(ReportOrder(group: group(findings[i]), value: findings[i].idValue, index: i))
        }
        keys.sort()
        return keys
    }

    /// Two sorted report orders (of disjoint positions) as one.
    static func merged(_ a: [ReportOrder], _ b: [ReportOrder]) -> [ReportOrder] {
        guard !b.isEmpty else { return a }
        var out: [ReportOrder] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count, j < b.count {
            if a[i] < b[j] { out.append(a[i]); i += 1 } else { out.append(b[j]); j += 1 }
        }
        out.append(contentsOf: a[i...])
        out.append(contentsOf: b[j...])
        return out
    }

    /// Findings in report order: type, entity, id.
    static func sortedByTypeEntityId(_ findings: [Finding]) -> [Finding] {
        reportOrder(findings, findings.indices).map { findings[$0.index] }
    }

    /// A finding's type and entity as one number, in report order.
    @inline(__always)
    static func group(_ f: Finding) -> Int { f.type.group(with: f.entity) }

    /// The customers' findings, taken in `order` (their report order), and the orders' (sorted by
    /// `sortedByTypeEntityId`), with no type and entity in common, merged into one list in
    /// report order.
    static func merged(_ a: [Finding], order: [ReportOrder], _ b: [Finding]) -> [Finding] {
        precondition(order.count == a.count, "recon: a report order covers its whole list")
        var out: [Finding] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < order.count, j < b.count {
            let ga = order[i].group, gb = group(b[j])
            precondition(ga != gb, "recon: customer and order findings share a type and entity")
            if ga < gb {
                while i < order.count, order[i].group == ga {
                    if i + prefetchDistance < order.count { a.prefetch(order[i + prefetchDistance].index) }
                    out.append(a[order[i].index]); i += 1
                }
            } else {
                while j < b.count, group(b[j]) == gb { b.prefetch(j + prefetchDistance); out.append(b[j]); j += 1 }
            }
        }
        while i < order.count {
            if i + prefetchDistance < order.count { a.prefetch(order[i + prefetchDistance].index) }
            out.append(a[order[i].index]); i += 1
        }
        out.append(contentsOf: b[j...])
        return out
    }

    /// - Parameter fastPaths: false normalises every phone with libphonenumber's Parse (slow, the reference).
    /// - Parameter normalising: the customers' normalisation begun during the extraction (fast
    ///   paths only), offered exactly `mirror`'s customer tables.
    /// - Parameter onOrdersCompared: called once, on the second thread, about halfway through matching
    ///   (when the linked orders are compared, before it may wait for the customers' index):
    ///   where the caller starts work of its own (the state read), which then fills that wait
    ///   or shares the cores with the rest of matching, and is done before matching is.
    /// - Parameter onOrdersIdle: called once, on the second thread, the first time it has nothing
    ///   to do: when it waits for the customers' identities with every linked pair compared, or
    ///   else when the orders' part is done. Where the caller starts work that needs only the
    ///   mirror, which then fills that wait (fast paths only; never called otherwise).
    public static func reconcile(_ mirror: Mirror, config: ReconConfig, decisions: IdentityDecisions = IdentityDecisions(),
                                 fastPaths: Bool = true, normalising early: CustomerNormalising? = nil,
                                 onOrdersCompared: (@Sendable () -> Void)? = nil, onOrdersIdle: (@Sendable () -> Void)? = nil) -> Outcome {
        let phones = PhoneNormaliser(defaultRegion: config.defaultCountry, fast: fastPaths)
        var customers = CustomerMatcher(mirror: mirror, config: config, phones: phones)
        customers.decisions = decisions
        customers.parallel = fastPaths
        let box = TwoThreadMatch(customers: customers,
                           orders: OrderMatcher(mirror: mirror, config: config), mirror: mirror,
                           early: fastPaths ? early : nil)
        var findings: [Finding] = []
        if fastPaths {
            // Customers on this core; on the other, the orders' own normalisation and links, then
            // (as soon as the customers' ids are interned) each order's customer code. Both help
            // normalise the customers' emails and phones, in pieces, each taking the next piece
            // left: the CRM's first, then the ERP's, which the other core normalises while this
            // one interns the CRM's keys, so that the ERP's are ready when this core needs them
            // (the customers' index is the path every order waits on; the orders' own work is not).
            let indexed = DispatchSemaphore(value: 0), identified = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
            Engine.start("recon-orders", stackSize: Engine.matchingStack) {
                let phones = PhoneNormaliser(defaultRegion: config.defaultCountry)
                box.normalising.crm.help(phones: phones)
                box.orders.steps.lap("customers.normalise_crm")
                box.normalising.erp.help(phones: phones)
                box.orders.steps.lap("customers.normalise_erp")
                box.orders.prepare()
                box.orders.link()
                // Linked pairs need no customers: compared in pieces by this thread while it would
                // wait for the customers, and by both once the rest is done.
                box.linked.start(box.orders.linkedComparison())
                // Where this thread may wait for the customers' index: the caller's own work
                // starts here.
                onOrdersCompared?()
                box.linked.help(until: indexed)
                box.orders.steps.lap("orders.wait_for_customers")
                box.orders.resolveCustomers(box.customerIds)
                box.orders.groupDuplicates()
                // The orders' own findings once the customers' identities are known, while the
                // customers' findings are reported on the other core; sorted here too.
                var idle = false
                box.linked.help(until: identified, whenIdle: { idle = true; onOrdersIdle?() })
                box.orders.steps.lap("orders.wait_for_identities")
                box.orders.run(identityOfCode: box.identityOfCode)
                box.linked.help()
                box.orders.steps.lap("orders.fields")
                box.orders.findings += box.linked.result()
                box.orderFindings = Reconciler.sortedByTypeEntityId(box.orders.findings)
                box.orders.findings = []
                box.orders.releaseWorkingSet()
                box.orders.steps.lap("orders.sort")
                if !idle { onOrdersIdle?() }
                done.signal()
            }
            box.match = box.customers.run(indexed: { ids in
                box.customerIds = ids
                indexed.signal()
            }, identified: { identity in
                box.identityOfCode = identity
                identified.signal()
            }, crm: {
                box.normalising.crm.help(phones: phones)
                return box.normalised(.crm)
            }, erp: {
                box.normalising.erp.help(phones: phones)
                return box.normalised(.erp)
            })
            // The customers' findings stay where they are; their report order came with them.
            let customerOrder = box.customers.reportOrder ?? Reconciler.reportOrder(box.customers.findings, box.customers.findings.indices)
            box.linked.help()
            box.customers.steps.lap("customers.orders_fields")
            done.wait()
            findings = Reconciler.merged(box.customers.findings, order: customerOrder, box.orderFindings)
            box.customers.findings = []
            box.orderFindings = []
        } else {
            box.match = box.customers.run()
            box.orders.prepare()
        }
        let customerMatcher = box.customers
        let match = box.match!
        // Taken out of the box, not copied: a shared copy would be duplicated on first write.
        var orderMatcher = box.takeOrders()
        if !fastPaths {
            orderMatcher.linkAndCompare(customers: match)
            findings = Reconciler.sortedByTypeEntityId(customerMatcher.findings + orderMatcher.findings)
        }
        orderMatcher.steps.lap(fastPaths ? "findings.merge" : "findings.sort")
        let index = RecordIndex(customerIds: match.idCodes, customerRows: match.rowOfCode,
                                orderIds: orderMatcher.idCodes, orderRows: orderMatcher.rowOfCode)
        return Outcome(findings: findings, customers: match, normaliseMs: customerMatcher.normaliseMs, index: index,
                       phonesFast: fastPaths ? box.phoneCounts.fast : phones.fastCount,
                       phonesSlow: fastPaths ? box.phoneCounts.slow : phones.slowCount,
                       steps: customerMatcher.steps.laps + orderMatcher.steps.laps)
    }
}
