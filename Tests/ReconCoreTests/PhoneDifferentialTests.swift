@testable import ReconCore
import Testing

/// The phone fast path against libphonenumber itself: every answer the fast path gives must be
/// the one libphonenumber gives. `make bench` runs the same check over a much larger corpus.
struct PhoneDifferentialTests {
    @Test func metadataIsReadFromLibphonenumber() throws {
        let table = try #require(PhoneMetadataTable.shared)
        #expect(table.regions.count > 240)
        #expect(table.regions["GB"]?.countryCode == 44)
        #expect(table.regionsForCode[1]?.first == "US")
        #expect(table.nonGeographic[800] != nil)
    }

    @Test func everyRegionCompilesOrIsLeftToLibphonenumber() throws {
        let table = try #require(PhoneMetadataTable.shared)
        var failed: [String] = []
        for r in table.regions.values where (try? CompiledRegion(r)) == nil { failed.append(r.id) }
        // A handful may use a construct outside the subset; they are still correct (slow path).
        #expect(failed.count <= 5, "regions left to libphonenumber: \(failed.sorted())")
    }

    @Test func fastPathEqualsLibphonenumberOnTheCorpus() throws {
        let table = try #require(PhoneMetadataTable.shared)
        let corpus = PhoneCorpus(table: table, variants: 2, seed: 7)
        let fast = try #require(PhoneFastPath(table: table))
        var answered = 0
        var mismatches: [String] = []
        for e in corpus.entries {
            guard let got = fast.normalise(e.text, region: e.region) else { continue }
            answered += 1
            let want = PhoneNormaliser.parse(e.text, region: e.region)
            if got != want, mismatches.count < 20 { mismatches.append("\(e.region) \(e.text): fast \(got), libphonenumber \(want)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        // Not vacuous: most of the corpus must take the fast path.
        #expect(corpus.entries.count > 50_000)
        #expect(Double(answered) / Double(corpus.entries.count) > 0.6, "fast path answered \(answered) of \(corpus.entries.count)")
    }

    @Test(arguments: [
        ("+44 7400 123456", "GB"), ("07400 123456", "GB"), ("0044-7400123456", "GB"), ("447400123456", "GB"),
        ("(415) 555-2671", "US"), ("011 44 20 7946 0018", "US"), ("+1 415 555 2671", "DE"),
        ("0151 12345678", "DE"), ("06 12 34 56 78", "FR"), ("+33 (0) 6 12 34 56 78", "FR"), ("12345", "GB"),
    ])
    func commonShapesTakeTheFastPath(text: String, region: String) throws {
        let fast = try #require(PhoneFastPath())
        let got = try #require(fast.normalise(text, region: region))
        #expect(got == PhoneNormaliser.parse(text, region: region))
    }

    @Test func normaliserGivesTheSameWithAndWithoutTheFastPath() {
        let on = PhoneNormaliser(defaultRegion: "GB")
        let off = PhoneNormaliser(defaultRegion: "GB", fast: false)
        for (text, region) in [("+44 7400 123456", "GB"), ("+44 7400 123456 ext 4", "GB"), ("n/a", "GB"), ("", "GB"), ("0151 1234567", "DE")] {
            #expect(on.normalise(text, region: region) == off.normalise(text, region: region))
        }
        #expect(on.fastCount > 0 && off.fastCount == 0)
    }
}
