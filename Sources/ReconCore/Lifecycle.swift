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

/// A finding of this run with its lifecycle.
public struct TrackedFinding: Sendable {
    public var finding: Finding
    public var status: LifecycleStatus
    public var firstSeenRun: String
    public var firstSeenAt: String
    /// Runs in a row in which the finding has been open, this one included (one per night when
    /// recon runs nightly).
    public var nightsOpen: Int
    /// Whether the state must (re)write the finding: it is new, or what is stored about it
    /// (severity, field, records, detail) changed. A finding that persists unchanged costs the
    /// state nothing: its nights are counted from the run it was first seen in.
    public var changed: Bool

    public init(finding: Finding, status: LifecycleStatus, firstSeenRun: String, firstSeenAt: String, nightsOpen: Int,
                changed: Bool = true) {
        self.finding = finding; self.status = status; self.firstSeenRun = firstSeenRun
        self.firstSeenAt = firstSeenAt; self.nightsOpen = nightsOpen; self.changed = changed
    }
}

/// The lifecycle of one run: its findings with their status, and what was resolved.
public struct Lifecycle: Sendable {
    public var current: [TrackedFinding]
    /// Findings open in the previous run that are gone now, with their history.
    public var resolved: [(id: String, history: OpenFinding)]

    /// - Parameters:
    ///   - open: findings open before this run, by id.
    ///   - waived: ids with a waiver that has not expired.
    public static func compute(findings: [Finding], open: [String: OpenFinding], waived: Set<String>,
                               runId: String, now: String) -> Lifecycle {
        var current: [TrackedFinding] = []
        current.reserveCapacity(findings.count)
        var seen: Set<String> = []
        for f in findings {
            seen.insert(f.id)
            if let h = open[f.id] {
                current.append(TrackedFinding(finding: f, status: waived.contains(f.id) ? .waived : .persisting,
                                              firstSeenRun: h.firstSeenRun, firstSeenAt: h.firstSeenAt, nightsOpen: h.nightsOpen + 1,
                                              changed: h.digest != f.stateDigest))
            } else {
                current.append(TrackedFinding(finding: f, status: waived.contains(f.id) ? .waived : .new,
                                              firstSeenRun: runId, firstSeenAt: now, nightsOpen: 1))
            }
        }
        let resolved = open.filter { !seen.contains($0.key) }.sorted { $0.key < $1.key }.map { (id: $0.key, history: $0.value) }
        return Lifecycle(current: current, resolved: resolved)
    }

    /// Counts per "type/entity" and status (plus "open": new + persisting).
    public func counts() -> [String: [String: Int]] {
        var out: [String: [String: Int]] = [:]
        for t in current {
            let k = "\(t.finding.type.rawValue)/\(t.finding.entity.rawValue)"
            out[k, default: [:]][t.status.rawValue, default: 0] += 1
            if t.status != .waived { out[k, default: [:]]["open", default: 0] += 1 }
        }
        for r in resolved {
            out["\(r.history.type.rawValue)/\(r.history.entity.rawValue)", default: [:]]["resolved", default: 0] += 1
        }
        return out
    }
}

/// A rule that breaches a run: more than `limit` findings (of a type and entity, if given) that
/// are new, or open, or any finding open for more than `limit` nights. Waived findings never count.
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
        let scoped = findings.filter {
            $0.status != .waived && (type == nil || $0.finding.type == type) && (entity == nil || $0.finding.entity == entity)
        }
        switch measure {
        case .new:
            let n = scoped.filter { $0.status == .new }.count
            return (n, n > limit)
        case .open:
            return (scoped.count, scoped.count > limit)
        case .openNights:
            let longest = scoped.map(\.nightsOpen).max() ?? 0
            return (longest, longest > limit)
        }
    }
}
