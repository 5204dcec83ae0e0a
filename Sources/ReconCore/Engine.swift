import Dispatch
import Foundation

/// The one place recon starts threads. The rules (`Rules/`) and the matchers' phases are plain
/// sequential code; the engine gives them the two cores:
/// - `forEach`, `map`: the pieces of one stage across the cores, returning when all are done
///   (extraction's two connections, matching's pieces);
/// - `mapClaimed`: many pieces of unequal cost, each claimed by whichever thread is free, each
///   thread with state of its own (the plan's parts, the name candidates of orphans);
/// - `array`, `sorted`: a large array built, or sorted, on both cores (the plan's actions);
/// - `start`: a stage beside this one on a thread of its own (the orders' matching beside the
///   customers', normalisation helping while a connection has nothing left to read), joined by
///   what the stage signals when it is done;
/// - `BackgroundJob`, `DeferredJob`: a result computed beside this thread and collected with
///   `wait` (the state read, the plan, the CSVs, the run's record);
/// - `every`: a small loop that ticks until it says stop (the run lock's watchdog, the progress line);
/// - `onSignal`: a handler for SIGTERM and SIGINT (the run's guard).
///
/// Threads rather than Swift's structured concurrency: the pipeline is blocking code (libpq calls,
/// memory-bound loops over millions of rows) laid out for exactly two cores, where each stage's
/// placement is measured (docs/PERFORMANCE.md); tasks would need `async` through every layer
/// and hand placement to a cooperative pool whose threads must not block.
public enum Engine {
    /// `body(k)` for every `k` in `0..<iterations`, across the cores; returns when all are done.
    public static func forEach(_ iterations: Int, _ body: @Sendable (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: iterations, execute: body)
    }

    /// `body(k)` for every `k` in `0..<pieces`, across the cores (on this thread alone when
    /// `pieces` is 1); the results in the order of `k`. `body` reads what it captures and keeps
    /// its writes to what it returns.
    public static func map<T>(_ pieces: Int, _ body: (Int) -> T) -> [T] {
        if pieces <= 1 { return (0..<pieces).map(body) }
        return withoutActuallyEscaping(body) { body in
            let box = PieceResults<T>(pieces: pieces, UncheckedPiece(body))
            forEach(pieces) { k in box.run(k) }
            return box.take()
        }
    }

    /// `body(&state, range)` for `pieces` consecutive ranges of `0..<items`, each claimed by
    /// whichever of `threads` threads is free, so that ranges of unequal cost keep the cores busy
    /// to the end; each thread makes its own `state` once (`state(thread)`: a cache or a
    /// normaliser that is not shared). The results in the ranges' order, whoever made them; on
    /// this thread alone when `threads` or `pieces` is 1.
    public static func mapClaimed<State, T>(items: Int, pieces: Int, threads: Int, state: (Int) -> State,
                                            _ body: (inout State, Range<Int>) -> T) -> [T] {
        let pieces = max(1, pieces)
        if threads <= 1 || pieces == 1 {
            var own = state(0)
            return (0..<pieces).map { body(&own, ClaimedPieces<T>.range($0, of: pieces, items: items)) }
        }
        return withoutActuallyEscaping(state) { state in
            withoutActuallyEscaping(body) { body in
                let claims = ClaimedPieces<T>(items: items, pieces: pieces, UncheckedClaim(state: state, body: body))
                forEach(min(threads, pieces)) { t in claims.run(thread: t) }
                return claims.take()
            }
        }
    }

    /// `element(i)` for every `i` in `0..<count`, as one array whose `pieces` consecutive ranges
    /// are filled across the cores (on this thread alone when `pieces` is 1). `element` reads what
    /// it captures. For a pass that touches each of hundreds of thousands of heap objects once
    /// (a key from each, or each picked in a new order): the cache misses split over both cores.
    public static func array<T>(count: Int, pieces: Int, _ element: (Int) -> T) -> [T] {
        if pieces <= 1 || count < pieces { return (0..<count).map(element) }
        return withoutActuallyEscaping(element) { element in
            let piece = UncheckedPiece(element)
            return Array(unsafeUninitializedCapacity: count) { buffer, initialized in
                let slots = UncheckedSlots(base: buffer.baseAddress!)
                forEach(pieces) { k in
                    // Each piece initialises its own range of slots; none is read before all are done.
                    for i in ClaimedPieces<T>.range(k, of: pieces, items: count) { (slots.base + i).initialize(to: piece.work(i)) }
                }
                initialized = count
            }
        }
    }
    /// `items` in the order `areInIncreasingOrder` gives, which must be a strict total order
    /// (ties broken, for instance by position), so that the result is the same however the items
    /// are split: with `inParallel`, the two halves sorted across the cores, then merged.
    public static func sorted<T>(_ items: [T], inParallel: Bool, by areInIncreasingOrder: (T, T) -> Bool) -> [T] {
        let n = items.count, mid = n / 2
        if !inParallel || n < 4096 { return items.sorted(by: areInIncreasingOrder) }
        var items = items
        withoutActuallyEscaping(areInIncreasingOrder) { order in
            let less = UncheckedOrder(less: order)
            items.withUnsafeMutableBufferPointer { buffer in
                let slots = UncheckedSlots(base: buffer.baseAddress!)
                forEach(2) { k in
                    // Two disjoint halves of one buffer, each sorted by one thread.
                    var half = k == 0 ? UnsafeMutableBufferPointer(start: slots.base, count: mid)
                                      : UnsafeMutableBufferPointer(start: slots.base + mid, count: n - mid)
                    half.sort(by: less.less)
                }
            }
        }
        var merged: [T] = []
        merged.reserveCapacity(n)
        var i = 0, j = mid
        while i < mid, j < n {
            if areInIncreasingOrder(items[j], items[i]) { merged.append(items[j]); j += 1 } else { merged.append(items[i]); i += 1 }
        }
        merged.append(contentsOf: items[i..<mid])
        merged.append(contentsOf: items[j..<n])
        return merged
    }
    /// Runs `body` on a new thread named `name`.
    /// - Parameter stackSize: in bytes, for a stage that recurses deeper than a secondary
    ///   thread's default stack allows (the matchers: 8 MiB, as the main thread has).
    public static func start(_ name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }

    /// Calls `tick` every `seconds` on a thread named `name` until it returns false.
    public static func every(_ seconds: Double, _ name: String, _ tick: @escaping @Sendable () -> Bool) {
        start(name) {
            while true {
                Thread.sleep(forTimeInterval: seconds)
                if !tick() { return }
            }
        }
    }

    /// Calls `handler` on a Dispatch queue each time `signal` arrives, instead of the signal's
    /// default action. Keep the returned watch: the handler lasts as long as it does.
    public static func onSignal(_ number: Int32, _ handler: @escaping @Sendable () -> Void) -> SignalWatch {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler(handler: handler)
        source.resume()
        return SignalWatch(source: source)
    }

    /// The main thread's stack size, for stages that run matching code.
    public static let matchingStack = 1 << 23
}

/// A signal handler installed by `Engine.onSignal`, alive as long as this is.
public struct SignalWatch {
    let source: any DispatchSourceSignal
}

/// Work on a thread of its own whose result (or error) the caller collects with `wait`; with
/// `inParallel` false it runs at once on the caller's thread (`--no-fast-paths`).
///
/// Unchecked Sendable: `result` is written once, by the worker, before `done` is signalled, and
/// read only after waiting for `done`. The closure must own what it touches until `wait`
/// returns (e.g. the state connection, which the main thread leaves alone meanwhile).
public final class BackgroundJob<T>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    private let done = DispatchSemaphore(value: 0)

    public init(inParallel: Bool, _ work: @escaping () throws -> T) {
        if !inParallel {
            result = Result { try work() }
            done.signal()
            return
        }
        let box = UncheckedWork(work)
        Engine.start("recon-job") { [self] in
            result = Result { try box.work() }
            done.signal()
        }
    }

    /// `work(input)`, the job letting go of `input` as soon as `work` returns, before its result
    /// is ready: once `wait` returns, the caller's own copy of a large array is the only one
    /// left, and its next change copies nothing.
    public convenience init<Input>(inParallel: Bool, handing input: Input, _ work: @escaping (Input) throws -> T) {
        let slot = HandedOver(input)
        self.init(inParallel: inParallel) { try work(slot.take()) }
    }

    public func wait() throws -> T {
        done.wait()
        done.signal()   // a second wait returns at once
        return try result!.get()
    }

    /// The result, handed over: the job keeps no reference to it, so a large result lives only
    /// as long as the caller keeps it. Once, instead of `wait`.
    public func take() throws -> T {
        done.wait()
        let taken = result!
        result = .failure(Taken())
        done.signal()   // a later `wait` returns at once (with `Taken`)
        return try taken.get()
    }

    /// What `wait` throws once the result was taken.
    public struct Taken: Error {}
}

/// A value handed to one job, which takes it out once (`BackgroundJob(inParallel:handing:_:)`).
private final class HandedOver<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: Value) { self.value = value }
    func take() -> Value {
        defer { value = nil }
        return value!
    }
}

/// A `BackgroundJob` started later: by `start` (from any thread, once), or by `wait`.
/// Unchecked Sendable: `job` is read and written under `lock`.
public final class DeferredJob<T>: @unchecked Sendable {
    private let inParallel: Bool
    private let work: () throws -> T
    private var job: BackgroundJob<T>?
    private let lock = NSLock()

    public init(inParallel: Bool, _ work: @escaping () throws -> T) {
        self.inParallel = inParallel
        self.work = work
    }

    /// Starts the work on a thread of its own (a second call does nothing).
    public func start() {
        _ = started()
    }

    /// The job, started first when nothing has started it.
    private func started() -> BackgroundJob<T> {
        lock.lock(); defer { lock.unlock() }
        if job == nil { job = BackgroundJob(inParallel: inParallel, work) }
        return job!
    }

    /// The result, starting the work first when nothing has.
    public func wait() throws -> T {
        try started().wait()
    }

    /// The result handed over (`BackgroundJob.take`), starting the work first when nothing has.
    /// Once, instead of `wait`.
    public func take() throws -> T {
        try started().take()
    }

    /// Waits for the work when it was started (after an error elsewhere: nothing new starts).
    public func waitIfStarted() {
        lock.lock()
        let job = self.job
        lock.unlock()
        _ = try? job?.wait()
    }
}

/// A closure handed to the worker thread. Unchecked Sendable: the job's owner does not touch
/// what the closure captures until the job is waited for.
private struct UncheckedWork<T>: @unchecked Sendable {
    let work: () throws -> T
    init(_ work: @escaping () throws -> T) { self.work = work }
}

/// A piece's closure and the pieces' results (`Engine.map`). Unchecked Sendable: each piece
/// writes its own slot under `lock`; the results are read once every piece is done.
private final class PieceResults<T>: @unchecked Sendable {
    private let body: UncheckedPiece<T>
    private var results: [T?]
    private let lock = NSLock()
    init(pieces: Int, _ body: UncheckedPiece<T>) {
        self.body = body
        results = Array(repeating: nil, count: pieces)
    }
    func run(_ k: Int) {
        let r = body.work(k)
        lock.lock(); results[k] = r; lock.unlock()
    }
    func take() -> [T] {
        lock.lock(); defer { lock.unlock() }
        let out = results.map { $0! }
        results = []
        return out
    }
}

/// The pieces of `Engine.mapClaimed`, handed out in order, and their results. Unchecked
/// Sendable: `next` and each result are written under `lock`; the results are read once every
/// thread is done.
private final class ClaimedPieces<T>: @unchecked Sendable {
    private let work: (_ thread: Int, ClaimedPieces<T>) -> Void
    private let items: Int, pieces: Int
    private var results: [T?]
    private var next = 0
    private let lock = NSLock()

    static func range(_ k: Int, of pieces: Int, items: Int) -> Range<Int> { items * k / pieces..<items * (k + 1) / pieces }

    init<State>(items: Int, pieces: Int, _ claim: UncheckedClaim<State, T>) {
        self.items = items
        self.pieces = pieces
        results = Array(repeating: nil, count: pieces)
        work = { thread, claims in
            var state = claim.state(thread)
            while let k = claims.claim() {
                let r = claim.body(&state, ClaimedPieces.range(k, of: claims.pieces, items: claims.items))
                claims.lock.lock(); claims.results[k] = r; claims.lock.unlock()
            }
        }
    }

    func run(thread: Int) { work(thread, self) }

    private func claim() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < pieces else { return nil }
        next += 1
        return next - 1
    }
    func take() -> [T] {
        lock.lock(); defer { lock.unlock() }
        let out = results.map { $0! }
        results = []
        return out
    }
}

private struct UncheckedClaim<State, T>: @unchecked Sendable {
    let state: (Int) -> State
    let body: (inout State, Range<Int>) -> T
}

/// Where `Engine.array` and `Engine.sorted` write. Unchecked Sendable: each thread writes only
/// its own range, and the buffer is read once every thread is done.
private struct UncheckedSlots<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}

private struct UncheckedOrder<T>: @unchecked Sendable {
    let less: (T, T) -> Bool
}

private struct UncheckedPiece<T>: @unchecked Sendable {
    let work: (Int) -> T
    init(_ work: @escaping (Int) -> T) { self.work = work }
}
