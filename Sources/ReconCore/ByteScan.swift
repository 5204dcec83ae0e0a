/// Scans of UTF-8 bytes eight at a time, for the writers that look for the few bytes a format
/// must escape or quote (CSV, JSON, XML): nearly every value has none, and is then copied whole.
public enum ByteScan {
    @usableFromInline static let ones: UInt64 = 0x0101_0101_0101_0101
    @usableFromInline static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Nonzero when a byte of `word` is `c` (its high bit set there).
    @inlinable @inline(__always)
    public static func has(_ word: UInt64, _ c: UInt8) -> UInt64 {
        let x = word ^ (ones &* UInt64(c))
        return (x &- ones) & ~x & highs
    }

    /// Nonzero when a byte of `word` is below 0x20 (a control): the word minus 0x20 in each byte
    /// borrows where one is, not for bytes of 0x80 and over.
    @inlinable @inline(__always)
    public static func hasControl(_ word: UInt64) -> UInt64 {
        (word &- ones &* 0x20) & ~word & highs
    }

    /// Whether `special` holds for a byte of `bytes` (given its position): asked only of the
    /// eight bytes of a word for which `mayHave` is true, and of the last few bytes.
    @inlinable @inline(__always)
    public static func contains(_ bytes: UnsafeBufferPointer<UInt8>, mayHave: (UInt64) -> Bool, special: (Int) -> Bool) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let n = bytes.count, raw = UnsafeRawPointer(base)
        var i = 0
        while i + 8 <= n {
            if mayHave(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                for k in i..<(i + 8) where special(k) { return true }
            }
            i += 8
        }
        while i < n {
            if special(i) { return true }
            i += 1
        }
        return false
    }
}
