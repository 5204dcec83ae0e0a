import Foundation
@testable import ReconReports
import Testing

/// The report writer's CSV read back by an independent, well-kept parser (Python's csv module):
/// random records with quotes, commas, CR, LF, tabs, leading `= + - @`, characters of every
/// Unicode plane, empty and NULL fields give back the same values, exactly for machines and after
/// the documented formula guard for people. (NULL and the empty string are both an empty cell.)
struct CSVRoundTripTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let pieces = ["\"", ",", "\r", "\n", "\r\n", "\t", "=", "+", "-", "@", "'", " ", "a", "Z", "0", "7", ".", "=SUM(A1)",
                         "+49 151", "-12.50", "é", "ß", "中", "😀", "𝔘", "\u{1F1E9}\u{1F1EA}", "\u{200B}", "\u{FEFF}"]

    /// A random value (nil for NULL): pieces, and scalars from every plane (0–16, no surrogates).
    static func value(_ g: inout Generator) -> String? {
        switch Int.random(in: 0..<10, using: &g) {
        case 0: return nil
        case 1: return ""
        default:
            var s = ""
            for _ in 0..<Int.random(in: 1...12, using: &g) {
                if Bool.random(using: &g) {
                    s += pieces.randomElement(using: &g)!
                } else {
                    let plane = UInt32.random(in: 0...16, using: &g)
                    var v = plane << 16 | UInt32.random(in: 0x20...0xFFFD, using: &g)
                    if (0xD800...0xDFFF).contains(v) { v = 0x41 }
                    s.unicodeScalars.append(Unicode.Scalar(v) ?? "x")
                }
            }
            return s
        }
    }

    /// What a person's spreadsheet cell holds (README, "Reports"): formula-like values get a
    /// leading apostrophe; plain signed numbers do not.
    static func guarded(_ v: String) -> String {
        guard let first = v.unicodeScalars.first else { return v }
        let plainNumber = v.range(of: #"^[+-][0-9]+(\.[0-9]+)?$"#, options: .regularExpression) != nil
        if "=@\t\r".unicodeScalars.contains(first) || ("+-".unicodeScalars.contains(first) && !plainNumber) { return "'" + v }
        return v
    }

    /// Rows as Python's csv module reads them from `path`.
    static func readWithPython(_ path: String) throws -> [[String]] {
        try rowsFromPython("""
            import csv, json, sys
            csv.field_size_limit(1 << 30)
            with open(sys.argv[1], newline='', encoding='utf-8') as f:
                json.dump(list(csv.reader(f)), sys.stdout)
            """, path)
    }

    /// Runs a Python `script` on `path`; it prints the rows it read as JSON.
    static func rowsFromPython(_ script: String, _ path: String) throws -> [[String]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.fileReadCorruptFile) }
        return try JSONDecoder().decode([[String]].self, from: data)
    }

    /// The eight-bytes-at-a-time scan finds what a byte-by-byte one finds, at every position and length.
    @Test func theQuoteScanFindsEverySpecialByte() {
        let specials: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: "\""), 0x0D, 0x0A]
        let others: [UInt8] = [0x00, 0x01, 0x09, 0x2B, 0x2D, 0x2E, 0x41, 0x7F, 0x80, 0xC3, 0xFF, 0x2C ^ 0x80, 0x22 + 1, 0x0C, 0x0B]
        for length in 0..<40 {
            var plain = (0..<length).map { others[($0 * 7 + length) % others.count] }
            #expect(plain.withUnsafeBufferPointer { CSVWriter.needsQuotes($0) } == false, "length \(length)")
            for at in 0..<length {
                for s in specials {
                    let saved = plain[at]
                    plain[at] = s
                    #expect(plain.withUnsafeBufferPointer { CSVWriter.needsQuotes($0) }, "length \(length), byte \(s) at \(at)")
                    plain[at] = saved
                }
            }
        }
    }

    @Test(arguments: [CSVWriter.Audience.people, .machines])
    func randomRecordsReadBackWithPythonsCSV(audience: CSVWriter.Audience) throws {
        var g = Generator(state: audience == .people ? 1 : 2)
        var records: [[String?]] = []
        for _ in 0..<2_000 { records.append((0..<Int.random(in: 1...6, using: &g)).map { _ in Self.value(&g) }) }
        let path = NSTemporaryDirectory() + "csv-roundtrip-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var csv = try CSVWriter(streamingTo: path, for: audience)
        for r in records {
            for v in r {
                if var v { v.withUTF8 { csv.field(bytes: $0) } } else { csv.field(bytes: nil) }
            }
            csv.endRow()
        }
        try csv.finish()
        let read = try Self.readWithPython(path)
        #expect(read.count == records.count)
        var wrong: [String] = []
        for (i, (r, back)) in zip(records, read).enumerated() {
            let expected = r.map { v in audience == .people ? Self.guarded(v ?? "") : v ?? "" }
            // A row of one empty field is a blank line, which the csv module reads as no fields.
            if back != expected && !(expected == [""] && back.isEmpty), wrong.count < 5 {
                wrong.append("row \(i): wrote \(expected.map { Array($0.unicodeScalars).map { String($0.value, radix: 16) } }), read \(back)")
            }
        }
        #expect(wrong.isEmpty, "\(wrong)")
    }
}

extension CSVRoundTripTests {
    /// Fields are copied into a buffer of `CSVWriter.chunk` bytes that is written out when full:
    /// a file several buffers long, with a field longer than one buffer and rows across each
    /// buffer's end, is the same streamed as collected, and reads back whole.
    @Test func aFileOfSeveralBuffersReadsBackWhole() throws {
        let long = String(repeating: "ab,c", count: CSVWriter.chunk / 3)    // quoted, longer than a buffer
        var rows: [[String]] = [["id", "value"], ["L1", long]]
        for i in 0..<40_000 { rows.append(["R\(i)", String(repeating: "x", count: i % 97), "=\(i)"]) }
        rows.append(["L2", long])
        let path = NSTemporaryDirectory() + "csv-buffers-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var streamed = try CSVWriter(streamingTo: path, for: .machines)
        var collected = CSVWriter(for: .machines)
        for r in rows { streamed.row(r); collected.row(r) }
        try streamed.finish()
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(written.count > 3 * CSVWriter.chunk)
        #expect(Array(written) == collected.bytes)
        let read = try Self.readWithPython(path)
        #expect(read.count == rows.count)
        let wrong = zip(rows, read).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(wrong == nil, "row \(wrong?.offset ?? 0): wrote \(wrong.map { $0.element.0.map { $0.prefix(40) } } ?? []), read \(wrong.map { $0.element.1.map { $0.prefix(40) } } ?? [])")
    }
}

/// File errors read as plain words naming the path once, never as a Foundation domain and code.
struct FileErrorTests {
    @Test func aReportFolderUnderAFileSaysNotADirectory() throws {
        let file = NSTemporaryDirectory() + "recon-not-a-dir-\(UUID().uuidString)"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let error = try #require(throws: ReportError.self) { _ = try ReportWriter(reportsDirectory: file + "/reports").begin("R1") }
        #expect(error.description.contains("not a directory") || error.description.contains("not a valid file name"), "\(error)")
        #expect(!error.description.contains("NSCocoaErrorDomain") && !error.description.contains("error 5"), "\(error)")
        #expect(error.description.components(separatedBy: file).count == 2, "the path once: \(error)")
        let metrics = try #require(throws: ReportError.self) { try MetricsFile.write("x 1\n", to: file + "/recon.prom") }
        #expect(metrics.description.hasSuffix(": not a directory"), "\(metrics)")
    }
}
