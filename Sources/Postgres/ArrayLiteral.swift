import Foundation

/// A PostgreSQL array literal of text, for one bind parameter cast to `text[]` (values are never
/// spliced into SQL): each element quoted with its backslashes and quotes escaped, nil as NULL.
public func textArrayLiteral(_ items: [String?]) -> String {
    "{" + items.map { item in
        guard let item else { return "NULL" }
        return "\"" + item.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }.joined(separator: ",") + "}"
}
