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
    public var status: String
    public var approvedBy: String?
    public var approvedSHA256: String?
    public var excluded: [String]
    public var ageSeconds: Double
}

extension StateStore {
    static let batchColumns = """
        batch_id, run_id, rollback_of, to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), created_by, plan_path, plan_sha256,
        actions, needs_human, status, approved_by, approved_sha256, array_to_string(excluded, ' '),
        extract(epoch FROM now() - created_at)::float8
        """

    static func batch(_ r: [String?]) -> BatchRecord {
        BatchRecord(batchId: r[0] ?? "", runId: r[1] ?? "", rollbackOf: r[2], createdAt: r[3] ?? "", createdBy: r[4] ?? "",
                    planPath: r[5] ?? "", planSHA256: r[6] ?? "", actions: Int(r[7] ?? "0") ?? 0, needsHuman: Int(r[8] ?? "0") ?? 0,
                    status: r[9] ?? "", approvedBy: r[10], approvedSHA256: r[11],
                    excluded: (r[12] ?? "").split(separator: " ").map(String.init), ageSeconds: Double(r[13] ?? "0") ?? 0)
    }

    /// Registers a batch as pending, with its first audit event.
    public func registerBatch(_ plan: Plan, path: String, sha256: String) throws {
        do {
            try connection.execute("BEGIN")
            _ = try connection.query("""
                INSERT INTO recon.batches (batch_id, run_id, rollback_of, plan_path, plan_sha256, actions, needs_human, status)
                VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')
                """, [plan.batchId, plan.runId, plan.rollbackOf, path, sha256, String(plan.actions.count), String(plan.needsHuman.count)])
            _ = try connection.query("INSERT INTO recon.batch_events (batch_id, event, plan_sha256, detail) VALUES ($1, 'generated', $2, $3)",
                                     [plan.batchId, sha256, "\(plan.actions.count) actions, \(plan.needsHuman.count) for a human"
                                        + (plan.rollbackOf.map { "; rolls back \($0)" } ?? "")])
            try connection.execute("COMMIT")
        } catch let error as PostgresError {
            try? connection.execute("ROLLBACK")
            throw StateError("state database: cannot register batch \(plan.batchId): \(error)")
        }
    }

    public func batches() throws -> [BatchRecord] {
        try q("SELECT \(Self.batchColumns) FROM recon.batches ORDER BY created_at DESC, batch_id").map(Self.batch)
    }

    public func batch(_ id: String, forUpdate: Bool = false) throws -> BatchRecord {
        guard let row = try q("SELECT \(Self.batchColumns) FROM recon.batches WHERE batch_id = $1" + (forUpdate ? " FOR UPDATE" : ""), [id]).first else {
            throw StateError("unknown batch \(id) (recon batch list shows the batches)")
        }
        return Self.batch(row)
    }

    public func events(_ id: String) throws -> [[String?]] {
        try q("SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS'), event, actor, coalesce(detail, '') FROM recon.batch_events WHERE batch_id = $1 ORDER BY event_id", [id])
    }

    public func approve(_ id: String, sha256: String, excluded: [String]) throws {
        try transaction {
            _ = try connection.query("""
                UPDATE recon.batches SET status = 'approved', approved_by = current_user, approved_at = now(),
                    approved_sha256 = $2, excluded = $3::text[] WHERE batch_id = $1 AND status = 'pending'
                """, [id, sha256, Self.arrayLiteral(excluded)])
            _ = try connection.query("INSERT INTO recon.batch_events (batch_id, event, plan_sha256, detail) VALUES ($1, 'approved', $2, $3)",
                                     [id, sha256, excluded.isEmpty ? "all actions" : "excluding \(excluded.joined(separator: " "))"])
        }
    }

    public func reject(_ id: String, reason: String) throws {
        try transaction {
            _ = try connection.query("""
                UPDATE recon.batches SET status = 'rejected', rejected_by = current_user, rejected_at = now(), reject_reason = $2
                WHERE batch_id = $1
                """, [id, reason])
            _ = try connection.query("INSERT INTO recon.batch_events (batch_id, event, detail) VALUES ($1, 'rejected', $2)", [id, reason])
        }
    }

    /// Records a refused attempt (hash mismatch, self-approval, expired…) in the audit.
    public func refusal(_ id: String, event: String, detail: String) {
        _ = try? q("INSERT INTO recon.batch_events (batch_id, event, detail) VALUES ($1, $2, $3)", [id, event, detail])
    }

    /// Inserts actions into the outbox once each. - Returns: the ids inserted now.
    public func insertCorrections(_ actions: [PlanAction], batchId: String) throws -> Set<String> {
        var inserted: Set<String> = []
        for a in actions {
            let payload = "{" + a.payload.sorted { $0.key < $1.key }.map { "\(JSONText.quote($0.key)):\(JSONText.quote($0.value))" }.joined(separator: ",") + "}"
            let rows = try connection.query("""
                INSERT INTO recon.corrections (action_id, batch_id, operation, system, entity, record_id, field, old_value, new_value, payload)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT (action_id) DO NOTHING RETURNING action_id
                """, [a.actionId, batchId, a.operation.rawValue, a.system.rawValue, a.entity.rawValue, a.recordId, a.field,
                      a.oldValue, a.newValue, payload])
            if !rows.isEmpty { inserted.insert(a.actionId) }
        }
        return inserted
    }

    public func markApplied(_ id: String, sha256: String, detail: String) throws {
        _ = try connection.query("UPDATE recon.batches SET status = 'applied', applied_by = current_user, applied_at = now() WHERE batch_id = $1", [id])
        _ = try connection.query("INSERT INTO recon.batch_events (batch_id, event, plan_sha256, detail) VALUES ($1, 'applied', $2, $3)",
                                 [id, sha256, detail])
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
            throw StateError("state database: \(error)")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    static func arrayLiteral(_ items: [String]) -> String {
        "{" + items.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "}"
    }
}
