/// **Field mismatch**: two records matched across the systems whose values of one field both
/// exist and differ once normalised. A value missing on either side is no mismatch: there is
/// nothing to compare.
///
/// - Customers (matched by their identity): the email (trimmed, lowercased) and the phone
///   (E.164), unless the pair's own match disagrees on that key, which a `conflict` finding
///   reports instead; and every attribute both customer queries name, as trimmed text.
/// - Orders (linked by external id): the amount (as a canonical decimal: `10.5` = `10.50`), the
///   currency (uppercased), and every attribute both order queries name, as trimmed text.
enum FieldMismatch {
    /// Both values exist and differ.
    @inline(__always)
    static func differs<Value: Equatable>(_ crm: Value?, _ erp: Value?) -> Bool {
        guard let crm, let erp else { return false }
        return crm != erp
    }

    /// A customer's email or phone: both exist, differ, and the match did not already disagree on it.
    @inline(__always)
    static func keyDiffers<Value: Equatable>(_ crm: Value?, _ erp: Value?, matchConflictsOnKey: Bool) -> Bool {
        !matchConflictsOnKey && differs(crm, erp)
    }

    static func detail(field: String) -> String { "\(field) differs between CRM and ERP" }

    /// The attributes both queries name, compared by name: (name, CRM index, ERP index), in the
    /// CRM query's order.
    static func sharedAttributes(crm: [String], erp: [String]) -> [(name: String, c: Int, e: Int)] {
        crm.enumerated().compactMap { ci, name in erp.firstIndex(of: name).map { (name, ci, $0) } }
    }
}
