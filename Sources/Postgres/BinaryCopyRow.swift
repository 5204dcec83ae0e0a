/// One row of `COPY … FROM STDIN (FORMAT binary)`, written field by field in the table's column
/// order: each field is its length (32 bits, big-endian, -1 for NULL) and its bytes in the
/// type's binary send format. Text is sent as UTF-8 and converted by the server like any text
/// from this client.
public struct BinaryCopyRow {
    /// The signature, flags and header extension that open a binary COPY stream.
    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    /// A field count of -1 ends the stream.
    static let trailer: [UInt8] = [0xFF, 0xFF]
    /// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
    public static let postgresEpochMicroseconds: Int64 = 946_684_800_000_000

    var bytes: [UInt8] = []
    private var countAt = 0
    private var fields = 0
    private var fieldAt = 0

    mutating func begin() {
        countAt = bytes.count
        fields = 0
        bytes.append(0); bytes.append(0)
    }

    mutating func end() {
        bytes[countAt] = UInt8(truncatingIfNeeded: fields >> 8)
        bytes[countAt + 1] = UInt8(truncatingIfNeeded: fields)
    }

    private mutating func length(_ n: Int32) {
        withUnsafeBytes(of: n.bigEndian) { bytes.append(contentsOf: $0) }
        fields += 1
    }

    public mutating func null() { length(-1) }

    /// The string's bytes are read where they are (`withUTF8` needs a mutable copy: a retain
    /// and release of texts other threads read too).
    public mutating func text(_ value: String) {
        if value.utf8.withContiguousStorageIfAvailable({ text(bytes: $0) }) != nil { return }
        var value = value
        value.withUTF8 { text(bytes: $0) }
    }

    /// A text field given as UTF-8 bytes.
    public mutating func text(bytes p: UnsafeBufferPointer<UInt8>) {
        length(Int32(p.count))
        bytes.append(contentsOf: p)
    }

    public mutating func text(_ value: String?) {
        guard let value else { return null() }
        text(value)
    }

    /// A text field written by `write`, which appends its UTF-8 bytes (the length is filled in after).
    public mutating func text(writing write: (inout [UInt8]) -> Void) {
        let at = bytes.count
        length(0)
        write(&bytes)
        let n = Int32(bytes.count - at - 4).bigEndian
        withUnsafeBytes(of: n) { for k in 0..<4 { bytes[at + k] = $0[k] } }
    }

    public mutating func bool(_ value: Bool) {
        length(1)
        bytes.append(value ? 1 : 0)
    }

    public mutating func int32(_ value: Int32) {
        length(4)
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func int64(_ value: Int64) {
        length(8)
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// A `timestamptz`: microseconds since 2000-01-01 00:00:00 UTC.
    public mutating func timestamptz(microsecondsSince2000 value: Int64) { int64(value) }
}
