/// A PostgreSQL array literal of text, for one bind parameter cast to `text[]` (values are never
/// spliced into SQL): each element quoted with its backslashes and quotes escaped, nil as NULL.
/// Built on the bytes: an apply passes arrays of a hundred thousand values.
public func textArrayLiteral(_ items: [String?]) -> String {
    var out: [UInt8] = [UInt8(ascii: "{")]
    out.reserveCapacity(items.count * 24 + 2)
    for (i, item) in items.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        guard let item else {
            out.append(contentsOf: "NULL".utf8)
            continue
        }
        out.append(UInt8(ascii: "\""))
        for b in item.utf8 {
            if b == UInt8(ascii: "\\") || b == UInt8(ascii: "\"") { out.append(UInt8(ascii: "\\")) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }
    out.append(UInt8(ascii: "}"))
    return String(decoding: out, as: UTF8.self)
}
