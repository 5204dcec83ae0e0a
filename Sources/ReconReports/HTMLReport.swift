import Foundation
import ReconCore

/// The morning report: one self-contained HTML file (inline CSS and SVG, no scripts, no network)
/// with the outcome, counts per type and status, a chart of open findings per type over the last
/// runs, the oldest open findings and links to the CSV files. Record ids only: no personal data.
enum HTMLReport {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// How many of the oldest open findings index.html lists (`Lifecycle.oldestOpen`).
    static let oldestOpenLimit = 20

    /// - Parameter oldest: the lifecycle's oldest open findings when the caller has them (else
    ///   found here).
    static func render(summary s: RunSummary, lifecycle: Lifecycle?, history: [HistoryPoint], pending: [PendingBatch]? = nil,
                       oldest known: [TrackedFinding]? = nil) -> String {
        let iso = ISO8601DateFormatter()
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>recon \(escape(s.runId)): \(escape(s.outcome))</title>
        <style>
        body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
        main{max-width:1100px;margin:0 auto;padding:24px}
        h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
        .muted{color:#5b6470} .badge{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;font-weight:600}
        .clean{background:#2e7d32} .breached{background:#c77700} .error{background:#c62828}
        table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
        th,td{padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
        th{background:#eef0f3;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
        .card{background:#fff;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:8px}
        code{font-size:13px} ul.files{columns:3;padding-left:18px}
        .new{color:#c62828;font-weight:600}
        </style></head><body><main>
        <h1>recon run \(escape(s.runId)) <span class="badge \(escape(s.outcome))">\(escape(s.outcome))</span></h1>
        <div class="muted">started \(escape(iso.string(from: s.startedAt))), finished \(escape(iso.string(from: s.finishedAt))), exit code \(s.exitCode)</div>

        """
        if let error = s.error {
            h += "<h2>Error</h2><div class=\"card\"><code>\(escape(error))</code></div>\n"
        }
        if !s.breaches.isEmpty {
            h += "<h2>Thresholds breached</h2><div class=\"card\"><ul>"
            for b in s.breaches { h += "<li>\(escape(b))</li>" }
            h += "</ul></div>\n"
        }
        if let plans = s.phoneMetadata {
            h += "<div class=\"muted\">phones judged with \(escape(plans.label))</div>\n"
        }
        if !s.recordsRead.isEmpty {
            h += "<div class=\"muted\">records read: "
                + Extract.allCases.map { "\(escape($0.rawValue)) \(s.recordsRead[$0] ?? 0)" }.joined(separator: " · ") + "</div>\n"
        }
        if lifecycle != nil {
            h += "<h2>Findings</h2><table><tr><th>type</th><th>entity</th><th>new</th><th>persisting</th><th>waived</th><th>resolved</th><th>open</th><th title=\"records changed within settle_after: no action, no breach yet\">settling</th></tr>\n"
            let keys = s.lifecycle.keys.sorted {
                let a = $0.split(separator: "/"), b = $1.split(separator: "/")
                let ta = FindingType(rawValue: String(a[0])), tb = FindingType(rawValue: String(b[0]))
                if ta != tb, let ta, let tb { return ta < tb }
                return $0 < $1
            }
            if keys.isEmpty { h += "<tr><td colspan=\"8\">No findings.</td></tr>\n" }
            for k in keys {
                let parts = k.split(separator: "/").map(String.init)
                let c = s.lifecycle[k] ?? [:]
                let new = c["new"] ?? 0
                h += "<tr><td>\(escape(parts[0]))</td><td>\(escape(parts.count > 1 ? parts[1] : ""))</td>"
                h += "<td class=\"n\(new > 0 ? " new" : "")\">\(new)</td><td class=\"n\">\(c["persisting"] ?? 0)</td>"
                h += "<td class=\"n\">\(c["waived"] ?? 0)</td><td class=\"n\">\(c["resolved"] ?? 0)</td><td class=\"n\">\(c["open"] ?? 0)</td><td class=\"n\">\(c["settling"] ?? 0)</td></tr>\n"
            }
            h += "</table>\n"
        }
        h += "<h2>Open findings per type, last \(history.count) runs</h2><div class=\"card\">\(chart(history))</div>\n"
        if let lifecycle {
            let oldest = known ?? lifecycle.oldestOpen(limit: oldestOpenLimit)
            h += "<h2>Oldest open findings</h2><table><tr><th>finding</th><th>type</th><th>entity</th><th>first seen</th><th>nights open</th><th>records</th></tr>\n"
            if oldest.isEmpty { h += "<tr><td colspan=\"6\">None.</td></tr>\n" }
            for t in oldest {
                let records = t.finding.members.prefix(4).map { "\($0.system.rawValue):\($0.recordId)" }.joined(separator: " ")
                    + (t.finding.members.count > 4 ? " …" : "")
                h += "<tr><td><code>\(escape(t.finding.id))</code></td><td>\(escape(t.finding.type.rawValue))</td><td>\(escape(t.finding.entity.rawValue))</td>"
                h += "<td>\(escape(String(t.firstSeenAt.prefix(10))))</td><td class=\"n\">\(t.nightsOpen)</td><td><code>\(escape(records))</code></td></tr>\n"
            }
            h += "</table>\n"
        }
        h += "<h2>Pending correction batches</h2>"
        if let pending, !pending.isEmpty {
            h += "<table><tr><th>batch</th><th>status</th><th>generated</th><th>actions</th><th>for a human</th></tr>\n"
            for b in pending {
                h += "<tr><td><code>\(escape(b.batchId))</code></td><td>\(escape(b.status.rawValue))"
                    + (b.plannedAgainTonight ? " (planned again tonight, unchanged)" : "") + "</td><td>\(escape(b.createdAt))</td>"
                h += "<td class=\"n\">\(b.actions)</td><td class=\"n\">\(b.needsHuman)</td></tr>\n"
            }
            let again = pending.first { $0.plannedAgainTonight }
            h += "</table><div class=\"muted\">Review with <code>recon batch show &lt;batch&gt;</code>; "
                + (again.map { "tonight's plan is \(escape($0.batchId)) unchanged, so this run wrote no plan files: they are in that batch's run folder.</div>\n" }
                   ?? "plan.csv lists this run's actions.</div>\n")
        } else if pending == nil {
            h += "<div class=\"card muted\">None: recon.yml has no ownership section, so no batches are planned.</div>\n"
        } else {
            h += "<div class=\"card muted\">None.</div>\n"
        }
        if lifecycle != nil {
            h += "<h2>Files</h2><div class=\"card\"><ul class=\"files\">"
            let planFiles = pending == nil ? [] : ["plan.csv", "plan.json"]
            for f in ["findings.csv"] + FindingType.allCases.map(\.reportFileName) + ["resolved.csv", "summary.json"] + planFiles {
                h += "<li><a href=\"\(escape(f))\">\(escape(f))</a></li>"
            }
            h += "</ul></div>\n"
        } else {
            h += "<h2>Files</h2><div class=\"card\"><a href=\"summary.json\">summary.json</a></div>\n"
        }
        h += "</main></body></html>\n"
        return h
    }

    /// An inline SVG line chart: one line per finding type (open findings, all entities).
    static func chart(_ history: [HistoryPoint]) -> String {
        guard !history.isEmpty else { return "<span class=\"muted\">No completed runs yet.</span>" }
        let width = 1000.0, height = 260.0, left = 48.0, right = 170.0, top = 12.0, bottom = 36.0
        let plotW = width - left - right, plotH = height - top - bottom
        var series: [(type: FindingType, values: [Int])] = []
        for t in FindingType.allCases {
            let values = history.map { p in p.open.filter { $0.key.hasPrefix(t.rawValue + "/") }.values.reduce(0, +) }
            if values.contains(where: { $0 > 0 }) { series.append((t, values)) }
        }
        if series.isEmpty { return "<span class=\"muted\">No open findings in the last \(history.count) runs.</span>" }
        let maxValue = max(1, series.flatMap(\.values).max() ?? 1)
        func x(_ i: Int) -> Double { history.count == 1 ? left + plotW / 2 : left + plotW * Double(i) / Double(history.count - 1) }
        func y(_ v: Int) -> Double { top + plotH - plotH * Double(v) / Double(maxValue) }
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"open findings per type over the last runs\" font-size=\"12\" font-family=\"system-ui,sans-serif\">"
        var ticks: [Int] = []
        for k in 0...4 {
            let v = Int((Double(maxValue) * Double(k) / 4).rounded())
            if ticks.contains(v) { continue }
            ticks.append(v)
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(y(v))\" y2=\"\(y(v))\" stroke=\"#e5e7eb\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\" fill=\"#5b6470\">\(v)</text>"
        }
        let labelEvery = max(1, history.count / 6)
        let sameDays = Set(history.map { $0.startedAt.prefix(10) }).count < history.count
        for (i, p) in history.enumerated() where i % labelEvery == 0 || i == history.count - 1 {
            // Dates, or dates and times when several runs share a day.
            let label = sameDays ? String(p.startedAt.suffix(11)) : String(p.startedAt.prefix(10))
            svg += "<text x=\"\(x(i))\" y=\"\(height - 12)\" text-anchor=\"middle\" fill=\"#5b6470\">\(escape(label))</text>"
        }
        for (n, s) in series.enumerated() {
            let color = palette[n % palette.count]
            let points = s.values.enumerated().map { "\(x($0.offset)),\(y($0.element))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>"
            for (i, v) in s.values.enumerated() {
                svg += "<circle cx=\"\(x(i))\" cy=\"\(y(v))\" r=\"2.5\" fill=\"\(color)\"><title>\(escape(s.type.rawValue)): \(v) (\(escape(history[i].runId)))</title></circle>"
            }
            let ly = top + 16 * Double(n) + 6
            svg += "<rect x=\"\(left + plotW + 16)\" y=\"\(ly - 8)\" width=\"12\" height=\"4\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(left + plotW + 34)\" y=\"\(ly - 3)\" fill=\"#1b1f24\">\(escape(s.type.rawValue)) (\(s.values.last ?? 0))</text>"
        }
        svg += "</svg>"
        return svg
    }
}

/// Prometheus text exposition for node_exporter's textfile collector, written atomically.
public enum MetricsFile {
    public static func render(summary s: RunSummary, durationSeconds: Double, lastSuccess: Double?) -> String {
        var t = ""
        func metric(_ name: String, _ help: String, _ type: String = "gauge", _ samples: [(labels: String, value: String)]) {
            t += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { t += name + (sample.labels.isEmpty ? "" : "{\(sample.labels)}") + " " + sample.value + "\n" }
        }
        metric("recon_run_duration_seconds", "Wall time of the last recon run.", "gauge", [("", String(format: "%.3f", durationSeconds))])
        metric("recon_run_timestamp_seconds", "When the last recon run finished.", "gauge",
               [("", String(format: "%.0f", s.finishedAt.timeIntervalSince1970))])
        metric("recon_run_exit_code", "Exit code of the last run: 0 clean, 1 breached, 2 error, 3 already running.", "gauge",
               [("", String(s.exitCode))])
        metric("recon_run_success", "1 when the last run completed (clean or breached), 0 when it failed.", "gauge",
               [("", s.outcome == "error" ? "0" : "1")])
        if let lastSuccess {
            metric("recon_last_success_timestamp_seconds", "When the last completed run finished.", "gauge",
                   [("", String(format: "%.0f", lastSuccess))])
        }
        metric("recon_threshold_breaches", "Thresholds the last run breached.", "gauge", [("", String(s.breaches.count))])
        metric("recon_records_read", "Records read per query in the last run.", "gauge",
               Extract.allCases.map { ("query=\"\($0.rawValue)\"", String(s.recordsRead[$0] ?? 0)) })
        var samples: [(String, String)] = []
        for (key, statuses) in s.lifecycle.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "/").map(String.init)
            guard parts.count == 2 else { continue }
            for status in ["new", "persisting", "waived", "resolved", "settling"] {
                samples.append(("type=\"\(parts[0])\",entity=\"\(parts[1])\",status=\"\(status)\"", String(statuses[status] ?? 0)))
            }
        }
        metric("recon_findings", "Findings of the last run per type, entity and lifecycle status.", "gauge", samples)
        metric("recon_phase_duration_seconds", "Duration of each phase of the last run.", "gauge",
               s.timingsMs.map { ("phase=\"\($0.phase)\"", String(format: "%.3f", Double($0.ms) / 1000)) })
        return t
    }

    /// Writes `text` to `path` through a temporary file in the same folder and a rename.
    public static func write(_ text: String, to path: String) throws {
        let temp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        guard let f = fopen(temp, "wb") else { throw ReportError.io(path: temp, reason: ReportWriter.posixReason(errno)) }
        let bytes = Array(text.utf8)
        let written = fwrite(bytes, 1, bytes.count, f)
        let closed = fclose(f) == 0
        guard written == bytes.count, closed else {
            let reason = ReportWriter.posixReason(errno)
            try? FileManager.default.removeItem(atPath: temp)
            throw ReportError.io(path: path, reason: reason)
        }
        guard rename(temp, path) == 0 else {
            let reason = ReportWriter.posixReason(errno)
            try? FileManager.default.removeItem(atPath: temp)
            throw ReportError.io(path: path, reason: reason)
        }
    }
}
