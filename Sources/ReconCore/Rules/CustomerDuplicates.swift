/// **Customer duplicates**: an identity (the records recon believes are one customer, joined by
/// external ids, mailboxes, phones with agreeing names and reviewers' decisions) with two or more
/// records of one system. Reported per system, with the weakest evidence that joined them.
enum CustomerDuplicates {
    /// The finding's detail when `count` records of `system` are one customer, else nil.
    static func detail(_ system: System, count: Int) -> String? {
        count >= 2 ? "\(count) \(system.label) records for one customer" : nil
    }
}
