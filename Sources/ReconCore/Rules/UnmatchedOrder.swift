/// **Orphan and missing orders**: what an order without a counterpart means.
///
/// An order has no counterpart when no order of the other system is linked to it by external id,
/// it was not paired with one as `unlinked` (same customer, amount and currency), and it is not a
/// copy whose sibling in a duplicate finding has the counterpart. Then:
/// - an ERP order is an **orphan**: an order the CRM never saw. Its detail says so when its
///   external_id names a CRM order that does not exist;
/// - a CRM order whose canonical status requires an ERP order (`statuses.require_erp_order`,
///   e.g. `won`) is a **missing order**;
/// - any other CRM order is fine: not every deal becomes an order.
///
/// Separately, an order whose `customer_id` is empty or names no customer of its own system is an
/// orphan on `customer_id` (only where the order query maps `customer_id`).
enum UnmatchedOrder {
    enum Verdict: Equatable {
        case orphan(detail: String)
        case missing(detail: String)
        case fine
    }

    /// - Parameter dangling: whether the order's external_id names an order the other system does not have.
    static func verdict(system: System, status: CanonicalStatus?, dangling: Bool, statuses: StatusConfig) -> Verdict {
        if system == .erp {
            return .orphan(detail: "no CRM counterpart" + (dangling ? "; external_id points to a CRM order that does not exist" : ""))
        }
        if let status, statuses.requireErpOrder.contains(status) {
            return .missing(detail: "CRM status \(status.rawValue) requires an ERP order; none is linked"
                                + (dangling ? " (external_id points to an ERP order that does not exist)" : ""))
        }
        return .fine
    }

    /// The detail of an order whose customer does not exist: it names none, or one its system does not have.
    static func customerMissingDetail(system: System, hasCustomerId: Bool) -> String {
        hasCustomerId ? "customer_id does not exist among \(system.label) customers" : "order has no customer_id"
    }
}
