@testable import ReconCore
import Dispatch
import Testing

struct EmailTests {
    @Test(arguments: [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM ", "alice@example.com"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
        ("léa.müller@example.fr", "léa.müller@example.fr"),
        ("o'brien@example.ie", "o'brien@example.ie"),
    ])
    func valid(raw: String, key: String) {
        #expect(EmailNormaliser.normalise(raw) == .valid(key))
    }

    @Test(arguments: [
        "bob@@example.com", "bob", "@example.com", "bob@", "bob@example", "bob@example.", "bob@.example.com",
        "bob smith@example.com", ".bob@example.com", "bob.@example.com", "bo..b@example.com",
        "bob@exa_mple.com", "bob@-example.com", "bob@example.123", "a,b@example.com",
    ])
    func invalid(raw: String) {
        guard case .invalid = EmailNormaliser.normalise(raw) else {
            Issue.record("\(raw) should be invalid")
            return
        }
    }

    /// Each invalid address's reason, in the order the checks run (the dot before the
    /// characters, a label's hyphen before its characters, the characters before a numeric end).
    @Test(arguments: [
        ("bob@@example.com", "email must contain exactly one @"), ("bob", "email must contain exactly one @"),
        ("@example.com", "email local part is empty or longer than 64 characters"),
        (String(repeating: "a", count: 65) + "@example.com", "email local part is empty or longer than 64 characters"),
        ("bob@", "email domain has no dot"), ("bob@example", "email domain has no dot"),
        ("bob@example.", "email domain has an empty or overlong label"), ("bob@.example.com", "email domain has an empty or overlong label"),
        ("bob@" + String(repeating: "a", count: 64) + ".com", "email domain has an empty or overlong label"),
        ("bob smith@example.com", "email local part contains a character mail systems reject"),
        (".bob@example.com", "email local part has a misplaced dot"), ("bob.@example.com", "email local part has a misplaced dot"),
        ("bo..b@example.com", "email local part has a misplaced dot"), (".b b@example.com", "email local part has a misplaced dot"),
        ("bob@exa_mple.com", "email domain contains a character that is not a letter, digit or hyphen"),
        ("bob@-example.com", "email domain label starts or ends with a hyphen"), ("bob@ex-.c_m", "email domain label starts or ends with a hyphen"),
        ("bob@example.123", "email domain ends in a number"), ("bob@exa mple.123", "email domain contains a character that is not a letter, digit or hyphen"),
        ("a,b@example.com", "email local part contains a character mail systems reject"),
        ("a\u{7F}b@example.com", "email local part contains a character mail systems reject"),
    ])
    func invalidReason(raw: String, reason: String) {
        #expect(EmailNormaliser.normalise(raw) == .invalid(reason: reason))
    }

    /// The checks against a plain reading of the rules (each part found with `firstIndex`,
    /// each label checked in turn) on 20,000 generated addresses over the characters that
    /// decide them: the same reason, or none, for every one.
    @Test func reasonsAgreeWithAPlainReading() {
        func reference(_ s: String) -> String? {
            let bytes = Array(s.utf8)
            if bytes.count > EmailNormaliser.maxLength { return "email is longer than \(EmailNormaliser.maxLength) characters" }
            guard let at = bytes.firstIndex(of: 0x40), bytes.lastIndex(of: 0x40) == at else { return "email must contain exactly one @" }
            let local = Array(bytes[..<at]), domain = Array(bytes[(at + 1)...])
            if local.isEmpty || local.count > 64 { return "email local part is empty or longer than 64 characters" }
            if local.first == 0x2E || local.last == 0x2E || zip(local, local.dropFirst()).contains(where: { $0 == 0x2E && $1 == 0x2E }) {
                return "email local part has a misplaced dot"
            }
            if local.contains(where: { $0 <= 0x20 || $0 == 0x7F || Array(",;<>()[]\\\":".utf8).contains($0) }) {
                return "email local part contains a character mail systems reject"
            }
            if !domain.contains(0x2E) { return "email domain has no dot" }
            let labels = domain.split(separator: 0x2E, omittingEmptySubsequences: false)
            for label in labels {
                if label.isEmpty || label.count > 63 { return "email domain has an empty or overlong label" }
                if label.first == 0x2D || label.last == 0x2D { return "email domain label starts or ends with a hyphen" }
                if label.contains(where: { !(($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 >= 0x80) }) {
                    return "email domain contains a character that is not a letter, digit or hyphen"
                }
            }
            if labels.last!.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return "email domain ends in a number" }
            return nil
        }
        let alphabet: [UInt8] = Array("ab1.@-_, \"é".utf8)
        var state: UInt64 = 19
        func next() -> UInt64 {   // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var outcomes: Set<String> = []
        for _ in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(next() % 24) { bytes.append(alphabet[Int(next() % UInt64(alphabet.count))]) }
            let s = String(decoding: bytes, as: UTF8.self)
            let got = s.utf8.withContiguousStorageIfAvailable { EmailNormaliser.problem($0) } ?? Array(s.utf8).withUnsafeBufferPointer { EmailNormaliser.problem($0) }
            #expect(got == reference(s), "\(s.debugDescription)")
            outcomes.insert(got ?? "valid")
        }
        #expect(outcomes.count == 10, "\(outcomes.sorted())")   // every reason but the overlong, and valid
    }

    /// An address longer than mail systems accept is invalid, on the String and the byte paths.
    @Test func overlongIsInvalid() {
        let long = String(repeating: "a", count: 60) + "@" + String(repeating: "b", count: 60) + "." + String(repeating: "c", count: 60)
            + "." + String(repeating: "d", count: 60) + ".eeeee.example"
        #expect(long.utf8.count > 254)
        #expect(EmailNormaliser.normalise(long) == .invalid(reason: "email is longer than 254 characters"))
        var bytes = Array(long.utf8), key: [UInt8] = []
        #expect(bytes.withUnsafeBufferPointer { EmailNormaliser.normalise(bytes: $0, appendingTo: &key) } == .invalid(reason: "email is longer than 254 characters"))
        bytes.removeAll()
    }

    @Test func emptyIsNotInvalid() {
        #expect(EmailNormaliser.normalise(nil) == .empty)
        #expect(EmailNormaliser.normalise("   ") == .empty)
    }
}

struct PhoneTests {
    /// Hostile values cost no more than their length to reject, on both paths (fast and libphonenumber).
    @Test(arguments: ["+44" + String(repeating: "1", count: 100_000), String(repeating: "1 ", count: 25_000),
                      String(repeating: "9", count: 65), "+44 7400 123456 ext. " + String(repeating: "1", count: 50)])
    func overlongIsInvalidAtOnce(raw: String) {
        for fast in [true, false] {
            #expect(PhoneNormaliser(defaultRegion: "GB", fast: fast).normalise(raw, region: "GB")
                    == .invalid(reason: "phone is longer than 64 characters"))
        }
    }

    @Test(arguments: [
        ("+44 7400 123456", "GB", "+447400123456"),
        ("07400 123456", "GB", "+447400123456"),
        ("0044-7400123456", "GB", "+447400123456"),
        ("+1 415-200-0001", "GB", "+14152000001"),       // + wins over the region
        ("(415) 200-0001", "US", "+14152000001"),
        ("011 1-4152000001", "US", "+14152000001"),
        ("0151 1234 5678", "DE", "+4915112345678"),
        ("06 00 00 00 01", "FR", "+33600000001"),
        ("+33 6 00 00 00 01", "US", "+33600000001"),
    ])
    func e164(raw: String, region: String, expected: String) {
        let p = PhoneNormaliser(defaultRegion: "GB")
        #expect(p.normalise(raw, region: region) == .valid(expected))
    }

    @Test(arguments: [("12345", "GB"), ("n/a", "GB"), ("001-4152000001", "US"), ("+44 12", "US"), ("call me", "DE")])
    func invalid(raw: String, region: String) {
        let p = PhoneNormaliser(defaultRegion: "GB")
        guard case .invalid = p.normalise(raw, region: region) else {
            Issue.record("\(raw) in \(region) should be invalid")
            return
        }
    }

    @Test func regionFallsBackToDefault() {
        let p = PhoneNormaliser(defaultRegion: "DE")
        #expect(p.region(for: "fr") == "FR")
        #expect(p.region(for: "UK") == "DE")      // not ISO 3166-1 alpha-2
        #expect(p.region(for: nil) == "DE")
    }

    @Test func cachedAndUncachedAgree() {
        let p = PhoneNormaliser(defaultRegion: "GB")
        for raw in ["07400 123456", "07400 123456", "+1 415 200 0001", "junk"] {
            #expect(p.normalise(raw, region: "GB") == PhoneNormaliser.parse(raw, region: "GB"))
        }
    }
}

struct ValueTests {
    @Test(arguments: [("10.50", "10.5"), ("010.500", "10.5"), ("10", "10"), ("10.00", "10"), ("-0.00", "0"),
                      ("-12.30", "-12.3"), ("0.05", "0.05"), (" 7 ", "7")])
    func amount(raw: String, expected: String) {
        #expect(ValueNormaliser.amount(raw) == expected)
    }

    @Test(arguments: ["abc", "1.2.3", "", "1e5"])
    func notAnAmount(raw: String) {
        #expect(ValueNormaliser.amount(raw) == nil)
    }

    @Test(arguments: [
        ("1970-01-01 00:00:00+00", Int64(0)),
        ("2026-01-01 00:00:00+00", Int64(1_767_225_600)),
        ("2026-01-01 01:00:00+01", Int64(1_767_225_600)),
        ("2026-01-01 00:00:00.123456+00", Int64(1_767_225_600)),
        ("2026-01-01", Int64(1_767_225_600)),
        ("2024-02-29 12:00:00", Int64(1_709_208_000)),
        ("2026-01-01 05:30:00+05:30", Int64(1_767_225_600)),
    ])
    func epoch(raw: String, expected: Int64) {
        #expect(ValueNormaliser.epochSeconds(raw) == expected)
    }
}

/// Amounts as 64-bit values: every canonical text comes back unchanged, equal texts give equal
/// values and different texts different ones, whether they fit fixed point or not.
struct AmountCodesTests {
    @Test func roundTripAndEquality() {
        let raws = ["0", "-0", "10.50", "010.500", "-10.5", "0.5", "0.000000001", "0.0000000001", "999999999.999999999",
                    "1000000000", "-1000000000.5", "123456789012345678901234567890.12", "0.1234567891", "7", "-7", "1e5"]
        var codes = AmountCodes()
        var seen: [Int64: String] = [:]
        for raw in raws {
            var bytes = Array(raw.utf8), canonical: [UInt8] = []
            guard bytes.withUnsafeBufferPointer({ ValueNormaliser.amount(bytes: $0, into: &canonical) }) else {
                #expect(raw == "1e5"); continue
            }
            let text = String(decoding: canonical, as: UTF8.self)
            let v = canonical.withUnsafeBufferPointer { codes.code(canonical: $0) }
            #expect(codes.text(v) == text, "\(raw)")
            if let other = seen[v] { #expect(other == text, "\(raw)") }
            seen[v] = text
            bytes = []
        }
        #expect(Set(seen.values).count == seen.count)
        #expect(codes.text(AmountCodes.none) == nil)
    }
}

/// Trimming on bytes against `trimmingWhitespace` (Character semantics), around every kind of
/// whitespace and combining mark at the edges.
struct TrimBytesTests {
    @Test func bytesEqualString() {
        let edges = ["", " ", "\t", "\r\n", "\n", "\u{0B}", "\u{0C}", "\u{1C}", "\u{85}", "\u{A0}", "\u{3000}", " \u{301}", "\u{301}", "é", "x"]
        let middles = ["", "a", "ab", "a b", "é", "a\u{301}", " ", "\u{301}a"]
        for a in edges { for m in middles { for b in edges {
            var text = a + m + b
            let bytes = text.withUTF8 { p in ByteText.trimmed(p) { Array($0) } }
            #expect(String(decoding: bytes, as: UTF8.self) == text.trimmingWhitespace(), "\(Array(text.unicodeScalars))")
        } } }
    }
}

/// Every Latin-1 character and malformed UTF-8 through the appending byte path, against the
/// String path: the in-place lowercasing must agree with `String.lowercased()` scalar by scalar,
/// and bytes that are not well-formed must be decoded as String decodes them.
struct EmailLatin1Tests {
    @Test func everyLatin1CharacterLowercasesAsStringDoes() {
        for v in 0x80...0xFF {
            let c = String(UnicodeScalar(UInt8(v)))
            check(Array("x\(c)Y\(c)@example.com".utf8))
        }
    }

    @Test(arguments: [[0xC3], [0xC3, 0x41], [0xC3, 0xC3, 0x80], [0xC2, 0xFF], [0x80], [0xE2, 0x80, 0x99], [0xF0, 0x9F, 0x98, 0x80], [0xC1, 0x81]] as [[UInt8]])
    func malformedOrWiderBytesDecodeAsStringDoes(_ middle: [UInt8]) {
        check(Array("ab".utf8) + middle + Array("C@example.com".utf8))
    }

    func check(_ bytes: [UInt8]) {
        var key: [UInt8] = []
        let want = bytes.withUnsafeBufferPointer { EmailNormaliser.normalise(bytes: $0, key: &key) }
        var out: [UInt8] = []
        let got = bytes.withUnsafeBufferPointer { EmailNormaliser.normalise(bytes: $0, appendingTo: &out) }
        #expect(got == want, "\(bytes)")
        #expect(out == (want == .valid ? key : []), "\(bytes)")
        if want == .valid {
            #expect(String(decoding: key, as: UTF8.self) == String(decoding: bytes, as: UTF8.self).lowercased(), "\(bytes)")
        }
    }
}

/// The byte-level email path (used on the row store) against the String path, on the inputs
/// where they could differ: case, accents, scripts whose lowercasing is not one-to-one,
/// non-ASCII whitespace.
struct EmailBytePathTests {
    @Test(arguments: [
        "alice@example.com", "  ALICE@Example.COM ", "léa.obrien@example.fr", "ÉLODIE.Dupont@Example.FR",
        "ΣΟΦΙΑ@example.gr", "σοφια@example.gr", "İSTANBUL@example.tr", "straße@example.de", "STRASSE@EXAMPLE.DE",
        "\u{00A0}nbsp@example.com\u{00A0}", "zoë@example.com", "ZOË@EXAMPLE.COM", "bob@@example.com", "", "   ",
        "a..b@example.com", "x@例え.jp", "Ǆemal@example.ba",
        "\t\r\nbob@example.com\r\n", " \u{301}bob@example.com", "bob@example.com \u{301}", "\u{0B}bob@example.com\u{0C}",
        "\u{1C}bob@example.com", " \u{3000}bob@example.com", " é@example.com ", "\r\n",
        "MÜLLER.ÀÉÎÕØÞ@EXAMPLE.DE", "×÷ßÿµª@example.com", "ÃÂ.À@example.com", "O’BRIEN@EXAMPLE.IE", "ŒUVRE@example.fr",
        "Ā@example.com", "bob@EXÄMPLE.com",
    ])
    func bytesEqualString(raw: String) {
        var key: [UInt8] = []
        var copy = raw
        let outcome = copy.withUTF8 { EmailNormaliser.normalise(bytes: $0, key: &key) }
        // The appending form (PreNormalised's) keeps what `out` held and adds only a valid key.
        let before: [UInt8] = Array("kept@example.com".utf8)
        var out = before
        let appended = copy.withUTF8 { EmailNormaliser.normalise(bytes: $0, appendingTo: &out) }
        #expect(appended == outcome)
        #expect(Array(out.prefix(before.count)) == before)
        switch EmailNormaliser.normalise(raw) {
        case .empty:
            #expect(outcome == .empty)
            #expect(out == before)
        case .valid(let k):
            #expect(outcome == .valid && String(decoding: key, as: UTF8.self) == k)
            #expect(String(decoding: out.dropFirst(before.count), as: UTF8.self) == k)
        case .invalid(let r):
            #expect(outcome == .invalid(reason: r))
            #expect(out == before)
        }
    }
}

/// A customer table normalised in pieces (as matching's two threads share the work) is the table
/// normalised whole: the same keys, problems and country flags row by row.
struct PiecesTests {
    /// Every row of `table` in order: its piece and its row there.
    private func rows(_ table: NormalisedTable) -> [(part: PreNormalised, row: Int)] {
        table.parts.flatMap { part in (0..<part.count).map { (part, $0) } }
    }

    @Test func piecesEqualTheWholeTable() {
        let emails = ["a@example.com", "  B@Example.COM ", "bad@@example.com", nil, "", "ZOË@EXAMPLE.COM"]
        let phones = ["+44 7400 123456", "07400 123457", "12345", nil, "n/a", "(415) 200-0001"]
        let countries = ["GB", "US", "XX", nil, "de", "GB"]
        let records = (0..<1000).map { i in
            CustomerRecord(id: "c\(i)", email: emails[i % 6].map { $0.replacingOccurrences(of: "@", with: "\(i)@") },
                           phone: phones[(i / 6) % 6], country: countries[(i / 36) % 6])
        }
        let table = Records(records, attributeCount: 0)
        let whole = PreNormalised(table, phones: PhoneNormaliser(defaultRegion: "GB"))
        let phoneNormaliser = PhoneNormaliser(defaultRegion: "GB")
        let pieces = NormalisedTable([0..<1, 1..<400, 400..<400, 400..<1000].map {
            PreNormalised(table, rows: $0, phones: phoneNormaliser)
        })
        let walked = rows(pieces)
        #expect(walked.count == records.count)
        var differences: [Int] = []
        for (i, (part, j)) in walked.enumerated() {
            let same = whole.withEmailKey(i, { Array($0) }) == part.withEmailKey(j, { Array($0) })
                && whole.withPhoneKey(i, { Array($0) }) == part.withPhoneKey(j, { Array($0) })
                && whole.emailProblem(i) == part.emailProblem(j) && whole.phoneProblem(i) == part.phoneProblem(j)
                && whole.unknownCountry[i] == part.unknownCountry[j]
            if !same { differences.append(i) }
        }
        #expect(differences.isEmpty, "rows \(differences.prefix(5))")
        #expect(pieces.count == records.count && pieces.parts.map(\.count) == [1, 399, 0, 600])
        #expect(pieces.keyBytes.emails == whole.keyBytes.emails && pieces.keyBytes.phones == whole.keyBytes.phones)
        #expect(pieces.phonesFast + pieces.phonesSlow == whole.phonesFast + whole.phonesSlow && whole.phonesFast > 0)
        #expect(walked.contains { $0.part.emailProblem($0.row) != nil } && walked.contains { $0.part.phoneProblem($0.row) != nil })
    }

    /// A table large enough to be cut into pieces, shared by two threads as matching shares it.
    @Test func twoThreadsSharingPiecesGiveTheWholeTable() {
        let records = (0..<70_000).map { i in
            CustomerRecord(id: "c\(i)", email: i % 13 == 0 ? "bad\(i)@@x.com" : "P\(i)@Example.com",
                           phone: i % 11 == 0 ? "12345" : "07400 \(100_000 + i)", country: i % 7 == 0 ? "ZZ" : "GB")
        }
        let table = Records(records, attributeCount: 0)
        let whole = PreNormalised(table, phones: PhoneNormaliser(defaultRegion: "GB"))
        let work = CustomerNormalisationPieces(table)
        DispatchQueue.concurrentPerform(iterations: 2) { _ in work.help(phones: PhoneNormaliser(defaultRegion: "GB")) }
        let shared = work.result()
        let walked = rows(shared)
        var differences = 0
        for (i, (part, j)) in walked.enumerated() {
            if whole.withEmailKey(i, { Array($0) }) != part.withEmailKey(j, { Array($0) })
                || whole.withPhoneKey(i, { Array($0) }) != part.withPhoneKey(j, { Array($0) })
                || whole.emailProblem(i) != part.emailProblem(j) || whole.phoneProblem(i) != part.phoneProblem(j)
                || whole.unknownCountry[i] != part.unknownCountry[j] { differences += 1 }
        }
        #expect(differences == 0 && walked.count == records.count && shared.parts.count == 16)
        #expect(shared.count == records.count && shared.phonesFast == whole.phonesFast)
    }
}
