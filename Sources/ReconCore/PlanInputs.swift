import CSupport
import Crypto
import Foundation

/// Everything a night's batch is planned from, named by one SHA-256:
///
/// - the code that plans it: the executable and every library the dynamic loader has loaded,
///   each by its path, device, inode, size and modification time (a rebuilt binary or an
///   upgraded library is other code);
/// - the phone metadata file, the same way, with its release;
/// - the recon.yml text (`ReconConfig.textSHA256`);
/// - the reviewers' decisions in force;
/// - the four extracts as read: each one's column names and every byte its rows are read from
///   (`Records.withContents`);
/// - the findings left out of the batch (waived, settling) and the corrections in flight.
///
/// Matching, the findings and the plan are functions of these alone, so two nights with the
/// same digest plan the same batch: a night whose inputs are the pending batch's keeps that
/// batch without planning it again. Any difference, however small, plans in full.
public enum PlanInputs {
    /// The digest, or nil when it cannot be vouched for: a config built in code (not read from a
    /// file), a code file that cannot be examined, no phone metadata. Such a night plans in full.
    /// - Parameter parallel: the extracts hashed across the cores.
    public static func digest(config: ReconConfig, mirror: Mirror, decisions: IdentityDecisions,
                              leftOut: Set<String>, inFlight: Set<String>, parallel: Bool) -> String? {
        guard let configText = config.textSHA256, let code = codeIdentity,
              let release = try? PhoneMetadataFile.current.get(), let metadata = fileIdentity(release.path) else { return nil }
        let extracts = Engine.map(parallel ? Extract.allCases.count : 1) { k -> [String] in
            parallel ? [extractDigest(Extract.allCases[k], mirror)] : Extract.allCases.map { extractDigest($0, mirror) }
        }.flatMap { $0 }
        var h = Hashing()
        h.text("recon plan inputs 1")
        h.text(code)
        h.text(release.version + " " + release.released + " " + metadata)
        h.text(configText)
        h.count(decisions.inForce.count)
        for d in decisions.inForce { h.text("\(d.number) \(d.verdict.rawValue) \(d.a) \(d.b) \(d.decidedAt)") }
        for e in extracts { h.text(e) }
        h.count(leftOut.count)
        for id in leftOut.sorted() { h.text(id) }
        h.count(inFlight.count)
        for key in inFlight.sorted() { h.text(key) }
        return h.finish()
    }

    static func extractDigest(_ extract: Extract, _ mirror: Mirror) -> String {
        var h = Hashing()
        h.text(extract.rawValue)
        func table<R>(_ t: Table<R>) {
            h.count(t.attributeNames.count)
            for name in t.attributeNames { h.text(name) }
            let canonical = t.canonicalColumns.map { $0.sorted() }
            h.count(canonical?.count ?? -1)
            for name in canonical ?? [] { h.text(name) }
            t.records.withContents { h.bytes($0) }
        }
        switch extract.entity {
        case .customer: table(mirror.customers(extract.system))
        case .order: table(mirror.orders(extract.system))
        }
        return h.finish()
    }

    /// The executable and the libraries loaded into this process (the dynamic loader's list,
    /// consistent while it is read, unlike /proc/self/maps), by file identity; nil when one
    /// cannot be examined (e.g. replaced since it was loaded).
    static let codeIdentity: String? = {
        final class Names { var paths: [String] = [] }
        let names = Names()
        withExtendedLifetime(names) {
            _ = recon_each_loaded_object({ path, context in
                guard let path, let context else { return }
                Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().paths.append(String(cString: path))
            }, Unmanaged.passUnretained(names).toOpaque())
        }
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var lines: [String] = []
        for path in Set(names.paths.filter { $0.hasPrefix("/") } + [exe]).sorted() {
            guard let identity = fileIdentity(path) else { return nil }
            lines.append(path + " " + identity)
        }
        return lines.joined(separator: "\n")
    }()

    /// Device, inode, size and modification time of a file (nil if it cannot be examined).
    static func fileIdentity(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// A SHA-256 over length-prefixed texts and byte runs (no two sequences give the same bytes).
    private struct Hashing {
        private var sha = SHA256()
        mutating func count(_ n: Int) { withUnsafeBytes(of: Int64(n).littleEndian) { sha.update(bufferPointer: $0) } }
        mutating func text(_ s: String) {
            var s = s
            s.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
        }
        mutating func bytes(_ p: UnsafeRawBufferPointer) {
            count(p.count)
            sha.update(bufferPointer: p)
        }
        func finish() -> String { hex(sha.finalize()) }
    }
}
