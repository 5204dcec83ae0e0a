/// **What the correction batch does about each finding**: one kind of action, or a reason a
/// person decides instead. `PlanBuilder` builds the action (and hands the finding to a person
/// when the records it needs are gone or a query does not return the field to write).
///
/// | finding | batch |
/// |---|---|
/// | duplicate or unlinked customers joined only by a nameless shared phone (tier `possible`) | a person checks |
/// | duplicate customers | merge into the survivor (`survivorship`) |
/// | unlinked pair, one record on each side | write each one's id as the other's external_id |
/// | orphan customer with near misses (`CandidateRule`) | a person links or creates it |
/// | orphan customer, one record | create it in the other system, if `ownership.create_customers_in` says so |
/// | missing ERP order | create it, if `ownership.create_orders_in` is `erp` |
/// | status mismatch | set the other system's status to the owner's (`statuses.owner`) |
/// | field mismatch | set the other system's value to the field owner's (`ownership.fields`) |
/// | conflict, invalid value, duplicate order, anything else | a person decides |
enum PlanDecision {
    enum Route: Equatable {
        case merge
        case link
        case createCustomer
        case createOrder
        case updateStatus
        case updateField
        case human(reason: String)
    }

    static func route(_ f: Finding, ownership: Ownership) -> Route {
        switch (f.type, f.entity) {
        case (.duplicate, .customer) where f.tier == .possible, (.unlinked, .customer) where f.tier == .possible:
            return .human(reason: "joined only by a shared phone, with no names to confirm one person: check by hand")
        case (.duplicate, .customer):
            return .merge
        case (.unlinked, _):
            let crm = f.members.count { $0.system == .crm }, erp = f.members.count { $0.system == .erp }
            guard crm == 1, erp == 1 else { return .human(reason: "more than one record on a side: link by hand") }
            return .link
        case (.orphan, .customer) where !f.candidates.isEmpty:
            return .human(reason: "may exist in \(f.members[0].system.other.label) already: "
                          + CandidateRule.listed(f.candidates, separator: ", ") + "; link it, or create it if it is someone else")
        case (.orphan, .customer):
            let system = f.members[0].system
            guard ownership.createCustomersIn == system.other else {
                return .human(reason: "ownership.create_customers_in does not create \(system.label)-only customers in \(system.other.label)")
            }
            guard f.members.count == 1 else { return .human(reason: severalRecordsForOneCustomer) }
            return .createCustomer
        case (.missingOrder, .order):
            guard ownership.createOrdersIn == .erp else { return .human(reason: "ownership.create_orders_in does not create missing ERP orders") }
            return .createOrder
        case (.statusMismatch, .order):
            return .updateStatus
        case (.fieldMismatch, _):
            return .updateField
        case (.conflict, _):
            return .human(reason: "keys disagree about the counterpart")
        case (.invalid, _):
            return .human(reason: "invalid value: fix it at the source")
        case (.duplicate, .order):
            return .human(reason: "an order entered twice: cancel the copy in its system")
        default:
            return .human(reason: "no automatic correction for \(f.type.rawValue) \(f.entity.rawValue)")
        }
    }

    static let severalRecordsForOneCustomer = "several records for one customer: merge them first"
}
