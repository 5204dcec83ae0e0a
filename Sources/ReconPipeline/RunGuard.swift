import Foundation
import ReconCore
import ReconState

/// What stops a run from outside: SIGTERM (systemd stop), SIGINT (Ctrl-C) and the loss of the
/// run lock. Stopping removes the run's temporary report folder, records the run as
/// interrupted (its lock goes with the process) and ends the process at once, with 130 for
/// SIGINT, 143 for SIGTERM (as shells report them) and 2 for a lost lock.
///
/// Publishing and committing (`publishing`) is never cut in half: a stop that arrives meanwhile
/// waits for it (it takes milliseconds) and then ends the process.
final class RunGuard: @unchecked Sendable {
    // @unchecked: every field is read and written under `mutex`, which the run also holds while
    // it publishes and commits.
    private let mutex = NSLock()
    private var runId: String?
    private var lock: RunLock?
    private var temporaryFolder: String?
    private var done = false
    private var stateSession: String?
    private var publishFailure: (@Sendable (String) -> Void)?
    private var signalWatches: [SignalWatch] = []
    private let stderrLine: @Sendable (String) -> Void

    /// - Parameter stderrLine: writes the final error line (text or JSON, as the logs).
    init(stderrLine: @escaping @Sendable (String) -> Void) {
        self.stderrLine = stderrLine
    }

    /// Catches SIGTERM and SIGINT from now on (instead of dying at once).
    func catchSignals() {
        for (number, name, code) in [(SIGTERM, "SIGTERM", Int32(143)), (SIGINT, "SIGINT", Int32(130))] {
            signalWatches.append(Engine.onSignal(number) { [self] in stop(because: "interrupted by \(name)", exitCode: code) })
        }
    }

    /// - Parameter publishFailure: publishes a failure folder with a reason, when the lock is
    ///   lost (the state database may not be there to record it; the next run reads it there).
    /// - Parameter stateSession: the backend of the run's state session (see `RunLock.recordInterruption`).
    func attach(runId: String, lock: RunLock, stateSession: String?, publishFailure: @escaping @Sendable (String) -> Void) {
        mutex.withLock {
            self.stateSession = stateSession
            self.runId = runId
            self.lock = lock
            self.publishFailure = publishFailure
        }
        lock.watch(every: 1) { [self] in
            stop(because: "lost the run lock (the state database restarted or the lock's session ended): stopped so that two runs never overlap",
                 exitCode: 2, lockLost: true)
        }
    }

    func setPhase(_ phase: String) {
        let (lock, runId) = mutex.withLock { (self.lock, self.runId) }
        if let lock, let runId { lock.setPhase(runId: runId, phase) }
    }

    /// The folder to remove if the run is stopped.
    func working(in folder: String?) { mutex.withLock { temporaryFolder = folder } }

    /// Runs `body` (publish and commit) without a stop in between; once it succeeds there is no
    /// temporary folder left to remove.
    func publishing<T>(_ body: () throws -> T) rethrows -> T {
        mutex.lock()
        defer { mutex.unlock() }
        let result = try body()
        temporaryFolder = nil
        return result
    }

    /// The run is over (published, or failed and recorded): a stop from now on changes nothing
    /// but the exit code.
    func finish() {
        let lock = mutex.withLock {
            done = true
            return self.lock
        }
        lock?.stopWatching()
    }

    func stop(because reason: String, exitCode: Int32, lockLost: Bool = false) {
        mutex.lock()     // waits for a publish under way; never unlocked: the process ends here
        if done {
            if lockLost { mutex.unlock(); return }
            exit(exitCode)
        }
        if let temporaryFolder { try? FileManager.default.removeItem(atPath: temporaryFolder) }
        if let runId, let lock, !lockLost {
            lock.recordInterruption(runId: runId, error: reason, exitCode: exitCode, endingSession: stateSession)
        }
        if lockLost { publishFailure?(reason) }
        stderrLine(reason)
        _exit(exitCode)
    }
}
