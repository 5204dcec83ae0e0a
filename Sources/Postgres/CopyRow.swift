/// One line of `COPY … TO STDOUT` in text format, split into fields without decoding them:
/// tab-separated, `\N` for NULL, backslash escapes for tab, newline, carriage return, backslash
/// and octal bytes. Fields without a backslash are their bytes as they are.
public enum CopyLine {
    public struct Span: Sendable {
        public var start: Int
        public var end: Int
        public var escaped: Bool
    }

    /// Splits `line` (with or without its trailing newline) into `spans` (cleared first).
    @inline(__always)
    public static func split(_ line: UnsafeBufferPointer<UInt8>, into spans: inout [Span]) {
        spans.removeAll(keepingCapacity: true)
        var end = line.count
        if end > 0, line[end - 1] == 0x0A { end -= 1 }
        var i = 0
        var fieldStart = 0
        var hasEscape = false
        while true {
            if i == end || line[i] == 0x09 {
                spans.append(Span(start: fieldStart, end: i, escaped: hasEscape))
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

    /// Whether the span is SQL NULL (`\N`).
    @inline(__always)
    public static func isNull(_ line: UnsafeBufferPointer<UInt8>, _ s: Span) -> Bool {
        s.escaped && s.end - s.start == 2 && line[s.start] == 0x5C && line[s.start + 1] == UInt8(ascii: "N")
    }

    /// Decodes an escaped span into `out` (cleared first).
    public static func unescape(_ line: UnsafeBufferPointer<UInt8>, _ s: Span, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        var i = s.start
        let end = s.end
        while i < end {
            let b = line[i]
            guard b == 0x5C, i + 1 < end else { out.append(b); i += 1; continue }
            let e = line[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = Int(e - 0x30)
                var digits = 1
                while digits < 3, i < end, (0x30...0x37).contains(line[i]) {
                    value = value * 8 + Int(line[i] - 0x30); i += 1; digits += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            default: out.append(e)
            }
        }
    }
}

/// One row of `COPY … TO STDOUT` in text format, decoded into strings (nil for NULL).
public struct CopyRow: ~Copyable {
    /// The decoded fields of the current row; nil is SQL NULL.
    public private(set) var fields: [String?] = []
    private var spans: [CopyLine.Span] = []
    private var scratch: [UInt8] = []

    public init() {}

    public var count: Int { fields.count }
    public subscript(_ index: Int) -> String? { fields[index] }

    /// Decodes one COPY text line (with or without its trailing newline).
    mutating func decode(_ line: UnsafeBufferPointer<UInt8>) throws {
        fields.removeAll(keepingCapacity: true)
        CopyLine.split(line, into: &spans)
        for s in spans {
            if !s.escaped {
                fields.append(String(decoding: UnsafeBufferPointer(rebasing: line[s.start..<s.end]), as: UTF8.self))
            } else if CopyLine.isNull(line, s) {
                fields.append(nil)
            } else {
                CopyLine.unescape(line, s, into: &scratch)
                fields.append(String(decoding: scratch, as: UTF8.self))
            }
        }
    }
}
