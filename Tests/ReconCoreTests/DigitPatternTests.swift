@testable import ReconCore
import Testing

struct DigitPatternTests {
    @Test(arguments: [
        ("7\\d{9}", "7400123456", true), ("7\\d{9}", "740012345", false),
        ("(?:1[0-2]|2[1-9])\\d{3,4}", "10123", true), ("(?:1[0-2]|2[1-9])\\d{3,4}", "20123", false),
        ("[2-9]\\d{2}[2-9]\\d{6}", "4155552671", true), ("[^0]\\d?", "5", true), ("[^0]\\d?", "0", false),
        ("1(?:2|34)*5", "1342345", true), ("1(?:2|34)+5", "15", false), ("", "", true),
    ])
    func fullMatch(pattern: String, input: String, expected: Bool) throws {
        var p = try DigitPattern(pattern)
        try p.compileDFA()
        #expect(p.fullMatch(Array(input.utf8)[...]) == expected)
    }

    /// Leftmost-first, as ICU's lookingAt: the first alternative that lets the match succeed wins,
    /// even when a later one would consume more.
    @Test(arguments: [
        ("0(?:[12]|4[45])|1", "0445551234", 3), ("0|04", "0412", 1), ("0?(?:11)?", "01155", 3),
        ("(?:0|1)?(\\d{2})$", "123", 3), ("(?:0|1)?(\\d{2})$", "1234", nil), ("011", "0112", 3), ("011", "01", nil),
    ] as [(String, String, Int?)])
    func prefixEnd(pattern: String, input: String, end: Int?) throws {
        let p = try DigitPattern(pattern)
        #expect(p.prefixEnd(Array(input.utf8)[...]) == end)
    }

    @Test(arguments: ["a\\d", "\\d+?", "(?=1)", "[a-z]", "\\s", "."])
    func refusesWhatItCannotMatchExactly(pattern: String) {
        #expect(throws: DigitPattern.Unsupported.self) { _ = try DigitPattern(pattern) }
    }
}
