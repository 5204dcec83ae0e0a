/// RFC 4180 CSV: fields holding a comma, quote, CR or LF are quoted (quotes doubled), lines end
/// in CRLF, text is UTF-8. Cells a spreadsheet would run as a formula (starting with `=`, `+`,
/// `-`, `@`, tab or CR) get a leading apostrophe, which spreadsheets hide and treat as "text":
/// `+447911123456` is written `'+447911123456` and shows as `+447911123456`.
public struct CSVWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func row(_ fields: [String]) {
        for (i, field) in fields.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            append(field)
        }
        bytes.append(0x0D)
        bytes.append(0x0A)
    }

    /// Takes the bytes written so far (for streaming to a file in chunks).
    public mutating func take() -> [UInt8] {
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }

    private mutating func append(_ field: String) {
        let utf8 = field.utf8
        var needsQuotes = false
        var neutralise = false
        if let first = utf8.first {
            neutralise = first == UInt8(ascii: "=") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
                || first == UInt8(ascii: "@") || first == 0x09 || first == 0x0D
        }
        for b in utf8 where b == UInt8(ascii: ",") || b == UInt8(ascii: "\"") || b == 0x0D || b == 0x0A {
            needsQuotes = true
            break
        }
        if needsQuotes { bytes.append(UInt8(ascii: "\"")) }
        if neutralise { bytes.append(UInt8(ascii: "'")) }
        for b in utf8 {
            if b == UInt8(ascii: "\"") { bytes.append(b) }
            bytes.append(b)
        }
        if needsQuotes { bytes.append(UInt8(ascii: "\"")) }
    }
}
