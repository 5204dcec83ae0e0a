@testable import ReconCore
import Foundation
import Testing

/// A job's result handed over with `take` lives only as long as the caller keeps it.
struct BackgroundJobTests {
    final class Payload: Sendable { let n: Int; init(_ n: Int) { self.n = n } }

    @Test(arguments: [true, false])
    func takeHandsTheResultOverAndKeepsNoReference(inParallel: Bool) throws {
        let job = DeferredJob(inParallel: inParallel) { Payload(42) }
        weak var seen: Payload?
        do {
            let taken = try job.take()
            seen = taken
            #expect(taken.n == 42)
        }
        #expect(seen == nil, "the job still holds its result after take")
        // A later wait (after an error elsewhere) returns at once instead of blocking.
        job.waitIfStarted()
        #expect(throws: BackgroundJob<Payload>.Taken.self) { try job.wait() }
    }

    @Test func waitKeepsTheResultForAnotherWait() throws {
        let job = BackgroundJob(inParallel: true) { Payload(7) }
        #expect(try job.wait().n == 7)
        #expect(try job.wait().n == 7)
    }

    @Test func takePassesTheWorksErrorOn() {
        struct Failed: Error {}
        let job = BackgroundJob<Int>(inParallel: true) { throw Failed() }
        #expect(throws: Failed.self) { try job.take() }
    }
}

/// `Engine.map`: every piece runs once, the results come back in the pieces' order whatever
/// order they finish in, one piece runs on the caller's thread, and none keeps the closure.
struct EngineMapTests {
    @Test(arguments: [1, 2, 7])
    func resultsInThePiecesOrder(pieces: Int) {
        let out = Engine.map(pieces) { k -> [Int] in
            // Later pieces finish first.
            if k == 0, pieces > 1 { Thread.sleep(forTimeInterval: 0.05) }
            return Array((k * 10)..<(k * 10 + 3))
        }
        #expect(out == (0..<pieces).map { Array(($0 * 10)..<($0 * 10 + 3)) })
    }

    @Test func onePieceRunsOnTheCallersThread() {
        let caller = Thread.current
        let ran = Engine.map(1) { _ in Thread.current == caller }
        #expect(ran == [true])
        #expect(Engine.map(0) { $0 }.isEmpty)
    }

    @Test func theClosureIsNotKept() {
        final class Token: Sendable {}
        weak var seen: Token?
        do {
            let token = Token()
            seen = token
            _ = Engine.map(2) { k in k + (token === seen ? 1 : 0) }
        }
        #expect(seen == nil, "a piece's closure outlived the map")
    }
}

/// `Engine.mapClaimed`: the ranges cover the items once, in order; the results come back in the
/// ranges' order whoever claimed them; each thread makes its state once and keeps it across
/// the ranges it claims.
struct EngineMapClaimedTests {
    final class Made: @unchecked Sendable {
        private let lock = NSLock()
        private var threads: [Int] = []
        func add(_ t: Int) { lock.lock(); threads.append(t); lock.unlock() }
        var all: [Int] { lock.lock(); defer { lock.unlock() }; return threads }
    }

    @Test(arguments: [(0, 1, 2), (5, 16, 2), (1000, 1, 2), (1000, 16, 1), (1000, 16, 2), (1000, 7, 3), (10, 3, 8)])
    func rangesInOrderStateOncePerThread(items: Int, pieces: Int, threads: Int) {
        let made = Made()
        let out = Engine.mapClaimed(items: items, pieces: pieces, threads: threads, state: { t -> (thread: Int, ranges: Int) in
            made.add(t)
            return (t, 0)
        }) { state, range -> (range: Range<Int>, thread: Int, earlier: Int) in
            // The first range is slow: the others are claimed meanwhile, and finish first.
            if range.lowerBound == 0, pieces > 1, threads > 1 { Thread.sleep(forTimeInterval: 0.05) }
            state.ranges += 1
            return (range, state.thread, state.ranges - 1)
        }
        #expect(out.count == pieces)
        #expect(out.flatMap { Array($0.range) } == Array(0..<items))
        let used = made.all
        #expect(Set(used).count == used.count, "a thread made its state twice: \(used)")
        #expect(used.count == (threads <= 1 || pieces == 1 ? 1 : min(threads, pieces)))
        // Per thread, the ranges it claimed saw one state, counting up.
        for t in Set(out.map(\.thread)) {
            #expect(out.filter { $0.thread == t }.map(\.earlier) == Array(0..<out.filter { $0.thread == t }.count))
        }
    }
}

/// `Engine.array` and `Engine.sorted`: the array built or sorted across the cores is the one
/// built or sorted on one thread, for any size and number of pieces.
struct EngineArrayTests {
    /// How many `Box`es are alive: a slot initialised twice leaks one, which this counts.
    final class Alive: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func add(_ d: Int) { lock.lock(); n += d; lock.unlock() }
        var count: Int { lock.lock(); defer { lock.unlock() }; return n }
    }
    final class Box: @unchecked Sendable {
        let n: Int, alive: Alive
        init(_ n: Int, _ alive: Alive) { self.n = n; self.alive = alive; alive.add(1) }
        deinit { alive.add(-1) }
    }

    @Test(arguments: [(0, 1), (0, 8), (1, 8), (7, 8), (8, 8), (1000, 1), (1000, 3), (100_003, 8)])
    func elementsInOrderEachOnce(count: Int, pieces: Int) {
        let alive = Alive()
        do {
            let made = Engine.array(count: count, pieces: pieces) { Box($0 * 3, alive) }
            #expect(made.map(\.n) == (0..<count).map { $0 * 3 })
            #expect(alive.count == count)
        }
        #expect(alive.count == 0, "elements made and never released")
    }

    @Test(arguments: [0, 1, 4095, 4096, 4097, 50_001])
    func sortedAsOnOneThread(count: Int) {
        var rng = SystemRandomNumberGenerator()
        // Few distinct values, so that the position breaks most ties.
        let items = (0..<count).map { (value: Int.random(in: 0..<100, using: &rng), index: $0) }
        let order: ((value: Int, index: Int), (value: Int, index: Int)) -> Bool = { $0.value != $1.value ? $0.value < $1.value : $0.index < $1.index }
        let expected = items.sorted(by: order)
        let both = Engine.sorted(items, inParallel: true, by: order)
        #expect(both.map(\.index) == expected.map(\.index))
        #expect(Engine.sorted(items, inParallel: false, by: order).map(\.index) == expected.map(\.index))
        let already = Engine.sorted(expected, inParallel: true, by: order)
        #expect(already.map(\.index) == expected.map(\.index))
    }
}

/// `Prefetchable`: the bytes at `boxOffset` are the reference to the value's box (what the loops
/// read to ask for it), and walking `prefetching` gives every element once, in order.
struct PrefetchingTests {
    static func finding(_ n: Int) -> Finding {
        Finding(type: .orphan, entity: .customer, severity: .warning, members: [FindingMember(system: .crm, recordId: "C\(n)")])
    }

    static func reference<T>(_ value: T, at offset: Int) -> UInt {
        withUnsafeBytes(of: value) { $0.load(fromByteOffset: offset, as: UInt.self) }
    }

    @Test func theBoxOffsetHoldsTheReferenceToTheBox() {
        #expect(MemoryLayout<Finding>.size == MemoryLayout<UInt>.size)
        #expect(MemoryLayout<PlanAction>.size == MemoryLayout<UInt>.size)
        let a = Self.finding(1)
        var copy = a
        // A copy shares the box; another finding, or the copy once written to, has its own.
        #expect(Self.reference(copy, at: Finding.boxOffset) == Self.reference(a, at: Finding.boxOffset))
        #expect(Self.reference(Self.finding(2), at: Finding.boxOffset) != Self.reference(a, at: Finding.boxOffset))
        copy.detail = "changed"
        #expect(Self.reference(copy, at: Finding.boxOffset) != Self.reference(a, at: Finding.boxOffset))
        let tracked = TrackedFinding(finding: a, status: .new, firstSeenRun: "r", firstSeenAt: "t", nightsOpen: 1)
        #expect(Self.reference(tracked, at: TrackedFinding.boxOffset) == Self.reference(a, at: Finding.boxOffset))
        let action = PlanAction(operation: .link, system: .crm, entity: .customer, recordId: "C1", field: "external_id",
                                oldValue: nil, newValue: "K1", finding: a, reason: "r")
        var other = action
        other.newValue = "K2"
        #expect(Self.reference(other, at: PlanAction.boxOffset) != Self.reference(action, at: PlanAction.boxOffset))
    }

    @Test(arguments: [0, 1, 7, 8, 9, 100])
    func everyElementOnceInOrder(count: Int) {
        let all = (0..<count).map(Self.finding)
        #expect(Array(all.prefetching).map(\.idValue) == all.map(\.idValue))
        let slice = all.dropFirst(min(3, count))
        #expect(Array(slice.prefetching).map(\.idValue) == slice.map(\.idValue))
        for i in 0...count + 10 { all.prefetch(i); slice.prefetch(i + slice.startIndex) }   // past the end: nothing
    }
}
