@testable import ReconCore
import Testing

/// The row store and the byte interner under the sizes the nightly run gives them (the
/// end-to-end fixtures stay inside one 65,536-row chunk and a pre-sized table).
struct RowStoreTests {
    /// Fields, NULLs and empty strings read back across several chunks and after `shrink`.
    @Test func fieldsReadBackAcrossChunks() {
        let rows = 140_000
        func value(_ i: Int, _ k: Int) -> String? {
            switch (i + k) % 7 {
            case 0: return nil
            case 1: return ""
            case 2: return "é\t\(i)"
            default: return String(repeating: "x", count: (i * 31 + k) % 40) + "\(i)-\(k)"
            }
        }
        var store = RowStore(width: 3)
        for i in 0..<rows {
            store.beginRow()
            for k in 0..<3 { store.appendField(value(i, k)) }
            store.endRow()
        }
        store.shrink()
        #expect(store.count == rows)
        var wrong: [String] = []
        for i in 0..<rows {
            for k in 0..<3 where store.string(i, k) != value(i, k) {
                if wrong.count < 5 { wrong.append("row \(i) field \(k)") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong)")
        #expect(store.withField(65_536, 1) { $0.map { String(decoding: $0, as: UTF8.self) } } == value(65_536, 1))
    }

    /// Values of any size: a field of a megabyte or more is kept out of line, and a chunk that
    /// would pass its byte limit sends the rest out of line too (here a 64 KiB limit stands in
    /// for the real 1 GiB). Whole COPY lines that do not fit are refused, to be split by field.
    @Test func largeValuesAndFullChunksAreStored() {
        var store = RowStore(width: 3, pageBytes: 64 * 1024)
        func value(_ i: Int, _ k: Int) -> String? {
            if k == 1 && i == 3 { return String(repeating: "L", count: RowStore.outOfLineBytes + 5) }
            if k == 2 { return i % 5 == 0 ? nil : "tail-\(i)" }
            return String(repeating: Character(UnicodeScalar(UInt8(65 + i % 26))), count: 1_000 + i % 17)
        }
        let rows = 300     // about 300 KB of fields: far past one 64 KiB chunk
        for i in 0..<rows {
            store.beginRow()
            if i % 2 == 0 {
                var line = Array(((0..<3).map { value(i, $0) ?? "\\N" }.joined(separator: "\t") + "\n").utf8)
                let appended = line.withUnsafeMutableBufferPointer { store.appendCopyLine(UnsafeBufferPointer($0)) }
                if !appended { for k in 0..<3 { store.appendField(value(i, k)) } }
            } else {
                for k in 0..<3 { store.appendField(value(i, k)) }
            }
            store.endRow()
        }
        store.shrink()
        var wrong: [String] = []
        for i in 0..<rows {
            for k in 0..<3 where store.string(i, k) != value(i, k) || store.bytes(i, k).map({ String(decoding: $0, as: UTF8.self) }) != value(i, k) {
                if wrong.count < 5 { wrong.append("row \(i) field \(k)") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong)")
    }

    /// A row is reached by 16-bit offsets from its start: in a row of many fields whose bytes
    /// pass that reach (here 30 fields of 1,000 to 1,400 bytes, NULLs between), the fields past
    /// it are kept out of line and read back the same, whether the row came field by field or as
    /// one COPY line (refused, then split by field), and the rows around it are unaffected.
    @Test func rowsLongerThanARowsReachReadBack() {
        let width = 30
        func value(_ i: Int, _ k: Int) -> String? {
            if i % 3 == 1 { return k % 4 == 0 ? nil : "short \(i) \(k)" }
            return k % 7 == 3 ? nil : String(repeating: Character(UnicodeScalar(UInt8(97 + (i + k) % 26))), count: 1_000 + (k * 37 + i) % 400)
        }
        var store = RowStore(width: width)
        var refused = 0
        for i in 0..<90 {
            store.beginRow()
            if i % 2 == 0 {
                var line = Array(((0..<width).map { value(i, $0) ?? "\\N" }.joined(separator: "\t") + "\n").utf8)
                let appended = line.withUnsafeMutableBufferPointer { store.appendCopyLine(UnsafeBufferPointer($0)) }
                if !appended {
                    refused += 1
                    for k in 0..<width { store.appendField(value(i, k)) }
                }
            } else {
                for k in 0..<width { store.appendField(value(i, k)) }
            }
            store.endRow()
        }
        store.shrink()
        #expect(refused == 30, "every long even row is refused as one line, every short one taken")
        var wrong: [String] = []
        for i in 0..<90 {
            for k in 0..<width where store.string(i, k) != value(i, k) || store.bytes(i, k).map({ String(decoding: $0, as: UTF8.self) }) != value(i, k) {
                if wrong.count < 5 { wrong.append("row \(i) field \(k)") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong)")
    }

    /// A store copied while it is being built (its open chunk written in place) is a value: rows
    /// appended to the copy are not in the original, nor the other way round, on either side of
    /// a chunk boundary.
    @Test func aCopyMadeWhileBuildingIsIndependent() {
        func add(_ store: inout RowStore, _ text: String) {
            store.beginRow()
            store.appendField(text)
            store.appendField(nil as String?)
            store.endRow()
        }
        var original = RowStore(width: 2)
        for i in 0..<65_530 { add(&original, "row \(i)") }
        var copy = original
        for i in 0..<20 { add(&copy, "copy \(i)") }
        for i in 0..<10 { add(&original, "original \(i)") }
        copy.shrink()
        original.shrink()
        #expect(copy.count == 65_550 && original.count == 65_540)
        #expect(copy.string(65_529, 0) == "row 65529" && original.string(65_529, 0) == "row 65529")
        #expect(copy.string(65_530, 0) == "copy 0" && copy.string(65_549, 0) == "copy 19")
        #expect(original.string(65_530, 0) == "original 0" && original.string(65_539, 0) == "original 9")
        #expect(copy.string(65_549, 1) == nil && original.string(65_539, 1) == nil)
    }

    /// The word test that skips 8 ordinary bytes at a time and finds the first special one: every
    /// byte value at every position, among ordinary bytes and next to a zero byte and to the
    /// other special byte.
    @Test func aWordHasATabOrBackslashExactlyWhenOneOfItsBytesIs() {
        var wrong = 0
        for filler: UInt8 in [0x61, 0x00, 0xFF, 0x08, 0x5D] {
            for p in 0..<8 {
                for v in 0...255 {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[p] = UInt8(v)
                    let w = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                    let expected = bytes.contains(0x09) || bytes.contains(0x5C)
                    let first = RowStore.firstTabOrBackslash(w)
                    if (first != nil) != expected { wrong += 1 }
                    // The position of the first, which `appendCopyLine` jumps to.
                    if first != bytes.firstIndex(where: { $0 == 0x09 || $0 == 0x5C }) { wrong += 1 }
                }
            }
        }
        #expect(wrong == 0)
    }

    /// Rows stored from whole COPY text lines (`appendCopyLine`), with the field-by-field path
    /// for the lines it refuses, read back the same as rows stored field by field: NULLs, empty
    /// fields, escapes, a line without its newline, across chunks.
    @Test func copyLinesReadBackAsTheirFields() {
        let rows = 140_000, width = 4
        func value(_ i: Int, _ k: Int) -> String? {
            switch (i * 7 + k * 3) % 11 {
            case 0: return nil
            case 1: return ""
            case 2 where i % 5 == 0: return "tab\there"
            case 3 where i % 7 == 0: return "back\\slash"
            case 4 where i % 9 == 0: return "two\nlines"
            case 5: return "N"
            default: return "v\(i)-\(k)é"
            }
        }
        func copyText(_ v: String?) -> String {
            guard let v else { return "\\N" }
            return v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t")
                .replacingOccurrences(of: "\n", with: "\\n")
        }
        var store = RowStore(width: width)
        var whole = 0
        for i in 0..<rows {
            var line = (0..<width).map { copyText(value(i, $0)) }.joined(separator: "\t")
            if i % 3 != 0 { line += "\n" }
            store.beginRow()
            let stored = line.withUTF8 { store.appendCopyLine($0) }
            if stored { whole += 1 } else { for k in 0..<width { store.appendField(value(i, k)) } }
            store.endRow()
        }
        store.shrink()
        var wrong: [String] = []
        for i in 0..<rows {
            for k in 0..<width where store.string(i, k) != value(i, k) {
                if wrong.count < 5 { wrong.append("row \(i) field \(k): \(String(describing: store.string(i, k)))") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong)")
        // Most lines are stored whole; those with escapes other than \N are not.
        #expect(whole > rows / 2 && whole < rows)
        // A line with too few or too many fields is refused and leaves nothing behind.
        func copy(_ line: String, into store: inout RowStore) -> Bool {
            var line = line
            return line.withUTF8 { store.appendCopyLine($0) }
        }
        var small = RowStore(width: 2)
        small.beginRow()
        #expect(copy("a\tb\tc\n", into: &small) == false)
        #expect(copy("a\n", into: &small) == false)
        #expect(copy("\\Nx\t\\N", into: &small) == false)
        #expect(copy("x\t\\N", into: &small))
        small.endRow()
        small.shrink()
        #expect(small.count == 1 && small.string(0, 0) == "x" && small.string(0, 1) == nil)
    }

    @Test func recordsBuiltInMemoryKeepTheirRowNumbersAndAttributes() {
        let records = [CustomerRecord(id: "c1", email: "a@example.com", attributes: ["SMB"], row: 4),
                       CustomerRecord(id: "c2", phone: nil, attributes: [], row: 9)]
        let stored = Records(records, attributeCount: 1)
        #expect(stored.count == 2)
        #expect(stored[0].row == 4 && stored[1].row == 9)
        #expect(stored[0].email == "a@example.com" && stored[0].attributes == ["SMB"])
        #expect(stored[1].phone == nil && stored[1].attributes == [nil])
    }

    /// Codes in order of first appearance, found again after the table has grown many times.
    /// Also past the point where the table drops its hash bits and holds plain codes (2^24
    /// values in a run; 1,000 here).
    @Test(arguments: [1 << 24, 1_000])
    func internerGrowsAndFindsEveryValue(tagLimit: Int) {
        var interner = ByteInterner(capacity: 16, tagLimit: tagLimit)
        let values = (0..<50_000).map { "v\($0 * 7919 % 100_003)" } + ["", "a", "ab", "abcdefgh", "abcdefghi"]
        for (i, v) in values.enumerated() {
            let (code, inserted) = interner.intern(v)
            #expect(inserted && code == Int32(i))
        }
        #expect(interner.count == values.count)
        var missing = 0
        for (i, v) in values.enumerated() where interner.find(v) != Int32(i) || interner.string(Int32(i)) != v { missing += 1 }
        #expect(missing == 0)
        #expect(interner.intern("a") == (Int32(values.count - 4), false))
        #expect(interner.find("abcdefghij") == nil && interner.find("v") == nil)
    }
}
