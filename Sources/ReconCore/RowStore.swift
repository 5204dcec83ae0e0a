#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rows of one extract, stored compactly: the bytes of every field in arenas of 65,536
/// rows each and, per field, where it ends. No per-row objects and no per-field `String`s
/// (docs/PERFORMANCE.md, "Memory").
/// Strings are made when a field is asked for (`string`), and hot loops read bytes (`withField`).
///
/// One arena per chunk of rows: a finished chunk is trimmed to its size and never moves again, so
/// reading millions of rows never copies (or doubles) one huge buffer. Each row has a 32-bit
/// start in its chunk and, per field, a 16-bit end relative to that start (14 bits of offset;
/// the two top bits mark SQL NULL and a field kept out of line), side by side in one array: 2
/// bytes a field and 4 a row. A chunk holds at most `pageBytes` (1 GiB). A field of 1 MiB or
/// more, one that would not fit in its chunk, or one that would end past the row's 14-bit reach
/// (`rowBytes`) gets a buffer of its own: values of any size are stored, and the common small
/// ones stay packed.
///
/// Every field is followed by one separator byte, so a COPY text line without escapes can be
/// stored as it came, in one copy (`appendCopyLine`): its tabs and newline are the separators.
public struct RowStore: Sendable {
    /// Fields per row.
    public let width: Int
    public private(set) var count = 0
    private var chunks: [Chunk] = []
    /// The chunk being filled: written in place and, once full, trimmed and kept as it is (its
    /// bytes are never copied into a chunk of their own).
    private var open = Chunk(capacity: 0)
    /// Per row, `stride` entries: the row's start in its chunk (low and high 16 bits), then
    /// each field's end relative to that start, with the flags.
    private var ends: [UInt16] = []
    /// Entries per row in `ends`.
    private let stride: Int
    /// Where the row being appended starts in the open chunk.
    private var rowStart = 0
    /// Fields kept out of line, by their entry in `ends`.
    private var large: [Int: Chunk] = [:]
    private static let nullBit: UInt16 = 1 << 15
    private static let largeBit: UInt16 = 1 << 14
    private static let flagBits = nullBit | largeBit
    private static let offsetMask = ~flagBits
    /// The most bytes of fields kept in line in one row: room below the 14-bit reach for the
    /// separators of the fields that follow, wherever they are kept.
    private let rowBytes: Int
    private static let chunkShift = 16
    /// Fields of this size or more are kept out of line.
    static let outOfLineBytes = 1 << 20
    /// The most bytes of fields one chunk holds: below 2^30 (offsets are 30-bit) by room for
    /// every separator of a full chunk, which follow even NULL and out-of-line fields.
    private let pageBytes: Int

    public init(width: Int) {
        self.init(width: width, pageBytes: Int.max)
    }

    /// - Parameter pageBytes: the most bytes per chunk (smaller in tests, to reach the limit).
    init(width: Int, pageBytes: Int) {
        precondition(width < 4096, "recon: a row store holds fewer than 4,096 fields a row")
        self.width = width
        stride = width + 2
        rowBytes = Int(Self.offsetMask) - width - 1
        self.pageBytes = Swift.min(pageBytes, (1 << 30) - (1 << Self.chunkShift) * (width + 1))
    }

    public mutating func reserve(rows: Int, bytesPerRow: Int) {
        ends.reserveCapacity(rows * stride)
        uniqueOpen()
        open.reserve(Swift.min(rows, 1 << Self.chunkShift) * bytesPerRow)
    }

    /// Copy on write: a copy of a store being built gets its own open chunk before either writes.
    @inline(__always)
    private mutating func uniqueOpen() {
        if !isKnownUniquelyReferenced(&open) { open = open.copy() }
    }

    // MARK: Appending a row: beginRow, exactly `width` appendField calls, endRow.

    @inline(__always)
    public mutating func beginRow() {
        if count & ((1 << Self.chunkShift) - 1) == 0, count > 0 { closeChunk(nextCapacity: open.count + open.count / 8) }
        uniqueOpen()
        rowStart = open.count
        ends.append(UInt16(truncatingIfNeeded: rowStart))
        ends.append(UInt16(truncatingIfNeeded: rowStart >> 16))
    }

    /// Keeps the open chunk (trimmed) among the finished ones and opens one of `capacity` bytes.
    private mutating func closeChunk(nextCapacity capacity: Int) {
        open.trim()
        chunks.append(open)
        open = Chunk(capacity: capacity)
    }

    @inline(__always)
    public mutating func appendField(_ field: UnsafeBufferPointer<UInt8>?) {
        uniqueOpen()
        if let field, field.count >= Self.outOfLineBytes || open.count + field.count + 1 >= pageBytes
            || open.count - rowStart + field.count > rowBytes {
            let own = Chunk(capacity: field.count)
            own.append(field)
            large[ends.count] = own
            ends.append(UInt16(open.count - rowStart) | Self.largeBit)
            open.append(0x09)
            return
        }
        if let field { open.append(field) }
        ends.append(UInt16(open.count - rowStart) | (field == nil ? Self.nullBit : 0))
        open.append(0x09)
    }

    /// Appends a whole row from one line of `COPY … TO STDOUT` (text format) whose columns are
    /// this store's fields in order, in one copy of the line: between `beginRow` and `endRow`,
    /// instead of the `appendField` calls. `\N` is NULL. Returns false, having appended nothing,
    /// when the line has another backslash escape or not `width` fields (the caller then decodes
    /// it field by field, and reports a wrong count).
    @inline(__always)
    public mutating func appendCopyLine(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        var n = line.count
        if n > 0, line[n - 1] == 0x0A { n -= 1 }
        // A line with a large field, one past a row's reach, or one the chunk has no room for:
        // field by field instead.
        if n > rowBytes || open.count + n + 1 >= pageBytes { return false }
        let base = open.count
        assert(base == rowStart && ends.count % stride == 2, "recon: a COPY line is a whole row")
        open.append(UnsafeBufferPointer(rebasing: line[0..<n]))
        open.append(0x0A)
        // The fields' ends are gathered here and appended to `ends` once the line is whole.
        let whole = withUnsafeTemporaryAllocation(of: UInt16.self, capacity: width) { fieldEnds -> Bool in
            var fields = 0, fieldStart = 0, i = 0
            var null: UInt16 = 0
            let raw = UnsafeRawPointer(line.baseAddress)
            while true {
                // To the next tab, backslash or the end: 8 bytes at a time, the first such byte
                // of a word found from its mask, then the last few bytes one by one.
                var found = false
                if let raw {
                    while i + 8 <= n {
                        if let k = Self.firstTabOrBackslash(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                            i += k
                            found = true
                            break
                        }
                        i += 8
                    }
                }
                if !found { while i < n, line[i] != 0x09, line[i] != 0x5C { i += 1 } }
                if i == n || line[i] == 0x09 {
                    guard fields < width else { return false }
                    fieldEnds[fields] = UInt16(i) | null
                    fields += 1
                    if i == n { break }
                    i += 1
                    fieldStart = i
                    null = 0
                    continue
                }
                // A backslash: only a whole field `\N` (NULL) is stored as it is; any other
                // escape is decoded.
                if i == fieldStart, i + 1 < n, line[i + 1] == UInt8(ascii: "N"), i + 2 == n || line[i + 2] == 0x09 {
                    null = Self.nullBit
                    i += 2
                    continue
                }
                return false
            }
            guard fields == width else { return false }
            ends.append(contentsOf: UnsafeBufferPointer(fieldEnds))
            return true
        }
        if !whole { open.truncate(to: base) }
        return whole
    }

    /// The position (0–7) of the first byte of `w`, loaded from memory on a little-endian
    /// machine (as every machine recon runs on is), that is a tab or a backslash, or nil. The
    /// lowest bit of the zero-byte test is exact: a false bit only ever follows a true one, through
    /// a borrow running upwards.
    @inline(__always)
    static func firstTabOrBackslash(_ w: UInt64) -> Int? {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let t = w ^ 0x0909_0909_0909_0909, b = w ^ 0x5C5C_5C5C_5C5C_5C5C
        let mask = ((t &- ones) & ~t | (b &- ones) & ~b) & highs
        return mask == 0 ? nil : mask.trailingZeroBitCount >> 3
    }

    public mutating func appendField(_ field: String?) {
        guard var field else { return appendField(nil as UnsafeBufferPointer<UInt8>?) }
        field.withUTF8 { appendField($0) }
    }

    @inline(__always)
    public mutating func endRow() {
        count += 1
        assert(ends.count == count * stride)
    }

    /// Trims the last chunk and the offsets once the table is complete.
    public mutating func shrink() {
        if open.count > 0 || chunks.count * (1 << Self.chunkShift) < count { closeChunk(nextCapacity: 0) }
        if ends.capacity > ends.count + ends.count / 16 { ends = ends.withUnsafeBufferPointer { Array($0) } }
    }

    // MARK: Reading

    /// Everything the rows are read from, in order, as byte runs: the shape, each chunk's bytes,
    /// the field ends, then the fields kept out of line. Two stores that give the same runs hold
    /// the same rows (a hash of them names the rows; the converse need not hold).
    public func withContents(_ body: (UnsafeRawBufferPointer) -> Void) {
        func word(_ v: Int) { withUnsafeBytes(of: Int64(v).littleEndian) { body($0) } }
        word(width); word(count); word(chunks.count + 1)
        for c in chunks + [open] {
            word(c.count)
            body(UnsafeRawBufferPointer(c[0..<c.count]))
        }
        word(ends.count)
        ends.withUnsafeBytes { body($0) }
        word(large.count)
        for at in large.keys.sorted() {
            let field = outOfLine(at)
            word(at); word(field.count)
            body(UnsafeRawBufferPointer(field))
        }
    }

    /// One chunk's bytes in a buffer of its own: filled in place while it is the open chunk, then
    /// trimmed to its size and never moved again, so a field's bytes can be handed out as a
    /// pointer (`bytes`) that stays valid while the store lives.
    private final class Chunk: @unchecked Sendable {
        // @unchecked: written only while it is the open chunk, by the one thread filling the
        // store; once closed it is read-only, and only then shared.
        private(set) var base: UnsafeMutablePointer<UInt8>
        private(set) var count = 0
        private var capacity: Int

        init(capacity: Int) {
            self.capacity = Swift.max(capacity, 16)
            base = Self.allocate(self.capacity)
        }

        deinit { free(base) }

        private static func allocate(_ n: Int) -> UnsafeMutablePointer<UInt8> {
            guard let p = malloc(n) else { fatalError("recon: out of memory (\(n) bytes for rows)") }
            return p.assumingMemoryBound(to: UInt8.self)
        }

        private func resize(_ n: Int) {
            guard let p = realloc(base, n) else { fatalError("recon: out of memory (\(n) bytes for rows)") }
            base = p.assumingMemoryBound(to: UInt8.self)
            capacity = n
        }

        func copy() -> Chunk {
            let c = Chunk(capacity: capacity)
            c.base.update(from: base, count: count)
            c.count = count
            return c
        }

        func reserve(_ n: Int) { if n > capacity { resize(n) } }

        @inline(__always)
        func append(_ p: UnsafeBufferPointer<UInt8>) {
            if count + p.count > capacity { resize(Swift.max(capacity * 2, count + p.count)) }
            if let from = p.baseAddress { (base + count).update(from: from, count: p.count) }
            count += p.count
        }

        @inline(__always)
        func append(_ byte: UInt8) {
            if count == capacity { resize(capacity * 2) }
            base[count] = byte
            count += 1
        }

        func truncate(to n: Int) { count = n }

        /// Gives back the unused capacity (in place: the bytes stay where they are or move once,
        /// before any pointer into them is handed out).
        func trim() { if capacity > count { resize(Swift.max(count, 16)) } }

        subscript(r: Range<Int>) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(start: base + r.lowerBound, count: r.count)
        }
    }

    /// The byte range of field `k` of the row whose entries start at `b` in its chunk's arena (a
    /// field in line), given its entry `e` in `ends`.
    @inline(__always)
    private func range(_ b: Int, _ k: Int, _ e: UInt16) -> Range<Int> {
        let start = Int(ends[b]) | Int(ends[b + 1]) << 16
        // Past the previous field's separator.
        let from = k == 0 ? start : start + Int(ends[b + 1 + k] & Self.offsetMask) + 1
        return from..<start + Int(e & Self.offsetMask)
    }

    /// A field kept out of line.
    private func outOfLine(_ at: Int) -> UnsafeBufferPointer<UInt8> {
        let c = large[at]!
        return c[0..<c.count]
    }

    public func string(_ row: Int, _ k: Int) -> String? {
        withField(row, k) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Field `k` of `row` as bytes (nil for NULL), valid only inside `body`.
    @inline(__always)
    public func withField<R>(_ row: Int, _ k: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        let b = row * stride, at = b + 2 + k
        let e = ends[at]
        if e & Self.flagBits != 0 { return try body(e & Self.nullBit != 0 ? nil : outOfLine(at)) }
        let r = range(b, k, e)
        let c = row >> Self.chunkShift
        return try body(c < chunks.count ? chunks[c][r] : open[r])
    }

    /// Field `k` of `row` as bytes (nil for NULL) without a closure, for the hot loops: the
    /// pointer stays valid while this store (or a copy of it) lives, so callers keep the store in a
    /// local and read inside `withExtendedLifetime(store)`. Only for a finished store (`shrink`).
    @inline(__always)
    public func bytes(_ row: Int, _ k: Int) -> UnsafeBufferPointer<UInt8>? {
        let b = row * stride, at = b + 2 + k
        let e = ends[at]
        if e & Self.flagBits != 0 { return e & Self.nullBit != 0 ? nil : outOfLine(at) }
        return chunks[row >> Self.chunkShift][range(b, k, e)]
    }
}

/// A record type that lives in a `RowStore`: its fixed canonical fields first, then attributes.
public protocol StoredRecord: Sendable {
    static var fixedFields: Int { get }
    var attributes: [String?] { get }
    var row: Int { get set }
    init(store: RowStore, row index: Int)
    func append(to store: inout RowStore, width: Int)
}

/// The records of a table, materialised on access from the row store (`records[i]`), with the
/// store itself for loops that only need a few fields.
public struct Records<Record: StoredRecord>: RandomAccessCollection, Sendable {
    public private(set) var store: RowStore
    /// Row numbers when records were built in memory with their own; else `index + 1`.
    private var rowNumbers: [Int]?

    public init(store: RowStore) {
        self.store = store
    }

    public init(_ records: [Record], attributeCount: Int) {
        let width = Record.fixedFields + Swift.max(attributeCount, records.map(\.attributes.count).max() ?? 0)
        store = RowStore(width: width)
        for r in records {
            store.beginRow()
            r.append(to: &store, width: width)
            store.endRow()
        }
        store.shrink()
        if records.enumerated().contains(where: { $0.element.row != $0.offset + 1 }) { rowNumbers = records.map(\.row) }
    }

    /// The store's byte runs (`RowStore.withContents`), then the row numbers when they are the
    /// records' own.
    public func withContents(_ body: (UnsafeRawBufferPointer) -> Void) {
        store.withContents(body)
        withUnsafeBytes(of: Int64(rowNumbers?.count ?? -1).littleEndian) { body($0) }
        rowNumbers?.withUnsafeBytes { body($0) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { store.count }

    public subscript(i: Int) -> Record {
        var r = Record(store: store, row: i)
        r.row = rowNumbers?[i] ?? i + 1
        return r
    }

    /// Field `k` (a `CustomerRecord.Field` / `OrderRecord.Field` raw value) of record `i`.
    @inline(__always)
    public func field(_ i: Int, _ k: Int) -> String? { store.string(i, k) }

    public func row(_ i: Int) -> Int { rowNumbers?[i] ?? i + 1 }
}

extension CustomerRecord: StoredRecord {
    /// Positions of the canonical fields in the row store.
    public enum Field {
        public static let id = 0, externalId = 1, email = 2, phone = 3, name = 4, country = 5, updatedAt = 6
    }
    public static var fixedFields: Int { 7 }

    public init(store s: RowStore, row i: Int) {
        self.init(id: s.string(i, 0) ?? "", externalId: s.string(i, 1), email: s.string(i, 2), phone: s.string(i, 3),
                  name: s.string(i, 4), country: s.string(i, 5), updatedAt: s.string(i, 6),
                  attributes: (7..<s.width).map { s.string(i, $0) }, row: i + 1)
    }

    public func append(to s: inout RowStore, width: Int) {
        for f in [id, externalId, email, phone, name, country, updatedAt] as [String?] { s.appendField(f) }
        for k in 0..<(width - 7) { s.appendField(k < attributes.count ? attributes[k] : nil) }
    }
}

extension OrderRecord: StoredRecord {
    public enum Field {
        public static let id = 0, status = 1, externalId = 2, customerId = 3, amount = 4, currency = 5, createdAt = 6, updatedAt = 7
    }
    public static var fixedFields: Int { 8 }

    public init(store s: RowStore, row i: Int) {
        self.init(id: s.string(i, 0) ?? "", status: s.string(i, 1), externalId: s.string(i, 2), customerId: s.string(i, 3),
                  amount: s.string(i, 4), currency: s.string(i, 5), createdAt: s.string(i, 6), updatedAt: s.string(i, 7),
                  attributes: (8..<s.width).map { s.string(i, $0) }, row: i + 1)
    }

    public func append(to s: inout RowStore, width: Int) {
        for f in [id, status, externalId, customerId, amount, currency, createdAt, updatedAt] as [String?] { s.appendField(f) }
        for k in 0..<(width - 8) { s.appendField(k < attributes.count ? attributes[k] : nil) }
    }
}
