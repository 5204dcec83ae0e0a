import Foundation
import ReconCore

/// A deterministic sample mirror: a CRM (contacts, deals) and an ERP (customers, sales orders)
/// with their own schema, every finding type injected at known records, look-alikes that must
/// not be flagged, and the ground truth of what recon should report.
///
/// Customer `i` (1…N) is CRM contact `C%07d` and ERP customer `K%07d`. `i % 100` picks what is
/// injected for that customer (see `Case`); all other customers are clean pairs, some of them
/// look-alikes (shared switchboard phones, common names, formatting-only differences). With an
/// anomaly rate, the cases are dealt by chance instead, to that share of the customers: a dense
/// mirror, like the first reconciliation of two systems that were never reconciled. One
/// customer in eight is Australian, most with a mobile in a block opened after 2022: numbering
/// plans older than those call them invalid, and the ground truth does not.
public struct MirrorGenerator {
    public let customers: Int
    public let seed: UInt64
    /// The share of customers (0…1) that carry an injected case; nil: `i % 100` picks the case,
    /// about one customer in three.
    public let anomalyRate: Double?

    public init(customers: Int, seed: UInt64 = 42, anomalyRate: Double? = nil) {
        self.customers = customers
        self.seed = seed
        self.anomalyRate = anomalyRate
    }

    /// The cases that inject a finding (switchboards and look-alikes do not).
    static let findingCases: [Case] = (0..<100).compactMap(Case.init(rawValue:)).filter { !lookAlikeSlots.contains($0.rawValue) }
    static let lookAlikeSlots = Case.switchboard.rawValue...Case.twoRealOrdersInWindow.rawValue

    /// What customer `i` carries. Switchboards and look-alikes keep their slots at every rate:
    /// they are what recon must not flag, and a dense mirror needs them as much as a tidy one.
    func kind(_ i: Int) -> Case? {
        let slot = i % 100
        guard let anomalyRate, !Self.lookAlikeSlots.contains(slot) else { return Case(rawValue: slot) }
        guard Double(hash(i, 13) % 1_000_000) < anomalyRate * 1_000_000 else { return nil }
        return Self.findingCases[Int(hash(i, 14) % UInt64(Self.findingCases.count))]
    }

    /// What a customer slot carries; the raw values are `i % 100`.
    enum Case: Int {
        case dupCrmByEmail = 1, dupErpByPhone, orphanCrm, orphanErp, unlinked, conflict, phoneMismatch,
             segmentMismatch, invalidEmail, invalidPhone, duplicateId, emptyId
        // Identities: one person with a work and a private address (across the systems, inside
        // one), colleagues sharing a phone, strangers sharing a name, a changed surname, one
        // mailbox written two ways (linked, unlinked).
        case twoAddressesAcross = 13, twoAddressesInside, colleaguesOnePhone, sameNameStrangers, changedSurname,
             oneMailboxLinked, oneMailboxUnlinked
        case missingOrder = 20, orphanOrder, statusCancelled, statusChargeback, amountMismatch, currencyMismatch,
             dupDealInWindow, twoOrdersOneDeal, unlinkedOrder, unknownCustomer, unmappedStatus
        case switchboard = 40, switchboard2, switchboard3, switchboard4, switchboard5
        case sameAmountLater = 46, twoRealOrdersInWindow = 47
        // A near miss: a CRM-only and an ERP-only customer with one phone and the same surname
        // (a spouse, or one person under another given name): named, never created.
        case nearMiss = 31
        // A second ERP record with the same phone and neither name nor email: possible, not acted on.
        case dupErpByPhoneNoName = 32
    }

    /// One expected finding: type, entity, field and the records (`system:id`).
    public struct Truth: Hashable, Sendable {
        public var type: String
        public var entity: String
        public var field: String
        public var records: [String]
        /// Customer duplicates and unlinked pairs: how sure the match is (certain, probable, possible).
        public var tier: String
        /// Orphan customers: the near misses recon must name (`system:id`), sorted.
        public var candidates: [String]
        /// The customer slot that injected it (not part of the key).
        public var customer = 0
        public init(type: String, entity: String, field: String, records: [String], tier: String = "", candidates: [String] = []) {
            self.type = type; self.entity = entity; self.field = field; self.records = records.sorted()
            self.tier = tier; self.candidates = candidates.sorted()
        }
        public var key: String { "\(type)|\(entity)|\(field)|\(records.joined(separator: " "))" }
    }

    public static let schemaSQL = """
    SET client_min_messages = warning;
    DROP SCHEMA IF EXISTS crm CASCADE;
    DROP SCHEMA IF EXISTS erp CASCADE;
    CREATE SCHEMA crm;
    CREATE SCHEMA erp;
    -- The CRM: contacts can be imported twice, so contact_id is not a key here.
    CREATE TABLE crm.contacts (
        row_id          bigserial PRIMARY KEY,
        contact_id      text,
        erp_account_ref text,
        first_name      text,
        last_name       text,
        email_address   text,
        phone_number    text,
        country_code    char(2),
        segment         text,
        modified_at     timestamptz NOT NULL
    );
    CREATE TABLE crm.deals (
        deal_id        text PRIMARY KEY,
        erp_order_ref  text,
        contact_id     text,
        stage          text NOT NULL,
        deal_value     numeric(12,2),
        currency_code  char(3),
        channel        text,
        created_on     timestamptz,
        modified_at    timestamptz
    );
    -- The ERP.
    CREATE TABLE erp.customers (
        cust_no          text PRIMARY KEY,
        crm_contact_ref  text,
        contact_name     text,
        email            text,
        tel              text,
        country          text,
        segment          text,
        last_changed     timestamptz
    );
    CREATE TABLE erp.sales_orders (
        so_number     text PRIMARY KEY,
        crm_deal_ref  text,
        cust_no       text,
        order_state   text NOT NULL,
        net_total     numeric(12,2),
        curr          char(3),
        channel       text,
        order_date    timestamptz,
        last_changed  timestamptz
    );

    """

    static let firstNames = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
                             "Anna", "Lukas", "Sophie", "Léa", "Hugo", "Emma", "Oliver", "Amelia", "José", "Zoë"]
    static let lastNames = ["Smith", "Johnson", "Williams", "Brown", "Müller", "Schmidt", "Martin", "Bernard",
                            "Taylor", "Davies", "Jones", "O'Brien", "García", "Dubois", "Evans", "Wilson"]

    /// The same person's name as another system or a second record writes it: without accents
    /// in capitals, surname first, the given name as an initial, or one letter swapped.
    func nameVariant(_ first: String, _ last: String, _ i: Int) -> String {
        let plain = { (s: String) in s.folding(options: [.diacriticInsensitive], locale: nil) }
        // The kind rotates by block of 100 customers, so that a small mirror has every kind.
        switch (i / 100) % 4 {
        case 0: return plain("\(first) \(last)").uppercased()
        case 1: return "\(last.uppercased()), \(first)"
        case 2: return "\(first.prefix(1)). \(last)"
        default:
            // One pair of neighbouring letters swapped, in a word of five letters or more.
            let word = last.count >= 5 ? last : (first.count >= 5 ? first : "")
            guard !word.isEmpty else { return plain("\(first) \(last)").uppercased() }
            var chars = Array(word)
            let at = 1 + Int(hash(i, 12) % UInt64(chars.count - 2))
            if chars[at] == chars[at + 1] { return plain("\(first) \(last)").uppercased() }
            chars.swapAt(at, at + 1)
            return last.count >= 5 ? "\(first) \(String(chars))" : "\(String(chars)) \(last)"
        }
    }
    static let countries = ["GB", "US", "DE", "FR"]
    static let currencies = ["GB": "GBP", "US": "USD", "DE": "EUR", "FR": "EUR", "AU": "AUD"]
    static let segments = ["SMB", "Enterprise", "Public sector"]
    static let baseEpoch: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z
    /// Customer `i`'s moment: `step` seconds apart, wrapping within 300 days of `baseEpoch`, so
    /// that no record of a large mirror is dated in the future or just before a run (which
    /// `settle_after` would hold back as settling).
    static func moment(_ i: Int, step: Int64) -> Int64 { baseEpoch + (Int64(i) * step) % (300 * 86_400) }

    func hash(_ i: Int, _ salt: UInt64) -> UInt64 {
        var z = UInt64(truncatingIfNeeded: i) &+ seed &* 0x9E37_79B9_7F4A_7C15 &+ salt &* 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// GB, US, DE, then FR and AU taking turns.
    func country(_ i: Int) -> String { i % 4 == 3 && (i / 4) % 2 == 1 ? "AU" : Self.countries[i % 4] }

    /// A valid number, unique per `n` (below 8 million for AU), in national digits (without trunk prefix).
    /// Ranges: GB mobiles 7400…, US 415 [2-9]XX XXXX, DE mobiles 151…, FR mobiles 60…, AU mobiles
    /// 04XX, mostly in ranges opened after 2022 (`auMobileBlocks`).
    func phoneDigits(_ n: Int, _ country: String) -> String {
        switch country {
        case "GB": return "74" + pad(n % 100_000_000, 8)
        case "US": return "415" + String(200 + (n / 10_000) % 800) + pad(n % 10_000, 4)
        case "DE": return "151" + pad(n % 100_000_000, 8)
        case "AU": return Self.auMobileBlocks[(n / 8) % 8] + pad((n % 8) * 125_000 + (n / 64) % 125_000, 6)
        default: return "6" + pad(n % 100_000_000, 8)
        }
    }

    /// Australian mobile blocks: six opened after the numbering plans of 2022 (libphonenumber
    /// 8.12.57 calls them invalid) and two older ones.
    static let auMobileBlocks = ["463", "464", "454", "465", "494", "462", "412", "438"]

    static let callingCodes = ["GB": "44", "US": "1", "DE": "49", "FR": "33", "AU": "61"]
    /// The international prefix people dial from each country.
    static let internationalPrefixes = ["GB": "00", "US": "011 ", "DE": "00", "FR": "00", "AU": "0011 "]

    /// The same number written in one of several ways a person or system might type it.
    func formatPhone(_ digits: String, _ country: String, style: Int) -> String {
        let cc = Self.callingCodes[country]!
        let chars = Array(digits)
        func group(_ sizes: [Int]) -> String {
            var parts: [String] = []
            var at = 0
            for s in sizes where at < chars.count {
                parts.append(String(chars[at..<min(chars.count, at + s)])); at += s
            }
            if at < chars.count { parts.append(String(chars[at...])) }
            return parts.joined(separator: " ")
        }
        let trunk = country == "US" ? "" : "0"
        switch (style % 4, country) {
        case (0, _): return "+" + cc + digits
        case (1, "US"): return "(\(chars[0..<3].map(String.init).joined())) \(String(chars[3..<6]))-\(String(chars[6...]))"
        case (1, _): return trunk + group([4, 3, 4])
        case (2, _): return "+" + cc + " " + group([3, 3, 4])
        default: return Self.internationalPrefixes[country]! + cc + "-" + digits
        }
    }

    func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    func crmId(_ i: Int) -> String { "C" + pad(i, 7) }
    func erpId(_ i: Int) -> String { "K" + pad(i, 7) }

    static func timestamp(_ epoch: Int64) -> String {
        let (y, m, d) = CivilDate.ymd(epoch)
        let secs = Int(epoch % 86400)
        func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(p2(m))-\(p2(d)) \(p2(secs / 3600)):\(p2(secs / 60 % 60)):\(p2(secs % 60))+00"
    }

    /// Streams the SQL that creates and loads the mirror to `out`, and returns the ground truth.
    public func generate(_ out: (String) -> Void) -> [Truth] {
        var truth: [Truth] = []
        var contacts = CopyBlock("crm.contacts (contact_id, erp_account_ref, first_name, last_name, email_address, phone_number, country_code, segment, modified_at)")
        var deals = CopyBlock("crm.deals (deal_id, erp_order_ref, contact_id, stage, deal_value, currency_code, channel, created_on, modified_at)")
        var erpCustomers = CopyBlock("erp.customers (cust_no, crm_contact_ref, contact_name, email, tel, country, segment, last_changed)")
        var orders = CopyBlock("erp.sales_orders (so_number, crm_deal_ref, cust_no, order_state, net_total, curr, channel, order_date, last_changed)")
        out(Self.schemaSQL)
        let n = customers
        var dealSeq = 0
        let erpStates = ["PAID", "SHIPPED", "INVOICED"]
        for i in 1...n {
            let injectedBefore = truth.count
            defer { for t in injectedBefore..<truth.count { truth[t].customer = i } }
            let kind = kind(i)
            let c = country(i)
            let fi = Int(hash(i, 1) % UInt64(Self.firstNames.count)), li = Int(hash(i, 2) % UInt64(Self.lastNames.count))
            let first = Self.firstNames[fi], last = Self.lastNames[li]
            let email = "\(first.lowercased()).\(last.lowercased()).\(i)@example.com"
                .replacingOccurrences(of: "'", with: "")
            var phoneN = i
            if let k = kind, (Case.switchboard.rawValue...Case.switchboard5.rawValue).contains(k.rawValue) {
                phoneN = n + 10_000_000 + i / 100       // one switchboard per block of 100, five people on it
            }
            let digits = phoneDigits(phoneN, c)
            let segment = Self.segments[Int(hash(i, 3) % 3)]
            let updated = Self.timestamp(Self.moment(i, step: 37))
            let cid = crmId(i), eid = erpId(i)
            // Link direction: both, CRM only, or ERP only.
            var crmRef: String? = i % 3 == 1 ? nil : eid
            var erpRef: String? = i % 3 == 2 ? nil : cid
            if kind == .unlinked { crmRef = nil; erpRef = nil }
            if kind == .conflict { crmRef = eid; erpRef = cid }
            let hasCrm = kind != .orphanErp, hasErp = kind != .orphanCrm
            if kind == .orphanCrm { crmRef = nil }
            if kind == .orphanErp { erpRef = nil }
            // Two different people, one in each system: no link, and no orders between them.
            let twoPeople = [Case.colleaguesOnePhone, .sameNameStrangers, .nearMiss].contains(kind)
            if twoPeople || [Case.twoAddressesAcross, .changedSurname, .oneMailboxUnlinked].contains(kind) { crmRef = nil; erpRef = nil }
            let crmLocal = email.prefix { $0 != "@" }

            // CRM contact.
            var crmEmail: String? = email
            if kind == .invalidEmail { crmEmail = email.replacingOccurrences(of: "@", with: "@@") }
            if kind == .oneMailboxLinked { crmEmail = "\(crmLocal)@gmail.com" }
            if kind == .oneMailboxUnlinked { crmEmail = "\(crmLocal)+newsletter@example.com" }
            let crmPhone = formatPhone(digits, c, style: Int(hash(i, 4) % 4))
            if hasCrm {
                contacts.row([cid, crmRef, first, last, crmEmail, crmPhone, c, segment, updated])
                if kind == .duplicateId {
                    contacts.row([cid, crmRef, first, last, crmEmail, crmPhone, c, segment, updated])
                    truth.append(Truth(type: "invalid", entity: "customer", field: "id", records: ["crm:\(cid)"]))
                }
            }
            // ERP customer: formatting-only differences on every fifth record.
            var erpEmail: String? = i % 5 == 0 ? "  " + email.uppercased() + " " : email
            var erpPhone = formatPhone(digits, c, style: Int(hash(i, 5) % 4))
            var erpSegment = segment
            var erpCountry: String? = c
            if i % 10 == 7, erpPhone.hasPrefix("+") { erpCountry = nil }     // region comes from the +
            if kind == .conflict { erpEmail = "accounts.\(i)@example.org" }
            if kind == .phoneMismatch { erpPhone = formatPhone(phoneDigits(n + i, c), c, style: 0) }
            if kind == .segmentMismatch { erpSegment = Self.segments[(Self.segments.firstIndex(of: segment)! + 1) % 3] }
            if kind == .invalidPhone { erpPhone = "12345" }
            var erpName: String? = "\(first) \(last)"
            switch kind {
            case .twoAddressesAcross:
                // The same person's private address and their name as the ERP writes it.
                erpEmail = (first + last + String(i)).replacingOccurrences(of: "'", with: "").uppercased() + "@GMAIL.COM"
                erpName = nameVariant(first, last, i)
            case .colleaguesOnePhone:
                let (f2, l2) = (Self.firstNames[(fi + 1) % Self.firstNames.count], Self.lastNames[(li + 1) % Self.lastNames.count])
                erpName = "\(f2) \(l2)"
                erpEmail = "\(f2.lowercased()).\(l2.lowercased()).\(i)@example.com".replacingOccurrences(of: "'", with: "")
            case .sameNameStrangers:
                erpEmail = "\(last.lowercased()).k\(i)@example.org".replacingOccurrences(of: "'", with: "")
                erpPhone = ""
            case .changedSurname:
                erpName = "\(first) \(Self.lastNames[(li + 5) % Self.lastNames.count])"
            case .oneMailboxLinked:
                erpEmail = crmLocal.replacingOccurrences(of: ".", with: "") + "+shop@googlemail.com"
            case .nearMiss:
                let f2 = Self.firstNames[(fi + 3) % Self.firstNames.count]
                erpName = "\(f2) \(last)"
                erpEmail = "\(f2.lowercased()).\(last.lowercased()).\(i)@example.net".replacingOccurrences(of: "'", with: "")
            default: break
            }
            if hasErp {
                erpCustomers.row([eid, erpRef, erpName, erpEmail, erpPhone.isEmpty ? nil : erpPhone, erpCountry, erpSegment, updated])
            }

            switch kind {
            case .dupCrmByEmail:
                contacts.row(["CD" + pad(i, 7), nil, first, last, " " + email.capitalized, nil, c, segment, updated])
                truth.append(Truth(type: "duplicate", entity: "customer", field: "", records: ["crm:\(cid)", "crm:CD\(pad(i, 7))"], tier: "certain"))
            case .dupErpByPhone:
                erpCustomers.row(["KD" + pad(i, 7), nil, "\(first) \(last)", nil, formatPhone(digits, c, style: 2), c, segment, updated])
                truth.append(Truth(type: "duplicate", entity: "customer", field: "", records: ["erp:\(eid)", "erp:KD\(pad(i, 7))"], tier: "probable"))
            case .dupErpByPhoneNoName:
                erpCustomers.row(["KN" + pad(i, 7), nil, nil, nil, formatPhone(digits, c, style: 3), c, segment, updated])
                truth.append(Truth(type: "duplicate", entity: "customer", field: "", records: ["erp:\(eid)", "erp:KN\(pad(i, 7))"], tier: "possible"))
            case .twoAddressesAcross:
                truth.append(Truth(type: "unlinked", entity: "customer", field: "", records: ["crm:\(cid)", "erp:\(eid)"], tier: "probable"))
                truth.append(Truth(type: "field_mismatch", entity: "customer", field: "email", records: ["crm:\(cid)", "erp:\(eid)"]))
            case .twoAddressesInside:
                // A second CRM contact: the private address, the same phone written another way, the name varied.
                contacts.row(["CP" + pad(i, 7), nil, nil, nameVariant(first, last, i &+ 7),
                              (first + "." + last + String(i)).replacingOccurrences(of: "'", with: "").lowercased() + "@gmail.com",
                              formatPhone(digits, c, style: Int(hash(i, 4) % 4) + 1), c, segment, updated])
                truth.append(Truth(type: "duplicate", entity: "customer", field: "", records: ["crm:\(cid)", "crm:CP\(pad(i, 7))"], tier: "probable"))
            case .colleaguesOnePhone, .sameNameStrangers:
                truth.append(Truth(type: "orphan", entity: "customer", field: "", records: ["crm:\(cid)"]))
                truth.append(Truth(type: "orphan", entity: "customer", field: "", records: ["erp:\(eid)"]))
            case .nearMiss:
                truth.append(Truth(type: "orphan", entity: "customer", field: "", records: ["crm:\(cid)"], candidates: ["erp:\(eid)"]))
                truth.append(Truth(type: "orphan", entity: "customer", field: "", records: ["erp:\(eid)"], candidates: ["crm:\(cid)"]))
            case .changedSurname, .oneMailboxUnlinked:
                truth.append(Truth(type: "unlinked", entity: "customer", field: "", records: ["crm:\(cid)", "erp:\(eid)"], tier: "certain"))
            case .orphanCrm:
                truth.append(Truth(type: "orphan", entity: "customer", field: "", records: ["crm:\(cid)"]))
            case .orphanErp:
                truth.append(Truth(type: "orphan", entity: "customer", field: "", records: ["erp:\(eid)"]))
            case .unlinked:
                truth.append(Truth(type: "unlinked", entity: "customer", field: "", records: ["crm:\(cid)", "erp:\(eid)"], tier: "certain"))
            case .conflict:
                erpCustomers.row(["KX" + pad(i, 7), nil, "\(first) \(last)", email, nil, c, segment, updated])
                truth.append(Truth(type: "conflict", entity: "customer", field: "",
                                   records: ["crm:\(cid)", "erp:\(eid)", "erp:KX\(pad(i, 7))"]))
            case .phoneMismatch:
                truth.append(Truth(type: "field_mismatch", entity: "customer", field: "phone", records: ["crm:\(cid)", "erp:\(eid)"]))
            case .segmentMismatch:
                truth.append(Truth(type: "field_mismatch", entity: "customer", field: "segment", records: ["crm:\(cid)", "erp:\(eid)"]))
            case .invalidEmail:
                truth.append(Truth(type: "invalid", entity: "customer", field: "email", records: ["crm:\(cid)"]))
            case .invalidPhone:
                truth.append(Truth(type: "invalid", entity: "customer", field: "phone", records: ["erp:\(eid)"]))
            case .emptyId:
                contacts.row(["", nil, first, last, "noid.\(i)@example.net", nil, c, segment, updated])
                truth.append(Truth(type: "invalid", entity: "customer", field: "id", records: ["crm:"]))
            default: break
            }

            // Orders: one or two won deals per linked customer, each with its sales order.
            guard hasCrm && hasErp && !twoPeople else { continue }
            let orderCount = 1 + Int(hash(i, 6) % 2)
            let currency = Self.currencies[c]!
            for j in 0..<orderCount {
                dealSeq += 1
                let did = "D" + pad(dealSeq, 8), so = "SO-" + pad(dealSeq, 8)
                let cents = 1_000 + Int(hash(i &* 7 &+ j, 7) % 499_000)
                let amount = "\(cents / 100).\(pad(cents % 100, 2))"
                let created = Self.moment(i, step: 60) + Int64(j) * 86_400
                let channel = hash(i, 8 &+ UInt64(j)) % 2 == 0 ? "web" : "partner"
                var stage = "Closed Won"
                var state = erpStates[Int(hash(i, 9 &+ UInt64(j)) % 3)]
                var dealRef: String? = dealSeq % 2 == 0 ? so : nil
                var soRef: String? = dealSeq % 2 == 0 && dealSeq % 4 != 0 ? nil : did
                var soAmount = amount, soCurrency = currency
                var dealContact = cid
                var makeOrder = true
                let first = j == 0
                switch kind {
                case .missingOrder where first:
                    makeOrder = false; dealRef = nil
                    truth.append(Truth(type: "missing_order", entity: "order", field: "", records: ["crm:\(did)"]))
                case .statusCancelled where first:
                    state = "CANCELLED"
                    truth.append(Truth(type: "status_mismatch", entity: "order", field: "status", records: ["crm:\(did)", "erp:\(so)"]))
                case .statusChargeback where first:
                    state = "CHARGEBACK"
                    truth.append(Truth(type: "status_mismatch", entity: "order", field: "status", records: ["crm:\(did)", "erp:\(so)"]))
                case .amountMismatch where first:
                    soAmount = "\(cents / 100 + 10).\(pad(cents % 100, 2))"
                    truth.append(Truth(type: "field_mismatch", entity: "order", field: "amount", records: ["crm:\(did)", "erp:\(so)"]))
                case .currencyMismatch where first:
                    soCurrency = currency == "USD" ? "EUR" : "USD"
                    truth.append(Truth(type: "field_mismatch", entity: "order", field: "currency", records: ["crm:\(did)", "erp:\(so)"]))
                case .unlinkedOrder where first:
                    dealRef = nil; soRef = nil
                    truth.append(Truth(type: "unlinked", entity: "order", field: "", records: ["crm:\(did)", "erp:\(so)"]))
                case .unknownCustomer where first:
                    dealContact = "C9" + pad(i, 7)
                    truth.append(Truth(type: "orphan", entity: "order", field: "customer_id", records: ["crm:\(did)"]))
                case .unmappedStatus where first:
                    stage = "Closed Won (legacy)"
                    truth.append(Truth(type: "invalid", entity: "order", field: "status", records: ["crm:\(did)"]))
                default: break
                }
                deals.row([did, dealRef, dealContact, stage, amount, currency, channel,
                           Self.timestamp(created), Self.timestamp(created + 3600)])
                if makeOrder {
                    orders.row([so, soRef, eid, state, soAmount, soCurrency, channel,
                                Self.timestamp(created + 120), Self.timestamp(created + 7200)])
                }
                guard first else { continue }
                switch kind {
                case .dupDealInWindow:
                    let dx = "DX" + pad(dealSeq, 8)
                    deals.row([dx, nil, cid, stage, amount, currency, channel,
                               Self.timestamp(created + 180), Self.timestamp(created + 3600)])
                    truth.append(Truth(type: "duplicate", entity: "order", field: "", records: ["crm:\(did)", "crm:\(dx)"]))
                case .twoOrdersOneDeal:
                    let sx = "SX-" + pad(dealSeq, 8)
                    orders.row([sx, did, eid, state, amount, currency, channel,
                                Self.timestamp(created + 86_400 / 2), Self.timestamp(created + 86_400)])
                    truth.append(Truth(type: "duplicate", entity: "order", field: "", records: ["erp:\(so)", "erp:\(sx)"]))
                case .orphanOrder:
                    let sx = "SX-" + pad(dealSeq, 8)
                    orders.row([sx, nil, eid, "PAID", "99999.99", currency, channel,
                                Self.timestamp(created + 5 * 86_400), Self.timestamp(created + 5 * 86_400)])
                    truth.append(Truth(type: "orphan", entity: "order", field: "", records: ["erp:\(sx)"]))
                case .sameAmountLater, .twoRealOrdersInWindow:
                    // Look-alikes: the same amount again, two hours later (outside the window), or
                    // five minutes later but each with its own counterpart: two real orders.
                    dealSeq += 1
                    let d2 = "D" + pad(dealSeq, 8), so2 = "SO-" + pad(dealSeq, 8)
                    let later = created + (kind == .sameAmountLater ? 7200 : 300)
                    deals.row([d2, so2, cid, "Closed Won", amount, currency, channel,
                               Self.timestamp(later), Self.timestamp(later)])
                    orders.row([so2, d2, eid, "PAID", amount, currency, channel,
                                Self.timestamp(later + 60), Self.timestamp(later + 60)])
                default: break
                }
            }
            // Open deals need no ERP order: not a finding.
            if i % 7 == 0 {
                dealSeq += 1
                deals.row(["D" + pad(dealSeq, 8), nil, cid, i % 2 == 0 ? "Prospecting" : "Negotiation", "500.00",
                           currency, "web", Self.timestamp(Self.moment(i, step: 60) + 999), nil])
            }
            if contacts.pending > 1 << 20 { out(contacts.flush()) }
            if deals.pending > 1 << 20 { out(deals.flush()) }
            if erpCustomers.pending > 1 << 20 { out(erpCustomers.flush()) }
            if orders.pending > 1 << 20 { out(orders.flush()) }
        }
        out(contacts.flush()); out(deals.flush()); out(erpCustomers.flush()); out(orders.flush())
        out("CREATE INDEX ON crm.contacts (contact_id);\nANALYZE;\n")
        return truth
    }
}

/// Rows for one `COPY … FROM stdin` block in text format, flushed in chunks.
struct CopyBlock {
    let target: String
    private var buffer = ""
    private(set) var pending = 0

    init(_ target: String) { self.target = target }

    mutating func row(_ values: [String?]) {
        var line = ""
        for (k, v) in values.enumerated() {
            if k > 0 { line += "\t" }
            if let v {
                line += v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t")
                    .replacingOccurrences(of: "\n", with: "\\n")
            } else {
                line += "\\N"
            }
        }
        buffer += line + "\n"
        pending += line.utf8.count + 1
    }

    mutating func flush() -> String {
        defer { buffer = ""; pending = 0 }
        if buffer.isEmpty { return "" }
        return "COPY \(target) FROM stdin;\n" + buffer + "\\.\n"
    }
}
