/// **Customer duplicates, orphans and unlinked pairs**: what one identity (the records recon
/// believes are one customer, joined by `SharedKey`, external ids and decisions) reports.
///
/// - **Duplicate**: two or more records of one system (reported per system).
/// - When any of its records is part of a `conflict`, nothing more: the conflict says it.
/// - **Orphan**: records in one system only. Its detail says when a record's external_id names
///   a record of the other system that does not exist.
/// - **Unlinked**: records in both systems joined by email, phone (and name) or a decision, with
///   no external-id link in either system.
/// - An identity joined across the systems by its external-id link reports nothing here; its
///   fields are compared (`FieldMismatch`).
enum CustomerFindings {
    /// The duplicate's detail when `count` records of `system` are one customer, else nil.
    static func duplicate(_ system: System, count: Int) -> String? {
        count >= 2 ? "\(count) \(system.label) records for one customer" : nil
    }

    enum Verdict: Equatable {
        case orphan(System, detail: String)
        case unlinked(detail: String)
        case none
    }

    /// - Parameters:
    ///   - crm, erp: how many records of each system the identity has.
    ///   - keys: the evidence that joined it (`MatchKey`'s names, e.g. "email+phone").
    ///   - linked: whether an external-id link is among that evidence.
    ///   - dangling: whether a record's external_id names a record that does not exist.
    static func verdict(crm: Int, erp: Int, keys: @autoclosure () -> String, linked: Bool, dangling: @autoclosure () -> Bool) -> Verdict {
        if crm == 0 || erp == 0 {
            let system: System = crm == 0 ? .erp : .crm
            return .orphan(system, detail: "no \(system.other.label) counterpart"
                           + (dangling() ? "; external_id points to a \(system.other.label) record that does not exist" : ""))
        }
        if !linked { return .unlinked(detail: "matched by \(keys()) but no external-id link in either system") }
        return .none
    }
}
