import Dispatch
import Foundation

/// The statuses and fields of the orders linked by external id, compared in pieces (ranges of
/// the pairs) that any thread may take: matching's second thread takes them while it would
/// wait for the customers, and both threads share what is left at the end, so neither ends
/// long before the other. The findings come out in the pairs' order, whoever compared them.
final class LinkedOrders: @unchecked Sendable {
    /// Everything one piece reads: none of it changes once the orders are linked.
    struct Comparison: Sendable {
        let mirror: Mirror
        let statuses: StatusConfig
        let orders: [OrderMatcher.Prepared]
        let pairs: [(Int32, Int32)]
        let idCodes: [ByteInterner]
        /// Attributes both order queries have: name, CRM attribute index, ERP attribute index.
        let shared: [(name: String, c: Int, e: Int)]
        let statusSeverity: Severity
        let fieldSeverity: Severity

        private func idText(_ p: OrderMatcher.Prepared) -> String { idCodes[p.system == .crm ? 0 : 1].string(p.idCode) }

        /// The findings of pairs `range`, in their order.
        func findings(_ range: Range<Int>) -> [Finding] {
            var out: [Finding] = []
            let crmRecords = mirror.crmOrders.records, erpRecords = mirror.erpOrders.records
            let crmStore = crmRecords.store, erpStore = erpRecords.store
            typealias F = OrderRecord.Field
            func mismatch(_ crmId: String, _ erpId: String, field: String, _ crmValue: String, _ erpValue: String) {
                out.append(Finding(type: .fieldMismatch, entity: .order, severity: fieldSeverity,
                                   matchedOn: "external_id", field: field,
                                   detail: "\(field) differs between CRM and ERP",
                                   members: [FindingMember(system: .crm, recordId: crmId, value: crmValue, role: "crm"),
                                             FindingMember(system: .erp, recordId: erpId, value: erpValue, role: "erp")]))
            }
            withExtendedLifetime((crmStore, erpStore)) {
                for (c, e) in pairs[range] {
                    let pc = orders[Int(c)], pe = orders[Int(e)]
                    // The records' text is read only for a finding (no view of the records per pair).
                    let rc = Int(pc.record), re = Int(pe.record)
                    if let sc = pc.status, let se = pe.status, !statuses.isCompatible(sc, se) {
                        out.append(Finding(type: .statusMismatch, entity: .order, severity: statusSeverity,
                                           matchedOn: "external_id", field: "status",
                                           detail: "CRM \(sc.rawValue) vs ERP \(se.rawValue); \(statuses.owner.label) owns order status",
                                           members: [FindingMember(system: .crm, recordId: idText(pc), value: crmRecords.field(rc, F.status) ?? "", role: sc.rawValue),
                                                     FindingMember(system: .erp, recordId: idText(pe), value: erpRecords.field(re, F.status) ?? "", role: se.rawValue)]))
                    }
                    if pc.hasAmount, pe.hasAmount, pc.amount != pe.amount {
                        mismatch(idText(pc), idText(pe), field: "amount", crmRecords.field(rc, F.amount) ?? "", erpRecords.field(re, F.amount) ?? "")
                    }
                    if pc.currencyCode >= 0, pe.currencyCode >= 0, pc.currencyCode != pe.currencyCode {
                        mismatch(idText(pc), idText(pe), field: "currency", crmRecords.field(rc, F.currency) ?? "", erpRecords.field(re, F.currency) ?? "")
                    }
                    for s in shared {
                        let ck = OrderRecord.fixedFields + s.c, ek = OrderRecord.fixedFields + s.e
                        if let a = crmStore.bytes(rc, ck), let b = erpStore.bytes(re, ek), a.count == b.count,
                           a.isEmpty || memcmpEqual(a.baseAddress!, b.baseAddress!, a.count) { continue }
                        let cv = ValueNormaliser.attribute(crmRecords.field(rc, ck)), ev = ValueNormaliser.attribute(erpRecords.field(re, ek))
                        if let cv, let ev, cv != ev { mismatch(idText(pc), idText(pe), field: s.name, cv, ev) }
                    }
                }
            }
            return out
        }
    }

    private var comparison: Comparison?
    private var next = 0
    private var pieceCount = 0
    private let fixedPieceCount: Int?
    private var done: [[Finding]?] = []
    private let lock = NSLock()
    private let stored = DispatchSemaphore(value: 0)

    /// - Parameter pieces: how many pieces (tests); by default 64 from 65,536 pairs, else one.
    init(pieces: Int? = nil) {
        fixedPieceCount = pieces
    }

    /// Hands out `comparison`'s pieces from now on (until then there is nothing to help with).
    func start(_ comparison: Comparison) {
        lock.lock(); defer { lock.unlock() }
        precondition(self.comparison == nil, "recon: the linked orders are compared once")
        self.comparison = comparison
        // Pieces of 5 to 25 ms at 1M to 4M customers per side; one for a small mirror.
        pieceCount = fixedPieceCount ?? (comparison.pairs.count >= 64 * 1024 ? 64 : 1)
        done = Array(repeating: nil, count: pieceCount)
    }

    /// Compares pieces no other thread has claimed while `keepGoing` says so (asked before each
    /// piece is claimed); returns when none is left (or none was started).
    func help(while keepGoing: () -> Bool = { true }) {
        while keepGoing() {
            lock.lock()
            guard let c = comparison, next < pieceCount else { lock.unlock(); return }
            let k = next
            next += 1
            lock.unlock()
            let n = c.pairs.count, size = (n + pieceCount - 1) / pieceCount
            let part = c.findings(min(n, k * size)..<min(n, (k + 1) * size))
            lock.lock()
            done[k] = part
            lock.unlock()
            stored.signal()
        }
    }

    /// Compares pieces until `ready` is signalled (checked before each piece), then waits for
    /// it if none is left.
    func help(until ready: DispatchSemaphore) {
        var signalled = false
        help(while: {
            signalled = ready.wait(timeout: .now()) == .success
            return !signalled
        })
        if !signalled { ready.wait() }
    }

    /// Every piece's findings in the pairs' order, once all are compared (waiting for those on
    /// other threads). Only after `start`.
    func result() -> [Finding] {
        lock.lock()
        let count = pieceCount
        precondition(comparison != nil, "recon: the linked orders were not compared")
        lock.unlock()
        for _ in 0..<count { stored.wait() }
        lock.lock(); defer { lock.unlock() }
        let all = done.flatMap { $0! }
        done = []
        comparison = nil     // its arrays are shared with the matcher's: let them go
        return all
    }
}
