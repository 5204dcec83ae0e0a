/// An error from libpq or the server, described without row data.
///
/// Server messages quote values as well as identifiers: `invalid input syntax for type integer:
/// "…"`, and, from a cast such as `email::regclass`, `relation "…" does not exist`. So every
/// quoted part of a server message is redacted, whatever its SQLSTATE class, unless the failed
/// statement itself holds that text: an identifier its author wrote (`column "emial" does not
/// exist`) stays readable, a value read from a row never does. Only the primary message is
/// kept (never DETAIL, which quotes whole rows).
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

    /// - Parameter statement: the statement that failed, for a server error (see above).
    public init(kind: Kind, sqlState: String? = nil, message: String, statement: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = sqlState == nil ? message.trimmingWhitespace()
            : PostgresError.redact(message.trimmingWhitespace(), keeping: statement ?? "")
    }

    public var description: String {
        if let sqlState {
            return "\(kind.rawValue): SQLSTATE \(sqlState): \(message)"
        }
        return "\(kind.rawValue): \(message)"
    }

    /// Replaces each double-quoted part of `message` with `"…"` unless `statement` contains it
    /// (compared without case: the server folds unquoted identifiers).
    static func redact(_ message: String, keeping statement: String) -> String {
        let known = statement.lowercased()
        var out = ""
        var quoted: String?
        for ch in message {
            if ch == "\"" {
                if let q = quoted {
                    out += (!q.isEmpty && known.contains(q.lowercased()) ? q : "…") + "\""
                    quoted = nil
                } else {
                    out.append(ch)
                    quoted = ""
                }
            } else if quoted != nil {
                quoted!.append(ch)
            } else {
                out.append(ch)
            }
        }
        if quoted != nil { out += "…" }
        return out
    }

    /// A server notice (WARNING, NOTICE…) in the same words: its quoted parts redacted as above;
    /// the text of a RAISE in a function (SQLSTATE 00000, 01000 or P0001) withheld entirely,
    /// since its author may have put a value anywhere in it.
    public static func redactNotice(_ message: String, sqlState: String?, statement: String) -> String {
        if let sqlState, ["00000", "01000", "P0001"].contains(sqlState) { return "(text withheld: a notice raised by a function may quote values)" }
        return redact(message.trimmingWhitespace(), keeping: statement)
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
