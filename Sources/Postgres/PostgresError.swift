/// An error from libpq or the server, described without row data.
///
/// Server messages of the data-exception (22) and integrity (23) classes quote the offending
/// value (`invalid input syntax for type integer: "…"`); those quotes are redacted so that a
/// customer's email or phone never reaches a log line or an error message. Messages of other
/// classes quote identifiers (`column "emial" does not exist`) and are kept whole.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case connect = "cannot connect"
        case query = "query failed"
        case connectionLost = "connection lost"
        case protocolError = "unexpected server response"
    }

    public var kind: Kind
    /// The five-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    /// The server's (or libpq's) primary message, redacted as described above.
    public var message: String

    public init(kind: Kind, sqlState: String? = nil, message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = PostgresError.redact(message.trimmingWhitespace(), sqlState: sqlState)
    }

    public var description: String {
        if let sqlState {
            return "\(kind.rawValue): SQLSTATE \(sqlState): \(message)"
        }
        return "\(kind.rawValue): \(message)"
    }

    /// Replaces double-quoted text with `"…"` for SQLSTATE classes whose messages quote values.
    static func redact(_ message: String, sqlState: String?) -> String {
        guard let sqlState, sqlState.hasPrefix("22") || sqlState.hasPrefix("23") else {
            return message
        }
        var out = ""
        var inQuote = false
        for ch in message {
            if ch == "\"" {
                if inQuote { out += "…\"" } else { out.append(ch) }
                inQuote.toggle()
            } else if !inQuote {
                out.append(ch)
            }
        }
        if inQuote { out += "…" }
        return out
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
