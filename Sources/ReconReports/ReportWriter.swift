public import Foundation
public import ReconCore

/// Facts about a run that go into summary.json, the HTML report and the stdout summary.
public struct RunSummary: Sendable {
    public var runId: String
    public var startedAt: Date
    public var finishedAt: Date
    /// clean, breached or error.
    public var outcome: String
    public var exitCode: Int32
    public var error: String?
    public var recordsRead: [Extract: Int]
    public var timingsMs: [(phase: String, ms: Int)]
    public var failOn: Severity?
    /// Descriptions of the thresholds this run breached, with the measured value.
    public var breaches: [String]
    /// "type/entity" → status → count (new, persisting, waived, resolved, open).
    public var lifecycle: [String: [String: Int]]
    /// The numbering plans phones were judged with (nil when none could be read).
    public var phoneMetadata: PhoneMetadataRelease?

    public init(runId: String, startedAt: Date, finishedAt: Date = Date(), outcome: String, exitCode: Int32,
                error: String? = nil, recordsRead: [Extract: Int] = [:], timingsMs: [(phase: String, ms: Int)] = [],
                failOn: Severity? = nil, breaches: [String] = [], lifecycle: [String: [String: Int]] = [:],
                phoneMetadata: PhoneMetadataRelease? = try? PhoneMetadataFile.current.get()) {
        self.runId = runId; self.startedAt = startedAt; self.finishedAt = finishedAt; self.outcome = outcome
        self.exitCode = exitCode; self.error = error; self.recordsRead = recordsRead; self.timingsMs = timingsMs
        self.failOn = failOn; self.breaches = breaches; self.lifecycle = lifecycle; self.phoneMetadata = phoneMetadata
    }
}

/// A correction batch waiting for approval, for the HTML report.
public struct PendingBatch: Sendable {
    public var batchId: String
    public var createdAt: String
    public var status: BatchStatus
    public var actions: Int
    public var needsHuman: Int
    /// This night planned exactly this pending batch again: it stays pending, and the night
    /// writes no plan files of its own.
    public var plannedAgainTonight = false
    public init(batchId: String, createdAt: String, status: BatchStatus, actions: Int, needsHuman: Int, plannedAgainTonight: Bool = false) {
        self.batchId = batchId; self.createdAt = createdAt; self.status = status; self.actions = actions; self.needsHuman = needsHuman
        self.plannedAgainTonight = plannedAgainTonight
    }
}

/// One past run for the HTML chart.
public struct HistoryPoint: Sendable {
    public var runId: String
    public var startedAt: String
    public var outcome: String
    /// "type/entity" → open findings.
    public var open: [String: Int]
    public init(runId: String, startedAt: String, outcome: String, open: [String: Int]) {
        self.runId = runId; self.startedAt = startedAt; self.outcome = outcome; self.open = open
    }
}

public enum ReportError: Error, CustomStringConvertible {
    case io(path: String, reason: String)
    public var description: String {
        switch self {
        case .io(let path, let reason): return "cannot write \(path): \(reason)"
        }
    }
}

/// Writes a run's report folder: findings.csv, one CSV per finding type, resolved.csv,
/// summary.json and index.html. Everything is written into a hidden temporary folder beside the
/// final one (`.tmp-<run-id>-<pid>`) and renamed into place at the end, so a report folder is
/// whole or absent, even when the process is killed; leftovers of killed runs are removed by the
/// next run.
public struct ReportWriter {
    public let reportsDirectory: String
    public init(reportsDirectory: String) { self.reportsDirectory = reportsDirectory }

    /// Removes temporary folders left by runs that were killed (their process is gone).
    public func removeLeftovers() {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: reportsDirectory) else { return }
        for e in entries where e.hasPrefix(".tmp-") {
            if let pid = e.split(separator: "-").last.flatMap({ Int32($0) }), pid > 0, kill(pid, 0) == 0 || errno == EPERM {
                continue
            }
            try? fm.removeItem(atPath: reportsDirectory + "/" + e)
        }
    }

    /// - Returns: the path of the published folder.
    /// - Throws: `ReportError` when a file cannot be written or the folder cannot be renamed.
    public func publish(lifecycle: Lifecycle, mirror: Mirror, summary: RunSummary, history: [HistoryPoint],
                        plan: Plan? = nil, pending: [PendingBatch]? = nil,
                        index: RecordIndex? = nil) throws -> String {
        let folder = try begin(summary.runId)
        do {
            try folder.writeFindings(lifecycle: lifecycle, mirror: mirror, plan: plan, index: index)
            return try folder.finish(summary: summary, lifecycle: lifecycle, history: history, pending: pending)
        } catch {
            folder.discard()
            throw error
        }
    }

    /// Starts a report folder: files go into a hidden temporary folder next to the final one,
    /// which `ReportFolder.finish` renames into place (a reader never sees half a report).
    public func begin(_ runId: String) throws -> ReportFolder {
        let tempPath = reportsDirectory + "/.tmp-" + runId + "-\(ProcessInfo.processInfo.processIdentifier)"
        try Self.makeDirectory(tempPath)
        return ReportFolder(writer: self, runId: runId, tempPath: tempPath)
    }

    /// A failed run's folder: summary.json with the error, and index.html saying so.
    /// - Parameter aside: writes it in a temporary folder of another name than the run's own
    ///   (when the run's thread may still be writing into its own).
    public func publishFailure(summary: RunSummary, history: [HistoryPoint], aside: Bool = false) throws -> String {
        try publishFolder(summary.runId, tempSuffix: aside ? "-failure" : "") { temp in
            try write(temp + "/summary.json", Array(summaryJSON(summary, findingsByType: [:]).utf8))
            try write(temp + "/index.html", Array(HTMLReport.render(summary: summary, lifecycle: nil, history: history).utf8))
        }
    }

    private func publishFolder(_ runId: String, tempSuffix: String = "", _ body: (String) throws -> Void) throws -> String {
        let fm = FileManager.default
        let tempPath = reportsDirectory + "/.tmp-" + runId + tempSuffix + "-\(ProcessInfo.processInfo.processIdentifier)"
        try Self.makeDirectory(tempPath)
        do {
            try body(tempPath)
            return try renameIntoPlace(tempPath, runId)
        } catch {
            try? fm.removeItem(atPath: tempPath)
            throw error
        }
    }

    /// Renames a finished temporary folder to the run's folder.
    func renameIntoPlace(_ tempPath: String, _ runId: String) throws -> String {
        let finalPath = reportsDirectory + "/" + runId
        guard rename(tempPath, finalPath) == 0 else {
            throw ReportError.io(path: finalPath, reason: String(cString: strerror(errno)))
        }
        return finalPath
    }

    func countByType(_ lifecycle: Lifecycle) -> [String: [String: Int]] {
        countByType(lifecycle.countsByTypeAndEntity())
    }

    /// Counts per type and entity from a table indexed by `type.order * 2 + entity` (0 customer, 1 order).
    func countByType(_ table: [Int]) -> [String: [String: Int]] {
        var counts: [String: [String: Int]] = [:]
        for type in FindingType.allCases {
            for (k, entity) in [Entity.customer, .order].enumerated() where table[type.order * 2 + k] > 0 {
                counts[type.rawValue, default: [:]][entity.rawValue] = table[type.order * 2 + k]
            }
        }
        return counts
    }

    func write(_ path: String, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBufferPointer { try write(path, $0) }
    }

    func write(_ path: String, _ bytes: UnsafeBufferPointer<UInt8>) throws {
        guard let f = fopen(path, "wb") else { throw ReportError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { fclose(f) }
        let written = fwrite(bytes.baseAddress, 1, bytes.count, f)
        guard written == bytes.count, fflush(f) == 0 else {
            throw ReportError.io(path: path, reason: String(cString: strerror(errno)))
        }
    }

    public static let findingsHeader = ["finding_id", "type", "entity", "severity", "system", "record_id",
                                        "matched_on", "tier", "field", "value", "detail", "status", "first_seen", "nights_open"]

    /// One row per record taking part in a finding.
    public func findingsCSV(_ findings: [TrackedFinding]) -> [UInt8] { var csv = CSVWriter(); findingsCSV(findings, into: &csv); return csv.bytes }

    public func findingsCSV(_ findings: [TrackedFinding], into csv: inout CSVWriter) {
        csv.row(Self.findingsHeader)
        for t in findings.prefetching {
            let f = t.finding
            let (type, entity, severity) = (f.type.rawValue, f.entity.rawValue, f.severity.rawValue)
            let (matchedOn, field, detail, nights) = (f.matchedOn, f.field, f.detail, String(t.nightsOpen))
            let tier = f.tier?.rawValue ?? ""
            f.withIdBytes { id in
                for m in f.members {
                    csv.field(bytes: id); csv.field(type); csv.field(entity); csv.field(severity); csv.field(m.system.rawValue)
                    csv.field(m.recordId); csv.field(matchedOn); csv.field(tier); csv.field(field); csv.field(m.value); csv.field(detail)
                    csv.field(t.status.rawValue); csv.field(t.firstSeenAt); csv.field(nights)
                    csv.endRow()
                }
            }
        }
    }

    /// A batch for people: one row per action, then the findings left to a human.
    public static func planCSV(_ plan: Plan) -> [UInt8] { var csv = CSVWriter(); planCSV(plan, into: &csv); return csv.bytes }

    public static func planCSV(_ plan: Plan, into csv: inout CSVWriter) {
        csv.row(["action_id", "operation", "system", "entity", "record_id", "field", "old_value", "new_value", "finding_ids", "reason", "tier"])
        for a in plan.actions.prefetching {
            a.withActionIdBytes { csv.field(bytes: $0) }; csv.field(a.operation.rawValue); csv.field(a.system.rawValue); csv.field(a.entity.rawValue)
            csv.field(a.recordId); csv.field(a.field); csv.field(a.oldValue ?? ""); csv.field(a.newValue ?? "")
            if let key = a.singleFindingKey { key.withBytes { csv.field(bytes: $0) } } else { csv.field(a.singleFindingId ?? a.findingIds.joined(separator: " ")) }
            csv.field(a.reason)
            csv.field(a.tier?.rawValue ?? "")
            csv.endRow()
        }
        for h in plan.needsHuman {
            csv.field(""); csv.field("needs_human"); csv.field(""); csv.field(h.entity.rawValue)
            csv.field(joining: h.records, separator: UInt8(ascii: " ")); csv.field(h.type.rawValue); csv.field(""); csv.field("")
            if let key = h.findingKey { key.withBytes { csv.field(bytes: $0) } } else { csv.field(h.findingId) }
            csv.field(h.reason); csv.field("")
            csv.endRow()
        }
    }

    /// The plan as a workbook: plan.csv's columns, amounts as numbers.
    public static func planXLSX(_ plan: Plan, path: String) throws {
        let x = try XLSXWriter(path: path, sheetName: "plan " + plan.batchId)
        x.row(["action_id", "operation", "system", "entity", "record_id", "field", "old_value", "new_value", "finding_ids", "reason", "tier"].map { .label($0) })
        func value(_ v: String?, _ field: String) {
            guard let v else { return x.empty() }
            if field == "amount", let n = ValueNormaliser.amount(v) { return x.number(n) }
            x.text(v)
        }
        // Each label column's few values, found by comparing instead of hashing in every row.
        var (operations, systems, entities, fields, reasons, tiers) = (XLSXWriter.RecentLabels(), XLSXWriter.RecentLabels(),
            XLSXWriter.RecentLabels(), XLSXWriter.RecentLabels(), XLSXWriter.RecentLabels(), XLSXWriter.RecentLabels())
        for a in plan.actions.prefetching {
            x.beginRow()
            a.withActionIdBytes { x.text(bytes: $0) }; x.label(a.operation.rawValue, recent: &operations)
            x.label(a.system.rawValue, recent: &systems); x.label(a.entity.rawValue, recent: &entities); x.text(a.recordId)
            x.label(a.field, recent: &fields); value(a.oldValue, a.field); value(a.newValue, a.field); if let key = a.singleFindingKey { key.withBytes { x.text(bytes: $0) } } else if let id = a.singleFindingId { x.text(id) } else { x.text(joining: a.findingIds, separator: UInt8(ascii: " ")) }
            // A merge's reason names its survivor: one per action, written in its cell.
            if a.operation == .merge { x.text(a.reason) } else { x.label(a.reason, recent: &reasons) }
            if let tier = a.tier { x.label(tier.rawValue, recent: &tiers) }
            x.endRow()
        }
        var types = XLSXWriter.RecentLabels()
        for h in plan.needsHuman {
            x.beginRow()
            x.empty(); x.label("needs_human", recent: &operations); x.empty(); x.label(h.entity.rawValue, recent: &entities)
            x.text(joining: h.records, separator: UInt8(ascii: " "))
            x.label(h.type.rawValue, recent: &types); x.empty(); x.empty(); if let key = h.findingKey { key.withBytes { x.text(bytes: $0) } } else { x.text(h.findingId) }
            x.label(h.reason, recent: &reasons)
            x.endRow()
        }
        try x.finish()
    }

    /// Writes files into an existing folder through a hidden temporary folder renamed into
    /// `name` (for the import files and rollback batch that `batch apply` adds to a run's folder).
    public func publishInto(_ folder: String, name: String, files: [(String, [UInt8])]) throws -> String {
        let staged = try stage(into: folder, name: name, files: files)
        do { try staged.publish() } catch {
            staged.discard()
            throw error
        }
        return staged.finalPath
    }

    /// Files written into a hidden temporary folder, put in place (renamed to their final name)
    /// or discarded later: `batch apply` writes its files before its transaction commits and puts
    /// them in place after.
    public struct Staged: Sendable {
        public let temporaryPath: String
        public let finalPath: String

        /// Renames the folder into place, replacing a folder of that name.
        /// - Throws: `ReportError.io` naming the folder.
        public func publish() throws {
            let fm = FileManager.default
            let old = temporaryPath + ".old"
            let replacing = fm.fileExists(atPath: finalPath)
            if replacing, rename(finalPath, old) != 0 { throw ReportError.io(path: finalPath, reason: String(cString: strerror(errno))) }
            guard rename(temporaryPath, finalPath) == 0 else {
                let reason = String(cString: strerror(errno))
                if replacing { _ = rename(old, finalPath) }
                throw ReportError.io(path: finalPath, reason: reason)
            }
            if replacing { try? fm.removeItem(atPath: old) }
        }

        public func discard() { try? FileManager.default.removeItem(atPath: temporaryPath) }
    }

    /// - Throws: `ReportError.io` naming the file that could not be written (nothing is left behind).
    public func stage(into folder: String, name: String, files: [(String, [UInt8])]) throws -> Staged {
        let staged = Staged(temporaryPath: folder + "/.tmp-" + name + "-\(ProcessInfo.processInfo.processIdentifier)",
                            finalPath: folder + "/" + name)
        staged.discard()
        do {
            try Self.makeDirectory(staged.temporaryPath)
            for (file, bytes) in files { try write(staged.temporaryPath + "/" + file, bytes) }
        } catch {
            staged.discard()
            throw error
        }
        return staged
    }

    /// A Foundation file error in plain words (permission denied, no space left…), never its
    /// domain and code.
    public static func plainReason(_ error: any Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return posixReason(Int32(ns.code)) }
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return posixReason(Int32(posix.code))
        }
        switch ns.code {
        case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: return "permission denied"
        case NSFileWriteOutOfSpaceError: return "no space left on the device"
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "no such file or directory"
        case NSFileWriteFileExistsError: return "it already exists"
        case NSFileWriteVolumeReadOnlyError: return "the file system is read-only"
        case NSFileWriteInvalidFileNameError, NSFileReadInvalidFileNameError: return "not a valid file name (is a part of the path a file, not a directory?)"
        default: return "the system refused it"
        }
    }

    /// Creates `path` and the folders above it that are missing (mkdir(2), so a failure has its
    /// errno: "not a directory", "permission denied", "no space left on device").
    public static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o777) == 0 || errno == EEXIST { return }
        let failure = errno
        let parent = (path as NSString).deletingLastPathComponent
        guard failure == ENOENT, !parent.isEmpty, parent != path else { throw ReportError.io(path: path, reason: posixReason(failure)) }
        try makeDirectory(parent)
        if mkdir(path, 0o777) != 0 && errno != EEXIST { throw ReportError.io(path: path, reason: posixReason(errno)) }
    }

    /// An errno in plain words, lower case (`no space left on device`, `not a directory`).
    public static func posixReason(_ code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }

    /// Findings open in the previous run and gone now.
    public func resolvedCSV(_ lifecycle: Lifecycle) -> [UInt8] { var csv = CSVWriter(); resolvedCSV(lifecycle, into: &csv); return csv.bytes }

    public func resolvedCSV(_ lifecycle: Lifecycle, into csv: inout CSVWriter) {
        csv.row(["finding_id", "type", "entity", "records", "first_seen", "first_seen_run", "nights_open"])
        for r in lifecycle.resolved {
            csv.row([r.id, r.history.type.rawValue, r.history.entity.rawValue, r.history.records, r.history.firstSeenAt,
                     r.history.firstSeenRun, String(r.history.nightsOpen)])
        }
    }

    /// The per-type CSV for reviewers, with the columns they need side by side.
    func typeCSV(_ type: FindingType, _ findings: [Finding], _ lookup: RecordLookup) -> [UInt8] { var csv = CSVWriter(); typeCSV(type, findings, lookup, into: &csv); return csv.bytes }

    func typeCSV<Findings: PrefetchingCollection>(_ type: FindingType, _ findings: Findings, _ lookup: RecordLookup, into csv: inout CSVWriter)
    where Findings.Element == Finding {
        switch type {
        case .duplicate, .orphan:
            csv.row(["finding_id", "entity", "system", "record_id", "matched_on", "tier", "detail", "external_id", "name", "email",
                     "phone", "customer_id", "status", "amount", "currency", "created_at", "updated_at", "candidates"])
            for f in findings.prefetching {
                // Near misses as system:id (why), for orphans (`CandidateRule`).
                let candidates = f.candidates.isEmpty ? "" : CandidateRule.listed(f.candidates, separator: "; ")
                for m in f.members {
                    f.withIdBytes { csv.field(bytes: $0) }; csv.field(f.entity.rawValue); csv.field(m.system.rawValue); csv.field(m.recordId)
                    csv.field(f.matchedOn); csv.field(f.tier?.rawValue ?? ""); csv.field(f.detail)
                    lookup.writeRow(f.entity, m, into: &csv)
                    csv.field(candidates)
                    csv.endRow()
                }
            }
        case .missingOrder:
            csv.row(["finding_id", "crm_order_id", "customer_id", "status", "amount", "currency", "created_at", "detail"])
            for f in findings.prefetching {
                for m in f.members {
                    let o = lookup.order(m)
                    f.withIdBytes { csv.field(bytes: $0) }
                    csv.field(m.recordId); csv.field(o?.customerId ?? ""); csv.field(o?.status ?? ""); csv.field(o?.amount ?? "")
                    csv.field(o?.currency ?? ""); csv.field(o?.createdAt ?? ""); csv.field(f.detail)
                    csv.endRow()
                }
            }
        case .statusMismatch, .fieldMismatch:
            csv.row(["finding_id", "entity", "crm_id", "erp_id", "field", "crm_value", "erp_value", "detail"])
            for f in findings.prefetching {
                let crm = f.members.first { $0.system == .crm }, erp = f.members.first { $0.system == .erp }
                f.withIdBytes { csv.field(bytes: $0) }
                csv.field(f.entity.rawValue); csv.field(crm?.recordId ?? ""); csv.field(erp?.recordId ?? ""); csv.field(f.field)
                csv.field(crm?.value ?? ""); csv.field(erp?.value ?? ""); csv.field(f.detail)
                csv.endRow()
            }
        case .unlinked, .conflict:
            csv.row(["finding_id", "entity", "system", "record_id", "role", "matched_on", "tier", "value", "detail"])
            for f in findings.prefetching {
                for m in f.members {
                    f.withIdBytes { csv.field(bytes: $0) }
                    csv.field(f.entity.rawValue); csv.field(m.system.rawValue); csv.field(m.recordId); csv.field(m.role)
                    csv.field(f.matchedOn); csv.field(f.tier?.rawValue ?? ""); csv.field(m.value); csv.field(f.detail)
                    csv.endRow()
                }
            }
        case .invalid:
            csv.row(["finding_id", "entity", "system", "record_id", "field", "value", "detail"])
            for f in findings.prefetching {
                for m in f.members {
                    f.withIdBytes { csv.field(bytes: $0) }
                    csv.field(f.entity.rawValue); csv.field(m.system.rawValue); csv.field(m.recordId); csv.field(f.field)
                    csv.field(m.value); csv.field(f.detail)
                    csv.endRow()
                }
            }
        }
    }

    /// Outcome, counts per type and entity, lifecycle counts, records read per query, timings.
    public func summaryJSON(_ s: RunSummary, findingsByType counts: [String: [String: Int]]) -> String {
        let iso = ISO8601DateFormatter()
        var json = "{\n"
        json += "  \"run_id\": \(quote(s.runId)),\n"
        json += "  \"started_at\": \(quote(iso.string(from: s.startedAt))),\n"
        json += "  \"finished_at\": \(quote(iso.string(from: s.finishedAt))),\n"
        json += "  \"outcome\": \(quote(s.outcome)),\n"
        json += "  \"exit_code\": \(s.exitCode),\n"
        json += "  \"error\": \(s.error.map(quote) ?? "null"),\n"
        json += "  \"fail_on\": \(s.failOn.map { quote($0.rawValue) } ?? "null"),\n"
        json += "  \"breaches\": [" + s.breaches.map(quote).joined(separator: ", ") + "],\n"
        json += "  \"phone_metadata\": " + (s.phoneMetadata.map {
            "{\"libphonenumber\": \(quote($0.version)), \"released\": \(quote($0.released)), \"source\": \(quote($0.source))}"
        } ?? "null") + ",\n"
        json += "  \"findings_total\": \(counts.values.reduce(0) { $0 + $1.values.reduce(0, +) }),\n"
        json += "  \"findings\": {\n"
        json += FindingType.allCases.map { t in
            let byEntity = (counts[t.rawValue] ?? [:]).sorted { $0.key < $1.key }.map { "\(quote($0.key)): \($0.value)" }
            return "    \(quote(t.rawValue)): {" + byEntity.joined(separator: ", ") + "}"
        }.joined(separator: ",\n")
        json += "\n  },\n"
        json += "  \"lifecycle\": {\n"
        json += s.lifecycle.sorted { $0.key < $1.key }.map { k, v in
            "    \(quote(k)): {" + v.sorted { $0.key < $1.key }.map { "\(quote($0.key)): \($0.value)" }.joined(separator: ", ") + "}"
        }.joined(separator: ",\n")
        json += (s.lifecycle.isEmpty ? "" : "\n") + "  },\n"
        json += "  \"records_read\": {\n"
        json += Extract.allCases.map { "    \(quote($0.rawValue)): \(s.recordsRead[$0] ?? 0)" }.joined(separator: ",\n")
        json += "\n  },\n"
        json += "  \"timings_ms\": {\n"
        json += s.timingsMs.map { "    \(quote($0.phase)): \($0.ms)" }.joined(separator: ",\n")
        json += (s.timingsMs.isEmpty ? "" : "\n") + "  }\n}\n"
        return json
    }

    func quote(_ s: String) -> String { JSONText.quote(s) }
}

/// Finds a record of the mirror by system and id, for the reviewers' columns.
struct RecordLookup {
    let mirror: Mirror
    private var customers: [System: [String: Int]] = [:]
    private var orders: [System: [String: Int]] = [:]

    private let index: RecordIndex?

    /// Indexes only the records that take part in `findings` (a few, among millions); with
    /// matching's `index`, nothing is built: records are looked up when asked.
    init(_ mirror: Mirror, only findings: [Finding], index: RecordIndex? = nil) {
        self.mirror = mirror
        self.index = index
        if index != nil { return }
        var wanted: [System: [Entity: Set<String>]] = [.crm: [.customer: [], .order: []], .erp: [.customer: [], .order: []]]
        for f in findings { for m in f.members { wanted[m.system]![f.entity]!.insert(m.recordId) } }
        for s in System.allCases {
            var c: [String: Int] = [:]
            let wc = wanted[s]![.customer]!
            if !wc.isEmpty {
                let recs = mirror[customers: s].records
                for i in 0..<recs.count {
                    if let id = ValueNormaliser.trimmed(recs.field(i, CustomerRecord.Field.id)), wc.contains(id), c[id] == nil { c[id] = i }
                }
            }
            customers[s] = c
            var o: [String: Int] = [:]
            let wo = wanted[s]![.order]!
            if !wo.isEmpty {
                let recs = mirror[orders: s].records
                for i in 0..<recs.count {
                    if let id = ValueNormaliser.trimmed(recs.field(i, OrderRecord.Field.id)), wo.contains(id), o[id] == nil { o[id] = i }
                }
            }
            orders[s] = o
        }
    }

    /// The row of a finding's member: with matching's index, where matching found it (else
    /// looked up by id there); without it, from the maps above.
    private func row(of m: FindingMember, _ entity: Entity) -> Int? {
        if let index { return index.row(of: m, entity) }
        return entity == .customer ? customers[m.system]?[m.recordId] : orders[m.system]?[m.recordId]
    }

    func order(_ m: FindingMember) -> OrderRecord? {
        row(of: m, .order).map { mirror.order(m.system, row: $0) }
    }

    /// The row store's field for each of the ten columns; -1: empty for this entity.
    private static let customerColumns: [Int] = {
        typealias F = CustomerRecord.Field
        return [F.externalId, F.name, F.email, F.phone, -1, -1, -1, -1, -1, F.updatedAt]
    }()
    private static let orderColumns: [Int] = {
        typealias F = OrderRecord.Field
        return [F.externalId, -1, -1, -1, F.customerId, F.status, F.amount, F.currency, F.createdAt, F.updatedAt]
    }()

    /// external_id, name, email, phone, customer_id, status, amount, currency, created_at, updated_at,
    /// as fields of the current row. Only these fields are read, as bytes straight from the row
    /// store (no record, no strings).
    func writeRow(_ entity: Entity, _ m: FindingMember, into csv: inout CSVWriter) {
        let s = m.system
        let row = row(of: m, entity)
        for k in entity == .customer ? Self.customerColumns : Self.orderColumns {
            guard let row, k >= 0 else { csv.field(bytes: nil); continue }
            mirror.withField(entity, s, row: row, k) { csv.field(bytes: $0) }
        }
    }
}

/// A report folder being written (see `ReportWriter.begin`): the findings files first (they need
/// nothing from the state database, so they are written while the run is being recorded), then
/// summary.json and index.html, then the rename.
public final class ReportFolder {
    let writer: ReportWriter
    public let runId: String
    /// Where the files are written until the folder is published.
    public let tempPath: String
    /// Milliseconds `writeFindings` took.
    public private(set) var writeMs = 0
    /// What index.html and summary.json need of the lifecycle, gathered by `writeFindings` in
    /// its pass over the findings (so that publishing the night makes no pass of its own).
    private var gathered: (findings: Int, oldest: [TrackedFinding], byType: [String: [String: Int]])?

    init(writer: ReportWriter, runId: String, tempPath: String) {
        self.writer = writer
        self.runId = runId
        self.tempPath = tempPath
    }

    /// plan.json and plan.csv, findings.csv, one CSV per type and resolved.csv.
    public func writeFindings(lifecycle: Lifecycle, mirror: Mirror, plan: Plan?, index: RecordIndex?) throws {
        if let plan { try writePlan(plan) }
        try writeFindings(lifecycle: lifecycle, mirror: mirror, index: index)
    }

    /// plan.json (the canonical bytes, streamed) and plan.csv.
    /// - Returns: plan.json's SHA-256.
    @discardableResult
    public func writePlan(_ plan: Plan) throws -> String {
        let sha = try writePlanJSON(plan)
        try writePlanCSV(plan)
        return sha
    }

    /// plan.json, the canonical bytes streamed and hashed on the way. - Returns: their SHA-256.
    /// - Parameter inParallel: format the actions and items on both cores (the same bytes).
    public func writePlanJSON(_ plan: Plan, inParallel: Bool = false) throws -> String {
        let file = try CSVFile(tempPath + "/plan.json")
        let sha = plan.writeCanonicalJSON(threads: inParallel ? 2 : 1) { file.write($0) }
        try file.close()
        return sha
    }

    /// batch.html, the batch's review page (needs plan.json's hash).
    public func writeBatchPage(_ plan: Plan, sha256: String) throws {
        try writeBatchPage(BatchPage.draft(plan), sha256: sha256)
    }

    /// batch.html from a page drafted while plan.json was written.
    public func writeBatchPage(_ draft: BatchPage.Draft, sha256: String) throws {
        try writer.write(tempPath + "/batch.html", Array(draft.page(sha256: sha256).utf8))
    }

    /// plan.xlsx, the plan for people who review it in a spreadsheet: typed cells (text for ids,
    /// phones and statuses, numbers for amounts), nothing a spreadsheet would run.
    public func writePlanXLSX(_ plan: Plan) throws {
        try ReportWriter.planXLSX(plan, path: tempPath + "/plan.xlsx")
    }

    /// plan.csv, the plan for people.
    public func writePlanCSV(_ plan: Plan) throws {
        var csv = try CSVWriter(streamingTo: tempPath + "/plan.csv")
        ReportWriter.planCSV(plan, into: &csv)
        try csv.finish()
    }

    /// The CSV per type, begun from the night's findings before their lifecycle is known (those
    /// files show no lifecycle column): on a thread of their own when `parallel`, beside the
    /// lifecycle's pass, which runs on one thread. `writeFindings` waits for them.
    public final class TypeCSVs: Sendable {
        fileprivate let job: BackgroundJob<Void>
        fileprivate init(_ job: BackgroundJob<Void>) { self.job = job }
        /// Waits until they are written (an error is passed on): nothing else writes into the
        /// folder once this returns.
        public func wait() throws { try job.wait() }
    }

    /// Starts the CSV per type (see `TypeCSVs`), in the order of `findings` within each type.
    public func beginTypeCSVs(_ findings: [Finding], mirror: Mirror, index: RecordIndex?, parallel: Bool) -> TypeCSVs {
        let (temp, writer) = (tempPath, writer)
        return TypeCSVs(BackgroundJob(inParallel: parallel) {
            // Grouped by type in one pass (not one pass per type), by position, on the job's
            // thread: the caller goes on to the lifecycle at once.
            var byType = [[Int32]](repeating: [], count: FindingType.allCases.count)
            for (i, f) in findings.prefetching.enumerated() { byType[f.type.order].append(Int32(i)) }
            let lookup = RecordLookup(mirror, only: index == nil ? findings : [], index: index)
            for type in FindingType.allCases {
                var csv = try CSVWriter(streamingTo: temp + "/" + type.reportFileName)
                writer.typeCSV(type, FindingsAt(findings, rows: byType[type.order]), lookup, into: &csv)
                try csv.finish()
            }
        })
    }

    /// findings.csv, one CSV per type and resolved.csv.
    /// - Parameter types: the CSV per type, begun from the same findings (`beginTypeCSVs`);
    ///   without them they are written here, on a second thread meanwhile when `parallel`.
    public func writeFindings(lifecycle: Lifecycle, mirror: Mirror, index: RecordIndex?, parallel: Bool = false,
                              types begun: TypeCSVs? = nil) throws {
        // CSVs are streamed to their files a megabyte at a time (a million-customer night writes
        // hundreds of megabytes; none of it needs to be in memory at once).
        let clock = ContinuousClock()
        let started = clock.now
        let types = begun ?? beginTypeCSVs(lifecycle.current.map(\.finding), mirror: mirror, index: index, parallel: parallel)
        // What index.html and summary.json need, read from each finding's kept type, entity and
        // lifecycle, not its storage.
        gathered = (lifecycle.current.count, lifecycle.oldestOpen(limit: HTMLReport.oldestOpenLimit),
                    writer.countByType(lifecycle.countsByTypeAndEntity()))
        do {
            var csv = try CSVWriter(streamingTo: tempPath + "/findings.csv")
            writer.findingsCSV(lifecycle.current, into: &csv)
            try csv.finish()
            var resolved = try CSVWriter(streamingTo: tempPath + "/resolved.csv")
            writer.resolvedCSV(lifecycle, into: &resolved)
            try resolved.finish()
        } catch {
            _ = try? types.wait()     // nothing still writes into the folder when the error is handled
            throw error
        }
        try types.wait()
        let elapsed = clock.now - started
        writeMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    /// summary.json and index.html, then the folder renamed into place.
    /// - Returns: the published folder's path.
    public func finish(summary: RunSummary, lifecycle: Lifecycle, history: [HistoryPoint], pending: [PendingBatch]?) throws -> String {
        try complete(summary: summary, lifecycle: lifecycle, history: history, pending: pending)
        return try publish()
    }

    /// summary.json and index.html: the folder is whole, not yet published.
    public func complete(summary: RunSummary, lifecycle: Lifecycle, history: [HistoryPoint], pending: [PendingBatch]?) throws {
        var summary = summary
        summary.timingsMs.append(("write", writeMs))
        summary.finishedAt = Date()
        let known = gathered.flatMap { $0.findings == lifecycle.current.count ? $0 : nil }
        try writer.write(tempPath + "/summary.json", Array(writer.summaryJSON(summary, findingsByType: known?.byType ?? writer.countByType(lifecycle)).utf8))
        try writer.write(tempPath + "/index.html", Array(HTMLReport.render(summary: summary, lifecycle: lifecycle, history: history,
                                                                          pending: pending, oldest: known?.oldest).utf8))
    }

    /// Renames the whole folder into place. - Returns: the published folder's path.
    public func publish() throws -> String {
        try writer.renameIntoPlace(tempPath, runId)
    }

    /// Takes a published folder back (its run could not be recorded): it is removed.
    public func unpublish() {
        let finalPath = writer.reportsDirectory + "/" + runId
        if rename(finalPath, tempPath) == 0 { discard() }
    }

    /// Removes the temporary folder (after an error).
    public func discard() { try? FileManager.default.removeItem(atPath: tempPath) }
}

/// The findings of `all` at `rows`, in that order (one type's, for its CSV), read in place.
struct FindingsAt: PrefetchingCollection {
    let all: [Finding]
    let rows: [Int32]
    init(_ all: [Finding], rows: [Int32]) { self.all = all; self.rows = rows }
    var startIndex: Int { 0 }
    var endIndex: Int { rows.count }
    subscript(i: Int) -> Finding { all[Int(rows[i])] }
    @inline(__always) func prefetch(_ i: Int) { if i < rows.count { all.prefetch(Int(rows[i])) } }
}
