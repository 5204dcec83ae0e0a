@testable import ReconCore
import Testing

/// The digest of what a night's batch is planned from: the same inputs give the same digest, and
/// any input that can change the plan changes it (a night with the pending batch's digest keeps
/// that batch without planning it again, so a missed input would keep a stale batch).
struct PlanInputsTests {
    static let yml = "default_country: DE\nownership:\n  fields: {email: crm}\n"

    static func mirror(email: String = "ada@example.com", segment: String? = "gold", attribute: String = "segment",
                       canonical: Set<String>? = nil) -> Mirror {
        Mirror(crmCustomers: Table(attributeNames: [attribute], records: [
                   CustomerRecord(id: "C1", email: email, phone: "+49 30 1234567", name: "Ada Lovelace", attributes: [segment]),
                   CustomerRecord(id: "C2", email: nil, name: "Bob", attributes: [nil]),
               ], canonicalColumns: canonical),
               erpCustomers: Table(records: [CustomerRecord(id: "E1", externalId: "C1", email: "ada@example.com")]),
               crmOrders: Table(records: [OrderRecord(id: "O1", status: "won", customerId: "C1", amount: "10.00")]),
               erpOrders: Table(records: [OrderRecord(id: "S1", status: "open", externalId: "O1")]))
    }

    static func digest(_ config: ReconConfig? = nil, _ mirror: Mirror = mirror(), decisions: IdentityDecisions = IdentityDecisions(),
                       leftOut: Set<String> = [], inFlight: Set<String> = [], parallel: Bool = true) throws -> String? {
        PlanInputs.digest(config: try config ?? ReconConfig.parse(yml, file: "recon.yml"), mirror: mirror, decisions: decisions,
                          leftOut: leftOut, inFlight: inFlight, parallel: parallel)
    }

    @Test func theSameInputsGiveTheSameDigestOnOneThreadOrSeveral() throws {
        let a = try #require(try Self.digest())
        #expect(a.count == 64)
        #expect(try Self.digest() == a)
        #expect(try Self.digest(parallel: false) == a)
    }

    @Test func everyInputChangesTheDigest() throws {
        let base = try #require(try Self.digest())
        let decision = IdentityDecisions.Decision(number: 1, verdict: .different, a: .init(system: .crm, id: "C1"),
                                                  b: .init(system: .erp, id: "E1"), decidedAt: "2026-12-01T00:00:00Z")
        let variants: [(String, String?)] = [
            ("one byte of one field", try Self.digest(nil, Self.mirror(email: "ada@example.con"))),
            ("a value become NULL", try Self.digest(nil, Self.mirror(segment: nil))),
            ("an attribute column renamed", try Self.digest(nil, Self.mirror(attribute: "tier"))),
            ("the canonical columns the query returns", try Self.digest(nil, Self.mirror(canonical: ["id", "email"]))),
            ("recon.yml, even a comment", try Self.digest(try ReconConfig.parse(Self.yml + "# tonight\n", file: "recon.yml"))),
            ("a reviewer's decision", try Self.digest(decisions: IdentityDecisions([decision]))),
            ("a finding waived or settling", try Self.digest(leftOut: ["DUP-C-0000000000000001"])),
            ("a correction in flight", try Self.digest(inFlight: ["OBX-1"])),
        ]
        for (what, digest) in variants {
            #expect(digest != nil && digest != base, "\(what)")
        }
        #expect(Set(variants.map(\.1)).count == variants.count, "two different inputs gave one digest")
    }

    /// Rows moved between chunks or fields appended one by one rather than as a COPY line are
    /// the same rows, but the digest names the bytes they are read from: it may differ (the night
    /// then plans in full), never the other way round.
    @Test func theRowsAreNamedByTheBytesTheyAreReadFrom() {
        func store(_ rows: [[String?]], asLines: Bool) -> RowStore {
            var s = RowStore(width: 2)
            for r in rows {
                s.beginRow()
                if asLines {
                    let line = r.map { $0 ?? "\\N" }.joined(separator: "\t") + "\n"
                    var l = line
                    #expect(l.withUTF8 { s.appendCopyLine($0) })
                } else {
                    for v in r { s.appendField(v) }
                }
                s.endRow()
            }
            s.shrink()
            return s
        }
        func digest(_ s: RowStore) -> [UInt8] {
            var bytes: [UInt8] = []
            s.withContents { bytes.append(contentsOf: $0) }
            return bytes
        }
        let rows: [[String?]] = [["a", nil], ["", "b"]]
        #expect(digest(store(rows, asLines: true)) == digest(store(rows, asLines: true)))
        #expect(digest(store(rows, asLines: false)) == digest(store(rows, asLines: false)))
        #expect(digest(store(rows, asLines: true)) != digest(store([["a", nil], ["", "c"]], asLines: true)))
    }

    /// The extracts' bytes go through `ChangeDigest`: any one bit flipped anywhere in a run
    /// (within a 32-byte block, across blocks, in the padded last one), a zero byte more, or the
    /// same bytes cut into runs at another place, gives another digest.
    @Test func theChangeDigestSeesEveryBitAndEveryCut() {
        func digest(_ runs: [[UInt8]]) -> [UInt8] {
            var d = ChangeDigest()
            for r in runs { r.withUnsafeBytes { d.update($0) } }
            var out: [UInt8] = []
            d.finish { out = Array($0) }
            return out
        }
        var seen: Set<[UInt8]> = []
        for n in [0, 1, 7, 8, 31, 32, 33, 64, 95, 100] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ n) }
            let base = digest([bytes])
            #expect(base.count == 32)
            #expect(digest([bytes]) == base)
            #expect(seen.insert(base).inserted, "runs of \(n) bytes")
            for i in 0..<n {
                for bit in 0..<8 {
                    var changed = bytes
                    changed[i] ^= 1 << bit
                    #expect(digest([changed]) != base, "bit \(bit) of byte \(i) of \(n)")
                }
            }
            #expect(digest([bytes + [0]]) != base)
            if n > 1 { #expect(digest([Array(bytes[..<(n / 2)]), Array(bytes[(n / 2)...])]) != base) }
        }
    }

    /// A config built in code (not read from a file) cannot be named: such a night plans in full.
    @Test func aConfigBuiltInCodeHasNoDigest() throws {
        var config = ReconConfig()
        config.defaultCountry = "DE"
        #expect(try Self.digest(config) == nil)
    }

    /// The code is the executable and every library loaded, each named by its file.
    @Test func theCodeIsNamedByItsFiles() throws {
        let code = try #require(PlanInputs.codeIdentity)
        #expect(code.contains("libswiftCore.so"), "\(code)")
        #expect(code.split(separator: "\n").allSatisfy { $0.hasPrefix("/") })
    }
}
