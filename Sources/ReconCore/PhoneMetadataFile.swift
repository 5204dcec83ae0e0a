import CPhoneNumber
import Crypto
public import Foundation

/// The numbering plans recon judges phones with: libphonenumber's metadata from an official
/// release, as PyPI's `phonenumbers` carries it, converted by `scripts/update-phone-metadata.sh`
/// into `phone-metadata.bin` and handed to libphonenumber before its first use, so that the fast
/// path (`PhoneFastPath`) and libphonenumber's own `Parse` judge with the same plans. The file is
/// read at run time: replacing it updates recon without a new build.
///
/// Where it is read from: `$RECON_PHONE_METADATA` when set, else `recon_ReconCore.resources/` next
/// to the running binary (where `swift build` puts `Sources/ReconCore/Resources/`).
public struct PhoneMetadataRelease: Sendable, Equatable {
    /// libphonenumber's release, e.g. "9.0.43".
    public let version: String
    /// The release's date, "YYYY-MM-DD".
    public let released: String
    /// Where the release was taken from (a PyPI page).
    public let source: String
    /// The file it was read from.
    public let path: String

    /// Whole days from the release to `now` (nil if the date does not parse).
    public func ageInDays(now: Date = Date()) -> Int? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        guard let day = f.date(from: released) else { return nil }
        return Int(now.timeIntervalSince(day) / 86_400)
    }

    /// `recon check`'s warning when the plans are more than a year old: numbers in ranges opened
    /// since then are reported invalid and lost as matching keys.
    public func staleWarning(now: Date = Date()) -> String? {
        guard let days = ageInDays(now: now), days > 365 else { return nil }
        return "WARNING: the phone metadata (\(label)) is \(days) days old: numbers in ranges opened since are reported invalid; run scripts/update-phone-metadata.sh"
    }

    /// "libphonenumber 9.0.43 (2026-11-06)"
    public var label: String { "libphonenumber \(version) (\(released))" }
}

public enum PhoneMetadataError: Error, CustomStringConvertible, Sendable, Equatable {
    case notFound(looked: [String])
    case unreadable(path: String, why: String)
    /// A header line that is not what `scripts/phone_metadata.py` writes.
    case malformed(path: String, line: Int, why: String)
    case checksum(path: String)
    /// libphonenumber refused the body (`recon_phone_install_metadata`'s code).
    case rejected(path: String, why: String)

    public var description: String {
        let fix = "run scripts/update-phone-metadata.sh, or set RECON_PHONE_METADATA to a file it wrote"
        switch self {
        case .notFound(let looked):
            return "phone metadata not found (looked for \(looked.joined(separator: ", "))); \(fix)"
        case .unreadable(let path, let why):
            return "\(path): cannot read the phone metadata: \(why)"
        case .malformed(let path, let line, let why):
            return "\(path):\(line): not a recon phone metadata file: \(why); \(fix)"
        case .checksum(let path):
            return "\(path): the phone metadata does not match its sha256 line (truncated or edited); \(fix)"
        case .rejected(let path, let why):
            return "\(path): libphonenumber cannot use this phone metadata: \(why)"
        }
    }
}

public enum PhoneMetadataFile {
    public static let fileName = "phone-metadata.bin"

    /// The metadata this process judges with, loaded and given to libphonenumber on first use.
    public static let current: Result<PhoneMetadataRelease, PhoneMetadataError> = {
        let env = ProcessInfo.processInfo.environment["RECON_PHONE_METADATA"].flatMap { $0.isEmpty ? nil : $0 }
        let candidates = env.map { [$0] } ?? defaultLocations()
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            return .failure(.notFound(looked: candidates))
        }
        return Result { () throws(PhoneMetadataError) in try install(path: path) }
    }()

    /// `current`, or its error thrown.
    @discardableResult
    public static func require() throws(PhoneMetadataError) -> PhoneMetadataRelease {
        try current.get()
    }

    /// `recon_ReconCore.resources/phone-metadata.bin` beside the running executable.
    static func defaultLocations() -> [String] {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "."
        let dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        return [dir.appendingPathComponent("recon_ReconCore.resources").appendingPathComponent(fileName).path]
    }

    /// The header's fields and the body, checked against the header's sha256.
    static func read(_ data: Data, path: String) throws(PhoneMetadataError) -> (fields: [String: String], body: Data) {
        var fields: [String: String] = [:]
        var offset = 0
        var line = 0
        while true {
            guard let newline = data[offset...].firstIndex(of: 0x0A), newline - offset <= 200 else {
                throw .malformed(path: path, line: line + 1, why: "the header does not end in an empty line")
            }
            line += 1
            let text = String(decoding: data[offset..<newline], as: UTF8.self)
            offset = newline + 1
            if text.isEmpty { break }
            if line == 1 {
                guard text == "recon-phone-metadata 1" else {
                    throw .malformed(path: path, line: 1, why: "expected \"recon-phone-metadata 1\"")
                }
                continue
            }
            guard let space = text.firstIndex(of: " ") else { throw .malformed(path: path, line: line, why: "expected \"key value\"") }
            fields[String(text[..<space])] = String(text[text.index(after: space)...])
        }
        for key in ["version", "released", "source", "sha256"] where fields[key] == nil {
            throw .malformed(path: path, line: line, why: "no \(key) line")
        }
        let body = data[offset...]
        let digest = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        guard digest == fields["sha256"] else { throw .checksum(path: path) }
        return (fields, Data(body))
    }

    static func install(path: String) throws(PhoneMetadataError) -> PhoneMetadataRelease {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: path, why: error.localizedDescription)
        }
        let (fields, body) = try read(data, path: path)
        let code = body.withUnsafeBytes { recon_phone_install_metadata($0.baseAddress, $0.count) }
        switch code {
        case 0: break
        case 1: throw .rejected(path: path, why: "the body is not a numbering-plan collection")
        case 2: throw .rejected(path: path, why: "libphonenumber had already read its metadata")
        default: throw .rejected(path: path, why: "libphonenumber does not read recon's metadata (its metadata_get is not recon's)")
        }
        return PhoneMetadataRelease(version: fields["version"]!, released: fields["released"]!, source: fields["source"]!, path: path)
    }
}
