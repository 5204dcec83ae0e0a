import Dispatch
import Foundation

/// Work over `items` things cut into equal ranges (pieces) that any thread may claim: each piece
/// is done once, by whoever claims it first, and the parts come back in the pieces' order
/// whoever made them. Until `start` there is nothing to claim. Matching's two threads share the
/// customers' normalisation (`CustomerNormalisationPieces`) and the linked orders' comparison
/// (`LinkedOrders`) this way.
final class SharedPieces<Work, Part>: @unchecked Sendable {
    // @unchecked: the fields are read and written under `lock`; a part is read only after
    // `stored` says every piece is done.
    private var work: Work?
    private var items = 0, count = 0, next = 0
    private var done: [Part?] = []
    private let lock = NSLock()
    private let stored = DispatchSemaphore(value: 0)

    init() {}

    init(_ work: Work, items: Int, pieces: Int) {
        start(work, items: items, pieces: pieces)
    }

    /// Hands out `pieces` ranges of `0..<items` from now on, each to be done with `work`.
    func start(_ work: Work, items: Int, pieces: Int) {
        lock.lock(); defer { lock.unlock() }
        precondition(self.work == nil, "recon: shared pieces are started once")
        self.work = work
        self.items = items
        count = pieces
        done = Array(repeating: nil, count: pieces)
    }

    /// Does pieces no other thread has claimed, with `body(work, range)`, while `keepGoing` says
    /// so (asked before each piece is claimed); returns when none is left (or none was started).
    func help(while keepGoing: () -> Bool = { true }, _ body: (Work, Range<Int>) -> Part) {
        while keepGoing() {
            lock.lock()
            guard let w = work, next < count else { lock.unlock(); return }
            let k = next
            next += 1
            let size = (items + count - 1) / count
            lock.unlock()
            let part = body(w, min(items, k * size)..<min(items, (k + 1) * size))
            lock.lock()
            done[k] = part
            lock.unlock()
            stored.signal()
        }
    }

    /// Does pieces until `ready` is signalled (checked before each piece), then, if none is left
    /// and it is still not signalled, calls `whenIdle` and waits for it.
    func help(until ready: DispatchSemaphore, whenIdle: () -> Void = {}, _ body: (Work, Range<Int>) -> Part) {
        var signalled = false
        help(while: {
            signalled = ready.wait(timeout: .now()) == .success
            return !signalled
        }, body)
        if !signalled {
            whenIdle()
            ready.wait()
        }
    }

    /// Every piece's part in the pieces' order, once all are done (waiting for those on other
    /// threads); the work is let go. Only after `start`.
    func parts() -> [Part] {
        lock.lock()
        precondition(work != nil, "recon: shared pieces were not started")
        let n = count
        lock.unlock()
        for _ in 0..<n { stored.wait() }
        lock.lock(); defer { lock.unlock() }
        let all = done.map { $0! }
        done = []
        work = nil     // it may share arrays with a matcher that writes them later
        return all
    }
}
