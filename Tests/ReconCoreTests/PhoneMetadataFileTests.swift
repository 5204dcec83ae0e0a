import Crypto
import Foundation
@testable import ReconCore
import Testing

/// The metadata file's header: read, checked against its checksum, refused with the line at fault.
struct PhoneMetadataFileTests {
    static func file(_ header: String, body: [UInt8] = [1, 2, 3], sha: String? = nil) -> Data {
        let digest = sha ?? SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        return Data((header.replacingOccurrences(of: "SHA", with: digest)).utf8) + Data(body)
    }

    static let good = "recon-phone-metadata 1\nversion 9.0.43\nreleased 2026-11-06\nsource https://pypi.org/project/phonenumbers/9.0.43/\nsha256 SHA\n\n"

    @Test func aWellFormedFileIsRead() throws {
        let (fields, body) = try PhoneMetadataFile.read(Self.file(Self.good), path: "p.bin")
        #expect(fields["version"] == "9.0.43" && fields["released"] == "2026-11-06")
        #expect(body == Data([1, 2, 3]))
    }

    @Test func damageIsNamed() {
        #expect(throws: PhoneMetadataError.checksum(path: "p.bin")) {
            try PhoneMetadataFile.read(Self.file(Self.good, sha: String(repeating: "0", count: 64)), path: "p.bin")
        }
        #expect(throws: PhoneMetadataError.malformed(path: "p.bin", line: 1, why: "expected \"recon-phone-metadata 1\"")) {
            try PhoneMetadataFile.read(Self.file("PK\u{3}\u{4}\n\n"), path: "p.bin")
        }
        #expect(throws: PhoneMetadataError.malformed(path: "p.bin", line: 5, why: "no released line")) {
            try PhoneMetadataFile.read(Self.file("recon-phone-metadata 1\nversion 9\nsource x\nsha256 SHA\n\n"), path: "p.bin")
        }
        #expect(throws: PhoneMetadataError.malformed(path: "p.bin", line: 1, why: "the header does not end in an empty line")) {
            try PhoneMetadataFile.read(Data("recon-phone-metadata 1".utf8), path: "p.bin")
        }
    }

    @Test func plansOlderThanAYearAreWarnedAbout() throws {
        let r = PhoneMetadataRelease(version: "9.0.43", released: "2026-11-06", source: "s", path: "p")
        let day: TimeInterval = 86_400
        let released = try #require(ISO8601DateFormatter().date(from: "2026-11-06T00:00:00Z"))
        #expect(r.staleWarning(now: released + 30 * day) == nil)
        #expect(r.staleWarning(now: released + 365 * day) == nil)
        let warning = try #require(r.staleWarning(now: released + 400 * day))
        #expect(warning.contains("400 days old") && warning.contains("scripts/update-phone-metadata.sh"))
    }

    @Test func theShippedPlansAreInstalledAndJudgeNewRanges() throws {
        let plans = try PhoneMetadataFile.require()
        #expect(plans.path.hasSuffix("recon_ReconCore.resources/phone-metadata.bin"))
        #expect(PhoneNormaliser.parse("+61 465 123 456", region: "GB") == .valid("+61465123456"))
        // A second installation is refused: libphonenumber reads its metadata once.
        #expect(throws: PhoneMetadataError.rejected(path: plans.path, why: "libphonenumber had already read its metadata")) {
            try PhoneMetadataFile.install(path: plans.path)
        }
    }

    @Test func reasonsTellAnImpossibleNumberFromAnUnknownRange() {
        let n = PhoneNormaliser(defaultRegion: "AU")
        #expect(n.normalise("04 12", region: "AU") == .invalid(reason: "phone is impossible: too short for +61 (read with region AU)"))
        #expect(n.normalise("+61 412 345 678 901 23", region: "AU") == .invalid(reason: "phone is impossible: too long for +61 (read with region AU)"))
        guard case .invalid(let reason) = n.normalise("+61 512 345 678", region: "AU") else { Issue.record("valid?"); return }
        #expect(reason.hasPrefix("phone has a possible length but is in no range of +61's numbering plan (libphonenumber metadata "), "\(reason)")
        #expect(n.normalise("call me", region: "AU") == .invalid(reason: "phone cannot be parsed as a number (read with region AU)"))
    }
}
