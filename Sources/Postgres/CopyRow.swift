/// One row of `COPY … TO STDOUT` in text format: tab-separated fields, `\N` for NULL,
/// backslash escapes for tab, newline, carriage return, backslash and octal bytes.
public struct CopyRow: ~Copyable {
    /// The decoded fields of the current row; nil is SQL NULL.
    public private(set) var fields: [String?] = []
    private var scratch: [UInt8] = []

    public init() {}

    public var count: Int { fields.count }
    public subscript(_ index: Int) -> String? { fields[index] }

    /// Decodes one COPY text line (with or without its trailing newline).
    mutating func decode(_ line: UnsafeBufferPointer<UInt8>) throws {
        fields.removeAll(keepingCapacity: true)
        var end = line.count
        if end > 0, line[end - 1] == 0x0A { end -= 1 }
        var i = 0
        var fieldStart = 0
        var hasEscape = false
        while true {
            if i == end || line[i] == 0x09 {
                fields.append(field(line, fieldStart, i, hasEscape))
                if i == end { break }
                i += 1
                fieldStart = i
                hasEscape = false
                continue
            }
            if line[i] == 0x5C { hasEscape = true; i += 2; if i > end { i = end }; continue }
            i += 1
        }
    }

    private mutating func field(_ line: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ hasEscape: Bool) -> String? {
        if !hasEscape {
            return String(decoding: UnsafeBufferPointer(rebasing: line[start..<end]), as: UTF8.self)
        }
        if end - start == 2, line[start] == 0x5C, line[start + 1] == UInt8(ascii: "N") { return nil }
        scratch.removeAll(keepingCapacity: true)
        var i = start
        while i < end {
            let b = line[i]
            guard b == 0x5C, i + 1 < end else { scratch.append(b); i += 1; continue }
            let e = line[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "v"): scratch.append(0x0B)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = Int(e - 0x30)
                var digits = 1
                while digits < 3, i < end, (0x30...0x37).contains(line[i]) {
                    value = value * 8 + Int(line[i] - 0x30); i += 1; digits += 1
                }
                scratch.append(UInt8(truncatingIfNeeded: value))
            default: scratch.append(e)
            }
        }
        return String(decoding: scratch, as: UTF8.self)
    }
}
