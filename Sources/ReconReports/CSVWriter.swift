import CSupport
import ReconCore
import Foundation

/// RFC 4180 CSV: fields holding a comma, quote, CR or LF are quoted (quotes doubled), lines end
/// in CRLF, text is UTF-8.
///
/// Who reads the file decides what a cell holds (`Audience`): a CSV for people guards cells a
/// spreadsheet would run as a formula (starting with `=`, `@`, tab or CR, or with `+` or `-` unless
/// the rest is a plain number: `+4915111111111` and `-12.50` are left as they are) with a leading
/// apostrophe; a CSV for machines (the import files of `batch apply`) holds the exact value to
/// write, since an importer would write the apostrophe into the record.
public struct CSVWriter: ~Copyable {
    /// Who reads the file.
    public enum Audience: Sendable {
        /// Spreadsheets: formula-like cells get a leading apostrophe.
        case people
        /// Import tools and scripts: every value exactly as it is to be written.
        case machines
    }

    /// Where the buffer's bytes go when it is full: the file (whose staging buffer it is) or
    /// the bytes collected in memory. A writer is one value, never copied (`~Copyable`): two
    /// copies would fill one buffer.
    private final class Sink {
        let file: CSVFile?
        let buffer: UnsafeMutablePointer<UInt8>
        var collected: [UInt8] = []

        init(file: CSVFile?) {
            self.file = file
            buffer = file?.staging.assumingMemoryBound(to: UInt8.self) ?? .allocate(capacity: CSVWriter.chunk)
        }

        func drain(_ count: Int) {
            if let file { file.writeStaged(count) } else { collected.append(contentsOf: UnsafeBufferPointer(start: buffer, count: count)) }
        }

        deinit { if file == nil { buffer.deallocate() } }
    }

    private let sink: Sink
    /// The sink's buffer, filled field by field.
    private var buffer: FillBuffer
    private let guardsFormulas: Bool

    /// The CSV collected so far (a collecting writer's whole file).
    public var bytes: [UInt8] { sink.collected + buffer.filled }

    /// Collects the CSV in `bytes`.
    public init(for audience: Audience = .people) {
        sink = Sink(file: nil)
        buffer = FillBuffer(sink.buffer, capacity: Self.chunk)
        guardsFormulas = audience == .people
    }

    /// Streams the CSV to a new file at `path`, a megabyte at a time; `finish` flushes and closes it.
    /// - Throws: `ReportError.io` when the file cannot be created.
    public init(streamingTo path: String, for audience: Audience = .people) throws {
        sink = Sink(file: try CSVFile(path))
        buffer = FillBuffer(sink.buffer, capacity: Self.chunk)
        guardsFormulas = audience == .people
    }

    static let chunk = CSVFile.size

    public mutating func row(_ fields: [String]) {
        for field in fields { self.field(field) }
        endRow()
    }

    /// Whether the current row has a field yet (the next one is preceded by a comma).
    private var inRow = false

    /// Appends one field to the current row (a row built field by field ends with `endRow`):
    /// no array of strings per row.
    /// The string's bytes are read where they are: `withUTF8` needs a mutable copy, a retain and
    /// release per field of texts that the findings share across threads.
    public mutating func field(_ value: String) {
        if value.utf8.withContiguousStorageIfAvailable({ field(bytes: $0) }) != nil { return }
        var value = value
        value.withUTF8 { field(bytes: $0) }
    }

    /// Appends one field given as UTF-8 bytes (nil: an empty field).
    public mutating func field(bytes value: UnsafeBufferPointer<UInt8>?) {
        if inRow { put(UInt8(ascii: ",")) }
        inRow = true
        if let value { append(value) }
    }

    /// One field of `parts` joined by `separator` (records, finding ids), without building the
    /// string when no part needs quotes and the first cannot start a formula: the same bytes as
    /// `field(parts.joined(separator:))`.
    public mutating func field(joining parts: [String], separator: UInt8) {
        precondition(separator >= 0x20 && !",\"=+-@".utf8.contains(separator), "a separator that needs no quotes or guard")
        guard parts.count > 1 else { return field(parts.first ?? "") }
        let plain = parts.allSatisfy { p in
            p.utf8.withContiguousStorageIfAvailable { !Self.needsQuotes($0) } ?? false
        }
        guard plain, !(parts[0].utf8.first.map(Self.mayStartFormula) ?? false) else { return field(parts.joined(separator: String(UnicodeScalar(separator)))) }
        if inRow { put(UInt8(ascii: ",")) }
        inRow = true
        for (k, p) in parts.enumerated() {
            if k > 0 { put(separator) }
            _ = p.utf8.withContiguousStorageIfAvailable { put($0) }
        }
    }

    /// Ends the current row (CRLF).
    public mutating func endRow() {
        inRow = false
        put(0x0D)
        put(0x0A)
    }

    /// Writes what is left and closes the file (streaming writers only).
    /// - Throws: `ReportError.io` naming the file when any write failed.
    public mutating func finish() throws {
        guard let file = sink.file else { return }
        file.writeStaged(buffer.used, last: true)
        buffer.used = 0
        try file.close()
    }

    @inline(__always) private mutating func put(_ b: UInt8) { buffer.put(b) { sink.drain($0.count) } }
    @inline(__always) private mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) { buffer.put(bytes) { sink.drain($0.count) } }

    /// A first byte after which a spreadsheet may run the cell (`=`, `@`, tab, CR; `+` and `-`
    /// unless the rest is a plain number).
    static func mayStartFormula(_ first: UInt8) -> Bool {
        first == UInt8(ascii: "=") || first == UInt8(ascii: "@") || first == 0x09 || first == 0x0D
            || first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
    }

    /// `+` or `-`, digits, and at most one `.` between digits: a number a spreadsheet reads as a
    /// number, never as a formula.
    static func isPlainSignedNumber(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        var digits = 0, dot = false, lastWasDigit = false
        for b in utf8.dropFirst() {
            if b >= 0x30 && b <= 0x39 { digits += 1; lastWasDigit = true; continue }
            guard b == UInt8(ascii: "."), !dot, lastWasDigit else { return false }
            dot = true
            lastWasDigit = false
        }
        return digits > 0 && lastWasDigit
    }

    private mutating func append(_ utf8: UnsafeBufferPointer<UInt8>) {
        var neutralise = false
        if guardsFormulas, let first = utf8.first {
            neutralise = Self.mayStartFormula(first) && !((first == UInt8(ascii: "+") || first == UInt8(ascii: "-")) && Self.isPlainSignedNumber(utf8))
        }
        let needsQuotes = Self.needsQuotes(utf8)
        if neutralise && !needsQuotes { put(UInt8(ascii: "'")) }
        guard needsQuotes else {
            // Most fields: their bytes as they are, in one copy.
            put(utf8)
            return
        }
        put(UInt8(ascii: "\""))
        if neutralise { put(UInt8(ascii: "'")) }
        for b in utf8 {
            if b == UInt8(ascii: "\"") { put(b) }
            put(b)
        }
        put(UInt8(ascii: "\""))
    }

    /// Whether a field holds a comma, a double quote, a CR or an LF: eight bytes at a time (a
    /// night writes hundreds of megabytes of fields, nearly all without any).
    static func needsQuotes(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        func quoted(_ b: UInt8) -> Bool { b == UInt8(ascii: ",") || b == UInt8(ascii: "\"") || b == 0x0D || b == 0x0A }
        return ByteScan.contains(utf8, mayHave: { w in
            ByteScan.has(w, UInt8(ascii: ",")) | ByteScan.has(w, UInt8(ascii: "\"")) | ByteScan.has(w, 0x0D) | ByteScan.has(w, 0x0A) != 0
        }, special: { quoted(utf8[$0]) })
    }
}

/// A writer's buffer of `capacity` bytes at `base`, filled with one bounds check per append (not
/// an array's uniqueness and capacity checks) and drained (to a file, an archive entry, collected
/// bytes) whenever it is full.
struct FillBuffer {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var used = 0

    init(_ base: UnsafeMutablePointer<UInt8>, capacity: Int) { (self.base, self.capacity) = (base, capacity) }

    /// The bytes not drained yet.
    var filled: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: used) }

    @inline(__always) mutating func put(_ b: UInt8, drain: (UnsafeBufferPointer<UInt8>) -> Void) {
        if used == capacity { drain(filled); used = 0 }
        base[used] = b
        used += 1
    }

    @inline(__always) mutating func put(_ bytes: UnsafeBufferPointer<UInt8>, drain: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard var from = bytes.baseAddress else { return }
        var left = bytes.count
        while left > capacity - used {
            let n = capacity - used
            (base + used).update(from: from, count: n)
            used = capacity
            drain(filled)
            used = 0
            from += n
            left -= n
        }
        (base + used).update(from: from, count: left)
        used += left
    }
}

/// The file behind a streaming `CSVWriter` (and plan.json): written a megabyte at a time with
/// O_DIRECT where the file system has it, so that reports of hundreds of megabytes take no page
/// cache (the last, partial block goes through it); plainly where it has not. The first write
/// error is kept and reported by `close`.
final class CSVFile {
    let path: String
    private var fd: Int32
    /// Whether writes still go around the page cache (false where the file system has no direct I/O).
    private var direct: Bool
    /// What is not written yet, in a block-aligned buffer of `Self.size` bytes (a `CSVWriter`
    /// fills it itself: `writeStaged`).
    let staging: UnsafeMutableRawPointer
    private var staged = 0
    private var failure: String?

    static let size = 1 << 20
    private static let block = Int(recon_direct_block)

    /// - Parameter direct: false writes through the page cache from the start.
    init(_ path: String, direct: Bool = true) throws {
        self.path = path
        var fd = direct ? recon_create_direct(path) : -1
        self.direct = fd >= 0
        if fd < 0, !direct || errno == EINVAL { fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666) }
        guard fd >= 0 else { throw ReportError.io(path: path, reason: String(cString: strerror(errno))) }
        self.fd = fd
        var buffer: UnsafeMutableRawPointer?
        guard posix_memalign(&buffer, Self.block, Self.size) == 0, let buffer else {
            Glibc.close(fd)
            throw ReportError.io(path: path, reason: String(cString: strerror(ENOMEM)))
        }
        staging = buffer
    }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, var from = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = min(left, Self.size - staged)
            (staging + staged).copyMemory(from: from, byteCount: n)
            staged += n
            from += n
            left -= n
            if staged == Self.size {
                writeOut(Self.size)
                staged = 0
            }
        }
    }

    /// The first `count` bytes of `staging`, filled by the caller: written when they fill it,
    /// kept for `close` when they are the `last`.
    func writeStaged(_ count: Int, last: Bool = false) {
        precondition(staged == 0 && (last ? count <= Self.size : count == Self.size), "a whole buffer, or the last part")
        if last { staged = count } else { writeOut(count) }
    }

    /// Writes the first `count` staged bytes (whole blocks while direct).
    private func writeOut(_ count: Int) {
        var done = 0
        while done < count, failure == nil {
            let n = Glibc.write(fd, staging + done, count - done)
            if n > 0 { done += n; continue }
            if n < 0, errno == EINTR { continue }
            if n < 0, errno == EINVAL, direct, recon_end_direct(fd) == 0 {
                direct = false      // the file system took O_DIRECT at open but not in a write
                continue
            }
            failure = String(cString: strerror(n == 0 ? EIO : errno))
        }
    }

    func close() throws {
        guard fd >= 0 else { return }
        let whole = staged - staged % Self.block
        writeOut(whole)
        if staged > whole, failure == nil {
            if direct, recon_end_direct(fd) != 0 { failure = String(cString: strerror(errno)) }
            direct = false
            if whole > 0 { staging.copyMemory(from: staging + whole, byteCount: staged - whole) }
            writeOut(staged - whole)
        }
        staged = 0
        if Glibc.close(fd) != 0, failure == nil { failure = String(cString: strerror(errno)) }
        fd = -1
        if let failure { throw ReportError.io(path: path, reason: failure) }
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        free(staging)
    }
}
