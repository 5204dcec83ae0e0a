import Foundation
@testable import ReconReports
import Testing

/// plan.xlsx's writer read back by independent code (Python's zipfile, which checks every
/// entry's CRC-32, and its XML parser placing reference-less cells in order as the format says,
/// then undoing the `_xHHHH_` escapes as spreadsheets do):
/// random rows of text (CR, controls and `_x` included), labels, numbers and empty cells give back the same cells in the same
/// columns, and leading or trailing spaces survive.
struct XLSXRoundTripTests {
    @Test func crc32MatchesTheCheckValueAndTheBytewiseDefinition() {
        #expect(CRC32.update(0xFFFF_FFFF, Array("123456789".utf8)) ^ 0xFFFF_FFFF == 0xCBF4_3926)
        var g = CSVRoundTripTests.Generator(state: 5)
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 79, 80, 127, 128, 129, 1000, 4099, (1 << 20) + 13] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &g) }
            var bytewise: UInt32 = 0xFFFF_FFFF
            for b in bytes { bytewise = CRC32.tables[Int((bytewise ^ UInt32(b)) & 0xFF)] ^ (bytewise >> 8) }
            #expect(CRC32.update(0xFFFF_FFFF, bytes) == bytewise, "length \(length)")
            // The tables alone, a start at every offset within 16 bytes, and a run continued in pieces.
            bytes.withUnsafeBytes { all in
                #expect(CRC32.update(0xFFFF_FFFF, all, folding: false) == bytewise, "length \(length), tables")
                for offset in 1..<max(1, min(16, length)) {
                    let tail = UnsafeRawBufferPointer(rebasing: all[offset...])
                    #expect(CRC32.update(0xFFFF_FFFF, tail) == CRC32.update(0xFFFF_FFFF, tail, folding: false), "length \(length), offset \(offset)")
                }
                var running: UInt32 = 0xFFFF_FFFF, at = 0
                for piece in [70, 1, 200, 33] where at < length {
                    let end = min(length, at + piece)
                    running = CRC32.update(running, UnsafeRawBufferPointer(rebasing: all[at..<end]))
                    at = end
                }
                running = CRC32.update(running, UnsafeRawBufferPointer(rebasing: all[at...]))
                #expect(running == bytewise, "length \(length), in pieces")
            }
        }
    }

    static func readWithPython(_ path: String) throws -> [[String]] {
        try CSVRoundTripTests.rowsFromPython("""
            import json, re, sys, zipfile, xml.etree.ElementTree as ET
            def unescape(s):  # the _xHHHH_ escapes spreadsheets read back
                return re.sub(r'_x([0-9A-F]{4})_', lambda m: chr(int(m.group(1), 16)), s)
            ns = {'m': 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'}
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None, 'a CRC-32 is wrong'
            types = z.read('[Content_Types].xml').decode()
            rels = z.read('xl/_rels/workbook.xml.rels').decode()
            assert 'sharedStrings' in types and 'sharedStrings.xml' in rels
            shared = [unescape(''.join(t.text or '' for t in si.iter('{%s}t' % ns['m']))) for si in ET.fromstring(z.read('xl/sharedStrings.xml')).findall('m:si', ns)]
            rows = []
            for row in ET.fromstring(z.read('xl/worksheets/sheet1.xml')).find('m:sheetData', ns).findall('m:row', ns):
                cells = []
                for c in row.findall('m:c', ns):
                    assert c.get('r') is None
                    t, v, inline = c.get('t'), c.find('m:v', ns), c.find('m:is/m:t', ns)
                    if t == 's': cells.append('S:' + shared[int(v.text)])
                    elif t == 'inlineStr': cells.append('T:' + unescape(inline.text or ''))
                    elif v is not None: cells.append('N:' + v.text)
                    else: cells.append('')
                while cells and cells[-1] == '': cells.pop()
                rows.append(cells)
            json.dump(rows, sys.stdout)
            """, path)
    }

    @Test func randomRowsReadBackInTheirColumns() throws {
        var g = CSVRoundTripTests.Generator(state: 3)
        // Enough labels for indexes of one, two and three digits.
        let labels = ["update_field", "link", "needs_human", " padded ", "a & b <c>", "x_x41_"] + (0..<150).map { "label \($0)" }
        var rows: [[XLSXWriter.Cell]] = []
        for _ in 0..<3_000 {
            rows.append((0..<Int.random(in: 1...9, using: &g)).map { _ in
                switch Int.random(in: 0..<4, using: &g) {
                case 0: return .empty
                case 1: return .number(String(Int.random(in: -99_999...99_999, using: &g)) + ".5")
                case 2: return .label(labels.randomElement(using: &g)!)
                default:
                    var v = CSVRoundTripTests.value(&g) ?? ""
                    if Int.random(in: 0..<8, using: &g) == 0 { v += "\u{1}_x2\u{1F}" }
                    return .text(v)
                }
            })
        }
        let path = NSTemporaryDirectory() + "xlsx-roundtrip-\(UUID().uuidString).xlsx"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let x = try XLSXWriter(path: path, sheetName: "plan B-1 & <2>")
        for r in rows { x.row(r) }
        x.beginRow(); x.empty(); x.text(joining: ["FND-1", "FND-2", "FND-3"], separator: UInt8(ascii: " ")); x.endRow()
        x.beginRow(); Array("ACT-0123456789abcdef".utf8).withUnsafeBufferPointer { x.text(bytes: $0) }
        Array(" a<b> ".utf8).withUnsafeBufferPointer { x.text(bytes: $0) }; x.endRow()
        try x.finish()
        let read = try Self.readWithPython(path)
        var expected: [[String]] = rows.map { r in
            var cells: [String] = r.map {
                switch $0 {
                case .empty: return ""
                case .number(let n): return "N:" + n
                case .label(let s): return "S:" + s
                case .text(let s): return "T:" + s
                }
            }
            while cells.last == "" { cells.removeLast() }
            return cells
        }
        expected.append(["", "T:FND-1 FND-2 FND-3"])
        expected.append(["T:ACT-0123456789abcdef", "T: a<b> "])
        #expect(read.count == expected.count)
        let wrong = zip(expected, read).enumerated().filter { $0.element.0 != $0.element.1 }.prefix(3)
        #expect(wrong.isEmpty, "\(wrong.map { "row \($0.offset): wrote \($0.element.0), read \($0.element.1)" })")
    }

    /// The word-at-a-time scan for bytes that need an escape agrees with the rule byte by byte
    /// (controls, `& < > "`, `_` before `x`) for values of every length up to three words, each
    /// special byte at every position.
    @Test func escapeScanAgreesWithTheByteRule() {
        func needsEscape(_ b: [UInt8]) -> Bool {
            b.indices.contains { i in
                b[i] < 0x20 || "&<>\"".utf8.contains(b[i]) || (b[i] == UInt8(ascii: "_") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "x"))
            }
        }
        let plain = Array("ab9Z.@-é".utf8)
        let specials: [[UInt8]] = [[0x00], [0x09], [0x0A], [0x0D], [0x1F], [0x20], [0x7F], [0x80], [0xFF], Array("&".utf8), Array("<".utf8),
                                   Array(">".utf8), Array("\"".utf8), Array("'".utf8), Array("_".utf8), Array("_x".utf8), Array("x".utf8), Array("_X".utf8)]
        var checked = 0
        for length in 0...25 {
            let base = (0..<length).map { plain[$0 % plain.count] }
            for s in specials {
                for at in 0...length {
                    let value = Array(base[..<at]) + s + Array(base[at...])
                    value.withUnsafeBufferPointer { #expect(XLSXWriter.isClean($0) == !needsEscape(value), "\(value)") }
                    checked += 1
                }
            }
        }
        #expect(checked > 5_000)
    }

    /// The sheet is written through a buffer of `XLSXWriter.chunk` bytes: a cell longer than it
    /// and rows across its end read back whole.
    @Test func aSheetOfSeveralBuffersReadsBackWhole() throws {
        let long = String(repeating: "a<b>&c ", count: XLSXWriter.chunk / 5)
        var expected: [[String]] = [["T:" + long]]
        let path = NSTemporaryDirectory() + "xlsx-buffers-\(UUID().uuidString).xlsx"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let x = try XLSXWriter(path: path, sheetName: "plan")
        x.row([.text(long)])
        for i in 0..<30_000 {
            x.row([.text("R\(i)"), .label(["link", "merge"][i % 2]), .text(String(repeating: "_x", count: i % 13))])
            expected.append(["T:R\(i)", "S:" + ["link", "merge"][i % 2], "T:" + String(repeating: "_x", count: i % 13)])
        }
        try x.finish()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count > 3 * XLSXWriter.chunk)
        let read = try Self.readWithPython(path)
        #expect(read.count == expected.count)
        let wrong = zip(expected, read).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(wrong == nil, "row \(wrong?.offset ?? 0): wrote \(wrong.map { $0.element.0.map { $0.prefix(40) } } ?? []), read \(wrong.map { $0.element.1.map { $0.prefix(40) } } ?? [])")
    }

    /// Labels looked up among a column's recent ones give the same workbook as labels hashed
    /// every time: for columns of a few values, and for one of more values than it remembers.
    @Test func recentLabelsWriteTheSameWorkbook() throws {
        var g = CSVRoundTripTests.Generator(state: 11)
        let few = ["merge", "link", "create", "", "update_status"]
        let many = (0..<40).map { "reason \($0 % 10)\($0 / 10)" } + ["reason 00"]   // equal lengths, two alike
        let rows = (0..<5_000).map { _ in (few.randomElement(using: &g)!, many.randomElement(using: &g)!) }
        func write(recent: Bool) throws -> Data {
            let path = NSTemporaryDirectory() + "xlsx-labels-\(UUID().uuidString).xlsx"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let x = try XLSXWriter(path: path, sheetName: "plan")
            var (first, second) = (XLSXWriter.RecentLabels(), XLSXWriter.RecentLabels())
            for (a, b) in rows {
                x.beginRow()
                if recent { x.label(a, recent: &first); x.label(b, recent: &second) } else { x.label(a); x.label(b) }
                x.endRow()
            }
            try x.finish()
            return try Data(contentsOf: URL(fileURLWithPath: path))
        }
        let hashed = try write(recent: false)
        #expect(try write(recent: true) == hashed)
        #expect(hashed.count > 5_000 * 20)
    }
}
