import CSupport

/// Byte strings interned to dense codes (0, 1, 2, … in order of first appearance): each distinct
/// value stored once in an arena, found again through an open-addressing table keyed by a 64-bit
/// hash of its bytes. Matching a million customers means millions of id, email and phone lookups;
/// doing them on bytes avoids making, hashing (with Unicode normalisation) and freeing a `String`
/// for each.
public struct ByteInterner: Sendable {
    private var arena: [UInt8] = []
    private var ends: [UInt32] = []
    /// Codes by hash slot (-1 empty). No hashes are kept, but while there are fewer than 2^24
    /// values each slot also holds 7 bits of its value's hash above the code (`tagged`): a probe
    /// compares bytes only when those bits agree, so a slot holding another value costs no
    /// loads of its offsets and bytes (two cache misses each, at a million values).
    private var slots: [Int32]
    private var mask: Int
    /// Values from which the slots hold plain codes (at most 2^24; lower only in tests).
    private let tagLimit: Int
    /// Whether the slots hold hash bits (values are never removed: once past the limit, never again).
    private var tagged: Bool { ends.count < tagLimit }
    private static let codeBits = 24
    private static let codeMask: Int32 = (1 << 24) - 1

    /// - Parameter bytes: room for this many bytes of values, taken at once.
    public init(capacity: Int = 16, bytes: Int = 0) {
        self.init(capacity: capacity, tagLimit: 1 << Self.codeBits)
        arena.reserveCapacity(bytes)
    }

    init(capacity: Int, tagLimit: Int) {
        precondition(tagLimit <= 1 << Self.codeBits)
        self.tagLimit = tagLimit
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        ends.reserveCapacity(capacity)
    }

    public var count: Int { ends.count }

    /// Room for `more` bytes of new values without the arena growing: when it outgrows its room,
    /// every value so far is copied into a new arena (room never written costs no memory).
    public mutating func reserveBytes(_ more: Int) {
        if arena.capacity < arena.count + more { arena.reserveCapacity(arena.count + more) }
    }

    /// The slot value for `code` whose hash is `h`.
    @inline(__always)
    private func slotValue(_ code: Int32, _ h: UInt64) -> Int32 {
        tagged ? code | Int32(truncatingIfNeeded: h >> 57) << Self.codeBits : code
    }

    /// The code in slot value `c` when it may be `bytes` (hash `h`), else nil.
    @inline(__always)
    private func candidate(_ c: Int32, _ h: UInt64) -> Int32? {
        if !tagged { return c }
        return c >> Self.codeBits == Int32(truncatingIfNeeded: h >> 57) ? c & Self.codeMask : nil
    }

    /// The code of `bytes`, adding it when new.
    @inline(__always)
    public mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> (code: Int32, inserted: Bool) {
        let h = Self.hash(bytes)
        var i = Int(UInt32(truncatingIfNeeded: h)) & mask
        while true {
            let c = slots[i]
            if c < 0 { break }
            if let code = candidate(c, h), equal(Int(code), bytes) { return (code, false) }
            i = (i + 1) & mask
        }
        let code = Int32(ends.count)
        arena.append(contentsOf: bytes)
        precondition(arena.count <= Int(UInt32.max), "recon: more than 4 GiB of distinct keys")
        ends.append(UInt32(arena.count))
        // The value that reaches the limit is stored plain, and the table rebuilt with plain codes.
        slots[i] = slotValue(code, h)
        if ends.count * 2 > slots.count || ends.count == tagLimit { grow() }
        return (code, true)
    }

    public mutating func intern(_ s: String) -> (code: Int32, inserted: Bool) {
        var s = s
        return s.withUTF8 { intern($0) }
    }

    /// The code of `bytes`, or nil.
    @inline(__always)
    public func find(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        let h = Self.hash(bytes)
        var i = Int(UInt32(truncatingIfNeeded: h)) & mask
        while true {
            let c = slots[i]
            if c < 0 { return nil }
            if let code = candidate(c, h), equal(Int(code), bytes) { return code }
            i = (i + 1) & mask
        }
    }

    /// Starts loading the table slot where `bytes` would be: a loop that calls this for the key a
    /// few iterations ahead and then `find`s has several cache misses in flight instead of one.
    @inline(__always)
    public func prefetch(_ bytes: UnsafeBufferPointer<UInt8>) {
        let i = Int(UInt32(truncatingIfNeeded: Self.hash(bytes))) & mask
        slots.withUnsafeBufferPointer { recon_prefetch($0.baseAddress! + i) }
    }

    public func find(_ s: String) -> Int32? {
        var s = s
        return s.withUTF8 { find($0) }
    }

    /// `body` over the bytes of `code`'s value.
    public func withBytes<R>(_ code: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let c = Int(code)
        let start = c == 0 ? 0 : Int(ends[c - 1])
        return arena.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<Int(ends[c])])) }
    }

    public func string(_ code: Int32) -> String {
        let c = Int(code)
        let start = c == 0 ? 0 : Int(ends[c - 1])
        return arena.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[start..<Int(ends[c])]), as: UTF8.self) }
    }

    @inline(__always)
    private func equal(_ c: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        ends.withUnsafeBufferPointer { e in
            let start = c == 0 ? 0 : Int(e[c - 1])
            let length = Int(e[c]) - start
            guard length == bytes.count else { return false }
            if length == 0 { return true }
            return arena.withUnsafeBufferPointer { a in
                memcmpEqual(a.baseAddress! + start, bytes.baseAddress!, length)
            }
        }
    }

    /// Doubles the table (or, past 2^24 values, rebuilds it with plain codes).
    private mutating func grow() {
        let size = ends.count * 2 > slots.count ? slots.count * 2 : slots.count
        var fresh = [Int32](repeating: -1, count: size)
        let m = size - 1
        arena.withUnsafeBufferPointer { a in
            for code in 0..<ends.count {
                let start = code == 0 ? 0 : Int(ends[code - 1])
                let h = Self.hash(UnsafeBufferPointer(rebasing: a[start..<Int(ends[code])]))
                var i = Int(UInt32(truncatingIfNeeded: h)) & m
                while fresh[i] >= 0 { i = (i + 1) & m }
                fresh[i] = slotValue(Int32(code), h)
            }
        }
        slots = fresh
        mask = m
    }

    /// A fast 64-bit hash of a byte string (8 bytes at a time, multiply-xorshift mixing).
    @inline(__always)
    public static func hash(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ (UInt64(p.count) &* 0x9E37_79B9_7F4A_7C15)
        let n = p.count
        guard n > 0, let base = p.baseAddress else { return h }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while i + 8 <= n {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(p[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 31
        h = h &* 0x94D0_49BB_1331_11EB
        h ^= h >> 29
        return h
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 8 <= n {
        if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < n {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

extension ByteInterner {
    /// Interns the trimmed bytes of a field; nil for NULL or a blank value.
    @inline(__always)
    mutating func internTrimmed(_ p: UnsafeBufferPointer<UInt8>?) -> (code: Int32, inserted: Bool)? {
        guard let p else { return nil }
        return ByteText.trimmed(p) { t in t.isEmpty ? nil : intern(t) }
    }

    /// The code of a field's trimmed bytes; nil for NULL, a blank value or one not interned.
    @inline(__always)
    func findTrimmed(_ p: UnsafeBufferPointer<UInt8>?) -> Int32? {
        guard let p else { return nil }
        return ByteText.trimmed(p) { t in t.isEmpty ? nil : find(t) }
    }
}

/// Byte-level versions of `trimmingWhitespace`: the common case (a visible ASCII character at
/// both ends) needs no copy; anything else goes through the `String` rules so results are equal.
enum ByteText {
    @inline(__always)
    static func trimmed<R>(_ p: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let f = p.first, let l = p.last, f > 0x20, f < 0x80, l > 0x20, l < 0x80 { return body(p) }
        if p.isEmpty { return body(p) }
        return trimmedSlow(p, body)
    }

    /// The trimmed bytes without a closure (for loops whose closures would copy what they
    /// capture), or nil when trimming needs `String` (non-ASCII at an end).
    @inline(__always)
    static func trimmedBytes(_ p: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        if let f = p.first, let l = p.last, f > 0x20, f < 0x80, l > 0x20, l < 0x80 { return p }
        @inline(__always) func space(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
        var i = 0, j = p.count
        while i < j, space(p[i]) { i += 1 }
        while j > i, space(p[j - 1]) { j -= 1 }
        if i == j { return UnsafeBufferPointer(start: p.baseAddress, count: 0) }
        let f = p[i], l = p[j - 1]
        if f > 0x20, f < 0x80, l > 0x20, l < 0x80 { return UnsafeBufferPointer(rebasing: p[i..<j]) }
        return nil
    }

    /// ASCII whitespace (tab, line feed, vertical tab, form feed, carriage return, space) around
    /// a visible ASCII character at each end is trimmed on the bytes: each of those is a
    /// whitespace `Character` of its own there (nothing combines with it). Anything else (other
    /// whitespace, a non-ASCII character at an end, nothing left) goes through `String`.
    static func trimmedSlow<R>(_ p: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        @inline(__always) func space(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
        var i = 0, j = p.count
        while i < j, space(p[i]) { i += 1 }
        while j > i, space(p[j - 1]) { j -= 1 }
        if i == j { return body(UnsafeBufferPointer(start: p.baseAddress, count: 0)) }
        let f = p[i], l = p[j - 1]
        if f > 0x20, f < 0x80, l > 0x20, l < 0x80 { return body(UnsafeBufferPointer(rebasing: p[i..<j])) }
        var s = String(decoding: p, as: UTF8.self).trimmingWhitespace()
        return s.withUTF8 { body($0) }
    }
}

/// One extract's id column on its way through matching: each trimmed id interned, blank ids
/// and repeated ids reported as `invalid` findings through the caller's `problem`
/// (id, value, detail, identity).
struct IdColumn {
    enum State { case first(Int32), repeated, blank }
    typealias Problem = (_ id: String, _ value: String, _ detail: String, _ identity: [String]?) -> Void

    private(set) var codes: ByteInterner
    private var occurrences: [Int32: Int] = [:]
    let system: System
    let file: String

    init(capacity: Int, system: System, file: String) {
        codes = ByteInterner(capacity: capacity)
        self.system = system
        self.file = file
    }

    /// An id column for the rows of `recs`, its arena sized from the first rows' ids.
    init<R>(_ recs: Records<R>, system: System, file: String) {
        self.init(capacity: recs.count, system: system, file: file)
        codes.reserveBytes(Self.estimatedBytes(recs))
    }

    /// A generous guess at the bytes of `recs`' ids: their first rows' mean length, plus a
    /// quarter, for every row.
    static func estimatedBytes<R>(_ recs: Records<R>) -> Int {
        let store = recs.store, sample = min(recs.count, 1024)
        guard sample > 0 else { return 0 }
        var bytes = 0
        for i in 0..<sample { bytes += store.bytes(i, 0)?.count ?? 0 }
        return (bytes + sample - 1) / sample * recs.count * 5 / 4 + 64
    }

    /// Row `i`'s id: the first row with it (its code), a repeat (counted), or blank (reported).
    /// `store` is `recs.store`, fetched once by the caller's loop.
    @inline(__always)
    mutating func state<R>(_ recs: Records<R>, _ store: RowStore, _ i: Int, problem: Problem) -> State {
        guard let (code, inserted) = codes.internTrimmed(store.bytes(i, 0)) else {
            let row = recs.row(i)
            problem("", recs.field(i, 0) ?? "", InvalidValue.emptyId(row: row, file: file), ["\(system.rawValue):row:\(row)"])
            return .blank
        }
        if inserted { return .first(code) }
        occurrences[code, default: 1] += 1
        return .repeated
    }

    /// Reports the ids that occur more than once, in id order.
    func reportRepeats(problem: Problem) {
        for (id, n) in occurrences.map({ (codes.string($0.key), $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            problem(id, id, InvalidValue.repeatedId(times: n, file: file), nil)
        }
    }
}
