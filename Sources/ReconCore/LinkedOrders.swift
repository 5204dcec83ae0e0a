import Dispatch

/// The statuses and fields of the orders linked by external id, compared in pieces (ranges of
/// the pairs) that any thread may take: matching's second thread takes them while it would
/// wait for the customers, and both threads share what is left at the end, so neither ends
/// long before the other. The findings come out in the pairs' order, whoever compared them.
final class LinkedOrders: Sendable {
    /// Everything one piece reads: none of it changes once the orders are linked.
    struct Comparison: Sendable {
        let mirror: Mirror
        let statuses: StatusConfig
        let orders: [OrderMatcher.Prepared]
        let pairs: [(Int32, Int32)]
        let idCodes: PerSystem<ByteInterner>
        /// Attributes both order queries have: name, CRM attribute index, ERP attribute index.
        let shared: [(name: String, c: Int, e: Int)]
        let statusSeverity: Severity
        let fieldSeverity: Severity

        private func idText(_ p: OrderMatcher.Prepared) -> String { p.id(in: idCodes) }

        /// The findings of pairs `range`, in their order.
        func findings(_ range: Range<Int>) -> [Finding] {
            var out: [Finding] = []
            var texts = SharedTexts()
            let crmRecords = mirror.crmOrders.records, erpRecords = mirror.erpOrders.records
            let crmStore = crmRecords.store, erpStore = erpRecords.store
            typealias F = OrderRecord.Field
            func mismatch(_ pc: OrderMatcher.Prepared, _ pe: OrderMatcher.Prepared, field: String, _ crmValue: String, _ erpValue: String) {
                out.append(Finding(type: .fieldMismatch, entity: .order, severity: fieldSeverity,
                                   matchedOn: "external_id", field: field,
                                   detail: texts.shared(FieldMismatch.detail(field: field)),
                                   members: [FindingMember(system: .crm, recordId: idText(pc), value: crmValue, role: "crm", row: pc.record),
                                             FindingMember(system: .erp, recordId: idText(pe), value: erpValue, role: "erp", row: pe.record)]))
            }
            withExtendedLifetime((crmStore, erpStore)) {
                for (c, e) in pairs[range] {
                    let pc = orders[Int(c)], pe = orders[Int(e)]
                    // The records' text is read only for a finding (no view of the records per pair).
                    let rc = Int(pc.record), re = Int(pe.record)
                    if let sc = pc.status, let se = pe.status, let detail = StatusMismatch.detail(crm: sc, erp: se, statuses: statuses) {
                        out.append(Finding(type: .statusMismatch, entity: .order, severity: statusSeverity,
                                           matchedOn: "external_id", field: "status", detail: texts.shared(detail),
                                           members: [FindingMember(system: .crm, recordId: idText(pc), value: crmRecords.field(rc, F.status) ?? "", role: sc.rawValue, row: pc.record),
                                                     FindingMember(system: .erp, recordId: idText(pe), value: erpRecords.field(re, F.status) ?? "", role: se.rawValue, row: pe.record)]))
                    }
                    if FieldMismatch.differs(pc.amountValue, pe.amountValue) {
                        mismatch(pc, pe, field: "amount", crmRecords.field(rc, F.amount) ?? "", erpRecords.field(re, F.amount) ?? "")
                    }
                    if FieldMismatch.differs(pc.currency, pe.currency) {
                        mismatch(pc, pe, field: "currency", crmRecords.field(rc, F.currency) ?? "", erpRecords.field(re, F.currency) ?? "")
                    }
                    for s in shared {
                        let ck = OrderRecord.fixedFields + s.c, ek = OrderRecord.fixedFields + s.e
                        if let a = crmStore.bytes(rc, ck), let b = erpStore.bytes(re, ek), a.count == b.count,
                           a.isEmpty || memcmpEqual(a.baseAddress!, b.baseAddress!, a.count) { continue }
                        let cv = ValueNormaliser.trimmed(crmRecords.field(rc, ck)), ev = ValueNormaliser.trimmed(erpRecords.field(re, ek))
                        if FieldMismatch.differs(cv, ev) { mismatch(pc, pe, field: s.name, cv ?? "", ev ?? "") }
                    }
                }
            }
            return out
        }
    }

    private let pieces = SharedPieces<Comparison, [Finding]>()
    private let fixedPieceCount: Int?

    /// - Parameter pieces: how many pieces (tests); by default 64 from 65,536 pairs, else one.
    init(pieces: Int? = nil) {
        fixedPieceCount = pieces
    }

    /// Hands out `comparison`'s pieces from now on (until then there is nothing to help with).
    func start(_ comparison: Comparison) {
        // Pieces small enough for the two threads to finish together; one for a small mirror.
        pieces.start(comparison, items: comparison.pairs.count,
                     pieces: fixedPieceCount ?? (comparison.pairs.count >= 64 * 1024 ? 64 : 1))
    }

    /// Compares pieces no other thread has claimed while `keepGoing` says so (asked before each
    /// piece is claimed); returns when none is left (or none was started).
    func help(while keepGoing: () -> Bool = { true }) {
        pieces.help(while: keepGoing) { $0.findings($1) }
    }

    /// Compares pieces until `ready` is signalled (checked before each piece), then waits for
    /// it if none is left, calling `whenIdle` first.
    func help(until ready: DispatchSemaphore, whenIdle: () -> Void = {}) {
        pieces.help(until: ready, whenIdle: whenIdle) { $0.findings($1) }
    }

    /// Every piece's findings in the pairs' order, once all are compared (waiting for those on
    /// other threads). Only after `start`.
    func result() -> [Finding] {
        pieces.parts().flatMap { $0 }
    }
}
