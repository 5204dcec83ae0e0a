import Foundation
import CSupport
import ReconCore

/// A one-sheet `.xlsx` workbook with typed cells, streamed to a file: text cells are strings,
/// which a spreadsheet shows exactly as written and never runs as a formula (a phone keeps its
/// `+`, an id its leading zeros, `=1+1` stays `=1+1`), numbers are numbers. For the files
/// approvers open in Excel or LibreOffice; CSV offers neither guarantee.
///
/// The workbook is a ZIP archive of stored (uncompressed) entries: the sheet is written as it is
/// produced, its CRC-32 and size patched into its header afterwards, so no sheet is ever held in
/// memory whole. Cells carry no references (a reader places them in order; an empty cell before a
/// later one is an empty `<c/>`), and a column of few distinct values (`label`) goes through the
/// shared-string table, written after the sheet.
public final class XLSXWriter {
    public enum Cell {
        /// A string written in the cell.
        case text(String)
        /// A string from a column of few distinct values (an operation, a field, a reason):
        /// written once in the shared-string table, referenced from the cell.
        case label(String)
        case number(String)
        case empty
    }

    // The writer is used by one thread and none of its methods passes one of these properties
    // inout while reading it: unchecked, each cell does not pay the runtime's exclusivity checks.
    private let zip: ZipStore
    /// The sheet's next bytes, handed to the archive's entry a megabyte at a time.
    @exclusivity(unchecked) private var buffer = FillBuffer(.allocate(capacity: XLSXWriter.chunk), capacity: XLSXWriter.chunk)
    static let chunk = 1 << 20
    private let sheetName: String
    /// Empty cells since the row's last written cell: written (as `<c/>`) only before a later one.
    @exclusivity(unchecked) private var pendingEmpty = 0
    @exclusivity(unchecked) private var shared: [String: Int] = [:]
    @exclusivity(unchecked) private var sharedStrings: [String] = []
    @exclusivity(unchecked) private var sharedReferences = 0
    /// Beyond this many distinct labels, further new ones are written inline: a column that
    /// turns out to have many values costs no memory.
    static let sharedLimit = 4_096

    /// - Throws: `ReportError.io` when the file cannot be created.
    public init(path: String, sheetName: String) throws {
        zip = try ZipStore(path: path)
        self.sheetName = sheetName
        try zip.beginEntry("xl/worksheets/sheet1.xml")
        appendString(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
               + #"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#)
    }

    public func row(_ cells: [Cell]) {
        beginRow()
        for cell in cells {
            switch cell {
            case .empty: empty()
            case .number(let n): number(n)
            case .text(let s): text(s)
            case .label(let s): label(s)
            }
        }
        endRow()
    }

    public func beginRow() {
        pendingEmpty = 0
        append("<row>")
    }

    public func endRow() {
        append("</row>")
    }

    public func empty() { pendingEmpty += 1 }

    public func number(_ n: String) {
        placeEmpties()
        append("<c><v>")
        appendString(n)
        append("</v></c>")
    }

    public func text(_ s: String) {
        var s = s
        s.withUTF8 { text(bytes: $0) }
    }

    /// A text cell given as UTF-8 bytes (an action's id, written without making its string).
    public func text(bytes: UnsafeBufferPointer<UInt8>) {
        placeEmpties()
        append(Self.needsPreserve(bytes) ? #"<c t="inlineStr"><is><t xml:space="preserve">"# : #"<c t="inlineStr"><is><t>"#)
        putEscaped(bytes)
        append("</t></is></c>")
    }

    /// One text cell of `parts` joined by `separator` (finding ids), without building the
    /// string. The separator is a byte XML takes as it is (a space).
    public func text(joining parts: [String], separator: UInt8) {
        precondition(separator >= 0x20 && !"&<>\"_".utf8.contains(separator), "a separator that needs no escape")
        guard parts.count > 1 else { return text(parts.first ?? "") }
        placeEmpties()
        let preserve = Self.needsPreserve(parts[0]) || Self.needsPreserve(parts[parts.count - 1])
        append(preserve ? #"<c t="inlineStr"><is><t xml:space="preserve">"# : #"<c t="inlineStr"><is><t>"#)
        for (k, p) in parts.enumerated() {
            if k > 0 { put(separator) }
            var p = p
            p.withUTF8 { putEscaped($0) }
        }
        append("</t></is></c>")
    }

    public func label(_ s: String) {
        guard let index = sharedIndex(s) else { return text(s) }
        shared(index)
    }

    /// The labels one column met last, with their shared strings' indexes: a column of a few
    /// values (an operation, a field, a reason) finds them by comparing, where `label` hashes
    /// every cell's text.
    public struct RecentLabels {
        /// Each label's string as its two words: the same string (a literal, a shared reason)
        /// is found by comparing them, without a retain or a comparison of its bytes.
        fileprivate var words: [(UInt64, UInt64)] = []
        fileprivate var entries: [(text: String, index: Int)] = []
        public init() {}
    }

    /// `label`, first looking `s` up among `recent`'s labels.
    public func label(_ s: String, recent: inout RecentLabels) {
        let words = unsafeBitCast(s, to: (UInt64, UInt64).self)
        for k in recent.words.indices where recent.words[k] == words { return shared(recent.entries[k].index) }
        for e in recent.entries where e.text == s { return shared(e.index) }
        guard let index = sharedIndex(s) else { return text(s) }
        if recent.entries.count < 16 {
            recent.entries.append((s, index))
            recent.words.append(words)
        }
        shared(index)
    }

    /// `s`'s index in the shared-string table, added when new (nil past `sharedLimit`).
    private func sharedIndex(_ s: String) -> Int? {
        if let index = shared[s] { return index }
        guard sharedStrings.count < Self.sharedLimit else { return nil }
        shared[s] = sharedStrings.count
        sharedStrings.append(s)
        return sharedStrings.count - 1
    }

    private func shared(_ index: Int) {
        placeEmpties()
        sharedReferences += 1
        append(#"<c t="s"><v>"#)
        appendDigits(index)
        append("</v></c>")
    }

    private func placeEmpties() {
        while pendingEmpty > 0 {
            append("<c/>")
            pendingEmpty -= 1
        }
    }

    /// Writes the rest of the workbook and closes the file.
    /// - Throws: `ReportError.io` naming the file when any write failed.
    public func finish() throws {
        append("</sheetData></worksheet>")
        flush()
        try zip.endEntry()
        let ns = "http://schemas.openxmlformats.org"
        var strings = #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#
            + "<sst xmlns=\"\(ns)/spreadsheetml/2006/main\" count=\"\(sharedReferences)\" uniqueCount=\"\(sharedStrings.count)\">"
        for s in sharedStrings {
            strings += (Self.needsPreserve(s) ? #"<si><t xml:space="preserve">"# : "<si><t>") + Self.escaped(s) + "</t></si>"
        }
        strings += "</sst>"
        let parts: [(String, String)] = [
            ("xl/sharedStrings.xml", strings),
            ("[Content_Types].xml", #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#
                + "<Types xmlns=\"\(ns)/package/2006/content-types\">"
                + #"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#
                + #"<Default Extension="xml" ContentType="application/xml"/>"#
                + #"<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#
                + #"<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
                + #"<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>"#
                + "</Types>"),
            ("_rels/.rels", "<Relationships xmlns=\"\(ns)/package/2006/relationships\">"
                + "<Relationship Id=\"rId1\" Type=\"\(ns)/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>"
                + "</Relationships>"),
            ("xl/workbook.xml", "<workbook xmlns=\"\(ns)/spreadsheetml/2006/main\" xmlns:r=\"\(ns)/officeDocument/2006/relationships\">"
                + "<sheets><sheet name=\"\(Self.escaped(sheetName))\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"),
            ("xl/_rels/workbook.xml.rels", "<Relationships xmlns=\"\(ns)/package/2006/relationships\">"
                + "<Relationship Id=\"rId1\" Type=\"\(ns)/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
                + "<Relationship Id=\"rId2\" Type=\"\(ns)/officeDocument/2006/relationships/sharedStrings\" Target=\"sharedStrings.xml\"/>"
                + "</Relationships>"),
        ]
        for (name, text) in parts {
            try zip.beginEntry(name)
            zip.write(Array(text.utf8))
            try zip.endEntry()
        }
        try zip.close()
    }

    private func appendString(_ s: String) {
        var s = s
        s.withUTF8 { put($0) }
    }

    /// A label's index in decimal (no string made per cell).
    private func appendDigits(_ n: Int) {
        precondition(n >= 0)
        var divisor = 1
        while divisor <= n / 10 { divisor *= 10 }
        var rest = n
        while divisor > 0 {
            put(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
    private func append(_ s: StaticString) { put(UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }

    @inline(__always) private func put(_ b: UInt8) { buffer.put(b) { zip.write(UnsafeRawBufferPointer($0)) } }
    @inline(__always) private func put(_ bytes: UnsafeBufferPointer<UInt8>) { buffer.put(bytes) { zip.write(UnsafeRawBufferPointer($0)) } }

    /// `bytes` as XML text (`appendEscaped`): most values need no escape and are copied whole.
    private func putEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        if Self.isClean(bytes) { return put(bytes) }
        var escaped: [UInt8] = []
        Self.appendEscaped(bytes, to: &escaped)
        escaped.withUnsafeBufferPointer { put($0) }
    }

    private func flush() {
        zip.write(UnsafeRawBufferPointer(buffer.filled))
        buffer.used = 0
    }

    deinit { buffer.base.deallocate() }

    /// Leading or trailing white space, which a reader drops unless told to keep it.
    static func needsPreserve(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { needsPreserve($0) }
    }

    static func needsPreserve(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        func white(_ b: UInt8?) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        return white(bytes.first) || white(bytes.last)
    }

    static func escaped(_ s: String) -> String {
        var out: [UInt8] = []
        appendEscaped(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// XML text: `& < > "` as entities, CR as `&#13;` (a parser reads a literal CR as LF);
    /// characters XML 1.0 cannot carry (controls other than tab, LF, CR) and a literal `_x` as
    /// the `_xHHHH_` escapes spreadsheets read back.
    static func appendEscaped(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendEscaped($0, to: &out) }
    }

    /// Whether no byte of `bytes` needs an escape (`appendEscaped`): eight bytes at a time
    /// (`ByteScan`), a word with an underscore byte by byte.
    static func isClean(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = bytes.count
        return !ByteScan.contains(bytes, mayHave: { w in
            ByteScan.hasControl(w) | ByteScan.has(w, UInt8(ascii: "&")) | ByteScan.has(w, UInt8(ascii: "<")) | ByteScan.has(w, UInt8(ascii: ">"))
                | ByteScan.has(w, UInt8(ascii: "\"")) | ByteScan.has(w, UInt8(ascii: "_")) != 0
        }, special: { i in
            let b = bytes[i]
            return b < 0x20 || b == UInt8(ascii: "&") || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || b == UInt8(ascii: "\"")
                || (b == UInt8(ascii: "_") && i + 1 < n && bytes[i + 1] == UInt8(ascii: "x"))
        })
    }

    static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        do {
            // Most values need no escape: copied whole.
            if isClean(bytes) { out.append(contentsOf: bytes); return }
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                switch b {
                case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
                case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
                case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
                case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
                case 0x0D: out.append(contentsOf: "&#13;".utf8)
                case UInt8(ascii: "_") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "x"):
                    out.append(contentsOf: "_x005F_".utf8)
                case 0x00..<0x20 where b != 0x09 && b != 0x0A:
                    out.append(contentsOf: String(format: "_x%04X_", b).utf8)
                default: out.append(b)
                }
                i += 1
            }
        }
    }
}

/// A ZIP archive of stored entries, written front to back; each entry's CRC-32 and sizes are
/// patched into its local header when it ends. No ZIP64: an entry or archive over 4 GiB fails.
final class ZipStore {
    private let path: String
    private var file: UnsafeMutablePointer<FILE>?
    private var failure: String?
    private struct Entry { let name: [UInt8]; let offset: UInt32; var crc: UInt32 = 0; var size: UInt32 = 0 }
    private var entries: [Entry] = []
    private var current: (entry: Entry, crc: UInt32, size: UInt64)?
    private var offset: UInt64 = 0

    init(path: String) throws {
        self.path = path
        guard let f = fopen(path, "wb") else { throw ReportError.io(path: path, reason: String(cString: strerror(errno))) }
        file = f
    }

    func beginEntry(_ name: String) throws {
        guard offset < UInt64(UInt32.max) else { throw ReportError.io(path: path, reason: "larger than 4 GiB") }
        let entry = Entry(name: Array(name.utf8), offset: UInt32(offset))
        current = (entry, 0xFFFF_FFFF, 0)
        raw(Self.localHeader(entry, crc: 0, size: 0))
    }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard current != nil else { return }
        current!.crc = CRC32.update(current!.crc, bytes)
        current!.size += UInt64(bytes.count)
        raw(bytes)
    }

    func endEntry() throws {
        guard let (first, crc, size) = current, let file else { return }
        var entry = first
        current = nil
        guard size < UInt64(UInt32.max) else { throw ReportError.io(path: path, reason: "an entry larger than 4 GiB") }
        entry.crc = crc ^ 0xFFFF_FFFF
        entry.size = UInt32(size)
        // Patch the local header, then go back to the end.
        let end = ftello(file)
        fseeko(file, off_t(entry.offset), SEEK_SET)
        let header = Self.localHeader(entry, crc: entry.crc, size: entry.size)
        if fwrite(header, 1, header.count, file) != header.count, failure == nil { failure = String(cString: strerror(errno)) }
        fseeko(file, end, SEEK_SET)
        entries.append(entry)
    }

    func close() throws {
        let start = offset
        for e in entries {
            var h: [UInt8] = []
            h.le32(0x0201_4B50); h.le16(20); h.le16(20); h.le16(0x0800); h.le16(0); h.le16(0); h.le16(0x21)
            h.le32(e.crc); h.le32(e.size); h.le32(e.size); h.le16(UInt16(e.name.count)); h.le16(0); h.le16(0); h.le16(0); h.le16(0)
            h.le32(0); h.le32(e.offset)
            raw(h + e.name)
        }
        var end: [UInt8] = []
        end.le32(0x0605_4B50); end.le16(0); end.le16(0); end.le16(UInt16(entries.count)); end.le16(UInt16(entries.count))
        end.le32(UInt32(offset - start)); end.le32(UInt32(start)); end.le16(0)
        raw(end)
        guard let f = file else { return }
        file = nil
        if fclose(f) != 0, failure == nil { failure = String(cString: strerror(errno)) }
        if let failure { throw ReportError.io(path: path, reason: failure) }
    }

    deinit { if let file { fclose(file) } }

    private func raw(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw($0) }
    }

    private func raw(_ bytes: UnsafeRawBufferPointer) {
        guard let file, failure == nil, let base = bytes.baseAddress, !bytes.isEmpty else { return }
        if fwrite(base, 1, bytes.count, file) != bytes.count { failure = String(cString: strerror(errno)) }
        offset += UInt64(bytes.count)
    }

    private static func localHeader(_ e: Entry, crc: UInt32, size: UInt32) -> [UInt8] {
        var h: [UInt8] = []
        // Version 2.0, UTF-8 names, stored, time 00:00 of 1980-01-01 (the folder's files are dated by the file system).
        h.le32(0x0403_4B50); h.le16(20); h.le16(0x0800); h.le16(0); h.le16(0); h.le16(0x21)
        h.le32(crc); h.le32(size); h.le32(size); h.le16(UInt16(e.name.count)); h.le16(0)
        return h + e.name
    }
}

/// CRC-32 (ISO-HDLC, as ZIP uses it), eight bytes at a time (slicing-by-8: eight tables, each
/// the one before advanced by a byte).
enum CRC32 {
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
            }
        }
        return t
    }()

    /// Continues a running CRC (start with 0xFFFFFFFF, finish by XOR with 0xFFFFFFFF).
    static func update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(crc, $0) }
    }

    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer, folding: Bool = true) -> UInt32 {
        var c = crc
        var i = 0
        let n = bytes.count
        // Most of it by the CPU's carry-less multiply where it has one (CSupport); the rest, and
        // all of it elsewhere, by the tables.
        if folding, let base = bytes.baseAddress {
            var done = UInt(n)
            c = recon_crc32_folded(c, base.assumingMemoryBound(to: UInt8.self), &done)
            i = Int(done)
        }
        tables.withUnsafeBufferPointer { t in
            while i + 8 <= n {
                let lo = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let hi = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return c
    }
}

extension [UInt8] {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { append(UInt8((v >> UInt32(s)) & 0xFF)) } }
}
