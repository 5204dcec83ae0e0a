@testable import ReconCore
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
