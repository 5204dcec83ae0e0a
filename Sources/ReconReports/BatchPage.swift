public import ReconCore

/// `batch.html`: the review page of one correction batch, beside its plan.json. Self-contained
/// (inline CSS, no scripts, no network), readable on a laptop screen: the summary, then the
/// actions grouped by operation and target (each group a `<details>` that opens in place), each
/// with record, field, old → new, why and the findings it resolves, then the findings left to a
/// human. Like plan.csv it shows the values a correction writes: it is for approvers.
public enum BatchPage {
    /// Rows shown per group; the rest are in plan.csv (a night's first batch can hold hundreds of
    /// thousands of actions, which no page should carry).
    public static let rowsPerGroup = 500

    public static func render(_ plan: Plan, sha256: String) -> String {
        draft(plan).page(sha256: sha256)
    }

    /// The page but for plan.json's hash: made while plan.json is still being written.
    public struct Draft: Sendable {
        let head: String, rest: String

        /// The page, with the hash of the plan.json it sits beside.
        public func page(sha256: String) -> String {
            head + "<div class=\"muted\">plan.json sha256 <code>\(HTMLReport.escape(sha256))</code></div>\n" + rest
        }
    }

    public static func draft(_ plan: Plan) -> Draft {
        let e = HTMLReport.escape
        let head = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>recon batch \(e(plan.batchId))</title>
        <style>
        body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
        main{max-width:1200px;margin:0 auto;padding:24px}
        h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
        .muted{color:#5b6470} code{font-size:13px}
        table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
        th,td{padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
        th{background:#eef0f3;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
        details{background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08);margin:8px 0;padding:4px 12px}
        summary{cursor:pointer;font-weight:600;padding:6px 0}
        .old{color:#b71c1c;text-decoration:line-through;text-decoration-color:rgba(183,28,28,.4)} .new{color:#1b5e20;font-weight:600}
        .card{background:#fff;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
        td.v{max-width:320px;overflow-wrap:anywhere}
        </style></head><body><main>
        <h1>Correction batch <code>\(e(plan.batchId))</code></h1>
        <div class="muted">run \(e(plan.runId)), generated \(e(plan.createdAt))\(plan.rollbackOf.map { ", rolls back <code>\(e($0))</code>" } ?? "")</div>

        """
        var h = """
        <div class="card" style="margin-top:12px">Review it here or in <code>plan.csv</code>; approve all or a selection with
        <code>recon batch approve \(e(plan.batchId)) [--only …] [--exclude-operation …] [--exclude ACT-…]</code>,
        or reject it with <code>recon batch reject \(e(plan.batchId)) --reason …</code>.</div>

        """
        let summary = BatchSummary(plan)
        h += "<h2>Summary: \(plan.actions.count) actions, \(plan.needsHuman.count) findings for a human</h2>\n"
        h += "<table><tr><th>operation</th><th>target</th><th>actions</th></tr>\n"
        for r in summary.rows {
            h += "<tr><td>\(e(r.operation.rawValue))</td><td>\(e(r.system.rawValue)) \(e(r.entity.rawValue))</td><td class=\"n\">\(r.actions)</td></tr>\n"
        }
        if summary.rows.isEmpty { h += "<tr><td colspan=\"3\">No actions.</td></tr>\n" }
        h += "</table>\n"

        h += "<h2>Actions</h2>\n"
        // Per operation and target: how many actions, and the first ones, which the page shows
        // (the summary's rows, in its order: a batch has a few such groups).
        var shown = summary.rows.map { _ in [PlanAction]() }
        for a in plan.actions.prefetching {
            let g = summary.rows.firstIndex { $0.operation == a.operation && $0.system == a.system && $0.entity == a.entity }!
            if shown[g].count < rowsPerGroup { shown[g].append(a) }
        }
        for (g, actions) in zip(summary.rows, shown) {
            let count = g.actions
            // Small groups open, large ones closed until asked: the page stays a page.
            h += "<details\(count <= 100 ? " open" : "")><summary>\(e(g.operation.rawValue)) · \(e(g.system.rawValue)) \(e(g.entity.rawValue)) · "
                + "\(count) \(count == 1 ? "action" : "actions")</summary>\n"
            h += "<table><tr><th>action</th><th>record</th><th>field</th><th>old → new</th><th>why</th><th>findings</th></tr>\n"
            for a in actions {
                h += "<tr><td><code>\(e(a.actionId))</code></td><td>\(e(a.recordId))</td><td>\(e(a.field))</td><td class=\"v\">\(change(a))</td>"
                h += "<td>\(a.tier.map { "<strong>\(e($0.rawValue)) match</strong>: " } ?? "")\(e(a.reason))</td><td><code>\(a.findingIds.map(e).joined(separator: "<br>"))</code></td></tr>\n"
            }
            if count > rowsPerGroup {
                h += "<tr><td colspan=\"6\" class=\"muted\">… \(count - rowsPerGroup) more in plan.csv (or <code>recon batch show \(e(plan.batchId)) --operation \(e(g.operation.rawValue)) --system \(e(g.system.rawValue)) --limit N</code>)</td></tr>\n"
            }
            h += "</table></details>\n"
        }
        if plan.actions.isEmpty { h += "<div class=\"card\">No actions.</div>\n" }

        h += "<h2>For a human (\(plan.needsHuman.count))</h2>\n"
        h += "<table><tr><th>finding</th><th>type</th><th>records</th><th>why no action</th></tr>\n"
        for item in plan.needsHuman.prefix(rowsPerGroup) {
            h += "<tr><td><code>\(e(item.findingId))</code></td><td>\(e(item.type.rawValue)) \(e(item.entity.rawValue))</td>"
            h += "<td>\(item.records.map(e).joined(separator: "<br>"))</td><td>\(e(item.reason))</td></tr>\n"
        }
        if plan.needsHuman.count > rowsPerGroup {
            h += "<tr><td colspan=\"4\" class=\"muted\">… \(plan.needsHuman.count - rowsPerGroup) more in plan.csv</td></tr>\n"
        }
        if plan.needsHuman.isEmpty { h += "<tr><td colspan=\"4\">None.</td></tr>\n" }
        h += "</table>\n</main></body></html>\n"
        return Draft(head: head, rest: h)
    }

    /// Old → new for an update or link; the payload of a create; the survivor and values of a merge.
    static func change(_ a: PlanAction) -> String {
        let e = HTMLReport.escape
        func value(_ v: String?) -> String { v.map { e($0) } ?? "<span class=\"muted\">(empty)</span>" }
        switch a.operation {
        case .updateField, .updateStatus, .link:
            return "<span class=\"old\">\(value(a.oldValue))</span> → <span class=\"new\">\(value(a.newValue))</span>"
        case .merge:
            let values = a.payloadEntries.filter { $0.key != "survivor" }.map { "\(e($0.key))=\(e($0.value))" }
            return "into <b>\(value(a.newValue))</b>" + (values.isEmpty ? "" : "<br><span class=\"muted\">\(values.joined(separator: ", "))</span>")
        case .create:
            return "<span class=\"new\">" + a.payloadEntries.map { "\(e($0.key))=\(e($0.value))" }.joined(separator: "<br>") + "</span>"
        case .delete:
            return "delete the record created for \(e(a.recordId))"
        case .unmerge:
            return "restore (merged into \(value(a.oldValue)))"
        }
    }
}
