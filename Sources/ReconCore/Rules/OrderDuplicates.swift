/// **Order duplicates**: orders of one system that are one order.
///
/// Orders are joined into one duplicate group by either piece of evidence, and groups that
/// share an order are one group:
/// - **external_id**: two or more orders linked to the same order of the other system;
/// - **window**: orders of one customer with the same amount and currency, each created within
///   `order_duplicate_window` of the one before (a chain: three orders ten minutes apart are one
///   group under a fifteen-minute window) — unless each order of the chain has its own
///   counterpart in the other system, no two the same: then they are real orders that happen to
///   look alike.
///
/// In a group where one order has a counterpart, the copies without one are explained by the
/// duplicate finding: they are not also reported as orphans or missing orders.
enum OrderDuplicates {
    /// The evidence bits of a group's orders, as the finding's `matched_on`.
    static let byExternalId: UInt8 = 1
    static let byWindow: UInt8 = 2

    static func matchedOn(_ evidence: UInt8) -> String {
        var on: [String] = []
        if evidence & byExternalId != 0 { on.append("external_id") }
        if evidence & byWindow != 0 { on.append("customer_id+amount+currency+window") }
        return on.joined(separator: "|")
    }

    /// Orders of one customer, amount and currency, sorted by creation time, cut into chains in
    /// which each was created within `window` seconds of the one before; chains of two or more.
    static func chains(_ sorted: [Int], created: (Int) -> Int64, window: Int64) -> [[Int]] {
        guard var run = sorted.first.map({ [$0] }) else { return [] }
        var out: [[Int]] = []
        for o in sorted.dropFirst() {
            if created(o) - created(run[run.count - 1]) <= window {
                run.append(o)
            } else {
                if run.count >= 2 { out.append(run) }
                run = [o]
            }
        }
        if run.count >= 2 { out.append(run) }
        return out
    }

    /// Whether every order of `chain` has a counterpart of its own (none shared): real orders.
    static func eachHasItsOwnCounterpart(_ chain: [Int], counterparts: (Int) -> [Int]) -> Bool {
        var all: [Int] = []
        for o in chain {
            let cs = counterparts(o)
            if cs.isEmpty { return false }
            all += cs
        }
        return Set(all).count == all.count
    }
}
