import CPhoneNumber

/// The outcome of normalising one value: a key usable for matching, nothing to use, or a value
/// that fails validation (reported as an `invalid` finding, never used as a key).
public enum Normalised: Equatable, Sendable {
    case empty
    case valid(String)
    case invalid(reason: String)

    public var key: String? {
        if case .valid(let k) = self { return k }
        return nil
    }
}

public enum EmailNormaliser {
    /// The longest address a mail system accepts (RFC 5321's path limit less its brackets).
    public static let maxLength = 254

    /// Trims and lowercases; then checks the syntax a mail system would accept: one `@`, a
    /// non-empty local part of at most 64 bytes without spaces or consecutive/edge dots, and a
    /// domain of at least two dot-separated labels of letters, digits and hyphens (or IDN bytes).
    public static func normalise(_ raw: String?) -> Normalised {
        guard let raw else { return .empty }
        let trimmed = raw.trimmingWhitespace()
        if trimmed.isEmpty { return .empty }
        var lower = trimmed.lowercased()
        if let reason = lower.withUTF8({ problem($0) }) { return .invalid(reason: reason) }
        return .valid(lower)
    }

    public enum ByteOutcome: Equatable { case empty, valid, invalid(reason: String) }

    /// `normalise` on bytes: the key's bytes go to `key` (cleared first) when valid. ASCII text is
    /// lowercased here; anything else goes through `String.lowercased()`, so results are equal.
    public static func normalise(bytes raw: UnsafeBufferPointer<UInt8>?, key: inout [UInt8]) -> ByteOutcome {
        guard let raw else { return .empty }
        key.removeAll(keepingCapacity: true)
        return ByteText.trimmed(raw) { t -> ByteOutcome in
            if t.isEmpty { return .empty }
            var ascii = true
            for b in t {
                if b >= 0x80 { ascii = false; break }
                key.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
            }
            if !ascii {
                key.removeAll(keepingCapacity: true)
                let text = String(decoding: t, as: UTF8.self)
                // Accented letters are mostly lowercase already: when no scalar changes under
                // lowercasing, `lowercased()` would only lowercase the ASCII ones.
                if text.unicodeScalars.allSatisfy({ $0.isASCII || !$0.properties.changesWhenLowercased }) {
                    for b in t { key.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b) }
                } else {
                    key.append(contentsOf: text.lowercased().utf8)
                }
            }
            if let reason = key.withUnsafeBufferPointer({ problem($0) }) { return .invalid(reason: reason) }
            return .valid
        }
    }

    /// `normalise(bytes:key:)` appending the key to `out` when valid (`out` is unchanged
    /// otherwise): the trimmed bytes are copied once and lowercased in place, with no per-byte
    /// appends. ASCII and the Latin-1 letters (U+00C0 to U+00FF, well-formed UTF-8) are lowercased
    /// here as `String.lowercased()` does: À…Þ but × become à…þ, the rest are lowercase already.
    /// Other text, and trimming that needs `String`, take `normalise(bytes:key:)`.
    public static func normalise(bytes raw: UnsafeBufferPointer<UInt8>?, appendingTo out: inout [UInt8]) -> ByteOutcome {
        guard let raw else { return .empty }
        guard let t = ByteText.trimmedBytes(raw) else { return normaliseSlowly(raw, appendingTo: &out) }
        if t.isEmpty { return .empty }
        let start = out.count
        out.append(contentsOf: t)
        let (handled, reason) = out.withUnsafeMutableBufferPointer { b -> (Bool, String?) in
            let key = UnsafeMutableBufferPointer(rebasing: b[start...])
            var i = 0
            while i < key.count {
                let c = key[i]
                if c < 0x80 {
                    key[i] = c &- 0x41 < 26 ? c | 0x20 : c
                    i += 1
                    continue
                }
                // U+0080…U+00FF: C2 or C3 and one continuation byte; anything else is left to String.
                guard c == 0xC2 || c == 0xC3, i + 1 < key.count, key[i + 1] & 0xC0 == 0x80 else { return (false, nil) }
                if c == 0xC3, key[i + 1] <= 0x9E, key[i + 1] != 0x97 { key[i + 1] += 0x20 }
                i += 2
            }
            return (true, problem(UnsafeBufferPointer(key)))
        }
        if handled && reason == nil { return .valid }
        out.removeLast(out.count - start)
        guard handled, let reason else { return normaliseSlowly(raw, appendingTo: &out) }
        return .invalid(reason: reason)
    }

    private static func normaliseSlowly(_ raw: UnsafeBufferPointer<UInt8>, appendingTo out: inout [UInt8]) -> ByteOutcome {
        var key: [UInt8] = []
        let outcome = normalise(bytes: raw, key: &key)
        if outcome == .valid { out.append(contentsOf: key) }
        return outcome
    }

    /// Why a trimmed, lowercased address is not one a mail system would accept, or nil.
    static func problem(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        if bytes.count > maxLength { return "email is longer than \(maxLength) characters" }
        guard let at = bytes.firstIndex(of: UInt8(ascii: "@")), bytes.lastIndex(of: UInt8(ascii: "@")) == at else {
            return "email must contain exactly one @"
        }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        if local.isEmpty || local.count > 64 { return "email local part is empty or longer than 64 characters" }
        if local.first == UInt8(ascii: ".") || local.last == UInt8(ascii: ".") || hasDoubleDot(local) {
            return "email local part has a misplaced dot"
        }
        for b in local where b <= 0x20 || b == 0x7F || b == UInt8(ascii: ",") || b == UInt8(ascii: ";")
            || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || b == UInt8(ascii: "(") || b == UInt8(ascii: ")")
            || b == UInt8(ascii: "[") || b == UInt8(ascii: "]") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "\"") || b == UInt8(ascii: ":") {
            return "email local part contains a character mail systems reject"
        }
        if !domain.contains(UInt8(ascii: ".")) { return "email domain has no dot" }
        var labelStart = domain.startIndex
        var last: Slice<UnsafeBufferPointer<UInt8>> = domain[domain.startIndex..<domain.startIndex]
        var i = domain.startIndex
        while true {
            if i == domain.endIndex || domain[i] == UInt8(ascii: ".") {
                let label = domain[labelStart..<i]
                if label.isEmpty || label.count > 63 { return "email domain has an empty or overlong label" }
                if label.first == UInt8(ascii: "-") || label.last == UInt8(ascii: "-") {
                    return "email domain label starts or ends with a hyphen"
                }
                for b in label {
                    let ok = (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                        || b == UInt8(ascii: "-") || b >= 0x80
                    if !ok { return "email domain contains a character that is not a letter, digit or hyphen" }
                }
                last = label
                if i == domain.endIndex { break }
                labelStart = i + 1
            }
            i += 1
        }
        if last.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return "email domain ends in a number"
        }
        return nil
    }

    private static func hasDoubleDot(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var prev: UInt8 = 0
        for b in s {
            if b == UInt8(ascii: "."), prev == UInt8(ascii: ".") { return true }
            prev = b
        }
        return false
    }
}

/// Phone numbers to E.164 through Google's libphonenumber (no phone rules of our own).
/// The common shapes go through `PhoneFastPath` (the metadata libphonenumber reads, applied without
/// its regular-expression engine, exactly equal by construction and by differential test); the
/// rest through libphonenumber's `Parse`, with results cached per (region, trimmed text): the same
/// switchboard number or the same odd formatting recurs often and `Parse` is the expensive step.
/// Why a parsed phone is not valid: libphonenumber's `IsPossibleNumberWithReason`, and
/// `unknownRange` for a possible number in no range of the plan.
enum PhoneInvalidity {
    case tooShort, tooLong, invalidLength, localOnly, invalidCountryCode, unknownRange

    init(_ length: CompiledRegion.LengthResult) {
        switch length {
        case .possible: self = .unknownRange
        case .localOnly: self = .localOnly
        case .tooShort: self = .tooShort
        case .tooLong: self = .tooLong
        case .invalidLength: self = .invalidLength
        }
    }
}

public final class PhoneNormaliser {
    /// Region → trimmed text → result, for texts the fast path leaves to libphonenumber.
    private var cache: [String: [String: Normalised]] = [:]
    private let fastPath: PhoneFastPath?
    public let defaultRegion: String
    /// How many values each path answered (for the run's log and the benchmark).
    public private(set) var fastCount = 0
    public private(set) var slowCount = 0

    /// The longest phone text normalised (trimmed); a longer one is invalid at once. E.164 numbers
    /// have at most 15 digits; 64 leaves room for formatting and an extension.
    public static let maxLength = 64

    /// - Parameter fast: false sends every number to libphonenumber (to check the fast path).
    public init(defaultRegion: String, fast: Bool = true) {
        self.defaultRegion = defaultRegion
        self.fastPath = fast ? PhoneFastPath() : nil
    }

    /// The region a record's phone is read in: its country when libphonenumber knows it, else the default.
    public func region(for country: String?) -> String {
        guard let country else { return defaultRegion }
        let c = country.trimmingWhitespace().uppercased()
        return PhoneNormaliser.isSupportedRegion(c) ? c : defaultRegion
    }

    public func normalise(_ raw: String?, region: String) -> Normalised {
        guard var raw else { return .empty }
        return raw.withUTF8 { normalise(bytes: $0, region: region) }
    }

    /// `normalise` on the field's bytes (nil for NULL).
    public func normalise(bytes raw: UnsafeBufferPointer<UInt8>?, region: String) -> Normalised {
        normalise(bytes: raw, region: region, slot: fastPath?.slot(region) ?? -1)
    }

    /// `normalise` with the fast path's slot of `region` already known (`region(forCountry:)`).
    func normalise(bytes raw: UnsafeBufferPointer<UInt8>?, region: String, slot: Int32) -> Normalised {
        guard let raw else { return .empty }
        return ByteText.trimmed(raw) { t -> Normalised in
            if t.isEmpty { return .empty }
            // Bounded work per value: no phone is this long, and parsing one costs more than linear time.
            if t.count > Self.maxLength { return .invalid(reason: "phone is longer than \(Self.maxLength) characters") }
            if let fastPath, let result = fastPath.normalise(bytes: t, region: region, slot: slot) {
                fastCount += 1
                return result
            }
            slowCount += 1
            let text = String(decoding: t, as: UTF8.self)
            if let hit = cache[region]?[text] { return hit }
            let result = PhoneNormaliser.parse(text, region: region)
            cache[region, default: [:]][text] = result
            return result
        }
    }

    private var regionCache: [UInt16: (region: String, unknownCountry: Bool, slot: Int32)] = [:]
    private lazy var defaultSlot = fastPath?.slot(defaultRegion) ?? -1

    /// `region(for:)` on the country field's bytes, and whether a non-empty country is not a code
    /// libphonenumber knows (reported as invalid); `slot` is the region's in the fast path, for
    /// `normalise(bytes:region:slot:)`. Two-letter values are cached.
    public func region(forCountry raw: UnsafeBufferPointer<UInt8>?) -> (region: String, unknownCountry: Bool, slot: Int32) {
        guard let raw else { return (defaultRegion, false, defaultSlot) }
        func compute() -> (region: String, unknownCountry: Bool, slot: Int32) {
            let country = String(decoding: raw, as: UTF8.self)
            let trimmed = country.trimmingWhitespace()
            let region = region(for: country)
            return (region, !trimmed.isEmpty && !PhoneNormaliser.isSupportedRegion(trimmed.uppercased()), fastPath?.slot(region) ?? -1)
        }
        if raw.count == 2, raw[0] < 0x80, raw[1] < 0x80, raw[0] > 0x20, raw[1] > 0x20 {
            let key = UInt16(raw[0]) << 8 | UInt16(raw[1])
            if let hit = regionCache[key] { return hit }
            let r = compute()
            regionCache[key] = r
            return r
        }
        return compute()
    }

    /// What an invalid phone's finding says: a number that cannot exist (a typo, a missing digit)
    /// reads differently from one of a possible length in no range the metadata knows (perhaps a
    /// range opened after the metadata's release, which the reason names).
    static func invalidReason(_ why: PhoneInvalidity, code: Int, region: String) -> String {
        let read = "read with region \(region)"
        switch why {
        case .tooShort: return "phone is impossible: too short for +\(code) (\(read))"
        case .tooLong: return "phone is impossible: too long for +\(code) (\(read))"
        case .invalidLength: return "phone is impossible: no number of +\(code) has this length (\(read))"
        case .localOnly: return "phone is impossible without its area code: a local number of +\(code) (\(read))"
        case .invalidCountryCode: return "phone is impossible: +\(code) is not a country calling code (\(read))"
        case .unknownRange:
            let plans = (try? PhoneMetadataFile.require()).map { "libphonenumber metadata \($0.version) of \($0.released)" } ?? "no metadata"
            return "phone has a possible length but is in no range of +\(code)'s numbering plan (\(plans); \(read))"
        }
    }

    /// One uncached call into libphonenumber.
    public static func parse(_ text: String, region: String) -> Normalised {
        _ = PhoneMetadataFile.current
        var out = [CChar](repeating: 0, count: 48)
        var text = text
        let status = text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                recon_phone_e164(chars.baseAddress, chars.count, region, &out, out.count)
            }
        }
        let written = out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let why: PhoneInvalidity
        switch status {
        case RECON_PHONE_VALID: return .valid(written)
        case RECON_PHONE_NOT_VALID: why = .unknownRange
        case RECON_PHONE_TOO_SHORT: why = .tooShort
        case RECON_PHONE_TOO_LONG: why = .tooLong
        case RECON_PHONE_INVALID_LENGTH: why = .invalidLength
        case RECON_PHONE_LOCAL_ONLY: why = .localOnly
        case RECON_PHONE_INVALID_COUNTRY_CODE: why = .invalidCountryCode
        default: return .invalid(reason: "phone cannot be parsed as a number (read with region \(region))")
        }
        return .invalid(reason: invalidReason(why, code: Int(written.dropFirst()) ?? 0, region: region))
    }

    private static let supported: Set<String> = {
        _ = PhoneMetadataFile.current
        var set: Set<String> = []
        // Two-letter codes A–Z × A–Z, asked once; libphonenumber knows about 245 of them.
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for a in letters {
            for b in letters {
                let code = String([a, b])
                if recon_phone_region_supported(code) == 1 { set.insert(code) }
            }
        }
        return set
    }()

    public static func isSupportedRegion(_ code: String) -> Bool { supported.contains(code) }
}

public enum ValueNormaliser {
    /// Ids and attributes are compared trimmed; NULL, empty and all-blank are the same: no value.
    public static func trimmed(_ raw: String?) -> String? {
        guard let raw else { return nil }
        let t = raw.trimmingWhitespace()
        return t.isEmpty ? nil : t
    }

    /// A decimal amount in a canonical text form: no leading zeros, no trailing fractional
    /// zeros, "-0" as "0" ("10.50" and "010.5" both become "10.5"). Nil for anything not a
    /// plain decimal number (the query contract makes that rare: amounts arrive as numeric).
    public static func amount(_ raw: String?) -> String? {
        guard var raw else { return nil }
        var out: [UInt8] = []
        guard raw.withUTF8({ amount(bytes: $0, into: &out) }) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// `amount` on bytes: the canonical form into `out` (cleared first); false when not a decimal.
    public static func amount(bytes raw: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        var lo = 0, hi = raw.count
        while lo < hi, raw[lo] == 0x20 || raw[lo] == 0x09 { lo += 1 }
        while hi > lo, raw[hi - 1] == 0x20 || raw[hi - 1] == 0x09 { hi -= 1 }
        var negative = false
        if lo < hi, raw[lo] == UInt8(ascii: "-") || raw[lo] == UInt8(ascii: "+") {
            negative = raw[lo] == UInt8(ascii: "-")
            lo += 1
        }
        var intLo = lo, intHi = hi, fracLo = hi, fracHi = hi
        var i = lo
        while i < hi, raw[i] != UInt8(ascii: ".") { i += 1 }
        if i < hi { intHi = i; fracLo = i + 1 }
        if intLo == intHi && fracLo == fracHi { return false }
        for k in intLo..<intHi where raw[k] < 0x30 || raw[k] > 0x39 { return false }
        for k in fracLo..<fracHi where raw[k] < 0x30 || raw[k] > 0x39 { return false }
        while intLo < intHi, raw[intLo] == 0x30 { intLo += 1 }
        while fracHi > fracLo, raw[fracHi - 1] == 0x30 { fracHi -= 1 }
        let isZero = intLo == intHi && fracLo == fracHi
        if negative && !isZero { out.append(UInt8(ascii: "-")) }
        if intLo == intHi { out.append(0x30) } else { out.append(contentsOf: UnsafeBufferPointer(rebasing: raw[intLo..<intHi])) }
        if fracLo < fracHi {
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: UnsafeBufferPointer(rebasing: raw[fracLo..<fracHi]))
        }
        return true
    }

    public static func currency(_ raw: String?) -> String? {
        guard let raw else { return nil }
        let t = raw.trimmingWhitespace().uppercased()
        return t.isEmpty ? nil : t
    }

    /// `currency` on bytes into `out` (cleared first); false for no value. ASCII is uppercased
    /// here, anything else through `String.uppercased()`.
    public static func currency(bytes raw: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        return ByteText.trimmed(raw) { t -> Bool in
            if t.isEmpty { return false }
            for b in t {
                if b >= 0x80 {
                    out.removeAll(keepingCapacity: true)
                    out.append(contentsOf: String(decoding: t, as: UTF8.self).uppercased().utf8)
                    return true
                }
                out.append(b >= 0x61 && b <= 0x7A ? b & ~0x20 : b)
            }
            return true
        }
    }

    /// Seconds since 1970 for PostgreSQL's ISO output (`2024-03-01 10:00:00+00`,
    /// `2024-03-01 10:00:00.123`, `2024-03-01`); recon's session uses TimeZone UTC.
    public static func epochSeconds(_ raw: String?) -> Int64? {
        guard var raw else { return nil }
        return raw.withUTF8 { epochSeconds(bytes: $0) }
    }

    public static func epochSeconds(bytes b: UnsafeBufferPointer<UInt8>) -> Int64? {
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                let d = Int(b[i]) - 48
                guard d >= 0 && d <= 9 else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard b.count >= 10, let y = num(0, 4), b[4] == 45, let m = num(5, 2), b[7] == 45, let d = num(8, 2) else { return nil }
        var seconds = 0
        var offset = 0
        if b.count >= 19, let hh = num(11, 2), let mm = num(14, 2), let ss = num(17, 2) {
            seconds = hh * 3600 + mm * 60 + ss
            var i = 19
            if i < b.count, b[i] == 46 { i += 1; while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 } }
            if i < b.count, b[i] == 43 || b[i] == 45 {
                let sign = b[i] == 45 ? -1 : 1
                if let oh = num(i + 1, 2) {
                    var om = 0
                    if i + 5 < b.count + 1, i + 3 < b.count, b[i + 3] == 58, let v = num(i + 4, 2) { om = v }
                    offset = sign * (oh * 3600 + om * 60)
                }
            }
        }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Int64(days * 86400 + seconds - offset)
    }
}
