import Foundation
import Postgres
import ReconCore

/// What `recon --version` reports: recon's own version, the commit it was built from, and the
/// libraries it judges and reads with, as loaded (not as compiled against).
public enum BuildInfo {
    public static let version = "0.6.0"

    /// The commit `make build` recorded next to the binary (`recon.commit`), if any.
    public static func commit() -> String {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let file = exe.deletingLastPathComponent().appendingPathComponent("recon.commit").path
        let text = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.flatMap { $0.isEmpty ? nil : $0 } ?? "unknown (built without make)"
    }

    /// libpq's version, e.g. "15.18".
    public static func libpq() -> String {
        let v = Connection.libraryVersion
        return v >= 100_000 ? "\(v / 10_000).\(v % 10_000)" : "\(v / 10_000).\(v / 100 % 100).\(v % 100)"
    }

    /// The version in the file name of the libphonenumber this process loaded, e.g. "8.12".
    public static func libphonenumber() -> String {
        // Read to the end: /proc files report a size of 0.
        guard let data = FileHandle(forReadingAtPath: "/proc/self/maps")?.readDataToEndOfFile() else { return "unknown" }
        let maps = String(decoding: data, as: UTF8.self)
        for line in maps.split(separator: "\n") {
            guard let path = line.split(separator: " ", omittingEmptySubsequences: true).last, path.contains("libphonenumber.so") else { continue }
            let real = URL(fileURLWithPath: String(path)).resolvingSymlinksInPath().lastPathComponent
            if let r = real.range(of: ".so.") { return String(real[r.upperBound...]) }
        }
        return "unknown"
    }

    /// The numbering plans phones are judged with, or why there are none.
    public static func phoneMetadata() -> String {
        switch PhoneMetadataFile.current {
        case .success(let m): return "\(m.label), from \(m.source), read from \(m.path)"
        case .failure(let e): return "none: \(e)"
        }
    }

    public static var text: String {
        """
        recon \(version) (commit \(commit()))
        libpq \(libpq())
        libphonenumber \(libphonenumber()) (the code; its compiled-in numbering plans are not used)
        phone metadata \(phoneMetadata())
        """
    }
}
