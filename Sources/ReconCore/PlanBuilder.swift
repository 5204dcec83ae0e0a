import Foundation

/// Turns a run's findings into a correction batch, following `ownership:` and `survivorship:`.
/// Conflicts, invalid values, duplicate orders and anything the ownership config does not
/// decide get no action: they are listed for a human.
///
/// A class: `decide` runs on two threads over one builder, and the builder (the mirror, the
/// config, the matching) is shared by reference instead of being copied, field by field, into
/// the closures that rank, look up and merge records.
public final class PlanBuilder {
    let mirror: Mirror
    let config: ReconConfig
    let ownership: Ownership
    let match: CustomerMatch
    let recordIndex: RecordIndex?
    // Indexes of the records the findings name (a few among millions), built by `build`.
    private var customers: [System: [String: Int]] = [.crm: [:], .erp: [:]]
    private var orders: [System: [String: Int]] = [.crm: [:], .erp: [:]]
    /// Of those customers, the ones in an external-id link that resolves (either direction).
    private var linkedCustomers: [System: Set<String>] = [.crm: [], .erp: []]
    /// ERP customer ids by the CRM customer id their external_id names (for missing orders).
    private var erpCustomerByCrmId: [String: String] = [:]
    /// From recon.yml, once: each system's raw statuses by the canonical status they map to, and
    /// the ERP's raw statuses compatible with each canonical status (both sorted).
    private let rawStatuses: [System: [CanonicalStatus: [String]]]
    private let compatibleErpStatuses: [CanonicalStatus: [String]]
    /// How merges rank records, as their reasons say it.
    private let survivorshipText: String

    /// - Parameter match: the customer matching of the same mirror (which ids exist).
    /// - Parameter index: where the ids are (from the same matching); without it the tables are scanned.
    public init(mirror: Mirror, config: ReconConfig, ownership: Ownership, match: CustomerMatch, index: RecordIndex? = nil) {
        self.recordIndex = index
        self.mirror = mirror
        self.config = config
        self.ownership = ownership
        self.match = match
        let statuses = config.statuses
        rawStatuses = Dictionary(uniqueKeysWithValues: System.allCases.map { system in
            (system, Dictionary(grouping: statuses.map(system).keys.sorted(), by: { statuses.map(system)[$0]! }))
        })
        compatibleErpStatuses = Dictionary(uniqueKeysWithValues: Set(statuses.erp.values).union(statuses.crm.values).map { canonical in
            (canonical, statuses.erp.filter { statuses.isCompatible($0.value, canonical) }.map(\.key).sorted())
        })
        survivorshipText = config.survivorship.map(\.rawValue).joined(separator: ", ")
    }

    /// One pass over each table, indexing only what the findings need.
    private func index(_ findings: [Finding]) {
        if let recordIndex {
            // Everything comes from matching, looked up when asked (`customer`, `order`,
            // `isLinked`); only the ERP customers naming the CRM customers of missing orders are
            // collected here.
            let erp = mirror.erpCustomers.records
            for f in findings.prefetching where f.type == .missingOrder {
                guard let m = f.members.first, m.system == .crm, let row = recordIndex.row(of: m, .order),
                      let cid = ValueNormaliser.trimmed(mirror.crmOrders.records.field(row, OrderRecord.Field.customerId)),
                      erpCustomerByCrmId[cid] == nil,
                      let namer = match.firstNamerRow(.crm, cid),
                      let erpId = ValueNormaliser.trimmed(erp.field(namer, CustomerRecord.Field.id)) else { continue }
                erpCustomerByCrmId[cid] = erpId
            }
            return
        }
        var wantCustomers: [System: Set<String>] = [.crm: [], .erp: []]
        var wantOrders: [System: Set<String>] = [.crm: [], .erp: []]
        for f in findings {
            for m in f.members {
                if f.entity == .customer { wantCustomers[m.system]!.insert(m.recordId) } else { wantOrders[m.system]!.insert(m.recordId) }
            }
        }
        for s in System.allCases where !wantOrders[s]!.isEmpty {
            let recs = mirror[orders: s].records
            for i in 0..<recs.count {
                if let id = ValueNormaliser.trimmed(recs.field(i, OrderRecord.Field.id)), wantOrders[s]!.contains(id), orders[s]![id] == nil { orders[s]![id] = i }
            }
        }
        var customersOfMissingOrders: Set<String> = []
        for f in findings where f.type == .missingOrder {
            if let id = f.members.first?.recordId, let cid = ValueNormaliser.trimmed(order(.crm, id)?.customerId) { customersOfMissingOrders.insert(cid) }
        }
        wantCustomers[.crm]!.formUnion(customersOfMissingOrders)
        for s in System.allCases {
            let recs = mirror[customers: s].records
            let want = wantCustomers[s]!, wantOther = wantCustomers[s.other]!
            for i in 0..<recs.count {
                let ext = ValueNormaliser.trimmed(recs.field(i, CustomerRecord.Field.externalId))
                if let id = ValueNormaliser.trimmed(recs.field(i, CustomerRecord.Field.id)) {
                    if want.contains(id), customers[s]![id] == nil {
                        customers[s]![id] = i
                        if let ext, match.exists(s.other, ext) { linkedCustomers[s]!.insert(id) }
                    }
                    if let ext, match.exists(s.other, ext), wantOther.contains(ext) {
                        linkedCustomers[s.other]!.insert(ext)
                        if s == .erp, customersOfMissingOrders.contains(ext), erpCustomerByCrmId[ext] == nil { erpCustomerByCrmId[ext] = id }
                    }
                }
            }
        }
    }

    func customer(_ s: System, _ id: String) -> CustomerRecord? {
        customerRow(s, id).map { mirror.customer(s, row: $0) }
    }
    func order(_ s: System, _ id: String) -> OrderRecord? {
        orderRow(s, id).map { mirror.order(s, row: $0) }
    }
    func customerRow(_ s: System, _ id: String) -> Int? {
        recordIndex.map { $0.customerRow(s, id) } ?? customers[s]?[id]
    }
    func orderRow(_ s: System, _ id: String) -> Int? {
        recordIndex.map { $0.orderRow(s, id) } ?? orders[s]?[id]
    }
    /// The row of a finding's member: with matching's index, where matching found it (else
    /// looked up by id, as without the index).
    func customerRow(_ m: FindingMember) -> Int? {
        recordIndex.map { $0.row(of: m, .customer) } ?? customers[m.system]?[m.recordId]
    }
    func orderRow(_ m: FindingMember) -> Int? {
        recordIndex.map { $0.row(of: m, .order) } ?? orders[m.system]?[m.recordId]
    }
    func customer(_ m: FindingMember) -> CustomerRecord? {
        customerRow(m).map { mirror.customer(m.system, row: $0) }
    }
    func order(_ m: FindingMember) -> OrderRecord? {
        orderRow(m).map { mirror.order(m.system, row: $0) }
    }
    /// Whether a customer of the findings is in an external-id link that resolves.
    func isLinked(_ s: System, _ id: String) -> Bool {
        recordIndex != nil ? match.linked(s, id) : linkedCustomers[s]!.contains(id)
    }

    func owner(_ field: String) -> System? {
        if field == "status" { return ownership.fields["status"] ?? config.statuses.owner }
        return ownership.fields[field]
    }

    /// - Parameter pieces: how many contiguous parts of `findings` the cores share, each part's
    ///   actions decided by whichever core claims it (joined in order: the plan is the same for
    ///   any number).
    /// - Parameter threads: how many threads claim the parts.
    public func build(findings: [Finding], batchId: String, runId: String, createdAt: String, pieces: Int = 1, threads: Int = 2) -> Plan {
        index(findings)
        var actions: [PlanAction] = []
        var human: [HumanItem] = []
        if pieces <= 1 || threads <= 1 || findings.count < 1024 {
            (actions, human) = decide(findings[...], WritableValues(config))
        } else {
            // One WritableValues per thread: its phone normaliser compiles the regions it meets once.
            var parts = Engine.mapClaimed(items: findings.count, pieces: pieces, threads: threads, state: { _ in WritableValues(config) }) {
                decide(findings[$1], $0)
            }.map(Optional.some)
            // Each part let go once copied: a part and the whole are never both kept for long.
            actions.reserveCapacity(parts.reduce(0) { $0 + ($1?.actions.count ?? 0) })
            human.reserveCapacity(parts.reduce(0) { $0 + ($1?.human.count ?? 0) })
            for k in parts.indices {
                guard let part = parts[k] else { continue }
                parts[k] = nil
                actions += part.actions
                human += part.human
            }
        }
        return combine(actions: actions, human: consume human, batchId: batchId, runId: runId, createdAt: createdAt,
                       threads: pieces <= 1 || findings.count < 1024 ? 1 : threads)
    }

    /// Each finding's actions, or why a human decides it, in the order of `findings`.
    private func decide(_ findings: ArraySlice<Finding>, _ writable: WritableValues) -> (actions: [PlanAction], human: [HumanItem]) {
        var actions: [PlanAction] = []
        var human: [HumanItem] = []
        // Reasons are a few texts repeated hundreds of thousands of times: one copy of each.
        var reasons = SharedTexts()
        let createReasons = Dictionary(uniqueKeysWithValues: System.allCases.map { ($0, "create the \($0.label) customer in \($0.other.label)") })
        func toHuman(_ f: Finding, _ reason: String) {
            human.append(HumanItem(finding: f, records: f.members.map { "\($0.system.rawValue):\($0.recordId)" },
                                   reason: reasons.shared(reason)))
        }
        for f in findings.prefetching {
            switch PlanDecision.route(f, ownership: ownership) {
            case .human(let reason):
                toHuman(f, reason)
            case .merge:
                if let merges = merge(f, writable) { actions += merges } else { toHuman(f, "records no longer in the mirror") }
            case .link:
                let crm = f.members.first { $0.system == .crm }!, erp = f.members.first { $0.system == .erp }!
                let links = link(f, crm: crm, erp: erp, &reasons)
                if links.isEmpty { toHuman(f, "neither system's query returns external_id") } else { actions += links }
            case .createCustomer:
                let system = f.members[0].system
                guard let r = customer(f.members[0]) else { toHuman(f, PlanDecision.severalRecordsForOneCustomer); continue }
                var payload: [String: String] = ["external_id": f.members[0].recordId]
                for (k, v) in [("email", r.email), ("phone", r.phone), ("name", r.name), ("country", r.country)] {
                    if let v, !v.trimmingWhitespace().isEmpty { payload[k] = v }
                }
                if let email = r.email { payload["email"] = writable.email(email) ?? payload["email"] }
                if let phone = r.phone { payload["phone"] = writable.phone(phone, country: r.country) ?? payload["phone"] }
                for (i, name) in mirror.attributeNames(.customer, system).enumerated() {
                    if let v = ValueNormaliser.trimmed(r.attributes[i]) { payload[name] = v }
                }
                actions.append(PlanAction(operation: .create, system: system.other, entity: .customer, recordId: f.members[0].recordId,
                                          field: "", oldValue: Fingerprint.customer(r), newValue: nil, finding: f, payload: payload,
                                          reason: createReasons[system]!))
            case .createOrder:
                if let a = createOrder(f) { actions.append(a) } else {
                    toHuman(f, "the order's customer has no ERP counterpart: create or link the customer first")
                }
            case .updateStatus:
                if let a = updateStatus(f, &reasons) { actions.append(a) } else {
                    toHuman(f, "the owner's status has no single raw status in the other system's status map")
                }
            case .updateField:
                if let a = updateField(f, writable, &reasons) { actions.append(a) } else {
                    toHuman(f, "ownership.fields names no owner for \(f.field), or the target's query does not return it")
                }
            }
        }
        return (actions, human)
    }

    /// The batch: actions for one target merged, conflicting ones left to a human.
    func combine(actions: [PlanAction], human: consuming [HumanItem], batchId: String, runId: String, createdAt: String,
                 threads: Int = 1) -> Plan {
        var human = human
        // Two actions that would write different values into one field: neither, a human decides.
        struct Target: Hashable {
            let system: System, entity: Entity, recordId: String, operation: String, field: String
            init(_ a: PlanAction) {
                system = a.system; entity = a.entity; recordId = a.recordId; operation = a.operation.rawValue; field = a.field
            }
        }
        // The actions of one target side by side: sorted by the target's hash (then position);
        // a run of equal hashes is split by the targets themselves. Most targets have one action.
        let n = actions.count
        let pieces = threads > 1 ? 8 : 1
        let keys = Engine.sorted(Engine.array(count: n, pieces: pieces) { (hash: Target(actions[$0]).hashValue, index: Int32($0)) },
                                 inParallel: threads > 1) { $0.hash != $1.hash ? $0.hash < $1.hash : $0.index < $1.index }
        var leads = [Bool](repeating: false, count: n)
        var groups: [Int: [Int]] = [:]      // first action of a target with several → all of them, in order
        var k = 0
        while k < n {
            var end = k + 1
            while end < n, keys[end].hash == keys[k].hash { end += 1 }
            if end == k + 1 {       // the usual target: one action, nothing to compare
                leads[Int(keys[k].index)] = true
                k = end
                continue
            }
            var pending = keys[k..<end].map { Int($0.index) }
            while let lead = pending.first {
                let target = Target(actions[lead])
                let same = pending.count == 1 ? pending : pending.filter { Target(actions[$0]) == target }
                leads[lead] = true
                if same.count > 1 { groups[lead] = same }
                pending = same.count == pending.count ? [] : pending.filter { Target(actions[$0]) != target }
            }
            k = end
        }
        // Targets in the order of their first action (the plan sorts its actions by id; items
        // for a human keep this order among equals). A target whose actions disagree goes to a
        // human; any other keeps one action, its findings each once.
        var keptLeads: [Int] = []
        keptLeads.reserveCapacity(n)
        for first in 0..<n where leads[first] {
            guard let group = groups[first], Set(group.map { actions[$0].newValue ?? "\u{0}" }).count > 1 else {
                keptLeads.append(first)
                continue
            }
            for a in group.map({ actions[$0] }) {
                human.append(HumanItem(findingId: a.findingIds.first ?? "", type: .fieldMismatch, entity: a.entity,
                                       records: ["\(a.system.rawValue):\(a.recordId)"],
                                       reason: "several findings would write different values into \(a.field)"))
            }
        }
        let kept = Engine.array(count: keptLeads.count, pieces: pieces) { k -> PlanAction in
            let first = keptLeads[k]
            guard let group = groups[first] else {
                var a = actions[first]
                if a.findingIdCount > 1 { a.findingIds = Array(Set(a.findingIds)).sorted() }
                return a
            }
            var merged = actions[group[0]]
            merged.findingIds = Array(Set(group.flatMap { actions[$0].findingIds })).sorted()
            return merged
        }
        return Plan(batchId: batchId, runId: runId, createdAt: createdAt, actions: kept, needsHuman: consume human,
                    inParallel: threads > 1)
    }

    /// One merge action per non-surviving record (a duplicate's members: one system's customers).
    func merge(_ f: Finding, _ writable: WritableValues) -> [PlanAction]? {
        let system = f.members[0].system
        let records = f.members.compactMap { m in m.system == system ? customer(m).map { (id: m.recordId, record: $0) } : nil }
        guard records.count == f.members.count, records.count >= 2 else { return nil }
        func completeness(_ r: CustomerRecord) -> Int {
            [r.externalId, r.email, r.phone, r.name, r.country].filter { !($0?.trimmingWhitespace().isEmpty ?? true) }.count
                + r.attributes.filter { ValueNormaliser.trimmed($0) != nil }.count
        }
        // Each record's standing under each rule, worked out once (the higher ranks first), then
        // the records ranked by the rules in order, their ids last.
        let standings: [[Int64]] = config.survivorship.map { rule in
            records.map { r in
                switch rule {
                case .linked: isLinked(system, r.id) ? 1 : 0
                case .mostRecent: ValueNormaliser.epochSeconds(r.record.updatedAt) ?? .min
                case .mostComplete: Int64(completeness(r.record))
                }
            }
        }
        let ranked = records.indices.sorted { i, j in
            for s in standings where s[i] != s[j] { return s[i] > s[j] }
            return records[i].id < records[j].id
        }.map { records[$0] }
        let survivor = ranked[0]
        // Surviving values: the survivor's, else the first non-empty value in rank order (each
        // record read where it is, not copied for every field).
        func first(_ value: (CustomerRecord) -> String?) -> String? {
            for k in ranked.indices { if let v = value(ranked[k].record) { return v } }
            return nil
        }
        var values: [String: String] = ["survivor": survivor.id]
        let fields: [(String, (CustomerRecord) -> String?)] = [("email", \.email), ("phone", \.phone), ("name", \.name), ("country", \.country)]
        for (name, get) in fields {
            if let v = first({ get($0).flatMap { $0.trimmingWhitespace().isEmpty ? nil : $0 } }) { values[name] = v }
        }
        for (i, name) in mirror.attributeNames(.customer, system).enumerated() {
            if let v = first({ ValueNormaliser.trimmed($0.attributes[i]) }) { values[name] = v }
        }
        if let email = values["email"] { values["email"] = writable.email(email) ?? email }
        if let phone = values["phone"] { values["phone"] = writable.phone(phone, country: values["country"]) ?? phone }
        return ranked.dropFirst().map { loser in
            PlanAction(operation: .merge, system: system, entity: .customer, recordId: loser.id, field: "",
                       oldValue: Fingerprint.customer(loser.record), newValue: survivor.id, finding: f, payload: values,
                       reason: "merge into \(survivor.id) (survivorship: \(survivorshipText))",
                       tier: marked(f))
        }
    }

    /// The tier an action carries: only a match weaker than certain is marked.
    func marked(_ f: Finding) -> MatchTier? { f.tier.flatMap { $0 < .certain ? $0 : nil } }

    func link(_ f: Finding, crm: FindingMember, erp: FindingMember, _ reasons: inout SharedTexts) -> [PlanAction] {
        var out: [PlanAction] = []
        for (member, counterpart) in [(crm, erp.recordId), (erp, crm.recordId)] {
            let (system, id) = (member.system, member.recordId)
            guard mirror.has(f.entity, system, "external_id") else { continue }   // this system's query does not map external_id: nothing to set there
            // The one field read from its row: the whole record is not built for it.
            let current = f.entity == .customer
                ? customerRow(member).flatMap { mirror.field(.customer, system, row: $0, CustomerRecord.Field.externalId) }
                : orderRow(member).flatMap { mirror.field(.order, system, row: $0, OrderRecord.Field.externalId) }
            guard ValueNormaliser.trimmed(current) != counterpart else { continue }
            out.append(PlanAction(operation: .link, system: system, entity: f.entity, recordId: id, field: "external_id",
                                  oldValue: current, newValue: counterpart, finding: f,
                                  reason: reasons.shared("matched on \(f.matchedOn); set the missing link"), tier: marked(f)))
        }
        return out
    }

    func updateStatus(_ f: Finding, _ reasons: inout SharedTexts) -> PlanAction? {
        guard let owner = owner("status"), let ownerMember = f.members.first(where: { $0.system == owner }),
              let target = f.members.first(where: { $0.system == owner.other }),
              let canonical = config.statuses.map(owner)[ownerMember.value.trimmingWhitespace()] else { return nil }
        guard let raws = rawStatuses[owner.other]?[canonical], raws.count == 1 else { return nil }
        return PlanAction(operation: .updateStatus, system: owner.other, entity: .order, recordId: target.recordId, field: "status",
                          oldValue: target.value, newValue: raws[0], finding: f,
                          reason: reasons.shared("\(owner.label) owns order status: \(canonical.rawValue)"))
    }

    func updateField(_ f: Finding, _ writable: WritableValues, _ reasons: inout SharedTexts) -> PlanAction? {
        guard let owner = owner(f.field), let source = f.members.first(where: { $0.system == owner }),
              let target = f.members.first(where: { $0.system == owner.other }) else { return nil }
        guard mirror.has(f.entity, owner.other, f.field) else { return nil }
        // The raw values as the systems hold them (the finding may carry trimmed attribute
        // values): that one field of the record, not the whole record.
        func raw(_ m: FindingMember) -> String? {
            typealias C = CustomerRecord.Field
            typealias O = OrderRecord.Field
            let s = m.system
            func customerField(_ k: Int) -> String? { customerRow(m).flatMap { mirror.field(.customer, s, row: $0, k) } }
            func orderField(_ k: Int) -> String? { orderRow(m).flatMap { mirror.field(.order, s, row: $0, k) } }
            switch (f.entity, f.field) {
            case (.customer, "email"): return customerField(C.email)
            case (.customer, "phone"): return customerField(C.phone)
            case (.order, "amount"): return orderField(O.amount)
            case (.order, "currency"): return orderField(O.currency)
            case (.customer, let name):
                guard let i = mirror.attributeNames(.customer, s).firstIndex(of: name) else { return nil }
                return customerField(CustomerRecord.fixedFields + i)
            case (.order, let name):
                guard let i = mirror.attributeNames(.order, s).firstIndex(of: name) else { return nil }
                return orderField(OrderRecord.fixedFields + i)
            }
        }
        // The precondition is the target's value as its system holds it; the new value is the
        // one to write (an E.164 phone, a normalised email, unless batches.payload_values: raw).
        var newValue = raw(source) ?? source.value
        switch (f.entity, f.field) {
        case (.customer, "email"): newValue = writable.email(newValue) ?? newValue
        case (.customer, "phone"):
            let country = customerRow(source).flatMap { mirror.field(.customer, owner, row: $0, CustomerRecord.Field.country) }
            newValue = writable.phone(newValue, country: country) ?? newValue
        default: break
        }
        return PlanAction(operation: .updateField, system: owner.other, entity: f.entity, recordId: target.recordId, field: f.field,
                          oldValue: raw(target) ?? target.value, newValue: newValue,
                          finding: f, reason: reasons.shared("\(owner.label) owns \(f.field)"), tier: marked(f))
    }

    func createOrder(_ f: Finding) -> PlanAction? {
        guard let m = f.members.first, m.system == .crm, let o = order(m), let crmCustomer = ValueNormaliser.trimmed(o.customerId),
              let row = customerRow(.crm, crmCustomer) else { return nil }
        // The ERP customer: the CRM customer's link, or an ERP customer linking to it.
        var erpCustomer: String?
        let link = mirror.crmCustomers.records.field(row, CustomerRecord.Field.externalId)
        if let ext = ValueNormaliser.trimmed(link), match.exists(.erp, ext) { erpCustomer = ext }
        if erpCustomer == nil { erpCustomer = erpCustomerByCrmId[crmCustomer] }
        guard let erpCustomer else { return nil }
        var payload: [String: String] = ["external_id": m.recordId, "customer_id": erpCustomer]
        if let a = o.amount { payload["amount"] = a }
        if let cur = o.currency { payload["currency"] = cur }
        if let t = o.createdAt { payload["created_at"] = t }
        if let canonical = config.statuses.crm[o.status?.trimmingWhitespace() ?? ""] {
            if let raws = compatibleErpStatuses[canonical], raws.count == 1 { payload["status"] = raws[0] }
        }
        for (i, name) in mirror.crmOrders.attributeNames.enumerated() {
            if let v = ValueNormaliser.trimmed(o.attributes[i]) { payload[name] = v }
        }
        return PlanAction(operation: .create, system: .erp, entity: .order, recordId: m.recordId, field: "",
                          oldValue: Fingerprint.order(o), newValue: nil, finding: f, payload: payload,
                          reason: "the CRM order requires an ERP order")
    }
}

/// The value a correction writes for a phone or an email: normalised (an E.164 phone, a trimmed
/// lowercase email) unless `batches.payload_values: raw`; nil keeps the owner's value as it is
/// (raw mode, or a value that does not normalise, which its `invalid` finding reports).
struct WritableValues {
    let mode: PayloadValues
    let phones: PhoneNormaliser

    init(_ config: ReconConfig) {
        mode = config.payloadValues
        phones = PhoneNormaliser(defaultRegion: config.defaultCountry)
    }

    func email(_ raw: String) -> String? {
        mode == .normalised ? EmailNormaliser.normalise(raw).key : nil
    }

    func phone(_ raw: String, country: String?) -> String? {
        mode == .normalised ? phones.normalise(raw, region: phones.region(for: country)).key : nil
    }
}

