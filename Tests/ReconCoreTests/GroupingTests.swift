@testable import ReconCore
import Testing

/// The counting sort the matchers group by: every keyed item once, under its key, ascending;
/// items without a key left out; against a dictionary of arrays.
struct GroupingTests {
    @Test func itemsAreGroupedByKeyInOrder() {
        var state: UInt64 = 42
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        let count = 10_000, keys = 700
        let key = (0..<count).map { _ -> Int? in let r = next() % 10; return r == 0 ? nil : next() % keys }
        let grouped = GroupedByKey(count: count, keys: keys) { key[$0] }
        var expected: [Int: [Int32]] = [:]
        for i in 0..<count { if let k = key[i] { expected[k, default: []].append(Int32(i)) } }
        #expect(grouped.keyCount == keys)
        #expect(grouped.items.count == key.compactMap { $0 }.count)
        for k in 0..<keys {
            #expect(Array(grouped[k]) == (expected[k] ?? []), "key \(k)")
            #expect(grouped.count(k) == (expected[k]?.count ?? 0))
        }
        #expect(GroupedByKey(count: 0, keys: 0) { _ in nil }.items.isEmpty)
    }
}
