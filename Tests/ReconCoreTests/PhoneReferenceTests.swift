import Foundation
@testable import ReconCore
import Testing

/// recon's phone judgements against the reference: PyPI's `phonenumbers` (the Python port of
/// libphonenumber) of the release recon's metadata comes from, run by scripts/phone_reference.py.
/// `make test` installs it (scripts/phone-reference.sh) and names it in RECON_PHONE_REFERENCE.
/// Both of recon's paths are checked: the fast path with libphonenumber behind it, and
/// libphonenumber alone.
struct PhoneReferenceTests {
    /// Numbers in ranges opened after the 2022 metadata Debian's libphonenumber carries (all
    /// reported invalid with it): the Australian mobiles a user saw, and two per region found by
    /// comparing phonenumbers 8.12.57 with 9.0.43 over mutations of each region's example numbers.
    static let newRanges: [(region: String, text: String)] = [
        ("AU", "0463 561 860"), ("AU", "0464 834 715"), ("AU", "+61 454 123 456"), ("AU", "+61 465 123 456"),
        ("AU", "+61 483 912 345"), ("AU", "+61 493 712 345"), ("AU", "+61 494 123 456"), ("AU", "+61 496 123 456"),
        ("AI", "+12644776821"), ("AR", "+541100865913"), ("AR", "+541101368325"), ("BJ", "+2290120023812"),
        ("BJ", "+2290120032418"), ("BS", "+12428301051"), ("BS", "+12428306405"), ("BW", "+2672106220"),
        ("BW", "+2672109371"), ("DO", "+18090014751"), ("DO", "+18090059341"), ("ET", "+251111011188"),
        ("ET", "+251111014518"), ("GF", "+594594130555"), ("GF", "+594594131490"), ("GP", "+590590355042"),
        ("GP", "+590590367218"), ("GU", "+16712101165"), ("GU", "+16712101515"), ("HN", "+50422049111"),
        ("HN", "+50422141887"), ("JE", "+447797001057"), ("JE", "+447797001132"), ("JO", "+962711387881"),
        ("JO", "+962711835349"), ("KR", "+821000253501"), ("KR", "+821000406071"), ("KY", "+13454154458"),
        ("KZ", "+77185986276"), ("LI", "+4232244961"), ("LI", "+4232244987"), ("MQ", "+596596819309"),
        ("MQ", "+596596826562"), ("NG", "+2342010256590"), ("NG", "+2342010480781"), ("NU", "+6838881160"),
        ("NU", "+6838881184"), ("OM", "+96821135294"), ("OM", "+96821199111"), ("SN", "+221300133358"),
        ("SN", "+221300195599"), ("TD", "+23561104100"), ("TD", "+23561251621"), ("TJ", "+992333511158"),
        ("TJ", "+992333598619"), ("VI", "+13402047226"), ("VI", "+13402063492"), ("YT", "+262269154255"),
        ("YT", "+262269541768")
    ]

    /// The new ranges written internationally and nationally (with the trunk prefix), read in their region.
    static func newRangeEntries(_ table: PhoneMetadataTable) -> [(region: String, text: String)] {
        var out: [(region: String, text: String)] = []
        for (region, text) in newRanges {
            out.append((region, text))
            guard text.hasPrefix("+"), let r = table.regions[region] else { continue }
            let nsn = text.dropFirst(1 + String(r.countryCode).count)
            out.append((region, r.nationalPrefix + nsn))
        }
        return out
    }

    @Test func numbersInRangesOpenedSince2022AreValid() throws {
        let normaliser = PhoneNormaliser(defaultRegion: "AU")
        for (region, text) in Self.newRanges {
            #expect(normaliser.normalise(text, region: region).key != nil, "\(region) \(text)")
        }
        #expect(PhoneNormaliser.parse("0463 561 860", region: "AU") == .valid("+61463561860"))
    }

    @Test func reconJudgesTheCorpusAsTheReferenceDoes() throws {
        let env = ProcessInfo.processInfo.environment["RECON_PHONE_REFERENCE"] ?? ""
        try #require(!env.isEmpty, "RECON_PHONE_REFERENCE must name a Python with phonenumbers (scripts/phone-reference.sh; make test sets it)")
        let release = try PhoneMetadataFile.require()
        let table = try #require(PhoneMetadataTable.shared)
        // Every region and non-geographic entity of the metadata, in many shapes, and the new ranges.
        var entries = PhoneCorpus(table: table, variants: 2, seed: 11).entries.map { (region: $0.region, text: $0.text) }
        entries += Self.newRangeEntries(table)
        entries.removeAll { $0.text.contains("\t") || $0.text.contains("\n") || $0.text.contains("\r") }
        let answers = try Self.reference(python: env, entries)
        try #require(answers.count == entries.count + 1, "the reference answered \(answers.count - 1) of \(entries.count)")
        #expect(answers[0] == "phonenumbers \(release.version)", "the reference is not the metadata's release")

        let fastPath = try #require(PhoneFastPath(table: table))
        var differences: [String] = []
        var kinds: [String: Int] = [:]
        for (i, e) in entries.enumerated() {
            let want = Self.expected(answers[i + 1], region: e.region)
            kinds[String(answers[i + 1].prefix { $0 != "\t" }), default: 0] += 1
            let slow = PhoneNormaliser.parse(e.text, region: e.region)
            let fast = fastPath.normalise(e.text, region: e.region) ?? slow
            if (fast != want || slow != want) && differences.count < 30 {
                differences.append("\(e.region) \(e.text): reference \(want), recon \(fast), libphonenumber alone \(slow)")
            }
        }
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
        // Not vacuous: a large corpus with every kind of answer.
        #expect(entries.count > 50_000)
        for kind in ["valid", "invalid", "unparseable"] { #expect(kinds[kind, default: 0] > 1_000, "\(kind): \(kinds)") }
    }

    /// The reference's line as recon writes its judgement.
    static func expected(_ line: String, region: String) -> Normalised {
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        switch f.first {
        case "valid" where f.count == 2: return .valid(f[1])
        case "invalid" where f.count == 3:
            let why: PhoneInvalidity? = switch f[1] {
            case "too_short": .tooShort
            case "too_long": .tooLong
            case "invalid_length": .invalidLength
            case "local_only": .localOnly
            case "invalid_country_code": .invalidCountryCode
            case "unknown_range": .unknownRange
            default: nil
            }
            guard let why, let code = Int(f[2]) else { return .invalid(reason: "unreadable reference line \(line)") }
            return .invalid(reason: PhoneNormaliser.invalidReason(why, code: code, region: region))
        default:
            return .invalid(reason: "phone cannot be parsed as a number (read with region \(region))")
        }
    }

    /// scripts/phone_reference.py over `entries`: its version line, then one line per entry.
    static func reference(python: String, _ entries: [(region: String, text: String)]) throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("phone-reference-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.tsv"), output = dir.appendingPathComponent("out.txt")
        try Data(entries.map { "\($0.region)\t\($0.text)\n" }.joined().utf8).write(to: input)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/phone_reference.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script.path]
        p.standardInput = try FileHandle(forReadingFrom: input)
        p.standardOutput = try FileHandle(forWritingTo: output)
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "\(python) \(script.path) exited \(p.terminationStatus)")
        return try String(contentsOf: output, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)
    }
}
