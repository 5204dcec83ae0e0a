/// What `recon explain` shows about one record: its normalised keys, its identity and how each
/// member joined it, the joins a stronger key refused, and its findings.
public struct Explanation: Sendable {
    public struct Key: Sendable {
        public var name: String
        public var value: String
        public var state: String     // valid, invalid: reason, empty
    }
    public struct Member: Sendable {
        public var system: System
        public var id: String
        public var how: String
    }
    public var system: System
    public var entity: Entity
    public var id: String
    public var keys: [Key]
    public var identity: [Member]
    public var keptApart: [Member]
    public var findings: [Finding]
    /// How sure the identity is (customers): the weakest evidence that joined it.
    public var tier: MatchTier?
}

public enum Masking {
    /// `alice@example.com` → `a***@e***.com`; `+447400123456` → `+44*******56`.
    public static func mask(_ value: String, kind: String) -> String {
        if value.isEmpty { return "" }
        switch kind {
        case "email":
            guard let at = value.firstIndex(of: "@") else { return String(value.prefix(1)) + "***" }
            let local = value[..<at], domain = value[value.index(after: at)...]
            let tld = domain.lastIndex(of: ".").map { String(domain[$0...]) } ?? ""
            return String(local.prefix(1)) + "***@" + String(domain.prefix(1)) + "***" + tld
        case "phone":
            let chars = Array(value)
            guard chars.count > 5 else { return String(repeating: "*", count: chars.count) }
            return String(chars.prefix(3)) + String(repeating: "*", count: chars.count - 5) + String(chars.suffix(2))
        default:
            return String(value.prefix(1)) + "***"
        }
    }
}

extension Reconciler {
    /// Matches the mirror with tracing on and explains one record.
    /// - Returns: nil when the record is not in the mirror.
    public static func explain(_ mirror: Mirror, config: ReconConfig, decisions: IdentityDecisions = IdentityDecisions(),
                               system: System, entity: Entity, id: String, showValues: Bool) -> Explanation? {
        let phones = PhoneNormaliser(defaultRegion: config.defaultCountry)
        var customers = CustomerMatcher(mirror: mirror, config: config, phones: phones)
        customers.trace = true
        customers.decisions = decisions
        let match = customers.run()
        var orders = OrderMatcher(mirror: mirror, config: config)
        orders.prepare()
        orders.linkAndCompare(customers: match)
        let all = customers.findings + orders.findings
        let findings = all.filter { f in f.entity == entity && f.members.contains { $0.system == system && $0.recordId == id } }
            .sorted { ($0.type, $0.id) < ($1.type, $1.id) }
        func show(_ v: String, _ kind: String) -> String { showValues ? v : Masking.mask(v, kind: kind) }

        switch entity {
        case .customer:
            guard let idx = customers.tracedIndex,
                  let g = idx.global(system, id) else {
                return nil
            }
            let gi = Int(g)
            let record = mirror.customers(system).records[Int(idx.record[gi])]
            var keys: [Explanation.Key] = []
            keys.append(.init(name: "external_id", value: record.externalId ?? "", state: record.externalId == nil ? "empty" : "as written"))
            switch EmailNormaliser.normalise(record.email) {
            case .valid(let e):
                let mailbox = config.mailbox.canonical(e)
                keys.append(.init(name: "email", value: show(e, "email"), state: mailbox == e ? "valid" : "valid; mailbox \(show(mailbox, "email"))"))
            case .invalid(let r): keys.append(.init(name: "email", value: show(record.email ?? "", "email"), state: "invalid: \(r)"))
            case .empty: keys.append(.init(name: "email", value: "", state: "empty"))
            }
            switch phones.normalise(record.phone, region: phones.region(for: record.country)) {
            case .valid(let p): keys.append(.init(name: "phone", value: show(p, "phone"), state: "valid (E.164)"))
            case .invalid(let r): keys.append(.init(name: "phone", value: show(record.phone ?? "", "phone"), state: "invalid: \(r)"))
            case .empty: keys.append(.init(name: "phone", value: "", state: "empty"))
            }
            let name = PersonName(record.name)
            keys.append(.init(name: "name", value: record.name.map { show($0, "name") } ?? "",
                              state: name.map { "evidence only (\($0.tokens.count) words)" } ?? "empty"))
            let root = customers.tracedRoots[gi]
            var how: [Int32: String] = [g: "this record"]
            // Breadth-first over the joins inside the identity, from this record.
            var adjacency: [Int32: [(Int32, MatchKey)]] = [:]
            for (a, b, key) in customers.joins where customers.tracedRoots[Int(a)] == root {
                adjacency[a, default: []].append((b, key)); adjacency[b, default: []].append((a, key))
            }
            var queue = [g]
            while !queue.isEmpty {
                let x = queue.removeFirst()
                for (y, key) in adjacency[x] ?? [] where how[y] == nil {
                    how[y] = "joined by \(key.names) with \(idx.system[Int(x)].rawValue) \(idx.id(Int(x)))"
                    queue.append(y)
                }
            }
            var members: [Explanation.Member] = []
            for j in 0..<idx.count where customers.tracedRoots[j] == root {
                members.append(.init(system: idx.system[j], id: idx.id(j), how: how[Int32(j)] ?? "joined through the identity"))
            }
            var apart: [Explanation.Member] = []
            for (a, b, key, reason) in customers.refusals {
                let ra = customers.tracedRoots[Int(a)], rb = customers.tracedRoots[Int(b)]
                guard ra == root || rb == root, ra != rb else { continue }
                let other = ra == root ? b : a
                apart.append(.init(system: idx.system[Int(other)], id: idx.id(Int(other)),
                                   how: "shares the \(key.names) but was not joined: \(reason)"))
            }
            return Explanation(system: system, entity: entity, id: id, keys: keys, identity: members, keptApart: apart, findings: findings,
                               tier: members.count > 1 ? customers.tracedComponents?.tierOf(root: root) : nil)
        case .order:
            guard let record = mirror.orders(system).records.first(where: { ValueNormaliser.trimmed($0.id) == id }) else { return nil }
            var keys: [Explanation.Key] = [
                .init(name: "external_id", value: record.externalId ?? "", state: record.externalId == nil ? "empty" : "as written"),
                .init(name: "customer_id", value: record.customerId ?? "", state: record.customerId.map { match.exists(system, ValueNormaliser.trimmed($0) ?? "") ? "exists" : "not found" } ?? "empty"),
                .init(name: "status", value: record.status ?? "", state: config.statuses.map(system)[record.status?.trimmingWhitespace() ?? ""].map { "canonical \($0.rawValue)" } ?? "not in the status map"),
                .init(name: "amount", value: record.amount ?? "", state: ValueNormaliser.amount(record.amount) ?? "empty"),
                .init(name: "currency", value: record.currency ?? "", state: ValueNormaliser.currency(record.currency) ?? "empty"),
            ]
            keys[3].state = keys[3].value.isEmpty ? "empty" : "normalised \(keys[3].state)"
            var linked: [Explanation.Member] = []
            let other = system.other
            if let ext = ValueNormaliser.trimmed(record.externalId),
               mirror.orders(other).records.contains(where: { ValueNormaliser.trimmed($0.id) == ext }) {
                linked.append(.init(system: other, id: ext, how: "this order's external_id"))
            }
            for r in mirror.orders(other).records where ValueNormaliser.trimmed(r.externalId) == id {
                if let rid = ValueNormaliser.trimmed(r.id), !linked.contains(where: { $0.id == rid }) {
                    linked.append(.init(system: other, id: rid, how: "its external_id points here"))
                }
            }
            return Explanation(system: system, entity: entity, id: id, keys: keys,
                               identity: [.init(system: system, id: id, how: "this record")] + linked, keptApart: [], findings: findings)
        }
    }
}
