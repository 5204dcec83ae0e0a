@testable import ReconCore
import Testing

struct LifecycleTests {
    static func finding(_ id: String, _ type: FindingType = .orphan) -> Finding {
        Finding(type: type, entity: .customer, severity: .warning, members: [FindingMember(system: .crm, recordId: id)])
    }

    @Test func newPersistingWaivedResolved() {
        let a = Self.finding("a"), b = Self.finding("b"), c = Self.finding("c")
        let gone = Finding(type: .duplicate, entity: .order, severity: .warning, members: [FindingMember(system: .erp, recordId: "z")])
        let open: [String: OpenFinding] = [
            b.id: OpenFinding(firstSeenRun: "r1", firstSeenAt: "2026-11-01T00:00:00Z", nightsOpen: 4, type: .orphan, entity: .customer, records: "crm:b"),
            c.id: OpenFinding(firstSeenRun: "r1", firstSeenAt: "2026-11-02T00:00:00Z", nightsOpen: 2, type: .orphan, entity: .customer, records: "crm:c"),
            gone.id: OpenFinding(firstSeenRun: "r0", firstSeenAt: "2026-10-01T00:00:00Z", nightsOpen: 9, type: .duplicate, entity: .order, records: "erp:z"),
        ]
        let l = Lifecycle.compute(findings: [a, b, c], open: open, waived: [c.id], runId: "r9", now: "2026-11-29T00:00:00Z")
        let byId = Dictionary(uniqueKeysWithValues: l.current.map { ($0.finding.id, $0) })
        #expect(byId[a.id]?.status == .new && byId[a.id]?.nightsOpen == 1 && byId[a.id]?.firstSeenRun == "r9")
        #expect(byId[b.id]?.status == .persisting && byId[b.id]?.nightsOpen == 5 && byId[b.id]?.firstSeenAt == "2026-11-01T00:00:00Z")
        #expect(byId[c.id]?.status == .waived && byId[c.id]?.nightsOpen == 3)
        #expect(l.resolved.map(\.id) == [gone.id])
        let counts = l.counts()
        #expect(counts["orphan/customer"] == ["new": 1, "persisting": 1, "waived": 1, "open": 2])
        #expect(counts["duplicate/order"] == ["resolved": 1])
    }

    /// A tracked finding keeps its finding's id, type and entity beside it (the counts, the
    /// reports' grouping and the oldest findings read them there), also after its finding is
    /// replaced or changed in place.
    @Test func aTrackedFindingKeepsItsFindingsKeyTypeAndEntity() {
        let orphan = Self.finding("a")
        let order = Finding(type: .statusMismatch, entity: .order, severity: .error, members: [FindingMember(system: .erp, recordId: "o1")])
        var t = TrackedFinding(finding: orphan, status: .new, firstSeenRun: "r1", firstSeenAt: "x", nightsOpen: 1)
        #expect(t.idKey == orphan.idKey && t.type == .orphan && t.entity == .customer)
        t.finding = order
        #expect(t.idKey == order.idKey && t.type == .statusMismatch && t.entity == .order)
        #expect(t.idKey.text == order.id)
        t.finding.severity = .warning
        #expect(t.idKey == order.idKey && t.finding.severity == .warning)
        for type in FindingType.allCases {
            for entity in Entity.allCases {
                let f = Finding(type: type, entity: entity, severity: .warning, members: [FindingMember(system: .crm, recordId: "r")])
                let kept = TrackedFinding(finding: f, status: .persisting, firstSeenRun: "r", firstSeenAt: "x", nightsOpen: 2)
                #expect(kept.type == type && kept.entity == entity && kept.idKey == f.idKey)
            }
        }
    }

    /// A settling finding is neither opened (not written) nor resolved (an open one stays open),
    /// breaches nothing, and a waiver still wins.
    @Test func settlingFindingsAreReportedNotRecordedNotCounted() {
        let fresh = Self.finding("f"), wasOpen = Self.finding("o"), waivedToo = Self.finding("w")
        let open = [wasOpen.id: OpenFinding(firstSeenRun: "r1", firstSeenAt: "x", nightsOpen: 3, type: .orphan, entity: .customer, records: "")]
        let l = Lifecycle.compute(findings: [fresh, wasOpen, waivedToo], open: open, waived: [waivedToo.id],
                                  settling: [fresh.id, wasOpen.id, waivedToo.id], runId: "r2", now: "y")
        let byId = Dictionary(uniqueKeysWithValues: l.current.map { ($0.finding.id, $0) })
        #expect(byId[fresh.id]?.status == .settling && byId[fresh.id]?.changed == false && byId[fresh.id]?.nightsOpen == 0)
        #expect(byId[wasOpen.id]?.status == .settling && byId[wasOpen.id]?.changed == false && byId[wasOpen.id]?.nightsOpen == 4)
        #expect(byId[waivedToo.id]?.status == .waived)
        #expect(l.resolved.isEmpty)
        #expect(l.counts()["orphan/customer"] == ["settling": 2, "waived": 1])
        #expect(Threshold(measure: .open, limit: 0).evaluate(l.current) == (0, false))
    }

    /// The settle window: recent means changed within `settle_after` of the run's start, either side.
    @Test func theSettleWindow() {
        let w = SettleWindow(runStartedAt: 10_000, seconds: 3600)
        #expect(w.isRecent(10_000 - 300) && w.isRecent(10_000 + 60) && w.isRecent(10_000 - 3600))
        #expect(!w.isRecent(10_000 - 3601) && !w.isRecent(10_000 + 86_400) && !w.isRecent(nil))
        #expect(!SettleWindow(runStartedAt: 10_000, seconds: 0).isRecent(10_000))
    }

    /// Texts are skipped by their day only when that cannot change the answer: the same as
    /// parsing every one, around the window and across offsets, and for other shapes.
    @Test func theSettleWindowOnTexts() {
        let start: Int64 = 1_796_169_600   // 2026-12-02T00:00:00Z, just after midnight: the window spans two days
        let w = SettleWindow(runStartedAt: start + 600, seconds: 3600)
        #expect(SettleWindow.day(start) == "2026-12-02" && SettleWindow.day(0) == "1970-01-01" && SettleWindow.day(951_782_400) == "2000-02-29")
        for text in ["2026-12-01 23:30:00+00", "2026-12-02 00:05:00+00", "2026-12-01 22:00:00+00", "2026-12-02 01:30:00+01",
                     "2026-12-02 12:00:00+00", "2026-11-30 23:59:59+00", "2026-12-03 00:00:00+00", "1999-01-01", "2026-12-02", "garbage"] {
            var t = text
            let fast = t.withUTF8 { w.isRecent(text: $0) }
            #expect(fast == w.isRecent(ValueNormaliser.epochSeconds(text)), "\(text)")
        }
    }

    /// The records changed within the window, found in ranges of rows across the cores: the same
    /// ids as one scan of each table, a customer by its update and an order by either time.
    @Test func recentRecordsInPiecesAsInOneScan() {
        let start: Int64 = 1_796_169_600   // 2026-12-02T00:00:00Z
        let w = SettleWindow(runStartedAt: start, seconds: 3600)
        func time(_ i: Int) -> String { i % 7 == 0 ? "2026-12-01 23:30:00+00" : "2026-11-20 10:00:00+00" }
        let crm = (0..<1000).map { CustomerRecord(id: "C\($0)", updatedAt: time($0)) }
        let erp = (0..<999).map { CustomerRecord(id: "K\($0)", updatedAt: time($0 + 1)) }
        var mirror = MatchingTests.customers(crm, erp)
        mirror.crmOrders = Table(records: (0..<500).map { OrderRecord(id: "D\($0)", status: "Won", createdAt: time($0 + 2), updatedAt: time($0 + 3)) })
        mirror.erpOrders = Table(records: (0..<10).map { OrderRecord(id: "S\($0)", status: "won") })
        let one = w.recentRecords(in: mirror)
        #expect(one.customers.crm == Set((0..<1000).filter { $0 % 7 == 0 }.map { "C\($0)" }))
        #expect(one.customers.erp == Set((0..<999).filter { ($0 + 1) % 7 == 0 }.map { "K\($0)" }))
        #expect(one.orders.crm == Set((0..<500).filter { ($0 + 2) % 7 == 0 || ($0 + 3) % 7 == 0 }.map { "D\($0)" }))
        #expect(one.orders.erp.isEmpty)
        for pieces in [2, 3, 16] {
            let split = w.recentRecords(in: mirror, pieces: pieces)
            #expect(split.customers.crm == one.customers.crm && split.customers.erp == one.customers.erp)
            #expect(split.orders.crm == one.orders.crm && split.orders.erp == one.orders.erp)
        }
    }

    /// Only what the state must write is marked changed: new findings, findings stored before
    /// digests existed, and findings whose stored content (here the detail) differs.
    @Test func changedOnlyWhenTheStoredContentDiffers() {
        let same = Self.finding("s"), unstored = Self.finding("u"), fresh = Self.finding("f")
        var edited = Self.finding("e")
        let storedDigest = edited.stateDigest
        edited.detail = "a new detail"
        func history(_ digest: Int64?) -> OpenFinding {
            OpenFinding(firstSeenRun: "r1", firstSeenAt: "x", nightsOpen: 2, type: .orphan, entity: .customer, records: "", digest: digest)
        }
        let open = [same.id: history(same.stateDigest), unstored.id: history(nil), edited.id: history(storedDigest)]
        let l = Lifecycle.compute(findings: [same, unstored, fresh, edited], open: open, waived: [], runId: "r2", now: "y")
        let changed = Dictionary(uniqueKeysWithValues: l.current.map { ($0.finding.id, $0.changed) })
        #expect(changed == [same.id: false, unstored.id: true, fresh.id: true, edited.id: true])
        #expect(l.current.allSatisfy { $0.finding.id == fresh.id ? $0.status == .new : $0.status == .persisting })
    }

    @Test(arguments: [
        (Threshold(type: .orphan, measure: .new, limit: 0), 1, true),
        (Threshold(type: .orphan, measure: .new, limit: 1), 1, false),
        (Threshold(type: .orphan, entity: .order, measure: .open, limit: 0), 0, false),
        (Threshold(measure: .open, limit: 1), 2, true),                 // waived findings never count
        (Threshold(measure: .openNights, limit: 4), 5, true),
        (Threshold(type: .conflict, measure: .openNights, limit: 0), 0, false),
    ])
    func thresholds(rule: Threshold, value: Int, breached: Bool) {
        let a = Self.finding("a"), b = Self.finding("b"), c = Self.finding("c")
        let open = [b.id: OpenFinding(firstSeenRun: "r1", firstSeenAt: "x", nightsOpen: 4, type: .orphan, entity: .customer, records: "")]
        let l = Lifecycle.compute(findings: [a, b, c], open: open, waived: [c.id], runId: "r2", now: "y")
        let result = rule.evaluate(l.current)
        #expect(result.value == value && result.breached == breached, "\(rule.description)")
    }

    @Test(arguments: [("plain", "\"plain\""), ("q\"b\\", "\"q\\\"b\\\\\""), ("l1\nl2\t", "\"l1\\nl2\\t\""), ("\u{1}", "\"\\u0001\""),
                      ("\u{1F}\r", "\"\\u001f\\r\""), ("ü😀", "\"ü😀\""),
                      ("\"start and end\\", "\"\\\"start and end\\\\\""), ("two\u{7}runs\u{7}", "\"two\\u0007runs\\u0007\""), ("", "\"\"")])
    func jsonQuoting(text: String, quoted: String) {
        #expect(JSONText.quote(text) == quoted)
        var bytes: [UInt8] = []
        JSONText.appendQuoted(text, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == quoted)
    }

    /// The word-at-a-time scan that lets a value through unescaped finds each byte that needs an
    /// escape at every position of values up to three words long: the bytes are `quote`'s.
    @Test func jsonQuotingAtEveryPosition() {
        var checked = 0
        for length in 0...25 {
            let base = String((0..<length).map { Array("ab9Z.@-é ~")[$0 % 10] })
            for special in ["\"", "\\", "\n", "\u{1}", "\u{1F}", "\u{7F}", " ", "ü", "😀"] {
                for at in 0...base.count {
                    let text = String(base.prefix(at)) + special + String(base.dropFirst(at))
                    var bytes: [UInt8] = []
                    JSONText.appendQuoted(text, to: &bytes)
                    #expect(String(decoding: bytes, as: UTF8.self) == JSONText.quote(text), "\(Array(text.utf8))")
                    checked += 1
                }
            }
        }
        #expect(checked > 2_000)
    }
}

/// Open findings added from the state's bytes (as `StateStore.openFindings` reads them) are the
/// ones added from strings: ids, nights, digests, types and first-seen runs. Sized in advance
/// (as the state sizes them from the last night), for fewer than come or for more, they hold the same.
struct OpenFindingsBytesTests {
    @Test(arguments: [nil, 100, 2_000])
    func bytesAndStringsGiveTheSameOpenFindings(capacity: Int?) {
        let runs = [("20261101T000000Z", "2026-11-01T00:00:00Z"), ("20261102T000000Z", "2026-11-02T00:00:00Z")]
        var fromStrings = OpenFindings(), fromBytes = capacity.map(OpenFindings.init(capacity:)) ?? OpenFindings()
        for i in 0..<500 {
            let run = runs[(i / 7) % 2], id = "DUP-C-\(String(i * 7919, radix: 16))"
            let digest: Int64? = i % 5 == 0 ? nil : Int64(i) * -1_000_003
            let type: FindingType = i % 3 == 0 ? .orphan : .duplicate, entity: Entity = i % 2 == 0 ? .customer : .order
            fromStrings.add(id: id, OpenFinding(firstSeenRun: run.0, firstSeenAt: run.1, nightsOpen: i % 9, type: type, entity: entity,
                                                records: "", digest: digest))
            func bytes(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) { var s = s; s.withUTF8(body) }
            bytes(id) { idb in bytes(run.0) { rb in bytes(run.1) { ab in
                fromBytes.add(id: idb, firstSeenRun: rb, firstSeenAt: ab, nightsOpen: i % 9, type: type, entity: entity, digest: digest)
            } } }
        }
        #expect(fromBytes.count == fromStrings.count && fromBytes.count == 500)
        for i in 0..<500 {
            let a = fromStrings.history(i), b = fromBytes.history(i)
            #expect(fromBytes.id(i) == fromStrings.id(i))
            #expect(a.firstSeenRun == b.firstSeenRun && a.firstSeenAt == b.firstSeenAt && a.nightsOpen == b.nightsOpen)
            #expect(a.digest == b.digest && a.type == b.type && a.entity == b.entity)
        }
    }
}

/// The state stores each finding's digest: a new way of computing it must give the same values,
/// or every persisting finding would be rewritten the next night.
struct StateDigestPinTests {
    /// The digest as it was first computed: the bytes assembled in an array, then hashed.
    static func reference(_ f: Finding) -> Int64 {
        var bytes: [UInt8] = []
        for (k, part) in [f.severity.rawValue, f.field, f.detail].enumerated() {
            if k > 0 { bytes.append(0x1F) }
            bytes.append(contentsOf: part.utf8)
        }
        for m in f.members {
            bytes.append(0x1E)
            bytes.append(contentsOf: m.system.rawValue.utf8)
            bytes.append(0x3A)
            bytes.append(contentsOf: m.recordId.utf8)
        }
        return Int64(bitPattern: bytes.withUnsafeBufferPointer { ByteInterner.hash($0) })
    }

    @Test func digestsAreTheStoredOnes() {
        let findings = [
            Finding(type: .duplicate, entity: .customer, severity: .warning, detail: "2 CRM records for one customer",
                    members: [FindingMember(system: .crm, recordId: "C1"), FindingMember(system: .crm, recordId: "C2")]),
            Finding(type: .fieldMismatch, entity: .order, severity: .error, field: "amount", detail: "",
                    members: [FindingMember(system: .crm, recordId: "D-ü-7", value: "1"), FindingMember(system: .erp, recordId: "O7", value: "2")]),
            Finding(type: .orphan, entity: .customer, severity: .info, detail: String(repeating: "near miss 😀; ", count: 200),
                    members: (0..<40).map { FindingMember(system: $0 % 2 == 0 ? .crm : .erp, recordId: "R\($0)") }),
            Finding(type: .invalid, entity: .customer, severity: .warning, field: "email", members: []),
        ]
        for f in findings { #expect(f.stateDigest == Self.reference(f)) }
        // A value pinned once: the hash itself must not drift either.
        #expect(findings[0].stateDigest == -7_650_685_275_307_565_102)
    }
}
