/// Items `0..<count` grouped by a small integer key (a counting sort): each key's items are
/// contiguous and ascending, with no dictionary and no array per key. Items without a key (nil)
/// are left out.
struct GroupedByKey {
    /// Key `k`'s items are `items[starts[k]..<starts[k + 1]]`. 32-bit: millions of items and keys.
    private(set) var starts: [Int32]
    private(set) var items: [Int32]

    /// - Parameter keys: one more than the largest key.
    @inline(__always)
    init(count: Int, keys: Int, key: (Int) -> Int?) {
        var starts = [Int32](repeating: 0, count: keys + 1)
        for i in 0..<count { if let k = key(i) { starts[k + 1] += 1 } }
        for k in 0..<keys { starts[k + 1] += starts[k] }
        var fill = starts
        var items = [Int32](repeating: 0, count: Int(starts[keys]))
        for i in 0..<count {
            if let k = key(i) {
                items[Int(fill[k])] = Int32(i)
                fill[k] += 1
            }
        }
        self.starts = starts
        self.items = items
    }

    var keyCount: Int { starts.count - 1 }

    /// How many items key `k` has.
    @inline(__always)
    func count(_ k: Int) -> Int { Int(starts[k + 1] - starts[k]) }

    @inline(__always)
    subscript(k: Int) -> ArraySlice<Int32> { items[Int(starts[k])..<Int(starts[k + 1])] }
}
