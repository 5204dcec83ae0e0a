/// A generated corpus of phone texts for the differential check of `PhoneFastPath` against
/// libphonenumber: every region and non-geographic entity libphonenumber knows, its example
/// number of every type, mutated into numbers that are valid elsewhere or nowhere (a digit
/// changed, dropped, added, shuffled), written in international, IDD, national-with-trunk-prefix,
/// bare, calling-code-without-plus and junk forms with assorted separators, and read both in its
/// own region and in another one.
public struct PhoneCorpus: Sendable {
    public struct Entry: Sendable, Hashable {
        public let text: String
        public let region: String
    }

    public let entries: [Entry]

    /// - Parameters:
    ///   - variants: random mutations per example number (0 keeps only the fixed ones).
    ///   - seed: the mutations' random seed.
    public init(table: PhoneMetadataTable, variants: Int, seed: UInt64 = 1) {
        var rng = SplitMix(seed: seed)
        var out: [Entry] = []
        var seen = Set<Entry>()
        let regionIds = table.regions.keys.sorted()
        func add(_ text: String, _ region: String) {
            let e = Entry(text: text, region: region)
            if seen.insert(e).inserted { out.append(e) }
        }
        let entities: [PhoneMetadataTable.Region] = regionIds.compactMap { table.regions[$0] }
            + table.nonGeographic.keys.sorted().compactMap { table.nonGeographic[$0] }
        for (k, r) in entities.enumerated() {
            let own = r.id == "001" ? "US" : r.id
            let other = regionIds[(k * 7 + 3) % regionIds.count]
            let cc = String(r.countryCode)
            var examples: [String] = []
            for d in r.descs.dropFirst() where !d.example.isEmpty && !examples.contains(d.example) { examples.append(d.example) }
            for example in examples {
                var numbers = [example] + PhoneCorpus.fixedMutations(example)
                for _ in 0..<variants { numbers.append(PhoneCorpus.randomMutation(example, &rng)) }
                for (j, n) in numbers.enumerated() where !n.isEmpty {
                    let sep = [" ", "-", ".", " ", "/"][j % 5]
                    let grouped = PhoneCorpus.group(n, sep)
                    let idd = r.preferredInternationalPrefix.isEmpty ? "00" : r.preferredInternationalPrefix
                    let texts = [
                        "+" + cc + n,
                        "+" + cc + " " + grouped,
                        "+\(cc) (\(r.nationalPrefix.isEmpty ? "0" : r.nationalPrefix)) \(grouped)",
                        r.nationalPrefix + n,
                        r.nationalPrefix + grouped,
                        "(" + r.nationalPrefix + String(n.prefix(3)) + ") " + String(n.dropFirst(3)),
                        n,
                        grouped,
                        idd + cc + n,
                        "00 " + cc + sep + grouped,
                        "011 " + cc + " " + grouped,
                        cc + n,
                        cc + " " + grouped,
                        n + " ext. 12",
                        "tel:+" + cc + "-" + n,
                        "+" + cc + " " + n + " x",
                        "＋" + cc + n,
                        "+" + cc + "+" + n,
                    ]
                    for t in texts {
                        add(t, own)
                        add(t, other)
                    }
                }
            }
        }
        // Short, empty-ish and odd inputs.
        for t in ["1", "12", "123", "+1", "+12", "+123", "00", "000", "0000000", "+0123456789", "(((1)))", "---", "+-1-2-3", "1234567890123456789012"] {
            add(t, "GB")
            add(t, "US")
        }
        entries = out
    }

    static func group(_ n: String, _ sep: String) -> String {
        let c = Array(n)
        var parts: [String] = []
        var at = 0
        for size in [3, 3, 4, 4, 4] where at < c.count {
            parts.append(String(c[at..<min(c.count, at + size)]))
            at += size
        }
        return parts.joined(separator: sep)
    }

    static func fixedMutations(_ n: String) -> [String] {
        var c = Array(n)
        guard let last = c.last?.wholeNumberValue else { return [] }
        var out: [String] = []
        c[c.count - 1] = Character(String((last + 1) % 10))
        out.append(String(c))
        out.append(String(n.dropLast()))
        out.append(n + "5")
        out.append(n + "05")
        if let first = n.first?.wholeNumberValue { out.append(String((first + 1) % 10) + n.dropFirst()) }
        out.append("0" + n)
        return out
    }

    static func randomMutation(_ n: String, _ rng: inout SplitMix) -> String {
        var c = Array(n)
        switch rng.next() % 4 {
        case 0:  // replace the tail after the first 2–4 digits with random digits
            let keep = min(c.count, 2 + Int(rng.next() % 3))
            for i in keep..<c.count { c[i] = Character(String(rng.next() % 10)) }
        case 1:  // change one digit
            let i = Int(rng.next() % UInt64(c.count))
            c[i] = Character(String(rng.next() % 10))
        case 2:  // length ±1
            if rng.next() % 2 == 0, c.count > 1 { c.removeLast() } else { c.append(Character(String(rng.next() % 10))) }
        default:  // random digits of the same length
            for i in 0..<c.count { c[i] = Character(String(rng.next() % 10)) }
        }
        return String(c)
    }
}

/// A small deterministic generator (SplitMix64) so corpora are the same on every machine.
public struct SplitMix: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
