/// Customers of both systems, normalised and indexed: global index `g` runs over the usable CRM
/// records first, then the usable ERP records (usable: a non-empty id seen for the first time).
/// Ids, emails and phones are interned on their bytes (`ByteInterner`).
struct CustomerIndex {
    var system: [System] = []
    var record: [Int32] = []          // index into the system's table
    var email: [Int32] = []           // interned valid email, -1 for none
    var phone: [Int32] = []           // interned valid E.164 phone, -1 for none
    var emails = ByteInterner()
    var phones = ByteInterner()
    /// Per system: trimmed id → code, and code → global index.
    var idCodes = PerSystem(crm: ByteInterner(), erp: ByteInterner())
    var globalOfCode = PerSystem<[Int32]>(crm: [], erp: [])
    /// Rows whose id repeats an earlier row's (not matched, but their external ids name records).
    var duplicateRows = PerSystem<[Int]>(crm: [], erp: [])

    var count: Int { system.count }

    /// The trimmed id of customer `g`: customers get their global index in order of first
    /// appearance, CRM first, so within a system it is the id's interned code plus an offset.
    func id(_ g: Int) -> String {
        let crmCount = idCodes.crm.count
        return g < crmCount ? idCodes.crm.string(Int32(g)) : idCodes.erp.string(Int32(g - crmCount))
    }
    /// Customer `g`'s email and phone keys (their codes), nil for none: what the rules compare.
    func emailKey(_ g: Int) -> Int32? { email[g] >= 0 ? email[g] : nil }
    func phoneKey(_ g: Int) -> Int32? { phone[g] >= 0 ? phone[g] : nil }
    func emailText(_ g: Int) -> String { email[g] >= 0 ? emails.string(email[g]) : "" }
    func phoneText(_ g: Int) -> String { phone[g] >= 0 ? phones.string(phone[g]) : "" }

    /// The global index of `system`'s customer with this trimmed id.
    func global(_ system: System, _ id: UnsafeBufferPointer<UInt8>) -> Int32? {
        idCodes[system].find(id).map { globalOfCode[system][Int($0)] }
    }

    func global(_ system: System, _ id: String) -> Int32? {
        var id = id
        return id.withUTF8 { global(system, $0) }
    }
}

/// One extract's customers normalised (email key, E.164 phone, whether the country is known),
/// row by row: one core normalises the ERP customers while the other normalises the CRM ones,
/// then `CustomerMatcher.buildIndex` interns both. Rows whose id is blank or repeated are
/// normalised too (and not used).
struct PreNormalised: Sendable {
    private var emailBytes: [UInt8] = []
    private var emailEnds: [UInt32] = []
    /// 0 empty, 1 valid, 2 invalid (reason in `reasons`).
    private var emailState: [UInt8] = []
    private var phoneBytes: [UInt8] = []
    private var phoneEnds: [UInt32] = []
    private var phoneState: [UInt8] = []
    private var reasons: [Int: (email: String?, phone: String?)] = [:]
    private(set) var unknownCountry: [Bool] = []
    /// Phones answered by the fast path and by libphonenumber.
    private(set) var phonesFast = 0, phonesSlow = 0

    /// Normalises every row of `records` (phones with `phones`, which is not thread-safe: one per thread).
    init(_ records: Records<CustomerRecord>, phones: PhoneNormaliser) {
        self.init(records, rows: 0..<records.count, phones: phones)
    }

    /// The rows normalised here.
    var count: Int { emailState.count }
    /// The bytes of the valid email keys and phones (each counted once per row).
    var keyBytes: (emails: Int, phones: Int) { (emailBytes.count, phoneBytes.count) }

    /// Normalises `rows` of `records`; row `rows.lowerBound` is row 0 here (see `NormalisedTable`).
    init(_ records: Records<CustomerRecord>, rows: Range<Int>, phones: PhoneNormaliser) {
        typealias F = CustomerRecord.Field
        let fastBefore = phones.fastCount, slowBefore = phones.slowCount
        let store = records.store
        let n = rows.count
        emailEnds.reserveCapacity(n); emailState.reserveCapacity(n)
        phoneEnds.reserveCapacity(n); phoneState.reserveCapacity(n)
        unknownCountry.reserveCapacity(n)
        // Room for longer keys than most: room never written costs no memory, while outgrowing
        // it would copy every key written so far into a new array.
        emailBytes.reserveCapacity(n * 48); phoneBytes.reserveCapacity(n * 16)
        withExtendedLifetime(store) {
            for (i, row) in rows.enumerated() {
                switch EmailNormaliser.normalise(bytes: store.bytes(row, F.email), appendingTo: &emailBytes) {
                case .valid: emailState.append(1)
                case .empty: emailState.append(0)
                case .invalid(let reason): emailState.append(2); reasons[i, default: (nil, nil)].email = reason
                }
                emailEnds.append(UInt32(emailBytes.count))
                let (region, unknown, slot) = phones.region(forCountry: store.bytes(row, F.country))
                unknownCountry.append(unknown)
                switch phones.normalise(bytes: store.bytes(row, F.phone), region: region, slot: slot) {
                case .valid(var e164): e164.withUTF8 { phoneBytes.append(contentsOf: $0) }; phoneState.append(1)
                case .empty: phoneState.append(0)
                case .invalid(let reason): phoneState.append(2); reasons[i, default: (nil, nil)].phone = reason
                }
                phoneEnds.append(UInt32(phoneBytes.count))
            }
        }
        phonesFast = phones.fastCount - fastBefore
        phonesSlow = phones.slowCount - slowBefore
    }

    /// `body` over row `i`'s valid email key; nil when it has none.
    @inline(__always)
    func withEmailKey<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard emailState[i] == 1 else { return nil }
        let start = i == 0 ? 0 : Int(emailEnds[i - 1])
        return emailBytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<Int(emailEnds[i])])) }
    }

    /// `body` over row `i`'s valid E.164 phone; nil when it has none.
    @inline(__always)
    func withPhoneKey<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard phoneState[i] == 1 else { return nil }
        let start = i == 0 ? 0 : Int(phoneEnds[i - 1])
        return phoneBytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<Int(phoneEnds[i])])) }
    }

    /// Why row `i`'s email is invalid, or nil (valid or empty).
    func emailProblem(_ i: Int) -> String? { emailState[i] == 2 ? reasons[i]?.email ?? "" : nil }

    /// Why row `i`'s phone is invalid, or nil (valid or empty).
    func phoneProblem(_ i: Int) -> String? { phoneState[i] == 2 ? reasons[i]?.phone ?? "" : nil }
}

/// One customer table normalised in pieces of consecutive rows (`CustomerNormalisationPieces`),
/// kept as the pieces made them: joining them into one copy would write every key again.
struct NormalisedTable: Sendable {
    /// The pieces in row order: row 0 of each follows the last row of the one before.
    let parts: [PreNormalised]

    init(_ parts: [PreNormalised]) { self.parts = parts }

    var count: Int { parts.reduce(0) { $0 + $1.count } }
    var phonesFast: Int { parts.reduce(0) { $0 + $1.phonesFast } }
    var phonesSlow: Int { parts.reduce(0) { $0 + $1.phonesSlow } }
    var keyBytes: (emails: Int, phones: Int) {
        parts.reduce((0, 0)) { ($0.0 + $1.keyBytes.emails, $0.1 + $1.keyBytes.phones) }
    }
}

/// What customer matching hands on to order matching and the reports.
public struct CustomerMatch: Sendable {
    /// Per system (CRM 0, ERP 1): trimmed id → code, and each code's identity (component root).
    let idCodes: PerSystem<ByteInterner>
    let identityOfCode: PerSystem<[Int32]>
    /// Each code's row in the system's table (the first row with that id).
    let rowOfCode: PerSystem<[Int32]>
    /// Per code: in an external-id link that resolves, in either direction.
    var linkedOfCode = PerSystem<[Bool]>(crm: [], erp: [])
    /// Per code: the first row of the other system whose external id names it, -1 for none.
    var firstNamerRowOfCode = PerSystem<[Int32]>(crm: [], erp: [])

    /// Whether `system`'s customer `id` takes part in an external-id link that resolves.
    func linked(_ system: System, _ id: String) -> Bool {
        idCodes[system].find(id).map { linkedOfCode[system][Int($0)] } ?? false
    }

    /// The first row of the other system whose external id is `system`'s customer `id`.
    func firstNamerRow(_ system: System, _ id: String) -> Int? {
        guard let c = idCodes[system].find(id) else { return nil }
        let r = firstNamerRowOfCode[system][Int(c)]
        return r < 0 ? nil : Int(r)
    }
    /// Trimmed ids that exist per system (for the order → customer check).
    public func exists(_ system: System, _ id: String) -> Bool { identity(system, id) != nil }
    func identity(_ system: System, _ id: String) -> Int32? {
        var id = id
        return id.withUTF8 { identity(system, bytes: $0) }
    }
    func identity(_ system: System, bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        idCodes[system].find(bytes).map { identityOfCode[system][Int($0)] }
    }
}

struct CustomerMatcher {
    let mirror: Mirror
    let config: ReconConfig
    let phones: PhoneNormaliser
    var findings: [Finding] = []
    /// Milliseconds spent in `buildIndex` (normalisation).
    var normaliseMs = 0
    /// When set, every join and every refusal to join is recorded (for `recon explain`).
    var trace = false
    var joins: [(Int32, Int32, MatchKey)] = []
    var refusals: [(Int32, Int32, MatchKey, String)] = []
    var tracedIndex: CustomerIndex?
    var tracedRoots: [Int32] = []
    var tracedComponents: Components?
    var steps = Stopwatch()
    /// Whether independent steps may run on a second thread (the fast paths).
    var parallel = false
    /// With `parallel`, after `run`: the report order of `findings` (`Reconciler.reportOrder`),
    /// worked out on another thread while the near misses are named.
    var reportOrder: [Reconciler.ReportOrder]?
    /// One copy of each finding detail and match-key text (`SharedTexts`).
    private var texts = SharedTexts()
    /// Reviewers' decisions, honoured before the keys.
    var decisions = IdentityDecisions()

    init(mirror: Mirror, config: ReconConfig, phones: PhoneNormaliser) {
        self.mirror = mirror
        self.config = config
        self.phones = phones
    }

    private func severity(_ t: FindingType) -> Severity { config.severities[t] ?? .warning }

    private mutating func invalid(_ system: System, _ recordId: String, field: String, value: String,
                                  detail: String, identity: [String]? = nil, row: Int32 = -1) {
        findings.append(Finding(type: .invalid, entity: .customer, severity: severity(.invalid), field: field,
                                detail: texts.shared(detail), members: [FindingMember(system: system, recordId: recordId, value: value, row: row)],
                                identity: identity))
    }

    /// Normalises every record and reports values that fail validation.
    /// - Parameter crm: the CRM rows normalised elsewhere, asked for first (nil: normalised here).
    /// - Parameter erp: the ERP rows normalised elsewhere, asked for once the CRM's are interned
    ///   (nil: normalised here).
    mutating func buildIndex(crm: (() -> NormalisedTable)? = nil, erp: (() -> NormalisedTable)? = nil) -> CustomerIndex {
        var idx = CustomerIndex()
        let total = mirror.crmCustomers.records.count + mirror.erpCustomers.records.count
        idx.emails = ByteInterner(capacity: total)
        idx.phones = ByteInterner(capacity: total)
        idx.system.reserveCapacity(total); idx.record.reserveCapacity(total)
        idx.email.reserveCapacity(total); idx.phone.reserveCapacity(total)
        typealias F = CustomerRecord.Field
        for system in System.allCases {
            let recs = mirror.customers(system).records
            let store = recs.store
            let file = Extract.of(system, .customer).fileName
            var ids = IdColumn(recs, system: system, file: file)
            var globals: [Int32] = []
            globals.reserveCapacity(recs.count)
            // Normalised first (this system's rows, unless the other core already did), then
            // interned: the keys of the rows a few ahead are known, so their table slots can
            // start loading while this row's are compared.
            let table = (system == .erp ? erp?() : crm?()) ?? NormalisedTable([PreNormalised(recs, phones: phones)])
            steps.lap("customers.\(system.rawValue)_normalised")
            // The interners' arenas sized before the first key: this table's keys at most, and
            // for the CRM's, the ERP's guessed from them (it is normalised later).
            let bytes = table.keyBytes
            let erpGuess = system == .crm ? Double(mirror.erpCustomers.records.count) / Double(max(recs.count, 1)) * 1.25 : 0
            idx.emails.reserveBytes(bytes.emails + Int(Double(bytes.emails) * erpGuess))
            idx.phones.reserveBytes(bytes.phones + Int(Double(bytes.phones) * erpGuess))
            let ahead = OrderMatcher.lookahead
            // Read once: called from the loop's closures, a method of this matcher would be
            // handed a copy of it (every array and table it holds retained) for each record.
            let mailbox = config.mailbox
            var first = 0   // the table's row of the piece's row 0
            for pre in table.parts {
                defer { first += pre.count }
                for j in 0..<pre.count {
                    let i = first + j
                    if i + ahead < recs.count, let p = store.bytes(i + ahead, F.id), let t = ByteText.trimmedBytes(p) { ids.codes.prefetch(t) }
                    if j + ahead < pre.count {
                        pre.withEmailKey(j + ahead) { idx.emails.prefetch($0) }
                        pre.withPhoneKey(j + ahead) { idx.phones.prefetch($0) }
                    }
                    let code: Int32
                    switch ids.state(recs, store, i, problem: { invalid(system, $0, field: "id", value: $1, detail: $2, identity: $3) }) {
                    case .blank: continue
                    case .repeated: idx.duplicateRows[system].append(i); continue
                    case .first(let c): code = c
                    }
                    let g = Int32(idx.count)
                    globals.append(g)
                    idx.system.append(system)
                    idx.record.append(Int32(i))

                    // Keys interned straight from the normalised bytes.
                    let emailCode = pre.withEmailKey(j) { key in
                        mailbox.needsRewrite(key) ? Self.mailboxKey(key, mailbox) { idx.emails.intern($0).code } : idx.emails.intern(key).code
                    } ?? -1
                    idx.email.append(emailCode)
                    if let reason = pre.emailProblem(j) {
                        invalid(system, ids.codes.string(code), field: "email", value: recs.field(i, F.email) ?? "", detail: reason, row: Int32(i))
                    }
                    if pre.unknownCountry[j] {
                        invalid(system, ids.codes.string(code), field: "country", value: recs.field(i, F.country)?.trimmingWhitespace() ?? "",
                                detail: InvalidValue.unknownCountry(defaultCountry: config.defaultCountry), row: Int32(i))
                    }
                    let phoneCode = pre.withPhoneKey(j) { idx.phones.intern($0).code } ?? -1
                    idx.phone.append(phoneCode)
                    if let reason = pre.phoneProblem(j) {
                        invalid(system, ids.codes.string(code), field: "phone", value: recs.field(i, F.phone) ?? "", detail: reason, row: Int32(i))
                    }
                }
            }
            ids.reportRepeats { invalid(system, $0, field: "id", value: $1, detail: $2, identity: $3) }
            idx.idCodes[system] = ids.codes
            idx.globalOfCode[system] = globals
            steps.lap("customers.\(system.rawValue)_interned")
        }
        return idx
    }

    /// `body` over the mailbox of an address key that `MailboxRule.needsRewrite` flagged.
    private static func mailboxKey<R>(_ key: UnsafeBufferPointer<UInt8>, _ mailbox: MailboxRule, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var bytes = Array(key)
        mailbox.canonicalise(&bytes, from: 0)
        return bytes.withUnsafeBufferPointer(body)
    }

    /// Builds identities (reviewers' decisions, then external-id links, then email as one mailbox,
    /// then phone where `PhoneRule` lets it, a weaker key never joining what a stronger one or a
    /// decision keeps apart), names orphans' near misses and reports customer findings.
    /// - Parameter indexed: called with the id interners (per system) as soon as every record
    ///   is normalised, before identities are built.
    /// - Parameter crm: the CRM customers normalised elsewhere (asked for first).
    /// - Parameter erp: the ERP customers normalised elsewhere (waited for when they are needed).
    /// - Parameter identified: called with each code's identity (per system) as soon as the
    ///   identities are known, before their findings are reported.
    mutating func run(indexed: ((PerSystem<ByteInterner>) -> Void)? = nil, identified: ((PerSystem<[Int32]>) -> Void)? = nil,
                      crm: (() -> NormalisedTable)? = nil, erp: (() -> NormalisedTable)? = nil) -> CustomerMatch {
        let idx = normalise(crm: crm, erp: erp, indexed: indexed)
        var comps = Components(systems: idx.system.map { $0 == .crm ? 1 : 2 }, emails: idx.email)
        steps.lap("customers.normalise")
        var links = readExternalIds(idx)
        var decided = joinByDecisionsThenLinks(idx, &comps, &links)
        steps.lap("customers.links")
        let names = NameCache(mirror: mirror, idx: idx)
        let conflicted = joinByEmailThenPhone(idx, &comps, &decided, links: links, names: names)
        steps.lap("customers.keys")
        let identities = reportIdentities(idx, &comps, inConflict: conflicted.records, dangling: links.dangling, identified: identified)
        // The identities are known: the union-find and its evidence are let go before the near
        // misses are named, where matching's memory peaks (kept only for `recon explain`).
        if trace { tracedComponents = comps }
        comps = Components(systems: [], emails: [])
        steps.lap("customers.identities")
        // Matched pairs' fields need only the identities: compared on another thread (with
        // `parallel`) while this one names the orphans' near misses. The job's copy of this
        // matcher holds no findings: sharing them, this thread's first change to one would copy
        // the whole array (and that finding's storage).
        var comparer = self
        comparer.findings = []
        let fields = BackgroundJob(inParallel: parallel) { [comparer, links, identities, conflicted] in
            var out: [Finding] = []
            comparer.compareFields(links.pairs.lazy.map { (crm: $0.crm, erp: $0.erp, on: "external_id", tier: MatchTier?.none) }, idx: idx,
                          conflictKeys: conflicted.keys, into: &out)
            comparer.compareFields(identities.unlinkedPairs, idx: idx, conflictKeys: conflicted.keys, into: &out)
            return out
        }
        // With `parallel`, the findings so far are put in report order on another thread while the
        // near misses are named: naming changes no finding's type, entity or id, and its changes
        // wait until both are done (meanwhile the array is shared, never copied). A thread of its
        // own, not a piece of `Engine.map`: naming splits its own work into pieces, which a map
        // nested in another would run one after the other.
        let reported = findings.count
        let ordering = parallel ? BackgroundJob(inParallel: true, handing: findings) { Reconciler.reportOrder($0, $0.indices) } : nil
        let apart = decided.apartPairs
        let named = nameCandidates(identities.orphanFindings, records: identities.orphanRecords, idx: idx, roots: identities.roots,
                                   names: names, decidedApart: { apart.contains(DecisionsApplied.pairKey($0, $1)) })
        let orderSoFar = try? ordering?.take()
        steps.lap("customers.candidates")
        let compared = (try? fields.wait()) ?? []
        steps.lap("customers.fields")
        for n in named {
            findings[n.at].candidates = n.candidates
            findings[n.at].detail += "; " + CandidateRule.describe(n.candidates)
        }
        findings += compared
        if !decided.notes.isEmpty { noteDecisions(decided.notes, idx: idx) }
        if let orderSoFar {
            reportOrder = Reconciler.merged(orderSoFar, Reconciler.reportOrder(findings, reported..<findings.count))
            steps.lap("customers.sort")
        }
        if trace { tracedIndex = idx; tracedRoots = identities.roots }
        let rows = idx.globalOfCode.map { globals in globals.map { idx.record[Int($0)] } }
        var match = CustomerMatch(idCodes: idx.idCodes, identityOfCode: identities.identity, rowOfCode: rows)
        match.linkedOfCode = idx.globalOfCode.map { globals in globals.map { links.resolves[Int($0)] || links.firstNamerRow[Int($0)] >= 0 } }
        match.firstNamerRowOfCode = idx.globalOfCode.map { globals in globals.map { links.firstNamerRow[Int($0)] } }
        return match
    }

    /// Normalises and indexes every customer (timed as `normaliseMs`), then hands the id
    /// interners to `indexed`.
    private mutating func normalise(crm: (() -> NormalisedTable)?, erp: (() -> NormalisedTable)?,
                                    indexed: ((PerSystem<ByteInterner>) -> Void)?) -> CustomerIndex {
        let clock = ContinuousClock()
        let started = clock.now
        steps = Stopwatch()
        let idx = buildIndex(crm: crm, erp: erp)
        indexed?(idx.idCodes)
        let elapsed = clock.now - started
        normaliseMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        return idx
    }

    /// 1. Every customer's external id: the links it makes (in either direction), the ones that
    /// name no record, and the first row of the other system naming each customer.
    private func readExternalIds(_ idx: CustomerIndex) -> ExternalIdLinks {
        let n = idx.count
        var links = ExternalIdLinks(count: n)
        let crmStore = mirror.crmCustomers.records.store, erpStore = mirror.erpCustomers.records.store
        // For the plan: the first row of the other system that names each customer (rows with a
        // repeated id count too, as they do in the mirror).
        for (system, rows) in [(System.crm, idx.duplicateRows.crm), (System.erp, idx.duplicateRows.erp)] {
            for row in rows {
                let target: Int32? = (system == .crm ? crmStore.bytes(row, CustomerRecord.Field.externalId) : erpStore.bytes(row, CustomerRecord.Field.externalId)).flatMap { p in
                    ByteText.trimmed(p) { t in t.isEmpty ? nil : idx.global(system.other, t) }
                }
                if let target { links.named(target, byRow: row) }
            }
        }
        let ahead = OrderMatcher.lookahead
        for g in 0..<n {
            let system = idx.system[g]
            // The id table slot of the external id a few records ahead starts loading now.
            if g + ahead < n, let p = idx.system[g + ahead] == .crm ? crmStore.bytes(Int(idx.record[g + ahead]), CustomerRecord.Field.externalId)
                                                                      : erpStore.bytes(Int(idx.record[g + ahead]), CustomerRecord.Field.externalId),
               let t = ByteText.trimmedBytes(p), !t.isEmpty {
                idx.idCodes[idx.system[g + ahead].other].prefetch(t)
            }
            let link: ExternalLink
            // (Each store read where it is: `cond ? crmStore : erpStore` would copy, retain and
            // release a store per record.)
            if let p = system == .crm ? crmStore.bytes(Int(idx.record[g]), CustomerRecord.Field.externalId)
                                      : erpStore.bytes(Int(idx.record[g]), CustomerRecord.Field.externalId) {
                // Without a closure in the common case: one capturing `idx` would copy it per record.
                if let t = ByteText.trimmedBytes(p) {
                    link = ExternalLink.of(t) { idx.global(system.other, $0).map(Int.init) }
                } else {
                    link = ByteText.trimmed(p) { t in ExternalLink.of(t) { idx.global(system.other, $0).map(Int.init) } }
                }
            } else {
                link = .none
            }
            switch link {
            case .none:
                continue
            case .dangling:
                links.dangling[g] = true
            case .resolved(let o):
                let other = Int32(o)
                if system == .crm { links.add(Int32(g), other) } else { links.add(other, Int32(g)) }
                links.resolves[g] = true
                links.named(other, byRow: Int(idx.record[g]))
            }
        }
        return links
    }

    /// 0. Reviewers' decisions, before any key (`IdentityDecisions`), then the external-id links
    /// a `different` does not forbid.
    private mutating func joinByDecisionsThenLinks(_ idx: CustomerIndex, _ comps: inout Components,
                                                   _ links: inout ExternalIdLinks) -> DecisionsApplied {
        var decided = DecisionsApplied(decisions, idx: idx, comps: &comps)
        for d in decided.inForce where d.verdict == .same {
            guard let a = idx.global(d.a.system, d.a.id), let b = idx.global(d.b.system, d.b.id), comps.find(a) != comps.find(b) else { continue }
            if decided.keepsApart(a, b, &comps, idx) { continue }
            comps.union(a, b, key: .decision)
            if trace { joins.append((a, b, .decision)) }
            decided.notes[a, default: []].append("joined to \(d.b) by \(d.label)")
            decided.notes[b, default: []].append("joined to \(d.a) by \(d.label)")
        }
        if decided.anyApart {
            var kept: [(crm: Int32, erp: Int32)] = []
            for pair in links.pairs {
                if decided.keepsApart(pair.crm, pair.erp, &comps, idx) {
                    if trace { refusals.append((pair.crm, pair.erp, .externalId, "a reviewer decided they are different")) }
                } else {
                    kept.append(pair)
                }
            }
            links.pairs = kept
        }
        for pair in links.pairs {
            comps.union(pair.crm, pair.erp, key: .externalId)
            if trace { joins.append((pair.crm, pair.erp, .externalId)) }
        }
        return decided
    }

    /// 2. and 3. Email (one mailbox), then phone where `PhoneRule` lets it: `SharedKey` decides
    /// what each shared value does; conflicts are reported as they are found.
    private mutating func joinByEmailThenPhone(_ idx: CustomerIndex, _ comps: inout Components, _ decided: inout DecisionsApplied,
                                               links: ExternalIdLinks, names: NameCache) -> KeyConflicts {
        let n = idx.count
        var conflicts: [FindingIdKey: Int] = [:]      // finding id → index in `findings`
        var inConflict = [Bool](repeating: false, count: n)
        var conflictKeys = [UInt8](repeating: 0, count: n)
        for key in [MatchKey.email, MatchKey.phone] {
            let values = key == .email ? idx.email : idx.phone
            // Each value's records, contiguous and in record order.
            let byValue = GroupedByKey(count: n, keys: Int(values.max() ?? -1) + 1) { g in values[g] >= 0 ? Int(values[g]) : nil }
            for value in 0..<byValue.keyCount where byValue.count(value) >= 2 {
                let members = byValue[value]
                // Most shared values (a linked pair's email) are already within one identity:
                // nothing to decide, and nothing to allocate.
                let first = comps.find(members.first!)
                if !members.dropFirst().contains(where: { comps.find($0) != first }) { continue }
                // Parts: the group's members split by their current identity.
                var partOrder: [Int32] = []
                var parts: [Int32: [Int32]] = [:]
                for g in members {
                    let root = comps.find(g)
                    if parts[root] == nil { partOrder.append(root) }
                    parts[root, default: []].append(g)
                }
                if partOrder.count < 2 { continue }
                for j in 1..<partOrder.count {
                    for i in 0..<j {
                        let p = parts[partOrder[i]]!, q = parts[partOrder[j]]!
                        let rp = comps.find(p[0]), rq = comps.find(q[0])
                        if rp == rq { break }
                        if decided.anyApart, decided.keepsApart(p[0], q[0], &comps, idx) {
                            if trace { refusals.append((p[0], q[0], key, "a reviewer decided they are different")) }
                            continue
                        }
                        var evidence = key, tier = MatchTier.certain
                        // Two customers each linked to their own counterpart stay apart whatever
                        // else they share: settled before any name is read.
                        if SharedKey.eachAlreadyLinked(SystemSet(rawValue: comps.systemsOf(root: rp)), SystemSet(rawValue: comps.systemsOf(root: rq))) {
                            if trace { refusals.append((p[0], q[0], key, "each is already linked to its own counterpart by external id")) }
                            continue
                        }
                        if key == .phone {
                            let ep = comps.emailsOf(root: rp), eq = comps.emailsOf(root: rq)
                            let emailsDiffer = !ep.isEmpty && !eq.isEmpty && !ep.contains(where: { eq.contains($0) })
                            switch PhoneRule.judge(p.compactMap { names[$0] }, q.compactMap { names[$0] },
                                                   emailsDiffer: emailsDiffer,
                                                   peopleOnPhone: { PhoneRule.people(members.compactMap { names[$0] }) }) {
                            case .apart(let reason):
                                if trace { refusals.append((p[0], q[0], key, reason)) }
                                continue
                            case .join(let t):
                                tier = t
                                if t == .probable { evidence = [.phone, .name] }
                            }
                        }
                        switch decide(p, q, rp, rq, idx: idx, comps: comps) {
                        case .join:
                            comps.union(p[0], q[0], key: evidence, tier: tier)
                            if trace { joins.append((p[0], q[0], evidence)) }
                        case .keepApart:
                            if trace { refusals.append((p[0], q[0], key, "each is already linked to its own counterpart by external id")) }
                            continue
                        case .conflict:
                            if trace { refusals.append((p[0], q[0], key, "conflict: the external-id link points elsewhere")) }
                            var involved: [(Int32, String)] = []
                            for g in p + q {
                                involved.append((g, "\(key.names)-match"))
                                for l in links.of(g) { involved.append((l, "linked")) }
                                conflictKeys[Int(g)] |= key.rawValue
                                for l in links.of(g) { conflictKeys[Int(l)] |= key.rawValue }
                            }
                            var seen: Set<Int32> = []
                            var memberList: [FindingMember] = []
                            for (g, role) in involved where seen.insert(g).inserted {
                                inConflict[Int(g)] = true
                                memberList.append(FindingMember(system: idx.system[Int(g)], recordId: idx.id(Int(g)),
                                                                value: key == .email ? idx.emailText(Int(g)) : idx.phoneText(Int(g)),
                                                                role: role, row: idx.record[Int(g)]))
                            }
                            let finding = Finding(type: .conflict, entity: .customer, severity: severity(.conflict),
                                                  matchedOn: texts.shared("external_id+" + key.names),
                                                  detail: texts.shared(SharedKey.conflictDetail(keyNames: key.names)),
                                                  members: memberList)
                            if let at = conflicts[finding.idKey] {
                                if !findings[at].matchedOn.contains(key.names) { findings[at].matchedOn += "+" + key.names }
                            } else {
                                conflicts[finding.idKey] = findings.count
                                findings.append(finding)
                            }
                        }
                    }
                }
            }
        }
        return KeyConflicts(records: inConflict, keys: conflictKeys)
    }

    /// The identities' findings: `CustomerDuplicates`, `CustomerOrphans`, `CustomerUnlinked`.
    private mutating func reportIdentities(_ idx: CustomerIndex, _ comps: inout Components, inConflict: [Bool], dangling: [Bool],
                                           identified: ((PerSystem<[Int32]>) -> Void)?) -> Identities {
        let n = idx.count
        // Identities, as contiguous runs of records per root.
        var roots = [Int32](repeating: 0, count: n)
        for g in 0..<n { roots[g] = comps.find(Int32(g)) }
        let identity = idx.globalOfCode.map { globals in globals.map { roots[Int($0)] } }
        identified?(identity)
        // Records grouped by root (roots are record indices), ascending within a root.
        let order = GroupedByKey(count: n, keys: n) { g in Int(roots[g]) }.items
        // With `parallel`, the groups in two pieces, each on a core, joined in order: the
        // findings are the same as from one piece.
        var bounds = [0]
        // (From a thousand records: the end-to-end fast/slow comparison splits its mirror too.)
        let pieces = parallel && n >= 1 << 10 ? 2 : 1
        for k in 1..<pieces {
            var at = max(bounds[k - 1], n * k / pieces)
            while at > 0, at < n, roots[Int(order[at])] == roots[Int(order[at - 1])] { at += 1 }
            bounds.append(at)
        }
        bounds.append(n)
        let comps = comps
        var reporter = self
        reporter.findings = []
        let parts = Engine.map(pieces) { [reporter] k in
            reporter.reportGroups(order[bounds[k]..<bounds[k + 1]], roots: roots, idx: idx, comps: comps, inConflict: inConflict, dangling: dangling)
        }
        var unlinkedPairs: [(crm: Int32, erp: Int32, on: String, tier: MatchTier?)] = []
        var orphanRecords: [Int32] = [], orphanFindings: [(at: Int, records: Range<Int>)] = []
        for part in parts {
            let (base, recordBase) = (findings.count, orphanRecords.count)
            findings += part.findings
            unlinkedPairs += part.unlinkedPairs
            orphanRecords += part.orphanRecords
            orphanFindings += part.orphanFindings.map { (base + $0.at, (recordBase + $0.records.lowerBound)..<(recordBase + $0.records.upperBound)) }
        }
        return Identities(roots: roots, identity: identity, unlinkedPairs: unlinkedPairs, orphanRecords: orphanRecords, orphanFindings: orphanFindings)
    }

    /// One piece of `reportIdentities`: the findings of the identities whose records are `order`
    /// (whole groups), with orphans' positions counted from the piece's first finding.
    private func reportGroups(_ order: ArraySlice<Int32>, roots: [Int32], idx: CustomerIndex, comps: Components, inConflict: [Bool],
                              dangling: [Bool]) -> IdentityPart {
        var findings: [Finding] = []
        var texts = SharedTexts()
        var start = order.startIndex
        let end = order.endIndex
        // Pairs matched without a link (the linked pairs are compared from `linkPairs`, no copy).
        var unlinkedPairs: [(crm: Int32, erp: Int32, on: String, tier: MatchTier?)] = []
        var orphanRecords: [Int32] = [], orphanFindings: [(at: Int, records: Range<Int>)] = []
        while start < end {
            var stop = start + 1
            let root = roots[Int(order[start])]
            while stop < end, roots[Int(order[stop])] == root { stop += 1 }
            let group = order[start..<stop]
            start = stop
            let keys = MatchKey(rawValue: comps.keysOf(root: root))
            // The common case, a CRM and an ERP record joined by their link, reports nothing:
            // skip it without allocating (its pair is compared with the other link pairs).
            if group.count == 2, keys.contains(.externalId), idx.system[Int(group.first!)] != idx.system[Int(group.last!)],
               !inConflict[Int(group.first!)], !inConflict[Int(group.last!)] {
                continue
            }
            let crm = group.filter { idx.system[Int($0)] == .crm }
            let erp = group.filter { idx.system[Int($0)] == .erp }
            let conflicted = group.contains { inConflict[Int($0)] }
            func member(_ g: Int32, role: String) -> FindingMember {
                let value: String
                if keys.contains(.email), !idx.emailText(Int(g)).isEmpty { value = idx.emailText(Int(g)) }
                else if keys.contains(.phone), !idx.phoneText(Int(g)).isEmpty { value = idx.phoneText(Int(g)) }
                else { value = mirror.field(.customer, idx.system[Int(g)], row: Int(idx.record[Int(g)]), CustomerRecord.Field.externalId) ?? "" }
                return FindingMember(system: idx.system[Int(g)], recordId: idx.id(Int(g)), value: value, role: role, row: idx.record[Int(g)])
            }
            for (system, records) in [(System.crm, crm), (System.erp, erp)] {
                guard let detail = CustomerDuplicates.detail(system, count: records.count) else { continue }
                findings.append(Finding(type: .duplicate, entity: .customer, severity: severity(.duplicate),
                                        matchedOn: keys.names, detail: texts.shared(detail),
                                        members: records.map { member($0, role: "duplicate") }, tier: comps.tierOf(root: root)))
            }
            if conflicted { continue }
            if let (system, detail) = CustomerOrphans.orphan(crm: crm.count, erp: erp.count, dangling: group.contains { dangling[Int($0)] }) {
                let records = system == .crm ? crm : erp
                orphanFindings.append((findings.count, orphanRecords.count..<(orphanRecords.count + records.count)))
                orphanRecords.append(contentsOf: records)
                findings.append(Finding(type: .orphan, entity: .customer, severity: severity(.orphan),
                                        detail: texts.shared(detail),
                                        members: records.map {
                                            FindingMember(system: system, recordId: idx.id(Int($0)),
                                                          value: mirror.field(.customer, system, row: Int(idx.record[Int($0)]), CustomerRecord.Field.externalId) ?? "",
                                                          role: "orphan", row: idx.record[Int($0)])
                                        }))
            } else if let detail = CustomerUnlinked.detail(keys: keys.names, linked: keys.contains(.externalId)) {
                findings.append(Finding(type: .unlinked, entity: .customer, severity: severity(.unlinked),
                                        matchedOn: keys.names, detail: texts.shared(detail),
                                        members: group.map { member($0, role: "unlinked") }, tier: comps.tierOf(root: root)))
                // A pair matched on weaker evidence keeps its tier on its mismatches (and their updates).
                let tier = comps.tierOf(root: root)
                if crm.count == 1 && erp.count == 1 { unlinkedPairs.append((crm[0], erp[0], keys.names, tier < .certain ? tier : nil)) }
            }
        }
        return IdentityPart(findings: findings, unlinkedPairs: unlinkedPairs, orphanRecords: orphanRecords, orphanFindings: orphanFindings)
    }

    /// Says in each customer finding's detail which reviewers' decisions shaped it.
    private mutating func noteDecisions(_ notes: [Int32: [String]], idx: CustomerIndex) {
        for k in findings.indices where findings[k].entity == .customer {
            var said: [String] = []
            for m in findings[k].members {
                guard let g = idx.global(m.system, m.recordId), let n = notes[g] else { continue }
                for line in n where !said.contains(line) { said.append(line) }
            }
            if !said.isEmpty { findings[k].detail += "; " + said.joined(separator: "; ") }
        }
    }

    /// Names each orphan's near misses (`CandidateRule`) in its finding: records of the other
    /// system that share its phone, or its email's local part at another mailbox.
    /// - Parameter orphanFindings: each orphan finding's index and its records' range in `records`.
    /// - Returns: per orphan finding with near misses, its index and the candidates to name.
    private func nameCandidates(_ orphanFindings: [(at: Int, records: Range<Int>)], records: [Int32], idx: CustomerIndex, roots: [Int32],
                                names: NameCache, decidedApart: (Int32, Int32) -> Bool) -> [(at: Int, candidates: [FindingMember])] {
        guard !orphanFindings.isEmpty else { return [] }
        // With `parallel`, the pass over every address in two pieces and the orphans in sixteen
        // (below), joined in order: the candidates are the same for any number.
        let pieces = parallel && orphanFindings.count >= 1 << 10 ? 2 : 1
        func piece(_ k: Int, of n: Int) -> Range<Int> { n * k / pieces..<n * (k + 1) / pieces }
        // The records holding each orphan's phone (one pass; the phone groups of matching are not kept).
        var onPhone: [Int32: [Int32]] = [:]
        var asked = [Bool](repeating: false, count: idx.phones.count)
        for g in records where idx.phone[Int(g)] >= 0 { asked[Int(idx.phone[Int(g)])] = true }
        for g in 0..<Int32(idx.count) where idx.phone[Int(g)] >= 0 && asked[Int(idx.phone[Int(g)])] {
            onPhone[idx.phone[Int(g)], default: []].append(g)
        }
        // The orphans by the hash of their email's local part; then one pass over every address.
        // A hit compares the local parts themselves (read again from the interned addresses).
        var wanted: [UInt64: [Int32]] = [:]
        var scratch: [UInt8] = []
        for g in records where idx.email[Int(g)] >= 0 {
            idx.emails.withBytes(idx.email[Int(g)]) { CandidateRule.localPart($0, into: &scratch) }
            if scratch.count >= CandidateRule.shortestLocalPart {
                wanted[CandidateRule.localPartHash(scratch), default: []].append(g)
            }
        }
        var byLocalPart: [Int32: [Int32]] = [:]      // orphan → other addresses with its local part
        if !wanted.isEmpty {
            let emails = idx.emails.count
            for hits in Engine.map(pieces, { k -> [(orphan: Int32, code: Int32)] in
                var hits: [(orphan: Int32, code: Int32)] = []
                var theirs: [UInt8] = [], mine: [UInt8] = []
                // Every address's local part hashed as it is read; copied only on a hit.
                for code in piece(k, of: emails).lazy.map(Int32.init) {
                    guard let orphans = wanted[idx.emails.withBytes(code) { CandidateRule.localPartHash($0) }] else { continue }
                    idx.emails.withBytes(code) { CandidateRule.localPart($0, into: &theirs) }
                    for o in orphans where idx.email[Int(o)] != code {
                        idx.emails.withBytes(idx.email[Int(o)]) { CandidateRule.localPart($0, into: &mine) }
                        if mine == theirs { hits.append((o, code)) }
                    }
                }
                return hits
            }) {
                for hit in hits { byLocalPart[hit.orphan, default: []].append(hit.code) }
            }
        }
        var holders: [Int32: [Int32]] = [:]          // email code → its records (only those asked for)
        if !byLocalPart.isEmpty {
            let codes = Set(byLocalPart.values.joined())
            for g in 0..<Int32(idx.count) where codes.contains(idx.email[Int(g)]) { holders[idx.email[Int(g)], default: []].append(g) }
        }
        // The orphans in parts that either thread claims when free (some parts hold far more
        // shared phones than others); each thread with its own copy of the names reduced so far
        // (the cache fills as it is read).
        return Engine.mapClaimed(items: orphanFindings.count, pieces: pieces == 1 ? 1 : 16, threads: pieces,
                                 state: { $0 == 0 ? names : names.copy() }) { names, part -> [(at: Int, candidates: [FindingMember])] in
            var named: [(at: Int, candidates: [FindingMember])] = []
            for (at, range) in orphanFindings[part] {
                let orphans = records[range]
                // Most orphans share their phone with nobody and their local part with no other address.
                if !orphans.contains(where: { g in
                    byLocalPart[g] != nil || (idx.phone[Int(g)] >= 0 && (onPhone[idx.phone[Int(g)]]?.count ?? 0) > 1)
                }) { continue }
                var candidates: [FindingMember] = []
                var seen: Set<Int32> = []
                for g in orphans {
                    let other = idx.system[Int(g)].other
                    var found: [(Int32, String)] = []
                    if idx.phone[Int(g)] >= 0, let holding = onPhone[idx.phone[Int(g)]] {
                        for h in holding where idx.system[Int(h)] == other && roots[Int(h)] != roots[Int(g)] && !decidedApart(g, h) {
                            if let why = CandidateRule.samePhone(names[g], names[h]) { found.append((h, why)) }
                        }
                    }
                    for code in byLocalPart[g] ?? [] {
                        for h in holders[code] ?? [] where idx.system[Int(h)] == other && roots[Int(h)] != roots[Int(g)] && !decidedApart(g, h) {
                            if let why = CandidateRule.similarEmail(names[g], names[h]) { found.append((h, why)) }
                        }
                    }
                    for (h, why) in found where seen.insert(h).inserted {
                        candidates.append(FindingMember(system: other, recordId: idx.id(Int(h)), value: why, role: "candidate", row: idx.record[Int(h)]))
                    }
                }
                guard !candidates.isEmpty else { continue }
                candidates.sort { ($0.recordId, $0.value) < ($1.recordId, $1.value) }
                if candidates.count > CandidateRule.limit { candidates.removeLast(candidates.count - CandidateRule.limit) }
                named.append((at, candidates))
            }
            return named
        }.flatMap { $0 }
    }

    /// `SharedKey`'s verdict on records `p` (in identity `rp`) and `q` (in `rq`), which share a key.
    private func decide(_ p: [Int32], _ q: [Int32], _ rp: Int32, _ rq: Int32, idx: CustomerIndex, comps: Components) -> SharedKey.Verdict {
        func systems(_ records: [Int32]) -> SystemSet { records.reduce(into: SystemSet()) { $0.insert(SystemSet(idx.system[Int($1)])) } }
        return SharedKey.verdict(identityP: SystemSet(rawValue: comps.systemsOf(root: rp)), identityQ: SystemSet(rawValue: comps.systemsOf(root: rq)),
                                 recordsP: systems(p), recordsQ: systems(q))
    }

    /// field_mismatch for matched pairs: normalised email and phone, and same-named attributes.
    private func compareFields<Pairs: Sequence>(_ pairs: Pairs, idx: CustomerIndex, conflictKeys: [UInt8], into findings: inout [Finding])
    where Pairs.Element == (crm: Int32, erp: Int32, on: String, tier: MatchTier?) {
        let crmAttrs = mirror.crmCustomers.attributeNames
        let erpAttrs = mirror.erpCustomers.attributeNames
        let shared = FieldMismatch.sharedAttributes(crm: crmAttrs, erp: erpAttrs)
        var texts = SharedTexts()
        for (c, e, on, tier) in pairs {
            let ci = Int(c), ei = Int(e)
            let cr = mirror.crmCustomers.records, er = mirror.erpCustomers.records
            let crow = Int(idx.record[ci]), erow = Int(idx.record[ei])
            typealias F = CustomerRecord.Field
            let conflicted = conflictKeys[ci] | conflictKeys[ei]
            if FieldMismatch.keyDiffers(idx.emailKey(ci), idx.emailKey(ei), matchConflictsOnKey: conflicted & MatchKey.email.rawValue != 0) {
                mismatch(idx, ci, ei, texts: &texts, on: on, tier: tier, field: "email", cr.field(crow, F.email) ?? "", er.field(erow, F.email) ?? "", into: &findings)
            }
            if FieldMismatch.keyDiffers(idx.phoneKey(ci), idx.phoneKey(ei), matchConflictsOnKey: conflicted & MatchKey.phone.rawValue != 0) {
                mismatch(idx, ci, ei, texts: &texts, on: on, tier: tier, field: "phone", cr.field(crow, F.phone) ?? "", er.field(erow, F.phone) ?? "", into: &findings)
            }
            for a in shared {
                // Attributes follow the fixed fields in the row store; compare bytes before making strings.
                let ck = CustomerRecord.fixedFields + a.c, ek = CustomerRecord.fixedFields + a.e
                if cr.store.withField(crow, ck, { c in er.store.withField(erow, ek, { e in
                    guard let c, let e, c.count == e.count else { return false }
                    return c.isEmpty || memcmpEqual(c.baseAddress!, e.baseAddress!, c.count)
                }) }) { continue }
                let cv = ValueNormaliser.trimmed(cr.field(crow, ck)), ev = ValueNormaliser.trimmed(er.field(erow, ek))
                if FieldMismatch.differs(cv, ev) {
                    mismatch(idx, ci, ei, texts: &texts, on: on, tier: tier, field: a.name, cv ?? "", ev ?? "", into: &findings)
                }
            }
        }
    }

    /// - Parameter c, e: the CRM and the ERP customer (global indexes in `idx`).
    private func mismatch(_ idx: CustomerIndex, _ c: Int, _ e: Int, texts: inout SharedTexts, on: String, tier: MatchTier?, field: String,
                          _ crmValue: String, _ erpValue: String, into findings: inout [Finding]) {
        findings.append(Finding(type: .fieldMismatch, entity: .customer, severity: severity(.fieldMismatch),
                                matchedOn: on, field: field,
                                detail: texts.shared(FieldMismatch.detail(field: field)),
                                members: [FindingMember(system: .crm, recordId: idx.id(c), value: crmValue, role: "crm", row: idx.record[c]),
                                          FindingMember(system: .erp, recordId: idx.id(e), value: erpValue, role: "erp", row: idx.record[e])],
                                tier: tier))
    }
}

/// The links customers' external ids make: pairs (CRM, ERP) in the order found, each record's
/// counterparts, and what the plan needs (whose id resolves, the first row naming each).
struct ExternalIdLinks {
    var pairs: [(crm: Int32, erp: Int32)] = []
    private var first: [Int32]
    private var more: [Int32: [Int32]] = [:]
    /// Records whose external id names no record of the other system.
    var dangling: [Bool]
    var resolves: [Bool]
    /// The first row of the other system whose external id names each record, -1 for none.
    var firstNamerRow: [Int32]

    init(count n: Int) {
        first = [Int32](repeating: -1, count: n)
        dangling = [Bool](repeating: false, count: n)
        resolves = [Bool](repeating: false, count: n)
        firstNamerRow = [Int32](repeating: -1, count: n)
    }

    /// A link between CRM record `c` and ERP record `e`; both naming each other is one link.
    mutating func add(_ c: Int32, _ e: Int32) {
        if first[Int(c)] == e || (more[c]?.contains(e) ?? false) { return }
        pairs.append((c, e))
        for (a, b) in [(c, e), (e, c)] {
            if first[Int(a)] < 0 { first[Int(a)] = b } else { more[a, default: []].append(b) }
        }
    }

    /// Row `row` of the other system names record `g`.
    mutating func named(_ g: Int32, byRow row: Int) {
        if firstNamerRow[Int(g)] < 0 || firstNamerRow[Int(g)] > Int32(row) { firstNamerRow[Int(g)] = Int32(row) }
    }

    /// Record `g`'s counterparts by external id.
    func of(_ g: Int32) -> [Int32] {
        let f = first[Int(g)]
        if f < 0 { return [] }
        return [f] + (more[g] ?? [])
    }
}

/// Records in a conflict, and the keys each one's conflicts are on (`MatchKey` bits).
struct KeyConflicts {
    let records: [Bool]
    let keys: [UInt8]
}

/// One piece's findings of `reportIdentities`.
struct IdentityPart {
    var findings: [Finding]
    var unlinkedPairs: [(crm: Int32, erp: Int32, on: String, tier: MatchTier?)]
    var orphanRecords: [Int32]
    var orphanFindings: [(at: Int, records: Range<Int>)]
}

/// The identities: each record's root, each code's identity per system, and what the later
/// phases need of the findings (unlinked pairs to compare, orphans to look for near misses).
struct Identities {
    let roots: [Int32]
    let identity: PerSystem<[Int32]>
    let unlinkedPairs: [(crm: Int32, erp: Int32, on: String, tier: MatchTier?)]
    let orphanRecords: [Int32]
    let orphanFindings: [(at: Int, records: Range<Int>)]
}

/// Customers' names, read and reduced (`PersonName`) the first time a rule asks for one: only
/// records that share a phone with another customer, and orphans' candidates, are ever read.
final class NameCache {
    private let mirror: Mirror
    private let system: [System]
    private let record: [Int32]
    /// Per record asked for: its name's index in `reduced` (-1: no name).
    private var indexOf: [Int32: Int32] = [:]
    /// Names repeat (`Anna Müller`): each text is reduced once.
    private var byText: [String: Int32] = [:]
    private var reduced: [PersonName] = []

    init(mirror: Mirror, idx: CustomerIndex) {
        self.mirror = mirror
        system = idx.system
        record = idx.record
    }

    private init(_ other: NameCache) {
        mirror = other.mirror
        system = other.system
        record = other.record
        indexOf = other.indexOf
        byText = other.byText
        reduced = other.reduced
    }

    /// A cache of its own for another thread, holding the names reduced so far (shared until
    /// either cache adds one).
    func copy() -> NameCache { NameCache(self) }

    subscript(_ g: Int32) -> PersonName? {
        if let k = indexOf[g] { return k >= 0 ? reduced[Int(k)] : nil }
        let text = mirror.field(.customer, system[Int(g)], row: Int(record[Int(g)]), CustomerRecord.Field.name)
        var k: Int32 = -1
        if let text {
            if let known = byText[text] {
                k = known
            } else {
                if let name = PersonName(text) { k = Int32(reduced.count); reduced.append(name) }
                byText[text] = k
            }
        }
        indexOf[g] = k
        return k >= 0 ? reduced[Int(k)] : nil
    }
}

/// The reviewers' decisions as one run applies them: `different` pairs registered with the
/// identities (`Components.keepApart`), and a note per record a decision changed.
struct DecisionsApplied {
    let inForce: [IdentityDecisions.Decision]
    /// The `different` pairs present in the mirror (`pairKey`).
    private(set) var apartPairs: Set<Int64> = []
    /// Per record: what a decision did to it, for its findings' detail.
    var notes: [Int32: [String]] = [:]

    var anyApart: Bool { !apartPairs.isEmpty }

    static func pairKey(_ a: Int32, _ b: Int32) -> Int64 { Int64(min(a, b)) << 32 | Int64(max(a, b)) }

    init(_ decisions: IdentityDecisions, idx: CustomerIndex, comps: inout Components) {
        inForce = decisions.inForce
        for (k, d) in inForce.enumerated() where d.verdict == .different {
            guard let a = idx.global(d.a.system, d.a.id), let b = idx.global(d.b.system, d.b.id) else { continue }
            comps.keepApart(a, b, decision: k)
            apartPairs.insert(Self.pairKey(a, b))
        }
    }

    /// Whether a decision keeps `a`'s and `b`'s identities apart; if so, both records' findings say so.
    mutating func keepsApart(_ a: Int32, _ b: Int32, _ comps: inout Components, _ idx: CustomerIndex) -> Bool {
        let ra = comps.find(a), rb = comps.find(b)
        guard ra != rb, let k = comps.decisionKeepingApart(ra, rb) else { return false }
        let d = inForce[k]
        for (x, y) in [(d.a, d.b), (d.b, d.a)] {
            if let g = idx.global(x.system, x.id) { notes[g, default: []].append("kept apart from \(y) by \(d.label)") }
        }
        return true
    }
}
