/// libphonenumber's `Parse` + `IsValidNumber` + `Format(E164)`, for the common shapes of input
/// only, applying the metadata libphonenumber reads (`PhoneMetadataTable`) step by step as its
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
///
/// Every region's compiled metadata is copied into memory this object owns and reads through
/// plain pointers (`FlatRegion`, `FlatDesc`, …): a number costs table steps and compares, with no
/// reference counting and no allocation on the way (two million phones a night).
public final class PhoneFastPath {
    /// Where each region's compiled form lives: geographic regions by id (the non-geographic
    /// entities follow them, reached through their calling code).
    private let slotOfRegion: [String: Int32]
    private let regionOfSlot: [PhoneMetadataTable.Region]
    /// Per slot: 0 not compiled yet, 1 compiled (in `flat`), 2 left to libphonenumber.
    private let slotState: UnsafeMutablePointer<UInt8>
    private let flat: UnsafeMutablePointer<FlatRegion>
    /// Per calling code below 1000: whether it exists (`ExtractCountryCode`), the slot of its main
    /// region (-1: none, or left to libphonenumber) and the slots `isValid` consults in the
    /// table's order (-1: left to libphonenumber), as `codeRegions[codeStart[c] ..< codeStart[c + 1]]`.
    private let knownCode: UnsafeMutablePointer<Bool>
    private let codeMain: UnsafeMutablePointer<Int32>
    private let codeStart: UnsafeMutablePointer<Int32>
    private let codeRegions: UnsafeMutablePointer<Int32>
    /// Prefix patterns that are not plain digit strings, matched by backtracking (`FlatPrefix.index`).
    private var prefixPatterns: [DigitPattern] = []
    /// Memory the flat regions point into, freed with this object.
    private var arena: [UnsafeMutableRawPointer] = []
    /// The region id numbers were last read in, and its slot (most calls repeat it).
    private var lastRegionId = ""
    private var lastSlot: Int32 = -1

    public init?(table: PhoneMetadataTable? = PhoneMetadataTable.shared) {
        guard let table else { return nil }
        var slots: [String: Int32] = [:]
        var nonGeo: [Int: Int32] = [:]
        var regions: [PhoneMetadataTable.Region] = []
        for (id, r) in table.regions.sorted(by: { $0.key < $1.key }) { slots[id] = Int32(regions.count); regions.append(r) }
        for (code, r) in table.nonGeographic.sorted(by: { $0.key < $1.key }) { nonGeo[code] = Int32(regions.count); regions.append(r) }
        slotOfRegion = slots
        regionOfSlot = regions
        slotState = .allocate(capacity: max(regions.count, 1))
        slotState.initialize(repeating: 0, count: max(regions.count, 1))
        flat = .allocate(capacity: max(regions.count, 1))
        knownCode = .allocate(capacity: 1000)
        knownCode.initialize(repeating: false, count: 1000)
        codeMain = .allocate(capacity: 1000)
        codeMain.initialize(repeating: -1, count: 1000)
        codeStart = .allocate(capacity: 1001)
        var lists: [Int32] = []
        for code in 0..<1000 {
            codeStart[code] = Int32(lists.count)
            guard code > 0, let ids = table.regionsForCode[code], !ids.isEmpty else { continue }
            knownCode[code] = true
            // GetMetadataForRegionOrCallingCode: the main region, "001" for non-geographic codes.
            let main = ids[0] == "001" ? nonGeo[code] : slots[ids[0]]
            codeMain[code] = main ?? -1
            if ids.count == 1 {
                lists.append(main ?? -1)
            } else {
                lists += ids.map { slots[$0] ?? -1 }
            }
        }
        codeStart[1000] = Int32(lists.count)
        codeRegions = .allocate(capacity: max(lists.count, 1))
        codeRegions.initialize(from: lists, count: lists.count)
    }

    deinit {
        slotState.deallocate(); flat.deallocate(); knownCode.deallocate()
        codeMain.deallocate(); codeStart.deallocate(); codeRegions.deallocate()
        for p in arena { p.deallocate() }
    }

    /// The slot of a region id (-1: unknown), remembering the last one asked for.
    func slot(_ region: String) -> Int32 {
        if lastRegionId == region { return lastSlot }
        let s = slotOfRegion[region] ?? -1
        lastRegionId = region
        lastSlot = s
        return s
    }

    /// The number's E.164 form, `.invalid` with libphonenumber's verdict, or nil: ask libphonenumber.
    /// `raw` is the trimmed text.
    public func normalise(_ raw: String, region: String) -> Normalised? {
        var raw = raw
        return raw.withUTF8 { normalise(bytes: $0, region: region) }
    }

    func normalise(bytes raw: UnsafeBufferPointer<UInt8>, region: String) -> Normalised? {
        normalise(bytes: raw, region: region, slot: slot(region))
    }

    /// `normalise` with the region's slot already known (`slot(_:)`).
    func normalise(bytes raw: UnsafeBufferPointer<UInt8>, region: String, slot home: Int32) -> Normalised? {
        if raw.isEmpty || raw.count > 64 { return nil }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer -> Normalised? in
            guard let d = buffer.baseAddress else { return nil }
            var n = 0
            var plus = false
            for k in 0..<raw.count {
                let b = raw[k]
                if b >= 48 && b <= 57 {
                    d[n] = b
                    n += 1
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
            return normalise(digits: d, count: n, plus: plus, home: home, region: region)
        }
    }

    /// The steps of `Parse` over the number's digits `d[0 ..< n]` (ASCII), written after a `+`
    /// or not. The national number is always a suffix `d[ns ..< n]`.
    private func normalise(digits d: UnsafeMutablePointer<UInt8>, count n: Int, plus: Bool, home: Int32,
                           region: String) -> Normalised? {
        // IsViablePhoneNumber needs three digits (two alone are viable too, but rare: libphonenumber).
        if n < 3 { return nil }
        var cc: Int
        var ns: Int
        var meta: UnsafePointer<FlatRegion>
        if plus {
            // MaybeStripInternationalPrefixAndNormalize: FROM_NUMBER_WITH_PLUS_SIGN.
            guard let (c, after) = extractCountryCode(d, 0, n), let m = mainRegion(c) else { return nil }
            cc = c
            ns = after
            meta = m
        } else {
            guard let h = compiled(home) else { return nil }
            var afterIDD = -1
            if let end = prefixEnd(h.pointee.idd, d, 0, n) {
                // ParsePrefixAsIdd: not when the next digit is 0 (no calling code starts with 0).
                if end == n || d[end] != UInt8(ascii: "0") { afterIDD = end }
            }
            if afterIDD >= 0 {
                guard n - afterIDD > 2 else { return nil }   // TOO_SHORT_AFTER_IDD: libphonenumber says so
                guard let (c, after) = extractCountryCode(d, afterIDD, n), let m = mainRegion(c) else { return nil }
                cc = c
                ns = after
                meta = m
            } else {
                cc = h.pointee.countryCode
                ns = 0
                meta = h
                let (ccDigits, ccCount) = Self.digits(of: cc)
                if Self.starts(d, n, with: ccDigits, ccCount) {
                    // The default region's calling code written without '+'.
                    guard !h.pointee.transform else { return nil }
                    let potential = stripNationalPrefix(h, d, ccCount, n)
                    if (!h.pointee.general.patternMatches(d, 0, n) && h.pointee.general.patternMatches(d, potential, n))
                        || h.pointee.lengthTest(n) == .tooLong {
                        ns = potential
                        guard let m = mainRegion(cc) else { return nil }
                        meta = m
                    }
                }
            }
        }
        if n - ns < 2 { return nil }
        guard !meta.pointee.transform else { return nil }
        let potential = stripNationalPrefix(meta, d, ns, n)
        switch meta.pointee.lengthTest(n - potential) {
        case .tooShort, .localOnly, .invalidLength: break
        case .possible, .tooLong: ns = potential
        }
        if n - ns < 2 || n - ns > 17 { return nil }
        guard let valid = isValid(code: cc, d, ns, n) else { return nil }
        if !valid {
            // IsPossibleNumberWithReason: the length test of the calling code's main region.
            guard let main = mainRegion(cc) else { return nil }
            return .invalid(reason: PhoneNormaliser.invalidReason(PhoneInvalidity(main.pointee.lengthTest(n - ns)), code: cc, region: region))
        }
        // "+", the calling code, the national number: at most 21 bytes, a small String.
        let (ccDigits, ccCount) = Self.digits(of: cc)
        return .valid(withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { out -> String in
            out[0] = UInt8(ascii: "+")
            var k = 1
            for i in 0..<ccCount { out[k] = UInt8(truncatingIfNeeded: ccDigits >> (8 * UInt32(i))); k += 1 }
            for i in ns..<n { out[k] = d[i]; k += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: out[0..<k]), as: UTF8.self)
        })
    }

    // MARK: libphonenumber's steps

    /// ExtractCountryCode: the first 1–3 digits of `d[s ..< e]` that are a calling code
    /// libphonenumber knows, and where the rest starts.
    @inline(__always)
    private func extractCountryCode(_ d: UnsafeMutablePointer<UInt8>, _ s: Int, _ e: Int) -> (Int, Int)? {
        guard s < e, d[s] != UInt8(ascii: "0") else { return nil }
        var value = 0
        var i = s
        for _ in 0..<3 {
            guard i < e else { return nil }
            value = value * 10 + Int(d[i] &- 48)
            i += 1
            if value < 1000 && knownCode[value] { return (value, i) }
        }
        return nil
    }

    /// MaybeStripNationalPrefixAndCarrierCode without a transform rule, on `d[s ..< e]`:
    /// where the national number starts afterwards.
    @inline(__always)
    private func stripNationalPrefix(_ meta: UnsafePointer<FlatRegion>, _ d: UnsafeMutablePointer<UInt8>, _ s: Int, _ e: Int) -> Int {
        guard s < e, let end = prefixEnd(meta.pointee.npp, d, s, e) else { return s }
        if meta.pointee.general.patternMatches(d, s, e) && !meta.pointee.general.patternMatches(d, end, e) { return s }
        return end
    }

    /// Where the leftmost-first match of `p` at the start of `d[s ..< e]` ends (`Consume`), or nil.
    @inline(__always)
    private func prefixEnd(_ p: FlatPrefix, _ d: UnsafeMutablePointer<UInt8>, _ s: Int, _ e: Int) -> Int? {
        switch p.kind {
        case .none: return nil
        case .literal: return p.literalEnd(d, s, e)
        case .pattern: return prefixPatterns[p.index].prefixEnd(UnsafeBufferPointer(start: d + s, count: e - s)).map { s + $0 }
        }
    }

    /// IsValidNumber: GetRegionCodeForNumber, then GetNumberTypeHelper != UNKNOWN. Nil when a
    /// region involved is left to libphonenumber.
    private func isValid(code: Int, _ d: UnsafeMutablePointer<UInt8>, _ s: Int, _ e: Int) -> Bool? {
        guard code > 0, code < 1000, knownCode[code] else { return false }
        let first = Int(codeStart[code]), end = Int(codeStart[code + 1])
        if end - first == 1 {
            guard let m = compiled(codeRegions[first]) else { return nil }
            return m.pointee.hasKnownType(d, s, e)
        }
        for k in first..<end {
            guard let m = compiled(codeRegions[k]) else { return nil }
            if m.pointee.leading.kind != .none {
                if prefixEnd(m.pointee.leading, d, s, e) != nil { return m.pointee.hasKnownType(d, s, e) }
            } else if m.pointee.hasKnownType(d, s, e) {
                return true
            }
        }
        return false
    }

    // MARK: Compiled metadata

    /// A calling code's decimal digits, packed in the low bytes, and how many there are.
    @inline(__always)
    private static func digits(of code: Int) -> (UInt32, Int) {
        if code < 10 { return (UInt32(48 + code), 1) }
        if code < 100 { return (UInt32(48 + code / 10) | UInt32(48 + code % 10) << 8, 2) }
        return (UInt32(48 + code / 100) | UInt32(48 + code / 10 % 10) << 8 | UInt32(48 + code % 10) << 16, 3)
    }

    @inline(__always)
    private static func starts(_ d: UnsafeMutablePointer<UInt8>, _ n: Int, with packed: UInt32, _ count: Int) -> Bool {
        guard n >= count else { return false }
        for i in 0..<count where d[i] != UInt8(truncatingIfNeeded: packed >> (8 * UInt32(i))) { return false }
        return true
    }

    /// GetMetadataForRegionOrCallingCode for the calling code's main region.
    @inline(__always)
    private func mainRegion(_ code: Int) -> UnsafePointer<FlatRegion>? {
        guard code > 0, code < 1000 else { return nil }
        return compiled(codeMain[code])
    }

    /// A slot's compiled region (compiled on first use), or nil: unknown or left to libphonenumber.
    @inline(__always)
    private func compiled(_ slot: Int32) -> UnsafePointer<FlatRegion>? {
        guard slot >= 0 else { return nil }
        switch slotState[Int(slot)] {
        case 1: return UnsafePointer(flat + Int(slot))
        case 2: return nil
        default: return compile(slot)
        }
    }

    private func compile(_ slot: Int32) -> UnsafePointer<FlatRegion>? {
        let s = Int(slot)
        guard let c = try? CompiledRegion(regionOfSlot[s]) else {
            slotState[s] = 2
            return nil
        }
        (flat + s).initialize(to: flatten(c))
        slotState[s] = 1
        return UnsafePointer(flat + s)
    }

    private func copy<T>(_ values: [T]) -> UnsafePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(values.count, 1))
        p.initialize(from: values, count: values.count)
        arena.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    private func flatten(_ p: DigitPattern?) -> FlatPrefix {
        guard let p else { return FlatPrefix(kind: .none, literal: nil, count: 0, index: 0) }
        if let literal = p.literal { return FlatPrefix(kind: .literal, literal: copy(literal), count: literal.count, index: 0) }
        prefixPatterns.append(p)
        return FlatPrefix(kind: .pattern, literal: nil, count: 0, index: prefixPatterns.count - 1)
    }

    private func flatten(_ d: CompiledRegion.Desc) -> FlatDesc {
        let dfa = d.pattern?.dfa.map { FlatDFA(next: copy($0.next), accepting: copy($0.accepting)) }
        return FlatDesc(lengthMask: d.lengthMask ?? 0, anyLength: d.lengthMask == nil, dfa: dfa)
    }

    private func flatten(_ c: CompiledRegion) -> FlatRegion {
        var lengths: [FlatRegion.Length] = []
        for n in 0...64 {
            switch c.lengthTest(n) {
            case .possible: lengths.append(.possible)
            case .localOnly: lengths.append(.localOnly)
            case .tooShort: lengths.append(.tooShort)
            case .tooLong: lengths.append(.tooLong)
            case .invalidLength: lengths.append(.invalidLength)
            }
        }
        return FlatRegion(countryCode: c.countryCode, transform: c.transform, same: c.same,
                          leading: flatten(c.leadingDigits), idd: flatten(c.internationalPrefix),
                          npp: flatten(c.nationalPrefixForParsing), general: flatten(c.general),
                          types: copy(c.types.map { flatten($0) }), lengths: copy(lengths))
    }
}

/// A DFA's tables in the fast path's memory: `next[state * 10 + digit]` (-1 dead) and `accepting`.
struct FlatDFA {
    let next: UnsafePointer<Int32>
    let accepting: UnsafePointer<Bool>
}

/// A number description (`CompiledRegion.Desc`) in the fast path's memory.
struct FlatDesc {
    let lengthMask: UInt32
    /// No possible lengths listed: the length is not tested.
    let anyLength: Bool
    /// Nil: empty pattern, which never matches.
    let dfa: FlatDFA?

    /// MatchNationalNumber (pattern only, as IsMatch uses it) on the ASCII digits `d[s ..< e]`.
    @inline(__always)
    func patternMatches(_ d: UnsafeMutablePointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        guard let dfa else { return false }
        var state: Int32 = 0
        for i in s..<e {
            state = dfa.next[Int(state) &* 10 &+ Int(d[i] &- 48)]
            if state < 0 { return false }
        }
        return dfa.accepting[Int(state)]
    }

    /// IsNumberMatchingDesc: listed length, then pattern.
    @inline(__always)
    func matches(_ d: UnsafeMutablePointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        let n = e - s
        if !anyLength, n >= 32 || lengthMask & (1 << UInt32(n)) == 0 { return false }
        return patternMatches(d, s, e)
    }
}

/// A prefix pattern (international prefix, national prefix for parsing, leading digits).
struct FlatPrefix {
    enum Kind { case none, literal, pattern }
    let kind: Kind
    let literal: UnsafePointer<UInt8>?
    let count: Int
    /// For `.pattern`: the index in the fast path's backtracked patterns.
    let index: Int

    /// For `.literal`: where the literal at the start of `d[s ..< e]` ends, or nil.
    @inline(__always)
    func literalEnd(_ d: UnsafeMutablePointer<UInt8>, _ s: Int, _ e: Int) -> Int? {
        guard e - s >= count, let literal else { return nil }
        for i in 0..<count where d[s + i] != literal[i] { return nil }
        return s + count
    }
}

/// A region's metadata in the fast path's memory (see `CompiledRegion`).
struct FlatRegion {
    typealias Length = CompiledRegion.LengthResult
    let countryCode: Int
    let transform: Bool
    let same: Bool
    let leading: FlatPrefix
    let idd: FlatPrefix
    let npp: FlatPrefix
    let general: FlatDesc
    /// premium … voicemail (0 ..< 8), fixed line (8), mobile (9).
    let types: UnsafePointer<FlatDesc>
    /// TestNumberLength for lengths 0 … 64 (a number has at most 64 digits here).
    let lengths: UnsafePointer<Length>

    @inline(__always)
    func lengthTest(_ n: Int) -> Length { n <= 64 ? lengths[n] : .tooLong }

    /// GetNumberTypeHelper(...) != UNKNOWN.
    @inline(__always)
    func hasKnownType(_ d: UnsafeMutablePointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        guard general.matches(d, s, e) else { return false }
        for t in 0..<8 where types[t].matches(d, s, e) { return true }   // premium … voicemail
        if types[8].matches(d, s, e) { return true }                     // fixed line
        return !same && types[9].matches(d, s, e)                        // mobile
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
