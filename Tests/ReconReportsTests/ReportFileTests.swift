import Foundation
@testable import ReconReports
import Testing

/// The file behind the streaming CSVs and plan.json: whatever the sizes of the pieces written, the
/// file holds exactly their bytes, whether written around the page cache (whole blocks, then the
/// last partial one through it) or through it; a failed write is reported by `close`, naming the file.
struct ReportFileTests {
    /// Lengths around the block (4 KiB) and the megabyte a write holds.
    static let lengths = [0, 1, 4_095, 4_096, 4_097, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 12_345]

    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
    }

    @Test(arguments: [true, false])
    func theFileHoldsExactlyWhatWasWritten(direct: Bool) throws {
        for (n, length) in Self.lengths.enumerated() {
            let expected = Self.bytes(length, seed: UInt64(n + 1))
            let path = NSTemporaryDirectory() + "report-file-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let file = try CSVFile(path, direct: direct)
            // Pieces of 0 bytes to 2.5 MB: some fill the buffer exactly, some cross it.
            var at = 0
            var step = 0
            let sizes = [0, 1, 4_095, 4_097, 1 << 20, 700_000, 2_621_440, 13]
            while at < length {
                let k = min(sizes[step % sizes.count], length - at)
                file.write(Array(expected[at..<(at + k)]))
                at += k
                step += 1
            }
            try file.close()
            let back = try #require(FileManager.default.contents(atPath: path))
            #expect(back.count == length, "length \(length)")
            #expect([UInt8](back) == expected, "length \(length)")
        }
    }

    @Test(arguments: [true, false])
    func aFailedWriteIsReportedByCloseNamingTheFile(direct: Bool) throws {
        // /dev/full takes no direct I/O (the plain write is tried) and refuses every write.
        let file = try CSVFile("/dev/full", direct: direct)
        file.write(Self.bytes((1 << 20) + 10, seed: 3))
        let error = try #require(throws: ReportError.self) { try file.close() }
        #expect("\(error)".contains("/dev/full"))
        #expect("\(error)".contains("No space left on device"))
    }

    @Test func aFileThatCannotBeCreatedIsNamed() throws {
        let path = NSTemporaryDirectory() + "no-such-folder-\(UUID().uuidString)/findings.csv"
        let error = try #require(throws: ReportError.self) { _ = try CSVFile(path) }
        #expect("\(error)".contains(path))
        #expect("\(error)".contains("No such file or directory"))
    }
}
