import Foundation

/// A one-sheet `.xlsx` workbook with typed cells, streamed to a file: text cells are inline
/// strings, which a spreadsheet shows exactly as written and never runs as a formula (a phone
/// keeps its `+`, an id its leading zeros, `=1+1` stays `=1+1`), numbers are numbers. For the
/// files approvers open in Excel or LibreOffice; CSV offers neither guarantee.
///
/// The workbook is a ZIP archive of stored (uncompressed) entries: the sheet is written as it is
/// produced, its CRC-32 and size patched into its header afterwards, so no sheet is ever held in
/// memory whole.
public final class XLSXWriter {
    public enum Cell {
        case text(String)
        case number(String)
        case empty
    }

    private let zip: ZipStore
    private var buffer: [UInt8] = []
    private var rowNumber = 0
    private let sheetName: String

    /// - Throws: `ReportError.io` when the file cannot be created.
    public init(path: String, sheetName: String) throws {
        zip = try ZipStore(path: path)
        self.sheetName = sheetName
        try zip.beginEntry("xl/worksheets/sheet1.xml")
        append(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"# + "\n"
               + #"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#)
    }

    public func row(_ cells: [Cell]) {
        rowNumber += 1
        append("<row r=\"\(rowNumber)\">")
        for (i, cell) in cells.enumerated() {
            let ref = Self.column(i) + String(rowNumber)
            switch cell {
            case .empty: continue
            case .number(let n):
                append("<c r=\"\(ref)\"><v>")
                append(n)
                append("</v></c>")
            case .text(let s):
                append("<c r=\"\(ref)\" t=\"inlineStr\"><is><t xml:space=\"preserve\">")
                Self.appendEscaped(s, to: &buffer)
                append("</t></is></c>")
            }
        }
        append("</row>")
        if buffer.count >= 1 << 20 { flush() }
    }

    /// Writes the rest of the workbook and closes the file.
    /// - Throws: `ReportError.io` naming the file when any write failed.
    public func finish() throws {
        append("</sheetData></worksheet>")
        flush()
        try zip.endEntry()
        let ns = "http://schemas.openxmlformats.org"
        let parts: [(String, String)] = [
            ("[Content_Types].xml", #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#
                + "<Types xmlns=\"\(ns)/package/2006/content-types\">"
                + #"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#
                + #"<Default Extension="xml" ContentType="application/xml"/>"#
                + #"<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#
                + #"<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
                + "</Types>"),
            ("_rels/.rels", "<Relationships xmlns=\"\(ns)/package/2006/relationships\">"
                + "<Relationship Id=\"rId1\" Type=\"\(ns)/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>"
                + "</Relationships>"),
            ("xl/workbook.xml", "<workbook xmlns=\"\(ns)/spreadsheetml/2006/main\" xmlns:r=\"\(ns)/officeDocument/2006/relationships\">"
                + "<sheets><sheet name=\"\(Self.escaped(sheetName))\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"),
            ("xl/_rels/workbook.xml.rels", "<Relationships xmlns=\"\(ns)/package/2006/relationships\">"
                + "<Relationship Id=\"rId1\" Type=\"\(ns)/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
                + "</Relationships>"),
        ]
        for (name, text) in parts {
            try zip.beginEntry(name)
            zip.write(Array(text.utf8))
            try zip.endEntry()
        }
        try zip.close()
    }

    private func append(_ s: String) { buffer.append(contentsOf: s.utf8) }

    private func flush() {
        zip.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// A, B, …, Z, AA, AB, …
    static func column(_ index: Int) -> String {
        var n = index + 1, out = ""
        while n > 0 {
            let r = (n - 1) % 26
            out = String(UnicodeScalar(UInt8(65 + r))) + out
            n = (n - 1) / 26
        }
        return out
    }

    static func escaped(_ s: String) -> String {
        var out: [UInt8] = []
        appendEscaped(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// XML text: `& < > "` as entities; characters XML 1.0 cannot carry (controls other than tab,
    /// LF, CR) and a literal `_x` as the `_xHHHH_` escapes spreadsheets read back.
    static func appendEscaped(_ s: String, to out: inout [UInt8]) {
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "_") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "x"):
                out.append(contentsOf: "_x005F_".utf8)
            case 0x00..<0x20 where b != 0x09 && b != 0x0A && b != 0x0D:
                out.append(contentsOf: String(format: "_x%04X_", b).utf8)
            default: out.append(b)
            }
            i += 1
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
        guard let file, failure == nil, !bytes.isEmpty else { return }
        if fwrite(bytes, 1, bytes.count, file) != bytes.count { failure = String(cString: strerror(errno)) }
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

/// CRC-32 (ISO-HDLC, as ZIP uses it), table-driven.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Continues a running CRC (start with 0xFFFFFFFF, finish by XOR with 0xFFFFFFFF).
    static func update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
        var c = crc
        bytes.withUnsafeBufferPointer { p in
            for b in p { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c
    }
}

extension [UInt8] {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { append(UInt8((v >> UInt32(s)) & 0xFF)) } }
}
