import Dispatch
@testable import ReconCore
import Testing

/// The linked orders compared in pieces by two threads give what one thread gives, in its order.
struct LinkedOrdersTests {
    static let config: ReconConfig = {
        var c = ReconConfig()
        c.statuses.crm = ["Won": .won, "Open": .open]
        c.statuses.erp = ["PAID": .paid, "CHARGEBACK": .chargeback]
        c.statuses.compatible = [StatusPair(.won, .paid)]
        return c
    }()

    /// 5,000 linked pairs; every 7th has another status, every 11th another amount, every 13th
    /// another currency, every 17th another channel.
    static func mirror() -> Mirror {
        let n = 5_000
        var m = Mirror()
        m.crmOrders = Table(attributeNames: ["channel"], records: (0..<n).map { i in
            OrderRecord(id: "d\(i)", status: "Won", externalId: "s\(i)", amount: "\(i).50", currency: "EUR",
                        attributes: [i % 17 == 0 ? "web" : "shop"])
        })
        m.erpOrders = Table(attributeNames: ["channel"], records: (0..<n).map { i in
            OrderRecord(id: "s\(i)", status: i % 7 == 0 ? "CHARGEBACK" : "PAID", amount: i % 11 == 0 ? "\(i).51" : "\(i).5",
                        currency: i % 13 == 0 ? "USD" : "eur", attributes: ["shop"])
        })
        return m
    }

    static func linked(_ m: Mirror) -> OrderMatcher {
        var orders = OrderMatcher(mirror: m, config: config)
        orders.prepare()
        orders.link()
        return orders
    }

    static func described(_ findings: [Finding]) -> [String] {
        findings.map { "\($0.id) \($0.field) \($0.detail) " + $0.members.map(\.value).joined(separator: "|") }
    }

    /// Where two lists first differ (nil when they are equal): a short message, not 1,850 lines.
    static func firstDifference(_ a: [String], _ b: [String]) -> String? {
        if let i = (0..<min(a.count, b.count)).first(where: { a[$0] != b[$0] }) { return "at \(i): \(a[i]) vs \(b[i])" }
        return a.count == b.count ? nil : "\(a.count) vs \(b.count) findings"
    }

    @Test func twoThreadsSharingPiecesGiveOneThreadsFindingsInOrder() {
        let m = Self.mirror()
        var one = Self.linked(m)
        one.compareLinked()
        let expected = Self.described(one.findings)
        #expect(expected.count == 715 + 455 + 385 + 295)
        #expect(Set(one.findings.map(\.type)) == [.statusMismatch, .fieldMismatch])

        let shared = LinkedOrders(pieces: 7)
        shared.start(Self.linked(m).linkedComparison())
        DispatchQueue.concurrentPerform(iterations: 2) { _ in shared.help() }
        #expect(Self.firstDifference(Self.described(shared.result()), expected) == nil)
    }

    /// `help(until:)` stops claiming pieces once its semaphore is signalled, and returns only then.
    @Test func helpingUntilASignalLeavesTheRestToOthers() {
        let m = Self.mirror()
        var one = Self.linked(m)
        one.compareLinked()

        // (A semaphore made with a value of 1 may not be freed below it: signalled instead.)
        let ready = DispatchSemaphore(value: 0)
        ready.signal()
        let shared = LinkedOrders(pieces: 5)
        shared.start(Self.linked(m).linkedComparison())
        shared.help(until: ready)              // signalled before the first piece: claims none
        let other = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            shared.help()
            other.signal()
        }
        shared.help(until: other)              // returns once the other thread is done
        #expect(Self.firstDifference(Self.described(shared.result()), Self.described(one.findings)) == nil)
    }

    /// `help(until:whenIdle:)` calls `whenIdle` once it has done every piece left while its
    /// semaphore is still not signalled (then waits for it), and never when the signal came first.
    @Test func helpingUntilASignalSaysWhenItRunsOutOfPieces() {
        let ready = DispatchSemaphore(value: 0)
        ready.signal()
        let shared = LinkedOrders(pieces: 5)
        shared.start(Self.linked(Self.mirror()).linkedComparison())
        var idle = 0
        shared.help(until: ready, whenIdle: { idle += 1 })
        #expect(idle == 0)
        let later = DispatchSemaphore(value: 0)
        shared.help(until: later, whenIdle: {
            idle += 1
            later.signal()
        })
        #expect(idle == 1)
        #expect(shared.result().count == 1_850)
    }

    /// Nothing to help with before `start`: helping returns at once.
    @Test func helpingBeforeStartDoesNothing() {
        let shared = LinkedOrders()
        shared.help()
        shared.start(Self.linked(Self.mirror()).linkedComparison())
        shared.help()
        #expect(shared.result().count == 1_850)
    }
}
