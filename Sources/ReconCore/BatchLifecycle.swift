/// The life of a correction batch, as a pure state machine.
///
/// A batch is generated `pending`. A pending batch is approved (by a role other than the one that
/// generated it, unless the batch was generated with self-approval allowed, and only for the
/// plan file whose hash was recorded when it was generated) or rejected; it expires at the time
/// fixed when it was generated. An approved batch is applied once, for the approved hash, or
/// rejected. Applied, rejected, expired and superseded batches are final.
///
/// The state database enforces the same rules in its own functions (migration 4:
/// `recon.approve_batch`, `recon.reject_batch`, `recon.begin_apply`); this type is the binary's
/// second line and the readable statement of the rules, tested without a database.
public enum BatchStatus: String, Sendable, CaseIterable {
    case pending, approved, rejected, expired, applied, superseded

    /// No event moves a batch out of a final state.
    public var isFinal: Bool { self != .pending && self != .approved }
}

/// What someone asks of a batch.
public enum BatchRequest: Sendable, Equatable {
    /// Approve the plan file whose SHA-256 is `sha256`.
    case approve(by: String, sha256: String)
    case reject(by: String)
    /// Apply the plan file whose SHA-256 is `sha256`.
    case apply(by: String, sha256: String)
}

/// What the state machine knows of a batch when a request arrives.
public struct BatchFacts: Sendable {
    public var status: BatchStatus
    public var createdBy: String
    /// The plan's hash recorded when the batch was generated.
    public var planSHA256: String
    /// The hash the approver approved (approved and applied batches).
    public var approvedSHA256: String?
    public var approvedBy: String?
    public var allowSelfApproval: Bool
    /// Whether the expiry fixed at generation has passed.
    public var expired: Bool

    public init(status: BatchStatus, createdBy: String, planSHA256: String, approvedSHA256: String? = nil, approvedBy: String? = nil,
                allowSelfApproval: Bool = false, expired: Bool = false) {
        self.status = status
        self.createdBy = createdBy
        self.planSHA256 = planSHA256
        self.approvedSHA256 = approvedSHA256
        self.approvedBy = approvedBy
        self.allowSelfApproval = allowSelfApproval
        self.expired = expired
    }
}

/// Why a request is refused. Descriptions name batches, roles and hashes, never record values.
public enum BatchRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case notPending(BatchStatus)
    case notApproved(BatchStatus)
    case alreadyApplied
    case final(BatchStatus)
    case expired
    case selfApproval(role: String)
    /// The plan file's hash is not the one recorded at generation.
    case planChanged(found: String, recorded: String)
    /// The plan file's hash is not the one approved.
    case notWhatWasApproved(found: String, approved: String)

    public var description: String {
        switch self {
        case .notPending(let s): return "it is \(s.rawValue); only a pending batch can be approved"
        case .notApproved(let s): return "it is \(s.rawValue): it must be approved before it is applied"
        case .alreadyApplied: return "it has already been applied; applying it again changes nothing"
        case .final(let s): return "it was \(s.rawValue); nothing can change it any more"
        case .expired: return "it has expired (the expiry was fixed when it was generated); plan a new one"
        case .selfApproval(let role):
            return "\(role) generated it and cannot approve it (four eyes); another role must, or generate it with batches.allow_self_approval: true for a single-person team"
        case .planChanged(let found, let recorded):
            return "its plan file has changed since it was generated (sha256 \(found), recorded \(recorded))"
        case .notWhatWasApproved(let found, let approved):
            return "its plan file differs from what was approved (sha256 \(found), approved \(approved))"
        }
    }
}

public enum BatchLifecycle {
    /// The status a request leads to, or why it is refused. An expired pending batch refuses
    /// every request but a rejection (the caller records it as `expired`).
    public static func transition(_ facts: BatchFacts, _ request: BatchRequest) -> Result<BatchStatus, BatchRefusal> {
        switch request {
        case .approve(let by, let sha256):
            guard facts.status == .pending else { return .failure(.notPending(facts.status)) }
            if facts.expired { return .failure(.expired) }
            guard sha256 == facts.planSHA256 else { return .failure(.planChanged(found: sha256, recorded: facts.planSHA256)) }
            if by == facts.createdBy && !facts.allowSelfApproval { return .failure(.selfApproval(role: by)) }
            return .success(.approved)
        case .reject:
            guard !facts.status.isFinal else { return .failure(.final(facts.status)) }
            return .success(.rejected)
        case .apply(_, let sha256):
            switch facts.status {
            case .approved: break
            case .applied: return .failure(.alreadyApplied)
            case .pending: return .failure(.notApproved(.pending))
            case .rejected, .expired, .superseded: return .failure(.final(facts.status))
            }
            if facts.expired { return .failure(.expired) }
            let approved = facts.approvedSHA256 ?? ""
            guard sha256 == facts.planSHA256, sha256 == approved else {
                return .failure(.notWhatWasApproved(found: sha256, approved: approved.isEmpty ? "-" : approved))
            }
            return .success(.applied)
        }
    }
}
