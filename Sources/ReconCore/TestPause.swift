import Foundation

/// Fault injection for the crash tests: `RECON_TEST_PAUSE=<point>:<seconds>` makes a run sleep
/// at a named point, so that a test can kill it, stop its state database or fill its disk
/// exactly there. The points: `publish` (the report folder is whole but not yet renamed into
/// place; the state is written but not committed) and `commit` (the folder is published; the
/// state is not yet committed). Compiled into debug builds only (the ones the tests run): a
/// release build has no such seam.
public enum TestPause {
    @inline(__always)
    public static func at(_ point: String) {
        #if DEBUG
        guard let spec = ProcessInfo.processInfo.environment["RECON_TEST_PAUSE"] else { return }
        let parts = spec.split(separator: ":")
        guard parts.count == 2, parts[0] == point, let seconds = Double(parts[1]) else { return }
        Thread.sleep(forTimeInterval: seconds)
        #endif
    }
}
