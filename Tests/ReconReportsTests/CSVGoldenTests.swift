import Foundation
import ReconCore
import ReconReports
import Testing

/// Golden files: the writer's bytes must equal the reviewed files in Golden/. On a mismatch the
/// test prints both versions line by line; after an intended change, regenerate with
/// RECON_UPDATE_GOLDEN=1 and review the diff in git.
struct CSVGoldenTests {
    static let tricky: [Finding] = [
        Finding(type: .fieldMismatch, entity: .customer, severity: .warning, matchedOn: "external_id", field: "name",
                detail: "name differs, see \"notes\"",
                members: [FindingMember(system: .crm, recordId: "C1", value: "Smith, John"),
                          FindingMember(system: .erp, recordId: "K1", value: "Line one\nline two\r\nthree")]),
        Finding(type: .invalid, entity: .customer, severity: .warning, field: "phone", detail: "formula-like values",
                members: [FindingMember(system: .crm, recordId: "=HYPERLINK(\"http://x\")", value: "+447400123456"),
                          FindingMember(system: .crm, recordId: "@SUM(A1)", value: "-12.50"),
                          FindingMember(system: .erp, recordId: "\tTAB", value: "\rCR")]),
        Finding(type: .duplicate, entity: .customer, severity: .warning, matchedOn: "email", detail: "emoji 😀 and ümlauts",
                members: [FindingMember(system: .crm, recordId: "Zoë", value: "zoë@example.com"),
                          FindingMember(system: .crm, recordId: "plain", value: "")]),
    ]

    func golden(_ name: String, _ bytes: [UInt8]) throws {
        let url = try #require(Bundle.module.url(forResource: "Golden", withExtension: nil)).appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["RECON_UPDATE_GOLDEN"] == "1" {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)")
            try Data(bytes).write(to: source)
            return
        }
        let expected = try [UInt8](Data(contentsOf: url))
        if bytes != expected {
            let e = String(decoding: expected, as: UTF8.self).components(separatedBy: "\r\n")
            let g = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
            var diff = ""
            for i in 0..<max(e.count, g.count) where (i < e.count ? e[i] : nil) != (i < g.count ? g[i] : nil) {
                diff += "line \(i + 1):\n  expected: \(i < e.count ? e[i].debugDescription : "<none>")\n  got:      \(i < g.count ? g[i].debugDescription : "<none>")\n"
            }
            Issue.record("\(name) differs from the golden file:\n\(diff)")
        }
    }

    @Test func findingsCSV() throws {
        let tracked = Self.tricky.enumerated().map { i, f in
            TrackedFinding(finding: f, status: i == 0 ? .persisting : .new, firstSeenRun: "20261101T000000Z",
                           firstSeenAt: "2026-11-01T00:00:00Z", nightsOpen: i == 0 ? 3 : 1)
        }
        try golden("findings.csv", ReportWriter(reportsDirectory: "/unused").findingsCSV(tracked))
    }

    /// A field written from its parts is the field of the joined string: plain parts, parts that
    /// need quotes, a first part a spreadsheet would run, empty parts, one part and none.
    @Test(arguments: [[String](), [""], ["crm:C1"], ["crm:C1", "erp:K1"], ["", "b"], ["a", ""], ["a,b", "c"], ["a", "say \"x\""],
                      ["a", "l1\nl2"], ["=1", "b"], ["+44", "b"], ["-12.50", "x"], ["@x", "y"], ["\tx", "y"], ["a", "=b"], ["😀", "ü", "中"]])
    func joinedField(parts: [String]) {
        var joined = CSVWriter(), written = CSVWriter()
        joined.field("before"); joined.field(parts.joined(separator: " ")); joined.endRow()
        written.field("before"); written.field(joining: parts, separator: UInt8(ascii: " ")); written.endRow()
        #expect(written.bytes == joined.bytes, "\(String(decoding: written.bytes, as: UTF8.self).debugDescription)")
    }

    @Test(arguments: [
        ("plain", "plain"), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""), ("a\nb", "\"a\nb\""),
        ("=1+2", "'=1+2"), ("+44 20", "'+44 20"), ("-3", "-3"), ("@x", "'@x"), ("\tx", "'\tx"),
        ("+4915111111111", "+4915111111111"), ("-12.50", "-12.50"), ("-1+2", "'-1+2"), ("+1e5", "'+1e5"), ("-.5", "'-.5"),
        ("-5.", "'-5."), ("+", "'+"), ("-1.2.3", "'-1.2.3"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("\rx", "\"'\rx\""), ("=a,b", "\"'=a,b\""), ("😀", "😀"), ("", ""),
    ])
    func cell(value: String, written: String) {
        var w = CSVWriter()
        w.row([value])
        #expect(String(decoding: w.bytes, as: UTF8.self) == written + "\r\n")
    }
}
