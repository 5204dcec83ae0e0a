/// **Status mismatch**: two orders linked by external id whose statuses disagree.
///
/// Each system's raw status is first mapped to a canonical one (`statuses.crm` and
/// `statuses.erp` in recon.yml). Two canonical statuses agree when they are the same or when
/// `statuses.compatible` lists the pair (in either order). An order whose status is empty or
/// unmapped has no canonical status: it is reported `invalid` and is never a status mismatch.
/// The finding says which system owns order status (`statuses.owner`): the batch corrects the
/// other one.
enum StatusMismatch {
    /// The finding's detail when `crm` and `erp` disagree, nil when they agree or one is unknown.
    static func detail(crm: CanonicalStatus?, erp: CanonicalStatus?, statuses: StatusConfig) -> String? {
        guard let crm, let erp, !statuses.isCompatible(crm, erp) else { return nil }
        return "CRM \(crm.rawValue) vs ERP \(erp.rawValue); \(statuses.owner.label) owns order status"
    }
}
