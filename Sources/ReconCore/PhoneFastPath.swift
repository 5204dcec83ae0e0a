/// libphonenumber's `Parse` + `IsValidNumber` + `Format(E164)`, for the common shapes of input
/// only, applying libphonenumber's own metadata (`PhoneMetadataTable`) step by step as its
/// `ParseHelper` does: country code after `+` or the region's international prefix, the default
/// region's code written without `+`, national-prefix stripping kept only when the length test
/// allows it, then validity as `GetRegionCodeForNumber` + `GetNumberTypeHelper` decide it.
///
/// It answers only when it can answer exactly as libphonenumber would; otherwise it returns nil
/// and the caller asks libphonenumber. Nil for: anything but ASCII digits, one leading `+` and the
/// separators `space - . ( ) /` (so letters, extensions, `tel:` URIs, full-width digits all go to
/// libphonenumber); fewer than 3 digits; a `+` or IDD not followed by a known calling code; a
/// region with a national-prefix transform rule (Argentina, Brazil, the NANPA islands, …); a
/// pattern outside `DigitPattern`'s subset. `PhoneDifferentialTests` and `make bench` check the
/// equality over corpora of every region's numbers in many shapes.
///
/// Not thread-safe (regions are compiled on first use): one instance per normaliser.
public final class PhoneFastPath {
    private let table: PhoneMetadataTable
    /// Compiled regions by id; a nil value marks a region left to libphonenumber.
    private var compiled: [String: CompiledRegion?] = [:]
    private var compiledNonGeo: [Int: CompiledRegion?] = [:]
    /// Per calling code (below 1000), what the steps below look up for it, built on first use:
    /// a flat array instead of dictionary lookups keyed by strings, several per number.
    private struct CodeEntry {
        /// `GetMetadataForRegionOrCallingCode` for the code's main region.
        let main: CompiledRegion?
        /// The regions `isValid` consults, in the table's order (nil: left to libphonenumber).
        let regions: [CompiledRegion?]
        let digits: [UInt8]
    }
    private var byCode: [CodeEntry?] = Array(repeating: nil, count: 1000)
    /// Whether a calling code exists (`ExtractCountryCode`).
    private let knownCode: [Bool]
    /// The region numbers were last read in (most calls repeat it).
    private var lastRegion: (id: String, compiled: CompiledRegion?)?

    public init?(table: PhoneMetadataTable? = PhoneMetadataTable.shared) {
        guard let table else { return nil }
        self.table = table
        var known = [Bool](repeating: false, count: 1000)
        for code in table.regionsForCode.keys where code > 0 && code < 1000 { known[code] = true }
        knownCode = known
    }

    private func entry(_ code: Int) -> CodeEntry? {
        guard code > 0, code < 1000 else { return nil }
        if let e = byCode[code] { return e }
        guard let ids = table.regionsForCode[code], !ids.isEmpty else { return nil }
        let regions = ids.count == 1 ? [ids[0] == "001" ? nonGeographic(code) : region(ids[0])] : ids.map { region($0) }
        let e = CodeEntry(main: ids[0] == "001" ? nonGeographic(code) : region(ids[0]), regions: regions,
                          digits: Array(String(code).utf8))
        byCode[code] = e
        return e
    }

    /// The compiled home region of a number read in `id`.
    private func homeRegion(_ id: String) -> CompiledRegion? {
        if let last = lastRegion, last.id == id { return last.compiled }
        let c = region(id)
        lastRegion = (id, c)
        return c
    }

    /// The number's E.164 form, `.invalid` with libphonenumber's verdict, or nil: ask libphonenumber.
    /// `raw` is the trimmed text.
    public func normalise(_ raw: String, region: String) -> Normalised? {
        var raw = raw
        return raw.withUTF8 { normalise(bytes: $0, region: region) }
    }

    func normalise(bytes raw: UnsafeBufferPointer<UInt8>, region: String) -> Normalised? {
        if raw.isEmpty || raw.count > 64 { return nil }
        var digits: [UInt8] = []
        digits.reserveCapacity(raw.count)
        var plus = false
        for k in 0..<raw.count {
            let b = raw[k]
            if b >= 48 && b <= 57 {
                digits.append(b)
            } else if b == UInt8(ascii: "+") {
                if k != 0 { return nil }
                plus = true
            } else if b == 0x20 || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "(")
                        || b == UInt8(ascii: ")") || b == UInt8(ascii: "/") {
                continue
            } else {
                return nil
            }
        }
        // IsViablePhoneNumber needs three digits (two alone are viable too, but rare: libphonenumber).
        if digits.count < 3 { return nil }

        var cc: Int
        var national: ArraySlice<UInt8>
        var meta: CompiledRegion
        if plus {
            // MaybeStripInternationalPrefixAndNormalize: FROM_NUMBER_WITH_PLUS_SIGN.
            var rest = digits[...]
            guard let c = extractCountryCode(&rest), let m = metadata(forCode: c) else { return nil }
            cc = c
            national = rest
            meta = m
        } else {
            guard let home = homeRegion(region) else { return nil }
            var afterIDD: ArraySlice<UInt8>?
            if let idd = home.internationalPrefix, let end = idd.prefixEnd(digits[...]) {
                let rest = digits[end...]
                // ParsePrefixAsIdd: not when the next digit is 0 (no calling code starts with 0).
                if rest.first != UInt8(ascii: "0") { afterIDD = rest }
            }
            if let rest = afterIDD {
                guard rest.count > 2 else { return nil }   // TOO_SHORT_AFTER_IDD: libphonenumber says so
                var r = rest
                guard let c = extractCountryCode(&r), let m = metadata(forCode: c) else { return nil }
                cc = c
                national = r
                meta = m
            } else {
                cc = home.countryCode
                national = digits[...]
                meta = home
                let ccDigits = self.digits(of: home.countryCode)
                if digits.starts(with: ccDigits) {
                    // The default region's calling code written without '+'.
                    guard home.transform == false else { return nil }
                    let potential = stripNationalPrefix(home, digits[ccDigits.count...])
                    if (!home.general.patternMatches(digits[...]) && home.general.patternMatches(potential))
                        || home.lengthTest(digits.count) == .tooLong {
                        national = potential
                        guard let m = metadata(forCode: cc) else { return nil }
                        meta = m
                    }
                }
            }
        }
        if national.count < 2 { return nil }
        guard meta.transform == false else { return nil }
        let potential = stripNationalPrefix(meta, national)
        switch meta.lengthTest(potential.count) {
        case .tooShort, .localOnly, .invalidLength: break
        case .possible, .tooLong: national = potential
        }
        if national.count < 2 || national.count > 17 { return nil }
        guard let valid = isValid(code: cc, nsn: national) else { return nil }
        if !valid { return .invalid(reason: PhoneNormaliser.notValidReason(region)) }
        var out: [UInt8] = [UInt8(ascii: "+")]
        out.reserveCapacity(4 + national.count)
        out.append(contentsOf: self.digits(of: cc))
        out.append(contentsOf: national)
        return .valid(String(decoding: out, as: UTF8.self))
    }

    // MARK: libphonenumber's steps

    /// ExtractCountryCode: the first 1–3 digits that are a calling code libphonenumber knows.
    private func extractCountryCode(_ number: inout ArraySlice<UInt8>) -> Int? {
        guard let first = number.first, first != UInt8(ascii: "0") else { return nil }
        var value = 0
        var i = number.startIndex
        for _ in 0..<3 {
            guard i < number.endIndex else { return nil }
            value = value * 10 + Int(number[i] - 48)
            i += 1
            if value < 1000 && knownCode[value] {
                number = number[i...]
                return value
            }
        }
        return nil
    }

    /// MaybeStripNationalPrefixAndCarrierCode without a transform rule.
    private func stripNationalPrefix(_ meta: CompiledRegion, _ number: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let npp = meta.nationalPrefixForParsing, !number.isEmpty, let end = npp.prefixEnd(number) else { return number }
        let rest = number[end...]
        if meta.general.patternMatches(number) && !meta.general.patternMatches(rest) { return number }
        return rest
    }

    /// IsValidNumber: GetRegionCodeForNumber, then GetNumberTypeHelper != UNKNOWN. Nil when a
    /// region involved is left to libphonenumber.
    private func isValid(code: Int, nsn: ArraySlice<UInt8>) -> Bool? {
        guard let e = entry(code) else { return false }
        if e.regions.count == 1 {
            guard let m = e.regions[0] else { return nil }
            return m.hasKnownType(nsn)
        }
        for r in e.regions {
            guard let m = r else { return nil }
            if let leading = m.leadingDigits {
                if leading.prefixEnd(nsn) != nil { return m.hasKnownType(nsn) }
            } else if m.hasKnownType(nsn) {
                return true
            }
        }
        return false
    }

    // MARK: Compiled metadata

    private func digits(of code: Int) -> [UInt8] {
        entry(code)?.digits ?? Array(String(code).utf8)
    }

    /// GetMetadataForRegionOrCallingCode for the calling code's main region.
    private func metadata(forCode code: Int) -> CompiledRegion? {
        entry(code)?.main
    }

    private func region(_ id: String) -> CompiledRegion? {
        if let hit = compiled[id] { return hit }
        let c = table.regions[id].flatMap { try? CompiledRegion($0) }
        compiled[id] = c
        return c
    }

    private func nonGeographic(_ code: Int) -> CompiledRegion? {
        if let hit = compiledNonGeo[code] { return hit }
        let c = table.nonGeographic[code].flatMap { try? CompiledRegion($0) }
        compiledNonGeo[code] = c
        return c
    }
}

/// One region's metadata with its patterns compiled.
final class CompiledRegion {
    enum LengthResult { case possible, localOnly, tooShort, tooLong, invalidLength }

    struct Desc {
        /// Nil: no possible lengths listed (inherit the general ones); else bit n set for length n.
        let lengthMask: UInt32?
        /// Nil: empty pattern, which never matches.
        let pattern: DigitPattern?

        init(_ d: PhoneMetadataTable.Desc) throws {
            if d.lengths.isEmpty {
                lengthMask = nil
            } else {
                var m: UInt32 = 0
                for l in d.lengths where l > 0 && l < 32 { m |= 1 << UInt32(l) }
                lengthMask = m
            }
            if d.pattern.isEmpty {
                pattern = nil
            } else {
                var p = try DigitPattern(d.pattern)
                try p.compileDFA()
                pattern = p
            }
        }

        /// MatchNationalNumber (pattern only, as IsMatch uses it).
        func patternMatches(_ n: ArraySlice<UInt8>) -> Bool { pattern?.fullMatch(n) ?? false }

        /// IsNumberMatchingDesc: listed length, then pattern.
        func matches(_ n: ArraySlice<UInt8>) -> Bool {
            if let lengthMask, n.count >= 32 || lengthMask & (1 << UInt32(n.count)) == 0 { return false }
            return patternMatches(n)
        }
    }

    let countryCode: Int
    let leadingDigits: DigitPattern?
    let internationalPrefix: DigitPattern?
    let nationalPrefixForParsing: DigitPattern?
    let transform: Bool
    let same: Bool
    let general: Desc
    let types: [Desc]
    let lengths: [Int]
    let localOnly: [Int]

    init(_ r: PhoneMetadataTable.Region) throws {
        countryCode = r.countryCode
        leadingDigits = r.hasLeadingDigits ? try DigitPattern(r.leadingDigits) : nil
        internationalPrefix = r.internationalPrefix.isEmpty ? nil : try DigitPattern(r.internationalPrefix)
        nationalPrefixForParsing = r.nationalPrefixForParsing.isEmpty ? nil : try DigitPattern(r.nationalPrefixForParsing)
        transform = !r.transformRule.isEmpty
        same = r.sameMobileAndFixedLinePattern
        guard r.descs.count == 11, let first = r.descs[0].lengths.first, first != -1 else {
            throw DigitPattern.Unsupported(pattern: "", reason: "region \(r.id) has no general lengths")
        }
        general = try Desc(r.descs[0])
        types = try r.descs[1...].map(Desc.init)
        lengths = r.descs[0].lengths
        localOnly = r.descs[0].localOnlyLengths
    }

    /// TestNumberLength against the general description.
    func lengthTest(_ n: Int) -> LengthResult {
        if localOnly.contains(n) { return .localOnly }
        let minimum = lengths[0]
        if minimum == n { return .possible }
        if minimum > n { return .tooShort }
        if lengths[lengths.count - 1] < n { return .tooLong }
        return lengths.dropFirst().contains(n) ? .possible : .invalidLength
    }

    /// GetNumberTypeHelper(...) != UNKNOWN.
    func hasKnownType(_ nsn: ArraySlice<UInt8>) -> Bool {
        guard general.matches(nsn) else { return false }
        for t in types[0..<8] where t.matches(nsn) { return true }   // premium … voicemail
        if types[8].matches(nsn) { return true }                     // fixed line
        return !same && types[9].matches(nsn)                        // mobile
    }
}
