import Foundation
import Postgres
public import ReconCore
import ReconReports
import ReconState

/// Correction batches: review, approve (four eyes), reject, apply exactly once.
extension Pipeline {
    func stateChecked(_ config: ReconConfig) throws -> StateStore {
        let state = try openState(config)
        do { try state.checkVersion() } catch let e as StateError { throw PipelineError.state(e) }
        return state
    }

    /// Reads a plan file and checks it against the hash the state database recorded.
    func loadPlan(_ batch: BatchRecord) throws -> (plan: Plan, sha256: String, matches: Bool) {
        guard let data = FileManager.default.contents(atPath: batch.planPath) else {
            throw PipelineError.batch("\(batch.planPath): plan file not found")
        }
        let bytes = [UInt8](data)
        let sha = Plan.sha256(bytes)
        let plan = try Self.parsePlan(data, path: batch.planPath)
        return (plan, sha, sha == batch.planSHA256)
    }

    static func parsePlan(_ data: Data, path: String) throws -> Plan {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let actions = root["actions"] as? [[String: Any]], let human = root["needs_human"] as? [[String: Any]],
              let batchId = root["batch_id"] as? String, let runId = root["run_id"] as? String,
              let createdAt = root["created_at"] as? String else {
            throw PipelineError.batch("\(path): not a recon plan (JSON with actions, needs_human, batch_id, run_id)")
        }
        var parsed: [PlanAction] = []
        for (i, a) in actions.enumerated() {
            guard let op = (a["operation"] as? String).flatMap(Operation.init(rawValue:)),
                  let system = (a["system"] as? String).flatMap(System.init(rawValue:)),
                  let entity = (a["entity"] as? String).flatMap(Entity.init(rawValue:)),
                  let record = a["record_id"] as? String, let field = a["field"] as? String, let id = a["action_id"] as? String else {
                throw PipelineError.batch("\(path): action \(i + 1) is incomplete")
            }
            let action = PlanAction(operation: op, system: system, entity: entity, recordId: record, field: field,
                                    oldValue: a["old_value"] as? String, newValue: a["new_value"] as? String,
                                    findingIds: a["finding_ids"] as? [String] ?? [], payload: a["payload"] as? [String: String] ?? [:],
                                    reason: a["reason"] as? String ?? "", tier: (a["tier"] as? String).flatMap(MatchTier.init(rawValue:)))
            guard action.actionId == id else { throw PipelineError.batch("\(path): action \(i + 1) has id \(id), but its content gives \(action.actionId)") }
            parsed.append(action)
        }
        let items: [HumanItem] = human.compactMap { h in
            guard let t = (h["type"] as? String).flatMap(FindingType.init(rawValue:)), let e = (h["entity"] as? String).flatMap(Entity.init(rawValue:)) else { return nil }
            return HumanItem(findingId: h["finding_id"] as? String ?? "", type: t, entity: e, records: h["records"] as? [String] ?? [],
                             reason: h["reason"] as? String ?? "")
        }
        return Plan(batchId: batchId, runId: runId, createdAt: createdAt, rollbackOf: root["rollback_of"] as? String,
                    actions: parsed, needsHuman: items)
    }

    public func listBatches() throws -> String {
        let state = try stateChecked(try loadConfig())
        let batches = try state.batches()
        if batches.isEmpty { return "no batches (a run plans one when recon.yml has an ownership section)" }
        var lines = ["batch                       status     created               by            actions  human  run"]
        for b in batches {
            lines.append([b.batchId.padding(toLength: 27, withPad: " ", startingAt: 0), b.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0),
                          b.createdAt.padding(toLength: 21, withPad: " ", startingAt: 0), b.createdBy.padding(toLength: 13, withPad: " ", startingAt: 0),
                          String(b.actions).padding(toLength: 8, withPad: " ", startingAt: 0), String(b.needsHuman).padding(toLength: 6, withPad: " ", startingAt: 0),
                          b.runId + (b.rollbackOf.map { " (rolls back \($0))" } ?? "") + (b.supersededBy.map { " (superseded by \($0))" } ?? "")].joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }

    /// A readable diff of a batch: a summary first (actions by operation and target, what a
    /// selection leaves out, findings for a human by type), then record, field, old → new, why,
    /// for the actions `filter` keeps (at most `filter.limit`).
    public func showBatch(_ id: String, filter: ActionFilter = ActionFilter()) throws -> String {
        let state = try stateChecked(try loadConfig())
        let batch = try wrap { try state.batch(id) }
        let (plan, sha, matches) = try loadPlan(batch)
        var lines = ["batch \(batch.batchId) (\(batch.status.rawValue)), run \(batch.runId), generated by \(batch.createdBy) at \(batch.createdAt), expires \(batch.expiresAt)"
                     + (batch.allowSelfApproval ? " (self-approval allowed)" : "")]
        if let r = batch.rollbackOf { lines.append("rolls back batch \(r)") }
        if let s = batch.supersededBy { lines.append("superseded by batch \(s)") }
        lines.append("plan \(batch.planPath)")
        lines.append("sha256 \(sha) " + (matches ? "(matches the recorded hash)" : "(DOES NOT MATCH the recorded \(batch.planSHA256): the file was changed)"))
        if let by = batch.approvedBy { lines.append("approved by \(by)" + (batch.excluded.isEmpty ? "" : ", \(batch.excluded.count) actions left out")) }
        lines.append("")
        let excluded = Set(batch.excluded)
        lines.append("summary: \(plan.actions.count) actions, \(plan.needsHuman.count) findings for a human")
        let probable = plan.actions.filter { $0.tier != nil }.count
        if probable > 0 {
            lines.append("  \(probable) of the actions rest on probable matches (a shared phone and agreeing names): check them first")
        }
        lines += BatchSummary(plan, excluded: excluded).lines.map { "  " + $0 }
        lines.append("")
        let limit = filter.limit ?? Int.max
        let shown = plan.actions.lazy.filter { filter.matches($0) }
        let total = shown.count
        lines.append("\(total) actions" + (total == plan.actions.count ? "" : " of \(plan.actions.count) (filtered)") + ":")
        func show(_ v: String?) -> String { v.map { "'\($0)'" } ?? "(empty)" }
        for a in shown.prefix(limit) {
            let left = excluded.contains(a.actionId) ? "  [excluded]" : ""
            let target = "\(a.system.rawValue) \(a.entity.rawValue) \(a.recordId)"
            switch a.operation {
            case .updateField, .updateStatus, .link:
                lines.append("  \(a.actionId) \(a.operation.rawValue): \(target) \(a.field): \(show(a.oldValue)) → \(show(a.newValue))\(left)")
            case .merge:
                lines.append("  \(a.actionId) merge: \(target) into \(a.newValue ?? "")\(left)")
                let values = a.payloadEntries.filter { $0.key != "survivor" }.map { "\($0.key)=\(show($0.value))" }
                if !values.isEmpty { lines.append("      surviving values: " + values.joined(separator: ", ")) }
            case .create:
                lines.append("  \(a.actionId) create: \(a.system.rawValue) \(a.entity.rawValue) for \(a.system.other.rawValue) \(a.recordId)\(left)")
                lines.append("      " + a.payloadEntries.map { "\($0.key)=\(show($0.value))" }.joined(separator: ", "))
            case .delete:
                lines.append("  \(a.actionId) delete: the \(a.system.rawValue) \(a.entity.rawValue) created for \(a.recordId)\(left)")
            case .unmerge:
                lines.append("  \(a.actionId) unmerge: restore \(target) (merged into \(a.oldValue ?? ""))\(left)")
            }
            if let tier = a.tier { lines.append("      \(tier.rawValue.uppercased()) MATCH: the records were not joined by an id or an email; check them first") }
            lines.append("      why: \(a.reason); findings \(a.findingIds.joined(separator: " "))")
        }
        if total > limit { lines.append("  … \(total - limit) more (--limit, or narrow with --operation, --system, --finding-type)") }
        lines.append("")
        let human = plan.needsHuman.filter { filter.matches($0) }
        lines.append("\(human.count) findings need a human:")
        for h in human.prefix(limit) {
            lines.append("  \(h.findingId) \(h.type.rawValue) \(h.entity.rawValue) \(h.records.joined(separator: " ")): \(h.reason)")
        }
        if human.count > limit { lines.append("  … \(human.count - limit) more") }
        lines.append("")
        lines.append("audit:")
        for e in try wrap({ try state.events(id) }) { lines.append("  \(e[0] ?? "") \(e[1] ?? "") by \(e[2] ?? "")\((e[3] ?? "").isEmpty ? "" : ": \(e[3]!)")") }
        return lines.joined(separator: "\n")
    }

    func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StateError { throw PipelineError.state(e) }
    }

    /// The refusal of a request, as the binary's state machine decides it before asking the
    /// database (which decides again, under the row lock, and has the last word).
    func refuseIfNeeded(_ batch: BatchRecord, _ request: BatchRequest, _ state: StateStore) throws {
        if case .failure(let why) = BatchLifecycle.transition(batch.facts, request) {
            let (event, done): (String, String)
            switch request {
            case .approve: (event, done) = ("approve refused", "approved")
            case .reject: (event, done) = ("reject refused", "rejected")
            case .apply: (event, done) = ("apply refused", "applied")
            }
            state.refusal(batch.batchId, event: event, detail: why.description)
            throw PipelineError.batch("batch \(batch.batchId) cannot be \(done): \(why)")
        }
    }

    /// Reads the plan file, or records the refusal when it cannot be read.
    func planOrRefuse(_ batch: BatchRecord, event: String, _ state: StateStore) throws -> (plan: Plan, sha256: String, matches: Bool) {
        do { return try loadPlan(batch) } catch {
            state.refusal(batch.batchId, event: event, detail: "plan file not readable or not a recon plan")
            throw error
        }
    }

    /// Approves the actions `selection` covers (all by default), bound to the plan file's hash;
    /// the exact list left out is stored, the selection as written is in the audit.
    /// - Parameter remember: record a `different` decision for each merge and link action left out
    ///   by id, so later runs stop suggesting it (`IdentityDecisions`).
    public func approveBatch(_ id: String, selection: ActionSelection, remember: Bool = false) throws -> String {
        let config = try loadConfig()
        let state = try stateChecked(config)
        let batch = try wrap { try state.batch(id) }
        let (plan, sha, _) = try planOrRefuse(batch, event: "approve refused", state)
        let approver = try wrap { try state.sessionUser() }
        try refuseIfNeeded(batch, .approve(by: approver, sha256: sha), state)
        let known = Set(plan.actions.map(\.actionId))
        let unknown = selection.excludedIds.filter { !known.contains($0) }.sorted()
        var problem: SelectionError? = unknown.isEmpty ? nil : .unknownActions(unknown)
        let excluded = plan.actions.filter { !selection.includes($0) }.map(\.actionId).sorted()
        if problem == nil, !plan.actions.isEmpty, excluded.count == plan.actions.count { problem = .nothingSelected }
        if let problem {
            state.refusal(id, event: "approve refused", detail: "\(problem)")
            throw PipelineError.batch("batch \(id) cannot be approved: \(problem)")
        }
        if let why = try wrap({ try state.approve(id, sha256: sha, excluded: excluded, selection: selection.description) }) {
            throw PipelineError.batch("batch \(id) cannot be approved: \(why)")
        }
        var text = "approved batch \(id) as \(approver) (sha256 \(sha)); \(plan.actions.count - excluded.count) of \(plan.actions.count) actions will be applied"
            + (selection.excludedIds.isEmpty && selection.only.isEmpty && selection.excludedOperations.isEmpty ? "" : " (\(selection.description))")
        if remember {
            text += "\n" + (try rememberExclusions(plan.actions.filter { selection.excludedIds.contains($0.actionId) }, batch: id, state: state))
        }
        return text
    }

    /// The decisions that excluding these actions means: a merge or a link left out says its two
    /// records are different customers. Other operations name no pair and are only reported.
    func rememberExclusions(_ actions: [PlanAction], batch: String, state: StateStore) throws -> String {
        var lines: [String] = []
        var done: Set<Set<IdentityDecisions.Record>> = []
        for a in actions.sorted(by: { $0.actionId < $1.actionId }) {
            guard a.entity == .customer, a.operation == .merge || a.operation == .link, let other = a.newValue else {
                lines.append("  \(a.actionId) (\(a.operation.rawValue)): names no pair of customers, nothing to remember")
                continue
            }
            let x = IdentityDecisions.Record(system: a.system, id: a.recordId)
            let y = IdentityDecisions.Record(system: a.operation == .merge ? a.system : a.system.other, id: other)
            guard done.insert([x, y]).inserted else { continue }
            let n = try wrap { try state.decide(.different, x, y, reason: "\(a.operation.rawValue) left out of batch \(batch) at approval",
                                                 source: "recon batch approve \(batch) --exclude \(a.actionId) --remember") }
            lines.append("  decision #\(n): \(x) and \(y) are different customers (from \(a.actionId))")
        }
        return "remembered:\n" + (lines.isEmpty ? "  nothing (no action was left out by id)" : lines.joined(separator: "\n"))
    }

    /// `recon decide same|different|withdrawn`: records a reviewer's decision about two customers.
    public func decide(_ verdict: IdentityDecisions.Verdict, _ a: String, _ b: String, reason: String) throws -> String {
        guard let x = IdentityDecisions.Record(a), let y = IdentityDecisions.Record(b) else {
            throw PipelineError.usage("records are written system:id, e.g. crm:C0001 erp:K0001 (got \(a) \(b))")
        }
        guard x != y else { throw PipelineError.usage("a decision is about two different records (got \(x) twice)") }
        guard !reason.trimmingWhitespace().isEmpty else { throw PipelineError.usage("--reason must say why (it is kept with the decision)") }
        let config = try loadConfig()
        let state = try stateChecked(config)
        let n = try wrap { try state.decide(verdict, x, y, reason: reason, source: "recon decide") }
        let who = try wrap { try state.sessionUser() }
        switch verdict {
        case .same: return "decision #\(n) by \(who): \(x) and \(y) are one customer; every later run joins them"
        case .different: return "decision #\(n) by \(who): \(x) and \(y) are different customers; no later run joins them"
        case .withdrawn: return "decision #\(n) by \(who): the decision about \(x) and \(y) is withdrawn; the keys decide again"
        }
    }

    /// `recon decide list`: the decisions in force (or every decision, with `all`).
    public func listDecisions(all: Bool) throws -> String {
        let config = try loadConfig()
        let state = try stateChecked(config)
        let rows = try wrap { try state.decisionRows() }
        let inForce = Set(IdentityDecisions(rows.map(\.decision)).inForce.map(\.number))
        let shown = all ? rows : rows.filter { inForce.contains($0.decision.number) }
        if shown.isEmpty { return all ? "no decisions" : "no decisions in force" + (rows.isEmpty ? "" : " (\(rows.count) in the history: --all)") }
        var lines = ["\(shown.count) decision\(shown.count == 1 ? "" : "s")\(all ? "" : " in force"):"]
        for r in shown {
            let d = r.decision
            let mark = all && !inForce.contains(d.number) ? " [not in force]" : ""
            lines.append("  #\(d.number) \(d.verdict.rawValue) \(d.a) \(d.b)\(mark) by \(r.decidedBy) at \(d.decidedAt) (\(r.source)): \(r.reason)")
        }
        return lines.joined(separator: "\n")
    }

    public func rejectBatch(_ id: String, reason: String) throws -> String {
        guard !reason.trimmingWhitespace().isEmpty else { throw PipelineError.usage("--reason must say why the batch is rejected") }
        let config = try loadConfig()
        let state = try stateChecked(config)
        let batch = try wrap { try state.batch(id) }
        let who = try wrap { try state.sessionUser() }
        try refuseIfNeeded(batch, .reject(by: who), state)
        if let why = try wrap({ try state.reject(id, reason: reason) }) {
            throw PipelineError.batch("batch \(id) cannot be rejected: \(why)")
        }
        return "rejected batch \(id)"
    }

    public struct ApplyResult {
        public var text: String
        public var applied: Int
        public var stale: Int
        public var alreadyApplied: Int
    }

    /// Applies an approved batch, all or nothing: re-reads every targeted record through the
    /// query files, skips actions whose precondition no longer holds (stale), and, in one
    /// transaction of the state database, adds the others to the outbox (once per precondition),
    /// registers the rollback batch and marks the batch applied. The import files and the
    /// rollback plan are written before that transaction commits and put in place after it, so a
    /// batch is never applied without its files; were putting them in place to fail,
    /// `recon batch export` writes the import files again from the outbox.
    public func applyBatch(_ id: String) throws -> ApplyResult {
        let config = try loadConfig()
        let state = try stateChecked(config)
        let connection = state.connection
        func sql(_ text: String) throws { do { try connection.execute(text) } catch let e as PostgresError { throw PipelineError.state(.server(e)) } }
        let first = try wrap { try state.batch(id) }
        let (plan, sha, _) = try planOrRefuse(first, event: "apply refused", state)
        let applier = try wrap { try state.sessionUser() }
        try refuseIfNeeded(first, .apply(by: applier, sha256: sha), state)

        let folder = (first.planPath as NSString).deletingLastPathComponent
        let writer = ReportWriter(reportsDirectory: folder)
        var staged: [ReportWriter.Staged] = []
        // Not `StateStore.transaction`: a refusal commits its audit event before it throws.
        try sql("BEGIN")
        do {
            // The database locks the batch (concurrent applies wait, then find it applied) and
            // checks it again: status, expiry, the approved hash, the approval's audit event.
            if let why = try wrap({ try state.beginApply(id, sha256: sha) }) {
                try sql("COMMIT")   // the refusal, audited
                throw PipelineError.batch("batch \(id) cannot be applied: \(why)")
            }
            let batch = try wrap { try state.batch(id) }
            let excluded = Set(batch.excluded)
            let actions = plan.actions.filter { !excluded.contains($0.actionId) }
            let current = Current(try reread(actions, config))
            var ok: [PlanAction] = []
            var stale: [(PlanAction, String)] = []
            for a in actions {
                if let why = staleReason(a, current) { stale.append((a, why)) } else { ok.append(a) }
            }
            let inserted = try wrap { try state.insertCorrections(ok, batchId: id) }
            let already = ok.filter { !inserted.contains($0.actionId) }
            let appliedNow = ok.filter { inserted.contains($0.actionId) }
            let detail = "\(appliedNow.count) applied, \(stale.count) stale, \(already.count) already applied, \(batch.excluded.count) excluded"

            // Files for the people and tools that carry the corrections into the systems, and the
            // rollback batch: written now, put in place once the transaction has committed.
            do {
                staged.append(try writer.stage(into: folder, name: "apply-\(id)", files: Self.importFiles(appliedNow, stale: stale)))
            } catch let e as ReportError { throw PipelineError.batch("cannot write the import files: \(e.description)") }
            var lines = ["applied batch \(id): \(detail)", "import files: \(folder)/apply-\(id)/"]
            for (a, why) in stale { lines.append("  stale \(a.actionId) \(a.system.rawValue) \(a.entity.rawValue) \(a.recordId) \(a.field): \(why)") }
            if !appliedNow.isEmpty {
                let rollbackPlan = plan.rollback(of: appliedNow, batchId: "R-" + id, createdAt: ISO8601DateFormatter().string(from: Date()))
                let json = Array(rollbackPlan.canonicalJSON().utf8)
                let path = folder + "/rollback-\(id)"
                do {
                    staged.append(try writer.stage(into: folder, name: "rollback-\(id)",
                                                   files: [("plan.json", json), ("plan.csv", ReportWriter.planCSV(rollbackPlan)),
                                                           ("batch.html", Array(BatchPage.render(rollbackPlan, sha256: Plan.sha256(json)).utf8))]))
                } catch let e as ReportError { throw PipelineError.batch("cannot write the rollback batch: \(e.description)") }
                try wrap { try state.registerRollback(rollbackPlan, path: path + "/plan.json", sha256: Plan.sha256(json),
                                                      expireSeconds: config.batchExpirySeconds) }
                lines.append("rollback batch \(rollbackPlan.batchId) (pending; approve it before use): \(path)/plan.json")
            }
            try wrap { try state.markApplied(id, sha256: sha, detail: detail) }
            try sql("COMMIT")

            for s in staged {
                do { try s.publish() } catch let e as ReportError {
                    lines.append("WARNING: the batch is applied, but its files could not be put in place (\(e.description)); "
                                 + "they are in \(s.temporaryPath); `recon batch export \(id)` writes the import files again from the outbox")
                }
            }
            logger.info("batch applied", metadata: ["batch": "\(id)", "applied": "\(appliedNow.count)", "stale": "\(stale.count)",
                                                    "already_applied": "\(already.count)"])
            return ApplyResult(text: lines.joined(separator: "\n"), applied: appliedNow.count, stale: stale.count, alreadyApplied: already.count)
        } catch {
            for s in staged { s.discard() }
            let wasOpen = connection.inTransaction
            try? connection.execute("ROLLBACK")
            // A refusal the database made is audited already (and committed); anything else here
            // happened before COMMIT, so nothing was applied.
            if wasOpen { state.refusal(id, event: "apply refused", detail: Self.auditDetail(error)) }
            throw error
        }
    }

    /// The import files of an applied batch, written again from the outbox (for example after
    /// the report folder could not be written when it was applied).
    public func exportBatch(_ id: String, into target: String?) throws -> String {
        let config = try loadConfig()
        let state = try stateChecked(config)
        let batch = try wrap { try state.batch(id) }
        guard batch.status == .applied else { throw PipelineError.batch("batch \(id) is \(batch.status.rawValue): only an applied batch has import files") }
        let actions = try wrap { try state.corrections(of: id) }
        let folder = target ?? (batch.planPath as NSString).deletingLastPathComponent
        let name = target == nil ? "apply-\(id)" : "export-\(id)"
        let writer = ReportWriter(reportsDirectory: folder)
        do {
            let path = try writer.publishInto(folder, name: name, files: Self.importFiles(actions, stale: []))
            return "import files of batch \(id) (\(actions.count) corrections from the outbox): \(path)/"
        } catch let e as ReportError { throw PipelineError.report(e) }
    }

    /// An error as the audit records it: its description, short.
    static func auditDetail(_ error: any Error) -> String {
        String(String(describing: error).prefix(500))
    }

    /// Current values of every targeted record, read in one snapshot through the query files.
    /// For a `create`, also whatever could be its counterpart by now: a record of the target
    /// system naming the source in its external_id, the record the source's external_id names,
    /// and (customers) a record with the same email.
    func reread(_ actions: [PlanAction], _ config: ReconConfig) throws -> Mirror {
        let queries = try QueryFiles.load(directory: config.queriesDirectory)
        let reader = MirrorReader(connection: try connect(config), queries: queries, logger: logger)
        try reader.beginSnapshot()
        var byId: [Extract: Set<String>] = [:]
        var byExternal: [Extract: Set<String>] = [:]
        var byEmail: [Extract: Set<String>] = [:]
        for a in actions {
            switch a.operation {
            case .create:
                byId[Extract.of(a.system.other, a.entity), default: []].insert(a.recordId)
                byExternal[Extract.of(a.system, a.entity), default: []].insert(a.recordId)
                if a.entity == .customer, let email = a.payload["email"].flatMap({ EmailNormaliser.normalise($0).key }) {
                    byEmail[Extract.of(a.system, a.entity), default: []].insert(email)
                }
            case .delete:
                byExternal[Extract.of(a.system, a.entity), default: []].insert(a.recordId)
            case .merge, .unmerge:
                byId[Extract.of(a.system, a.entity), default: []].insert(a.recordId)
                if let other = a.operation == .merge ? a.newValue : a.oldValue { byId[Extract.of(a.system, a.entity), default: []].insert(other) }
            default:
                byId[Extract.of(a.system, a.entity), default: []].insert(a.recordId)
            }
        }
        var mirror = Mirror()
        func add(_ part: Mirror, _ e: Extract) {
            switch e {
            case .crmCustomers: mirror.crmCustomers = Self.joined(mirror.crmCustomers, part.crmCustomers)
            case .erpCustomers: mirror.erpCustomers = Self.joined(mirror.erpCustomers, part.erpCustomers)
            case .crmOrders: mirror.crmOrders = Self.joined(mirror.crmOrders, part.crmOrders)
            case .erpOrders: mirror.erpOrders = Self.joined(mirror.erpOrders, part.erpOrders)
            }
        }
        for e in Extract.allCases {
            add(try reader.readSome(e, column: "id", values: Array(byId[e] ?? []).sorted()), e)
            add(try reader.readSome(e, column: "external_id", values: Array(byExternal[e] ?? []).sorted()), e)
            add(try reader.readSome(e, column: "email", values: Array(byEmail[e] ?? []).sorted(), lowercased: true), e)
        }
        // The records the creates' sources now name in their external_id (read in the same snapshot).
        // One pass over each source table read: id → the id its external_id names.
        var externalOf: [Extract: [String: String]] = [:]
        for e in Extract.allCases where actions.contains(where: { $0.operation == .create && Extract.of($0.system.other, $0.entity) == e }) {
            var map: [String: String] = [:]
            if e.entity == .customer {
                for r in mirror.customers(e.system).records { if let id = ValueNormaliser.trimmed(r.id), let ext = ValueNormaliser.trimmed(r.externalId) { map[id] = ext } }
            } else {
                for r in mirror.orders(e.system).records { if let id = ValueNormaliser.trimmed(r.id), let ext = ValueNormaliser.trimmed(r.externalId) { map[id] = ext } }
            }
            externalOf[e] = map
        }
        var named: [Extract: Set<String>] = [:]
        for a in actions where a.operation == .create {
            if let id = externalOf[Extract.of(a.system.other, a.entity)]?[a.recordId] { named[Extract.of(a.system, a.entity), default: []].insert(id) }
        }
        for e in Extract.allCases where !(named[e] ?? []).isEmpty {
            add(try reader.readSome(e, column: "id", values: Array(named[e]!).sorted()), e)
        }
        try reader.endSnapshot()
        return mirror
    }

    static func joined<R>(_ a: Table<R>, _ b: Table<R>) -> Table<R> {
        Table(attributeNames: a.attributeNames.isEmpty ? b.attributeNames : a.attributeNames, records: Array(a.records) + Array(b.records))
    }

    /// The re-read records by id and by external id, per system and entity.
    struct Current {
        let mirror: Mirror
        var customers: [System: [String: CustomerRecord]] = [:]
        var orders: [System: [String: OrderRecord]] = [:]
        var customerExternal: [System: Set<String>] = [:]
        var orderExternal: [System: Set<String>] = [:]
        /// Normalised emails of the re-read customers.
        var customerEmails: [System: Set<String>] = [:]

        init(_ m: Mirror) {
            mirror = m
            for s in System.allCases {
                var c: [String: CustomerRecord] = [:], o: [String: OrderRecord] = [:]
                for r in m.customers(s).records { if let id = ValueNormaliser.trimmed(r.id), c[id] == nil { c[id] = r } }
                for r in m.orders(s).records { if let id = ValueNormaliser.trimmed(r.id), o[id] == nil { o[id] = r } }
                customers[s] = c
                orders[s] = o
                customerExternal[s] = Set(m.customers(s).records.compactMap { ValueNormaliser.trimmed($0.externalId) })
                orderExternal[s] = Set(m.orders(s).records.compactMap { ValueNormaliser.trimmed($0.externalId) })
                customerEmails[s] = Set(m.customers(s).records.compactMap { EmailNormaliser.normalise($0.email).key })
            }
        }
    }

    /// Why an action's precondition no longer holds, or nil when it does.
    func staleReason(_ a: PlanAction, _ current: Current) -> String? {
        let m = current.mirror
        func same(_ x: String?, _ y: String?) -> Bool { (x?.trimmingWhitespace() ?? "") == (y?.trimmingWhitespace() ?? "") }
        func customer(_ s: System, _ id: String) -> CustomerRecord? { current.customers[s]?[id] }
        func order(_ s: System, _ id: String) -> OrderRecord? { current.orders[s]?[id] }
        func value(_ s: System, _ id: String) -> (found: Bool, value: String?) {
            switch a.entity {
            case .customer:
                guard let r = customer(s, id) else { return (false, nil) }
                switch a.field {
                case "external_id": return (true, r.externalId)
                case "email": return (true, r.email)
                case "phone": return (true, r.phone)
                case "name": return (true, r.name)
                case "country": return (true, r.country)
                default: return (true, m.customers(s).attributeNames.firstIndex(of: a.field).flatMap { r.attributes[$0] })
                }
            case .order:
                guard let r = order(s, id) else { return (false, nil) }
                switch a.field {
                case "external_id": return (true, r.externalId)
                case "status": return (true, r.status)
                case "amount": return (true, r.amount)
                case "currency": return (true, r.currency)
                case "customer_id": return (true, r.customerId)
                default: return (true, m.orders(s).attributeNames.firstIndex(of: a.field).flatMap { r.attributes[$0] })
                }
            }
        }
        func fingerprint(_ s: System, _ id: String) -> String? {
            a.entity == .customer ? customer(s, id).map(Fingerprint.customer) : order(s, id).map(Fingerprint.order)
        }
        func hasCounterpart(_ s: System, external id: String) -> Bool {
            a.entity == .customer ? current.customerExternal[s]?.contains(id) == true : current.orderExternal[s]?.contains(id) == true
        }
        /// Why a create's counterpart seems to exist now, or nil.
        func counterpartNow(source: String) -> String? {
            if hasCounterpart(a.system, external: source) { return "the counterpart exists now (its external_id names the source)" }
            let named = a.entity == .customer ? customer(a.system.other, source)?.externalId : order(a.system.other, source)?.externalId
            if let id = ValueNormaliser.trimmed(named), fingerprint(a.system, id) != nil {
                return "the counterpart exists now (the source's external_id names it)"
            }
            if a.entity == .customer, let email = a.payload["email"].flatMap({ EmailNormaliser.normalise($0).key }),
               current.customerEmails[a.system]?.contains(email) == true {
                return "a customer with the same email exists now in \(a.system.rawValue)"
            }
            return nil
        }
        switch a.operation {
        case .updateField, .updateStatus, .link:
            let (found, v) = value(a.system, a.recordId)
            if !found { return "the record no longer exists" }
            return same(v, a.oldValue) ? nil : "\(a.field) has changed since the plan was made"
        case .merge:
            guard let fp = fingerprint(a.system, a.recordId) else { return "the record no longer exists" }
            if fp != a.oldValue { return "the record has changed since the plan was made" }
            return fingerprint(a.system, a.newValue ?? "") == nil ? "the surviving record no longer exists" : nil
        case .create:
            guard let fp = fingerprint(a.system.other, a.recordId) else { return "the source record no longer exists" }
            if let why = counterpartNow(source: a.recordId) { return why }
            return fp != a.oldValue ? "the source record has changed since the plan was made" : nil
        case .delete:
            return hasCounterpart(a.system, external: a.recordId) ? nil : "the created record is not there"
        case .unmerge:
            return fingerprint(a.system, a.recordId) == nil ? nil : "the merged record still exists"
        }
    }

    /// Per system and operation a CSV in the shape bulk-import tools take (record id plus the
    /// fields to set), corrections.jsonl for API workers, and stale.csv.
    static func importFiles(_ actions: [PlanAction], stale: [(PlanAction, String)]) -> [(String, [UInt8])] {
        var files: [(String, [UInt8])] = []
        var groups: [String: [PlanAction]] = [:]
        for a in actions {
            let key: String
            switch a.operation {
            case .updateField: key = "\(a.system.rawValue)-\(a.entity.rawValue)-update_field-\(a.field)"
            case .updateStatus, .link, .merge, .unmerge, .create, .delete: key = "\(a.system.rawValue)-\(a.entity.rawValue)-\(a.operation.rawValue)"
            }
            groups[key, default: []].append(a)
        }
        for (name, group) in groups.sorted(by: { $0.key < $1.key }) {
            var csv = CSVWriter(for: .machines)
            let op = group[0].operation
            switch op {
            case .updateField, .updateStatus, .link:
                csv.row(["record_id", group[0].field, "action_id"])
                for a in group { csv.row([a.recordId, a.newValue ?? "", a.actionId]) }
            case .merge, .unmerge:
                let keys = Array(Set(group.flatMap { $0.payload.keys })).filter { $0 != "survivor" }.sorted()
                csv.row(["record_id", op == .merge ? "merge_into" : "restore_from"] + keys + ["action_id"])
                for a in group { csv.row([a.recordId, (op == .merge ? a.newValue : a.oldValue) ?? ""] + keys.map { a.payload[$0] ?? "" } + [a.actionId]) }
            case .create, .delete:
                let keys = Array(Set(group.flatMap { $0.payload.keys })).sorted()
                csv.row(keys + ["action_id"])
                for a in group { csv.row(keys.map { a.payload[$0] ?? "" } + [a.actionId]) }
            }
            files.append((name + ".csv", csv.bytes))
        }
        var jsonl = ""
        for a in actions.sorted(by: { $0.actionId < $1.actionId }) {
            let one = Plan(batchId: "", runId: "", createdAt: "", actions: [a], needsHuman: []).canonicalJSON()
            // The single action's object, on one line.
            if let start = one.range(of: "[\n")?.upperBound, let end = one.range(of: "\n]")?.lowerBound { jsonl += String(one[start..<end]) + "\n" }
        }
        files.append(("corrections.jsonl", Array(jsonl.utf8)))
        var staleCSV = CSVWriter(for: .people)   // read by the approver
        staleCSV.row(["action_id", "operation", "system", "entity", "record_id", "field", "expected", "reason"])
        for (a, why) in stale { staleCSV.row([a.actionId, a.operation.rawValue, a.system.rawValue, a.entity.rawValue, a.recordId, a.field, a.oldValue ?? "", why]) }
        files.append(("stale.csv", staleCSV.bytes))
        return files
    }
}
