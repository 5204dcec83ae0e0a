import Foundation
import Postgres
public import ReconCore

/// A batch as the state database records it.
public struct BatchRecord: Sendable {
    public var batchId: String
    public var runId: String
    public var rollbackOf: String?
    public var createdAt: String
    public var createdBy: String
    public var planPath: String
    public var planSHA256: String
    public var actions: Int
    public var needsHuman: Int
    public var status: BatchStatus
    public var approvedBy: String?
    public var approvedSHA256: String?
    public var excluded: [String]
    public var ageSeconds: Double
    /// The expiry fixed when the batch was generated.
    public var expiresAt: String
    public var expired: Bool
    public var allowSelfApproval: Bool
    /// The night's batch that replaced this pending one.
    public var supersededBy: String?

    /// What the batch state machine needs to decide a request.
    public var facts: BatchFacts {
        BatchFacts(status: status, createdBy: createdBy, planSHA256: planSHA256, approvedSHA256: approvedSHA256, approvedBy: approvedBy,
                   allowSelfApproval: allowSelfApproval, expired: expired)
    }
}

/// The night batch awaiting a decision: what a night compares its plan with (an unchanged plan
/// leaves it pending instead of superseding it with a copy).
public struct PendingNightBatch: Sendable {
    public var batchId: String
    public var runId: String
    public var planPath: String
    public var planSHA256: String
    public var actions: Int
    public var needsHuman: Int
    /// Whether its approver may be the role that generated it (fixed at generation).
    public var allowSelfApproval: Bool
    /// What it was planned from (`PlanInputs`), as the newest run that planned it recorded; nil
    /// when no run recorded one.
    public var inputsSHA256: String?
}

/// Batches change only through the state database's functions (migration 4), which enforce the
/// batch state machine, four eyes and the expiry, and append every change and every refusal to
/// `recon.batch_events`. The approver is the session's login role (`session_user`).
extension StateStore {
    static let batchColumns = """
        batch_id, run_id, rollback_of, to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), created_by, plan_path, plan_sha256,
        actions, needs_human, status, approved_by, approved_sha256, array_to_string(excluded, ' '),
        extract(epoch FROM now() - created_at)::float8, to_char(expires_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), now() >= expires_at,
        allow_self_approval, superseded_by
        """

    static func batch(_ r: [String?]) -> BatchRecord {
        BatchRecord(batchId: r[0] ?? "", runId: r[1] ?? "", rollbackOf: r[2], createdAt: r[3] ?? "", createdBy: r[4] ?? "",
                    planPath: r[5] ?? "", planSHA256: r[6] ?? "", actions: Int(r[7] ?? "0") ?? 0, needsHuman: Int(r[8] ?? "0") ?? 0,
                    status: BatchStatus(rawValue: r[9] ?? "") ?? .pending, approvedBy: r[10], approvedSHA256: r[11],
                    excluded: (r[12] ?? "").split(separator: " ").map(String.init), ageSeconds: Double(r[13] ?? "0") ?? 0,
                    expiresAt: r[14] ?? "", expired: r[15] == "t", allowSelfApproval: r[16] == "t", supersededBy: r[17])
    }

    /// Registers a batch as pending, with its first audit event; the generating role, the expiry
    /// and whether self-approval is allowed are fixed now, by the database.
    public func registerBatch(_ plan: Plan, path: String, sha256: String, expireSeconds: Int, allowSelfApproval: Bool) throws {
        do {
            _ = try connection.query("SELECT recon.register_batch($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                                     [plan.batchId, plan.runId, plan.rollbackOf, path, sha256, String(plan.actions.count),
                                      String(plan.needsHuman.count), String(expireSeconds), allowSelfApproval ? "true" : "false"])
        } catch let error as PostgresError {
            throw StateError.server(error, doing: "cannot register batch \(plan.batchId)")
        }
    }

    /// The newest night batch that is pending and not expired (there is at most one).
    public func pendingNightBatch() throws -> PendingNightBatch? {
        try q("""
            SELECT b.batch_id, b.run_id, b.plan_path, b.plan_sha256, b.actions, b.needs_human, b.allow_self_approval,
                   (SELECT r.plan_inputs_sha256 FROM recon.runs r
                    WHERE r.planned_batch = b.batch_id AND r.plan_inputs_sha256 IS NOT NULL
                    ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1)
            FROM recon.batches b
            WHERE b.status = 'pending' AND b.rollback_of IS NULL AND now() < b.expires_at ORDER BY b.created_at DESC, b.batch_id DESC LIMIT 1
            """).first.map { r in
            PendingNightBatch(batchId: r[0] ?? "", runId: r[1] ?? "", planPath: r[2] ?? "", planSHA256: r[3] ?? "",
                              actions: Int(r[4] ?? "0") ?? 0, needsHuman: Int(r[5] ?? "0") ?? 0, allowSelfApproval: r[6] == "t",
                              inputsSHA256: r[7])
        }
    }

    /// Records, in the run's open transaction, which night batch it planned and from what
    /// inputs (`PlanInputs`): a later night with the same inputs keeps that batch.
    public func recordPlanInputs(runId: String, batchId: String, inputsSHA256: String) throws {
        do {
            _ = try connection.query("UPDATE recon.runs SET planned_batch = $2, plan_inputs_sha256 = $3 WHERE run_id = $1",
                                     [runId, batchId, inputsSHA256])
        } catch let error as PostgresError {
            throw StateError.server(error, doing: "cannot record what batch \(batchId) was planned from")
        }
    }

    /// Registers the rollback batch of `plan.rollbackOf`, in the transaction that applies it.
    public func registerRollback(_ plan: Plan, path: String, sha256: String, expireSeconds: Int) throws {
        _ = try q("SELECT recon.register_rollback($1, $2, $3, $4, $5, $6, $7)",
                  [plan.batchId, plan.runId, plan.rollbackOf, path, sha256, String(plan.actions.count), String(expireSeconds)])
    }

    public func batches() throws -> [BatchRecord] {
        try q("SELECT \(Self.batchColumns) FROM recon.batches ORDER BY created_at DESC, batch_id").map(Self.batch)
    }

    public func batch(_ id: String) throws -> BatchRecord {
        guard let row = try q("SELECT \(Self.batchColumns) FROM recon.batches WHERE batch_id = $1", [id]).first else {
            throw StateError.unknownBatch(id)
        }
        return Self.batch(row)
    }

    public func events(_ id: String) throws -> [[String?]] {
        try q("SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS'), event, actor, coalesce(detail, '') FROM recon.batch_events WHERE batch_id = $1 ORDER BY event_id", [id])
    }

    /// - Returns: nil when approved, else why the database refused (the refusal is audited).
    /// - Parameter selection: the approver's selection as written (recorded in the audit);
    ///   `excluded` is what it leaves out, exactly.
    public func approve(_ id: String, sha256: String, excluded: [String], selection: String) throws -> String? {
        try q("SELECT recon.approve_batch($1, $2, $3::text[], $4)", [id, sha256, textArrayLiteral(excluded), selection]).first?.first ?? nil
    }

    /// - Returns: nil when rejected, else why the database refused (the refusal is audited).
    public func reject(_ id: String, reason: String) throws -> String? {
        try q("SELECT recon.reject_batch($1, $2)", [id, reason]).first?.first ?? nil
    }

    /// Records a refused attempt the binary found (an unknown action id, a missing plan file) in
    /// the audit. `event` is `approve refused`, `reject refused` or `apply refused`.
    public func refusal(_ id: String, event: String, detail: String) {
        _ = try? q("SELECT recon.refuse_batch($1, $2, $3)", [id, event, detail])
    }

    /// In the caller's transaction: locks the batch and checks it may be applied for a plan file
    /// of this hash. - Returns: nil, or why not (audited: commit, then stop).
    public func beginApply(_ id: String, sha256: String) throws -> String? {
        try q("SELECT recon.begin_apply($1, $2)", [id, sha256]).first?.first ?? nil
    }

    /// Adds actions to the outbox, each once per precondition (in the caller's transaction).
    /// - Returns: the ids added now; the others are in the outbox already, not yet delivered.
    public func insertCorrections(_ actions: [PlanAction], batchId: String) throws -> Set<String> {
        guard !actions.isEmpty else { return [] }
        func column(_ value: (PlanAction) -> String?) -> String? { textArrayLiteral(actions.map(value)) }
        let rows = try q("SELECT recon.add_corrections($1, $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])", [
            batchId, column(\.actionId), column(\.operation.rawValue), column(\.system.rawValue), column(\.entity.rawValue),
            column(\.recordId), column(\.field), column(\.oldValue), column(\.newValue),
            column { a in "{" + a.payloadEntries.map { "\(JSONText.quote($0.key)):\(JSONText.quote($0.value))" }.joined(separator: ",") + "}" },
            column { $0.findingIds.joined(separator: " ") },
        ])
        return Set(rows.compactMap { $0.first ?? nil })
    }

    /// In the caller's transaction: the batch is applied.
    public func markApplied(_ id: String, sha256: String, detail: String) throws {
        _ = try q("SELECT recon.finish_apply($1, $2, $3)", [id, sha256, detail])
    }

    /// The outbox rows a batch added, as actions (to write its import files again).
    public func corrections(of batchId: String) throws -> [PlanAction] {
        try q("""
            SELECT operation, system, entity, record_id, field, old_value, new_value, payload::text, array_to_string(finding_ids, ' ')
            FROM recon.corrections WHERE batch_id = $1 ORDER BY action_id
            """, [batchId]).compactMap { r in
            guard let op = r[0].flatMap(Operation.init(rawValue:)), let system = r[1].flatMap(System.init(rawValue:)),
                  let entity = r[2].flatMap(Entity.init(rawValue:)) else { return nil }
            let payload = (r[7].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: String]) ?? [:]
            return PlanAction(operation: op, system: system, entity: entity, recordId: r[3] ?? "", field: r[4] ?? "",
                              oldValue: r[5], newValue: r[6], findingIds: (r[8] ?? "").split(separator: " ").map(String.init),
                              payload: payload, reason: "")
        }
    }

    /// Runs `body` in a transaction of the state session.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        do {
            try connection.execute("BEGIN")
            let value = try body()
            try connection.execute("COMMIT")
            return value
        } catch let error as PostgresError {
            try? connection.execute("ROLLBACK")
            throw StateError.server(error)
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
