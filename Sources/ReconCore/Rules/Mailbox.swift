/// One mailbox, however its address is written: the rule that makes two valid, lowercased
/// addresses the same email key.
///
/// - `googlemail.com` is `gmail.com` (Google delivers both to one mailbox).
/// - At `gmail.com` dots in the local part are ignored (`mary.obrien` = `maryobrien`).
/// - Plus-addressing (RFC 5233 sub-addresses): `local+tag@domain` is `local@domain`, for the
///   domains of `matching.plus_addressing` in recon.yml: every domain by default, because the
///   large providers (Gmail and Google Workspace, Microsoft 365 and Outlook.com, iCloud, Fastmail,
///   Proton) and the usual mail servers' default setup deliver `+tag` mail to the untagged mailbox,
///   while a `+` that names a different person's mailbox is all but unheard of. A list of domains
///   restricts it to those; an empty list turns it off. A local part that starts with `+` is
///   left as it is.
///
/// The evidence is as strong as an equal address (tier `certain`): mail to either reaches the
/// same mailbox. A linked pair whose addresses are one mailbox has no email mismatch.
public struct MailboxRule: Sendable, Equatable {
    /// nil: plus tags are dropped at every domain; else only at these (lowercase) domains.
    public var plusAddressingDomains: Set<String>?

    public init(plusAddressingDomains: Set<String>? = nil) {
        self.plusAddressingDomains = plusAddressingDomains
    }

    /// Rewrites the valid, lowercased address in `key[start...]` to its mailbox.
    public func canonicalise(_ key: inout [UInt8], from start: Int) {
        guard let at = key[start...].lastIndex(of: UInt8(ascii: "@")) else { return }
        var domainIsGmail = false
        let domain = key[(at + 1)...]
        if domain.elementsEqual(Self.googlemail) {
            key.replaceSubrange((at + 1)..., with: Self.gmail)
            domainIsGmail = true
        } else {
            domainIsGmail = domain.elementsEqual(Self.gmail)
        }
        var localEnd = at
        if let plus = key[start..<at].firstIndex(of: UInt8(ascii: "+")), plus > start, dropsPlusTag(key[(at + 1)...]) {
            localEnd = plus
        }
        let hasDots = domainIsGmail && key[start..<localEnd].contains(UInt8(ascii: "."))
        // Most addresses need nothing: no copy.
        guard localEnd < at || hasDots else { return }
        var local = Array(key[start..<localEnd])
        if hasDots { local.removeAll { $0 == UInt8(ascii: ".") } }
        if local.isEmpty { return }
        key.replaceSubrange(start..<at, with: local)
    }

    /// Whether `canonicalise` may change this key: it has a `+`, or its domain is Gmail's
    /// (a cheap test, so that most keys are used as they are).
    @inline(__always)
    public func needsRewrite(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
        if key.contains(UInt8(ascii: "+")) { return true }
        return key.count > 10 && key[key.count - 10] == UInt8(ascii: "@") && key.suffix(9).elementsEqual(Self.gmail)
            || key.count > 15 && key.suffix(15).elementsEqual(Self.atGooglemail)
    }

    /// The mailbox of an address already validated and lowercased.
    public func canonical(_ address: String) -> String {
        var bytes = Array(address.utf8)
        canonicalise(&bytes, from: 0)
        return String(decoding: bytes, as: UTF8.self)
    }

    private func dropsPlusTag(_ domain: ArraySlice<UInt8>) -> Bool {
        guard let domains = plusAddressingDomains else { return true }
        return domains.contains(String(decoding: domain, as: UTF8.self))
    }

    private static let gmail = Array("gmail.com".utf8)
    private static let googlemail = Array("googlemail.com".utf8)
    private static let atGooglemail = Array("@googlemail.com".utf8)
}
