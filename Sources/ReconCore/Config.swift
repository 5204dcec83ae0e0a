import Yams

/// The canonical order statuses recon compares across systems.
public enum CanonicalStatus: String, Sendable, CaseIterable, Comparable {
    case open, won, lost, invoiced, paid, fulfilled, cancelled, refunded, chargeback
    case paymentFailed = "payment_failed"
    public static func < (a: CanonicalStatus, b: CanonicalStatus) -> Bool { a.rawValue < b.rawValue }
}

public enum Severity: String, Sendable, CaseIterable, Comparable {
    case info, warning, error
    var rank: Int { self == .info ? 0 : (self == .warning ? 1 : 2) }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// recon.yml, parsed and checked.
public struct ReconConfig: Sendable {
    /// libpq connection string or URL; nil means DATABASE_URL, then libpq's PG* variables.
    public var database: String?
    public var queriesDirectory: String = "queries"
    public var reportsDirectory: String = "reports"
    /// Region for phone numbers written without + when the record has no usable country.
    public var defaultCountry: String = "US"
    /// Two orders of one customer with the same amount and currency this close are one order entered twice.
    public var orderDuplicateWindowSeconds: Int = 600
    /// Records created or updated this long before the run may still be on their way between the
    /// systems: their findings are `settling` (reported, never breaching, no action). 0: off.
    public var settleAfterSeconds: Int = 3600
    /// Permission bits of report files (they hold emails, phones and names): owner only by
    /// default; folders get the same bits plus search (x) where a file's are readable.
    public var reportMode: Int = 0o600
    /// Bounds on every database session (seconds; 0: none): a statement, a wait for a lock, an
    /// idle transaction.
    public var statementTimeoutSeconds: Int = 3600
    public var lockTimeoutSeconds: Int = 60
    public var idleInTransactionTimeoutSeconds: Int = 600
    /// How often a connection that failed for a passing reason (refused, server starting up or
    /// shutting down, timed out) is tried again, waiting 1, 2, 4… seconds (at most 30) between.
    public var connectRetries: Int = 5
    /// Open (not waived) findings at or above this severity make the exit code 1; nil: only
    /// `thresholds` decide (`fail_on: none`).
    public var failOn: Severity? = .warning
    /// Where recon keeps its own state (run history, finding lifecycle, waivers); nil: the mirror's database.
    public var stateDatabase: String?
    /// Rules that breach a run (exit code 1) and trigger the alert.
    public var thresholds: [Threshold] = []
    /// A shell command run when a run fails or breaches a threshold, with summary.json on stdin.
    public var alertCommand: String?
    public var alertTimeoutSeconds: Int = 60
    /// Which system is the source of truth per field, and where one-sided records belong.
    /// nil: no correction batches are planned.
    public var ownership: Ownership?
    /// How the surviving record of a duplicate group is chosen, rule by rule.
    public var survivorship: [SurvivorshipRule] = [.linked, .mostRecent, .mostComplete]
    /// A batch older than this cannot be approved or applied.
    public var batchExpirySeconds: Int = 72 * 3600
    /// Lets the role that generated a batch approve it (a single-person team).
    public var allowSelfApproval = false
    /// What create and update actions write for phones and emails.
    public var payloadValues: PayloadValues = .normalised
    public var severities: [FindingType: Severity] = FindingType.defaultSeverities
    public var statuses = StatusConfig()
    /// When two differently written addresses are one mailbox (recon.yml `matching:`).
    public var mailbox = MailboxRule()
    /// The SHA-256 of the recon.yml text this was parsed from (`parse`); nil for a config built
    /// in code. With the code and the mirror it names what a night's batch is planned from.
    public var textSHA256: String?

    public init() {}

    /// The timeouts as libpq session options (milliseconds).
    public var sessionOptions: String {
        "-c statement_timeout=\(statementTimeoutSeconds * 1000) -c lock_timeout=\(lockTimeoutSeconds * 1000)"
            + " -c idle_in_transaction_session_timeout=\(idleInTransactionTimeoutSeconds * 1000)"
    }
}

/// What a correction writes for a phone or an email: the normalised value (E.164 phones,
/// trimmed lowercase emails), or the owner's value exactly as its system holds it.
public enum PayloadValues: String, Sendable, CaseIterable {
    case normalised
    case raw
}

public struct StatusConfig: Sendable {
    public var crm: [String: CanonicalStatus] = [:]
    public var erp: [String: CanonicalStatus] = [:]
    /// Unordered pairs of canonical statuses that are not a mismatch (same status always is fine).
    public var compatible: Set<StatusPair> = []
    /// The system whose status wins when the two differ (used by correction batches).
    public var owner: System = .erp
    /// CRM canonical statuses that require an ERP order to exist.
    public var requireErpOrder: Set<CanonicalStatus> = []

    public init() {}

    public func map(_ system: System) -> [String: CanonicalStatus] { system == .crm ? crm : erp }

    public func isCompatible(_ a: CanonicalStatus, _ b: CanonicalStatus) -> Bool {
        a == b || compatible.contains(StatusPair(a, b))
    }
}

public struct StatusPair: Hashable, Sendable {
    public let first: CanonicalStatus
    public let second: CanonicalStatus
    public init(_ a: CanonicalStatus, _ b: CanonicalStatus) {
        (first, second) = a <= b ? (a, b) : (b, a)
    }
}

/// A problem in recon.yml: names the file, line and column.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

extension ReconConfig {
    /// Parses recon.yml text. `file` is used in error messages only.
    /// - Throws: `ConfigError` for YAML syntax errors, unknown keys, wrong types and bad values.
    public static func parse(_ text: String, file: String) throws -> ReconConfig {
        var config = try parseText(text, file: file)
        config.textSHA256 = Plan.sha256(text)
        return config
    }

    private static func parseText(_ text: String, file: String) throws -> ReconConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                 .composer(_, let problem, let mark, _):
                throw ConfigError(file: file, line: mark.line, column: mark.column, message: "YAML: \(problem)")
            case .duplicatedKeysInMapping(let duplicates, let context):
                let key = duplicates.sorted().first ?? ""
                let line = secondOccurrence(of: key, in: text) ?? context.mark.line
                throw ConfigError(file: file, line: line, column: 1, message: "key \"\(key)\" appears twice")
            default:
                throw ConfigError(file: file, line: 1, column: 1, message: "YAML: \(error)")
            }
        }
        var config = ReconConfig()
        guard let root else { return config }
        let r = Reader(file: file)
        let top = try r.mapping(root, "the top level")
        for (keyNode, value) in top {
            let key = try r.string(keyNode, "a key")
            switch key {
            case "database": config.database = try r.optionalString(value, key)
            case "queries": config.queriesDirectory = try r.string(value, key)
            case "reports": config.reportsDirectory = try r.string(value, key)
            case "default_country":
                let c = try r.string(value, key).uppercased()
                guard PhoneNormaliser.isSupportedRegion(c) else {
                    throw r.error(value, "default_country \"\(c)\" is not an ISO 3166-1 alpha-2 region libphonenumber knows")
                }
                config.defaultCountry = c
            case "order_duplicate_window":
                config.orderDuplicateWindowSeconds = try r.duration(value, key)
            case "settle_after":
                config.settleAfterSeconds = try r.duration(value, key)
            case "timeouts":
                for (k, v) in try r.mapping(value, key) {
                    switch try r.string(k, "a key") {
                    case "statement": config.statementTimeoutSeconds = try r.duration(v, "timeouts.statement")
                    case "lock": config.lockTimeoutSeconds = try r.duration(v, "timeouts.lock")
                    case "idle_in_transaction": config.idleInTransactionTimeoutSeconds = try r.duration(v, "timeouts.idle_in_transaction")
                    default: throw r.error(k, "unknown key \"timeouts.\(try r.string(k, "a key"))\" (known: statement, lock, idle_in_transaction)")
                    }
                }
            case "connect_retries":
                guard let n = Int(try r.string(value, key)), n >= 0, n <= 20 else {
                    throw r.error(value, "connect_retries must be a whole number from 0 to 20")
                }
                config.connectRetries = n
            case "report_mode":
                let text = try r.string(value, key)
                guard text.count == 4, text.hasPrefix("0"), let mode = Int(text, radix: 8), mode & 0o600 == 0o600, mode & 0o111 == 0 else {
                    throw r.error(value, "report_mode must be an octal file mode such as 0600 or 0640 (owner read and write, no execute bits), quoted")
                }
                config.reportMode = mode
            case "fail_on":
                if (try? r.string(value, key)) == "none" { config.failOn = nil } else {
                    config.failOn = try r.enumValue(value, key + " (or none)", Severity.self)
                }
            case "state_database": config.stateDatabase = try r.optionalString(value, key)
            case "alert_command": config.alertCommand = try r.optionalString(value, key)
            case "alert_timeout": config.alertTimeoutSeconds = try r.duration(value, key)
            case "ownership":
                config.ownership = try parseOwnership(value, r)
            case "survivorship":
                config.survivorship = try r.sequence(value, key).map { try r.enumValue($0, "survivorship", SurvivorshipRule.self) }
                if config.survivorship.isEmpty { throw r.error(value, "survivorship needs at least one rule") }
            case "batches":
                for (k, v) in try r.mapping(value, key) {
                    switch try r.string(k, "a key") {
                    case "expire_after": config.batchExpirySeconds = try r.duration(v, "batches.expire_after")
                    case "allow_self_approval":
                        let b = try r.string(v, "batches.allow_self_approval")
                        guard b == "true" || b == "false" else { throw r.error(v, "batches.allow_self_approval must be true or false") }
                        config.allowSelfApproval = b == "true"
                    case "payload_values": config.payloadValues = try r.enumValue(v, "batches.payload_values", PayloadValues.self)
                    default: throw r.error(k, "unknown key \"batches.\(try r.string(k, "a key"))\" (known: expire_after, allow_self_approval, payload_values)")
                    }
                }
            case "thresholds":
                config.thresholds = try r.sequence(value, key).map { try parseThreshold($0, r) }
            case "severities":
                for (k, v) in try r.mapping(value, key) {
                    let type = try r.enumValue(k, "a finding type", FindingType.self)
                    config.severities[type] = try r.enumValue(v, "severities.\(type.rawValue)", Severity.self)
                }
            case "statuses":
                config.statuses = try parseStatuses(value, r)
            case "matching":
                for (k, v) in try r.mapping(value, key) {
                    switch try r.string(k, "a key") {
                    case "plus_addressing":
                        // "all", or a list of domains (empty: off).
                        if case .scalar = v {
                            guard try r.string(v, "matching.plus_addressing") == "all" else {
                                throw r.error(v, "matching.plus_addressing must be all or a list of domains")
                            }
                            config.mailbox.plusAddressingDomains = nil
                        } else {
                            config.mailbox.plusAddressingDomains = Set(try r.sequence(v, "matching.plus_addressing").map {
                                try r.string($0, "matching.plus_addressing").lowercased()
                            })
                        }
                    default: throw r.error(k, "unknown key \"matching.\(try r.string(k, "a key"))\" (known: plus_addressing)")
                    }
                }
            default:
                throw r.error(keyNode, "unknown key \"\(key)\" (known: database, state_database, queries, reports, report_mode, timeouts, connect_retries, default_country, order_duplicate_window, settle_after, fail_on, severities, statuses, matching, thresholds, alert_command, alert_timeout, ownership, survivorship, batches)")
            }
        }
        return config
    }

    /// The line (1-based) where `key:` starts a line for the second time.
    private static func secondOccurrence(of key: String, in text: String) -> Int? {
        var seen = 0
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.drop(while: { $0 == " " })
            if t.hasPrefix(key + ":") || t.hasPrefix("\"\(key)\":") {
                seen += 1
                if seen == 2 { return i + 1 }
            }
        }
        return nil
    }

    private static func parseOwnership(_ node: Node, _ r: Reader) throws -> Ownership {
        var o = Ownership()
        for (keyNode, value) in try r.mapping(node, "ownership") {
            let key = try r.string(keyNode, "a key")
            switch key {
            case "fields":
                for (f, v) in try r.mapping(value, "ownership.fields") {
                    let field = try r.string(f, "a field")
                    o.fields[field] = try r.enumValue(v, "ownership.fields.\(field)", System.self)
                }
            case "create_customers_in":
                let v = try r.string(value, key)
                o.createCustomersIn = v == "none" ? nil : try r.enumValue(value, "ownership.create_customers_in (or none)", System.self)
            case "create_orders_in":
                let v = try r.string(value, key)
                o.createOrdersIn = v == "none" ? nil : try r.enumValue(value, "ownership.create_orders_in (or none)", System.self)
            default:
                throw r.error(keyNode, "unknown key \"ownership.\(key)\" (known: fields, create_customers_in, create_orders_in)")
            }
        }
        return o
    }

    private static func parseThreshold(_ node: Node, _ r: Reader) throws -> Threshold {
        var t = Threshold()
        var limits = 0
        for (keyNode, value) in try r.mapping(node, "a threshold") {
            let key = try r.string(keyNode, "a key")
            switch key {
            case "type": t.type = try r.enumValue(value, "thresholds.type", FindingType.self)
            case "entity": t.entity = try r.enumValue(value, "thresholds.entity", Entity.self)
            case "new", "open", "open_nights":
                guard let n = Int(try r.string(value, "thresholds.\(key)")), n >= 0 else {
                    throw r.error(value, "thresholds.\(key) must be a whole number (the most allowed before the run breaches)")
                }
                t.measure = key == "new" ? .new : (key == "open" ? .open : .openNights)
                t.limit = n
                limits += 1
            default:
                throw r.error(keyNode, "unknown key \"thresholds.\(key)\" (known: type, entity, new, open, open_nights)")
            }
        }
        guard limits == 1 else { throw r.error(node, "a threshold needs exactly one of new, open or open_nights") }
        return t
    }

    private static func parseStatuses(_ node: Node, _ r: Reader) throws -> StatusConfig {
        var s = StatusConfig()
        for (keyNode, value) in try r.mapping(node, "statuses") {
            let key = try r.string(keyNode, "a key")
            switch key {
            case "crm", "erp":
                var map: [String: CanonicalStatus] = [:]
                for (raw, canonical) in try r.mapping(value, "statuses.\(key)") {
                    let rawStatus = try r.string(raw, "a raw status").trimmingWhitespace()
                    map[rawStatus] = try r.enumValue(canonical, "statuses.\(key).\(rawStatus)", CanonicalStatus.self)
                }
                if key == "crm" { s.crm = map } else { s.erp = map }
            case "compatible":
                for pair in try r.sequence(value, "statuses.compatible") {
                    let items = try r.sequence(pair, "a compatible pair")
                    guard items.count == 2 else { throw r.error(pair, "a compatible pair needs exactly two canonical statuses, e.g. [won, paid]") }
                    s.compatible.insert(StatusPair(
                        try r.enumValue(items[0], "statuses.compatible", CanonicalStatus.self),
                        try r.enumValue(items[1], "statuses.compatible", CanonicalStatus.self)))
                }
            case "owner":
                s.owner = try r.enumValue(value, "statuses.owner", System.self)
            case "require_erp_order":
                for item in try r.sequence(value, "statuses.require_erp_order") {
                    s.requireErpOrder.insert(try r.enumValue(item, "statuses.require_erp_order", CanonicalStatus.self))
                }
            default:
                throw r.error(keyNode, "unknown key \"statuses.\(key)\" (known: crm, erp, compatible, owner, require_erp_order)")
            }
        }
        return s
    }
}

/// Walks Yams nodes, turning every surprise into a `ConfigError` with a position.
private struct Reader {
    let file: String

    func error(_ node: Node, _ message: String) -> ConfigError {
        let mark = node.mark
        return ConfigError(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message)
    }

    func mapping(_ node: Node, _ what: String) throws -> [(Node, Node)] {
        guard let m = node.mapping else { throw error(node, "\(what) must be a mapping of keys to values") }
        var seen: Set<String> = []
        var out: [(Node, Node)] = []
        for (k, v) in m {
            if let s = k.string, !seen.insert(s).inserted {
                throw error(k, "key \"\(s)\" appears twice")
            }
            out.append((k, v))
        }
        return out
    }

    func sequence(_ node: Node, _ what: String) throws -> [Node] {
        guard let s = node.sequence else { throw error(node, "\(what) must be a list") }
        return Array(s)
    }

    func string(_ node: Node, _ what: String) throws -> String {
        guard case .scalar(let scalar) = node else { throw error(node, "\(what) must be a single value") }
        return scalar.string
    }

    func optionalString(_ node: Node, _ what: String) throws -> String? {
        if case .scalar(let scalar) = node, scalar.style == .plain, ["", "~", "null"].contains(scalar.string) { return nil }
        return try string(node, what)
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ node: Node, _ what: String, _: E.Type) throws -> E where E.RawValue == String {
        let s = try string(node, what)
        guard let v = E(rawValue: s) else {
            throw error(node, "\(what): \"\(s)\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    /// "10m", "600s", "1h" or a bare number of seconds.
    func duration(_ node: Node, _ what: String) throws -> Int {
        let s = try string(node, what).trimmingWhitespace()
        var digits = Substring(s)
        var unit = 1
        if let last = s.last, !last.isNumber {
            digits = s.dropLast()
            switch last {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            default: throw error(node, "\(what): \"\(s)\" is not a duration like 90s, 10m or 1h")
            }
        }
        guard let n = Int(digits), n >= 0 else {
            throw error(node, "\(what): \"\(s)\" is not a duration like 90s, 10m or 1h")
        }
        return n * unit
    }
}


extension String {
    /// Trims spaces, tabs and newlines (Unicode whitespace) at both ends.
    public func trimmingWhitespace() -> String {
        // Fast path: most values start and end with a visible ASCII character.
        let u = utf8
        if let f = u.first, let l = u.last, f > 0x20, f < 0x80, l > 0x20, l < 0x80 { return self }
        if u.isEmpty { return self }
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
