/// **Customer orphans**: an identity with records in one system only, none of them part of a
/// conflict (which reports them instead). Its detail says when a record's external_id names a
/// record of the other system that does not exist. The batch creates the customer in the other
/// system only when `ownership.create_customers_in` says so and it has no near miss
/// (`CandidateRule`).
enum CustomerOrphans {
    /// The orphan's system and detail, nil when the identity has records in both systems.
    /// - Parameters:
    ///   - crm, erp: how many records of each system the identity has.
    ///   - dangling: whether a record's external_id names a record that does not exist.
    static func orphan(crm: Int, erp: Int, dangling: @autoclosure () -> Bool) -> (system: System, detail: String)? {
        guard crm == 0 || erp == 0 else { return nil }
        let system: System = crm == 0 ? .erp : .crm
        return (system, "no \(system.other.label) counterpart"
                + (dangling() ? "; external_id points to a \(system.other.label) record that does not exist" : ""))
    }
}
