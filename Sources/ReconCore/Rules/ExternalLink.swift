/// **Links by external id** (customers and orders alike): a record's `external_id` is the id of
/// its counterpart in the other system, as this system stores it (compared trimmed).
/// - It links the two records, whichever side holds it; both sides naming each other is one link.
/// - Empty or NULL: it links nothing.
/// - One that names no record of the other system is **dangling**: it links nothing, and the
///   record's orphan or missing-order finding says so.
/// - Several records naming one counterpart are duplicates by external id (`OrderDuplicates`,
///   `SharedKey`'s identities for customers).
/// The strongest evidence of all: no email, phone or name joins across it, and only a reviewer's
/// `different` (`IdentityDecisions`) takes it apart.
enum ExternalLink: Equatable {
    case none
    case dangling
    /// The index of the record it names.
    case resolved(Int)

    /// What a trimmed external id says, `find` looking it up among the other system's ids.
    @inline(__always)
    static func of(_ trimmed: UnsafeBufferPointer<UInt8>, find: (UnsafeBufferPointer<UInt8>) -> Int?) -> ExternalLink {
        if trimmed.isEmpty { return .none }
        return find(trimmed).map { .resolved($0) } ?? .dangling
    }
}
