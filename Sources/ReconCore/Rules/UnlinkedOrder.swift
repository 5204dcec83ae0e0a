/// **Unlinked orders**: a CRM order and an ERP order that look like one order but are not linked
/// by external id in either system.
///
/// Both have no counterpart, are not a copy explained by a duplicate finding, and their customer
/// exists; they belong to one customer identity and have the same amount and currency. Each
/// such CRM order, in order, takes the ERP order created closest in time to it (on a tie, the
/// smallest id); an ERP order is paired at most once. The pair is reported `unlinked`; the batch
/// links it.
enum UnlinkedOrder {
    static let matchedOn = "customer+amount+currency"
    static let detail = "same customer, amount and currency but no external-id link in either system"

    /// The index in `candidates` of the ERP order to pair with a CRM order created at `created`.
    static func closest(to created: Int64, among candidates: [Int], createdAt: (Int) -> Int64, id: (Int) -> String) -> Int {
        candidates.indices.min { a, b in
            let da = abs(createdAt(candidates[a]) - created), db = abs(createdAt(candidates[b]) - created)
            return da != db ? da < db : id(candidates[a]) < id(candidates[b])
        }!
    }
}
