import Foundation

/// A person's name reduced to what two systems can agree on, and the rule for when two names
/// agree. Names are *evidence*, never a key: they confirm a shared phone (see `PhoneRule`) and
/// help name near-miss candidates, but two records are never joined because their names agree.
///
/// Reduction: folded to ASCII lowercase by Foundation (accents, case, width: `Jörg` → `jorg`,
/// `Straße` → `strasse`) and, for what is left, ICU (`Any-Latin; Latin-ASCII; Lower`:
/// `Kozłowski` → `kozlowski`, `Ærø` → `aero`, other scripts transliterated), apostrophes dropped (`O'Brien` → `obrien`), every other non-letter a separator
/// (`Jean-Pierre` = `Jean Pierre`). Digits are dropped. A name with no letters is no name.
public struct PersonName: Sendable, Equatable {
    /// Folded tokens in the order written.
    public let tokens: [String]
    /// The tokens sorted and joined by spaces: equal for the same words in any order.
    let sortedKey: String
    /// The tokens joined without spaces, as written and sorted (`Van Dijk` = `Vandijk`).
    let plain: String, sortedPlain: String

    public init?(_ raw: String?) {
        guard let raw, !raw.isEmpty else { return nil }
        var folded: String
        if raw.utf8.allSatisfy({ $0 < 0x80 }) {
            folded = raw.lowercased()
        } else {
            // Foundation's folding handles accents, case and width; ICU's transliteration the
            // letters that have no decomposition (ł, ø, æ) and other scripts.
            folded = raw.folding(options: [.diacriticInsensitive, .caseInsensitive, .widthInsensitive], locale: nil)
            if !folded.utf8.allSatisfy({ $0 < 0x80 }) {
                folded = folded.applyingTransform(StringTransform("Any-Latin; Latin-ASCII; Lower"), reverse: false) ?? folded
            }
        }
        var tokens: [String] = []
        var current: [UInt8] = []
        for b in folded.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): current.append(b)
            case UInt8(ascii: "'"), UInt8(ascii: "`"): continue      // O'Brien, D`Souza
            case UInt8(ascii: "0")...UInt8(ascii: "9"): continue
            default:
                if !current.isEmpty { tokens.append(String(decoding: current, as: UTF8.self)); current.removeAll() }
            }
        }
        if !current.isEmpty { tokens.append(String(decoding: current, as: UTF8.self)) }
        guard !tokens.isEmpty else { return nil }
        self.tokens = tokens
        let sorted = tokens.sorted()
        sortedKey = sorted.joined(separator: " ")
        plain = tokens.joined()
        sortedPlain = sorted.joined()
    }
}

/// How far two names agree, strongest first.
public enum NameAgreement: Int, Sendable, Comparable {
    /// The same name: the same tokens in any order and however split across fields, allowing
    /// one typo in each token of five letters or more (`Blanc Sandrine` = `Sandrine Blanc`,
    /// `Stephanei` = `Stephanie`, `Van Dijk` = `Vandijk`). Extra tokens on one side (a middle
    /// name) are allowed when the shorter name still has two tokens.
    case same = 3
    /// The same name but for a given name written as its initial (`K. Schulze` = `Katharina
    /// Schulze`): every full token of the shorter name must agree, so the surname agrees.
    case initial = 2
    /// Not the same person by name, but close enough to ask: at least one token of three
    /// letters or more agrees (`Anna Müller` and `Karin Müller`, or `Smith` and `John Smith`).
    case near = 1
    /// Nothing in common.
    case different = 0

    public static func < (a: NameAgreement, b: NameAgreement) -> Bool { a.rawValue < b.rawValue }

    /// Whether the names confirm one person (`same` or `initial`).
    public var confirms: Bool { self >= .initial }

    public static func of(_ a: PersonName, _ b: PersonName) -> NameAgreement {
        if a.sortedKey == b.sortedKey { return .same }
        // Split differently: `Van Dijk` / `Vandijk`, `Mary Ann` / `Maryann`.
        if a.plain == b.plain || a.sortedPlain == b.sortedPlain { return .same }
        // Split differently in the middle: `Van Dijk Anna` / `Anna Vandijk`.
        for (x, y) in [(a.tokens, b.tokens), (b.tokens, a.tokens)] where x.count == y.count + 1 {
            for i in 0..<(x.count - 1) {
                var merged = x
                merged[i] += merged.remove(at: i + 1)
                if merged.sorted() == y.sorted() { return .same }
            }
        }
        if a.tokens.count != b.tokens.count {
            return a.tokens.count < b.tokens.count ? match(a.tokens, within: b.tokens) : match(b.tokens, within: a.tokens)
        }
        return max(match(a.tokens, within: b.tokens), match(b.tokens, within: a.tokens))
    }

    /// How far the tokens of `short` agree with distinct tokens of `long`.
    private static func match(_ short: [String], within long: [String]) -> NameAgreement {
        // Full tokens first (so that an initial cannot take the surname's place), then initials.
        var used = [Bool](repeating: false, count: long.count)
        var full = 0, initials = 0, unmatched = 0
        let ordered = short.filter { $0.count > 1 } + short.filter { $0.count == 1 }
        for t in ordered {
            var found = -1
            if t.count == 1 {
                found = long.indices.first { !used[$0] && long[$0].count > 1 && long[$0].first == t.first } ?? -1
                if found >= 0 { initials += 1 }
            } else {
                found = long.indices.first { !used[$0] && long[$0] == t }
                    ?? long.indices.first { !used[$0] && Self.oneTypo(t, long[$0]) } ?? -1
                if found >= 0 { full += 1 }
            }
            if found >= 0 { used[found] = true } else { unmatched += 1 }
        }
        if unmatched == 0, short.count >= 2, full >= 1 {
            return initials == 0 ? .same : .initial
        }
        let anyLong = short.contains { t in t.count >= 3 && long.contains { $0 == t || Self.oneTypo(t, $0) } }
        return anyLong ? .near : .different
    }

    /// One substitution, insertion, deletion or swap of neighbours, on tokens of five letters or
    /// more (shorter ones, `Li` and `Ng`, must be equal).
    static func oneTypo(_ a: String, _ b: String) -> Bool {
        // Lengths first: most pairs of tokens end here, without copying anything.
        let m = a.utf8.count, n = b.utf8.count
        guard min(m, n) >= 5, abs(m - n) <= 1 else { return false }
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x != y else { return false }
        var i = 0
        while i < min(x.count, y.count), x[i] == y[i] { i += 1 }
        if x.count == y.count {
            // Substitution, or neighbours swapped.
            if x[(i + 1)...] == y[(i + 1)...] { return true }
            return i + 1 < x.count && x[i] == y[i + 1] && x[i + 1] == y[i] && x[(i + 2)...] == y[(i + 2)...]
        }
        // Insertion or deletion.
        return x.count > y.count ? x[(i + 1)...] == y[i...] : x[i...] == y[(i + 1)...]
    }
}
