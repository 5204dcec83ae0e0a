/// **Unlinked customers**: an identity with records in both systems, none in a conflict, joined
/// by email, phone and name or a decision but with no external-id link in either system. The
/// batch writes the link when there is one record on each side. An identity joined by its link
/// reports nothing here; its fields are compared (`FieldMismatch`).
enum CustomerUnlinked {
    /// The finding's detail, nil when an external-id link is among the evidence.
    /// - Parameter keys: the evidence that joined it (`MatchKey`'s names, e.g. "email+phone").
    static func detail(keys: @autoclosure () -> String, linked: Bool) -> String? {
        linked ? nil : "matched by \(keys()) but no external-id link in either system"
    }
}
