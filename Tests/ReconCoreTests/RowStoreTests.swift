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
    @Test func internerGrowsAndFindsEveryValue() {
        var interner = ByteInterner()
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
