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
///   (`Records.withContents`), those bytes through a `ChangeDigest` first;
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
        h.text("recon plan inputs 2")
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
            var rows = ChangeDigest()
            t.records.withContents { rows.update($0) }
            rows.finish { h.bytes($0) }
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

/// A 256-bit digest of byte runs that tells whether an extract's bytes changed since the night the
/// pending batch was planned, at the speed memory is read: four 64-bit lanes, each 8-byte word
/// folded into its lane by xor, an odd multiply and an xorshift. Each step is a bijection of the
/// lane, so two runs of one length that differ in one word always give different lanes; every run
/// starts with its length, so runs of other lengths, or cut at other places, start apart.
///
/// Not a cryptographic hash: a digest that matched although the extracts changed would only keep
/// the pending batch instead of planning it again, and applying a batch checks every action's
/// precondition against the records as they are then. What binds an approval (plan.json's
/// SHA-256) and the digest of everything else (`PlanInputs.digest`) stay SHA-256.
struct ChangeDigest {
    private var a: UInt64 = 0x243F_6A88_85A3_08D3, b: UInt64 = 0x1319_8A2E_0370_7344
    private var c: UInt64 = 0xA409_3822_299F_31D0, d: UInt64 = 0x082E_FA98_EC4E_6C89

    @inline(__always)
    private static func fold(_ lane: inout UInt64, _ word: UInt64, _ k: UInt64) {
        lane = (lane ^ word) &* k
        lane ^= lane >> 29
    }

    @inline(__always)
    private mutating func block(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        Self.fold(&a, w0, 0x9E37_79B9_7F4A_7C15)
        Self.fold(&b, w1, 0xBF58_476D_1CE4_E5B9)
        Self.fold(&c, w2, 0x94D0_49BB_1331_11EB)
        Self.fold(&d, w3, 0xD6E8_FEB8_6659_FD93)
    }

    /// Folds in one run: its length, then its 32-byte blocks, the last one padded with zeros.
    mutating func update(_ p: UnsafeRawBufferPointer) {
        let n = p.count
        block(UInt64(n), UInt64(n), UInt64(n), UInt64(n))
        guard n > 0, let base = p.baseAddress else { return }
        var i = 0
        while i + 32 <= n {
            block(base.loadUnaligned(fromByteOffset: i, as: UInt64.self), base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self),
                  base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self), base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
            i += 32
        }
        guard i < n else { return }
        var last: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &last) { $0.baseAddress!.copyMemory(from: base + i, byteCount: n - i) }
        block(last.0, last.1, last.2, last.3)
    }

    /// The digest's 32 bytes (each lane mixed with the others, then finalised), inside `body`.
    func finish(_ body: (UnsafeRawBufferPointer) -> Void) {
        func mix(_ x: UInt64) -> UInt64 {
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let out = (mix(a ^ mix(d)).littleEndian, mix(b ^ mix(a)).littleEndian, mix(c ^ mix(b)).littleEndian, mix(d ^ mix(c)).littleEndian)
        withUnsafeBytes(of: out, body)
    }
}
