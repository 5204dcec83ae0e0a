import Foundation
import Postgres
import ReconCore
import Synchronization

/// The run lock: a session advisory lock on a connection that does nothing else, so it is never
/// busy when it must be checked. A lock held by a session lasts only as long as that session: if
/// the state database restarts, the lock is gone and another run could take it. So the holder
/// watches its session (`watch`) and stops when it is lost, and a run's state is committed only
/// in a transaction that first sees the lock still held by this session
/// (`StateStore.commitRun(lock:)`): two runs can never both record a night.
public final class RunLock: Sendable {
    /// The lock's connection and whether it is watched, used by one thread at a time.
    private struct Session {
        let connection: Connection
        var watching = false
    }
    private let session: Mutex<Session>
    /// The server process of the locking session (what `pg_locks.pid` shows).
    public let backendPid: String

    /// Takes the lock without waiting. - Returns: nil when another run holds it.
    /// - Throws: `StateError` when the state database cannot be reached.
    public static func take(conninfo: String, sessionOptions: String?) throws -> RunLock? {
        do {
            let connection = try Connection(conninfo: conninfo, applicationName: "recon-lock", sessionOptions: sessionOptions)
            guard try connection.query("SELECT pg_try_advisory_lock($1)", [String(StateStore.runLockKey)]).first?.first == "t" else {
                return nil
            }
            let pid = try connection.query("SELECT pg_backend_pid()").first?.first.flatMap { $0 } ?? ""
            return RunLock(connection: connection, backendPid: pid)
        } catch let error as PostgresError {
            throw StateError.server(error)
        }
    }

    private init(connection: sending Connection, backendPid: String) {
        session = Mutex(Session(connection: connection))
        self.backendPid = backendPid
    }

    /// Whether the locking session still answers and holds the lock.
    public func isHeld() -> Bool {
        session.withLock { session in
            (try? session.connection.query("""
                SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                  AND classid = $1::oid AND objid = $2::oid AND objsubid = 1
                """, StateStore.runLockKeyParts))?.count == 1
        }
    }

    /// Checks the lock every `seconds` on a thread of its own and calls `onLost` once, when it is
    /// gone (the state database restarted, the session was terminated, the network dropped).
    public func watch(every seconds: Double, onLost: @escaping @Sendable () -> Void) {
        session.withLock { $0.watching = true }
        Engine.every(seconds, "recon-run-lock") { [self] in
            guard session.withLock({ $0.watching }) else { return false }
            if !isHeld() {
                onLost()
                return false
            }
            return true
        }
    }

    /// Stops watching (the run is over; the lock goes with the connection).
    public func stopWatching() { session.withLock { $0.watching = false } }

    /// Records how far the run got, so that a run whose process dies says where (best effort).
    public func setPhase(runId: String, _ phase: String) {
        session.withLock { session in
            _ = try? session.connection.query("UPDATE recon.runs SET phase = $2 WHERE run_id = $1 AND outcome = 'running'", [runId, phase])
        }
    }

    /// Records a run that was stopped from outside (a signal), while it is still marked running.
    /// - Parameter session: the run's state session, ended first: a transaction it has open
    ///   (the run being recorded) holds the run's row, and is rolled back.
    public func recordInterruption(runId: String, error: String, exitCode: Int32, endingSession session: String?) {
        self.session.withLock { locked in
            if let session { _ = try? locked.connection.query("SELECT pg_terminate_backend($1::int, 2000)", [session]) }
            _ = try? locked.connection.query("""
                UPDATE recon.runs SET finished_at = now(), outcome = 'error', exit_code = $2, error = $3
                WHERE run_id = $1 AND outcome = 'running'
                """, [runId, String(exitCode), error])
        }
    }
}
