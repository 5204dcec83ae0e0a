import CPhoneNumber

/// libphonenumber's metadata (the numbering plans of `PhoneMetadataFile`), read once through the C shim.
/// recon's phone fast path applies exactly these plans; none are written here.
public struct PhoneMetadataTable: Sendable {
    public struct Desc: Sendable {
        public let pattern: String
        public let lengths: [Int]
        public let localOnlyLengths: [Int]
        public let example: String
    }

    public struct Region: Sendable {
        public let id: String
        public let countryCode: Int
        public let hasLeadingDigits: Bool
        public let leadingDigits: String
        public let internationalPrefix: String
        public let nationalPrefixForParsing: String
        public let transformRule: String
        public let sameMobileAndFixedLinePattern: Bool
        public let nationalPrefix: String
        public let preferredInternationalPrefix: String
        /// general, premium rate, toll free, shared cost, VoIP, personal, pager, UAN, voicemail,
        /// fixed line, mobile: the order libphonenumber's GetNumberTypeHelper tries them in.
        public let descs: [Desc]
    }

    /// Geographic regions by id ("GB").
    public let regions: [String: Region]
    /// Non-geographic entities ("001") by calling code.
    public let nonGeographic: [Int: Region]
    /// Calling code → region ids in libphonenumber's order (main country first).
    public let regionsForCode: [Int: [String]]

    /// Nil when there is no metadata (`PhoneMetadataFile.current` says why).
    public static let shared: PhoneMetadataTable? = load()

    static func load() -> PhoneMetadataTable? {
        guard case .success = PhoneMetadataFile.current else { return nil }
        var length = 0
        guard let text = recon_phone_metadata_text(&length) else { return nil }
        defer { recon_phone_free(text) }
        let s = String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
        return parse(s)
    }

    static func parse(_ text: String) -> PhoneMetadataTable? {
        var regions: [String: Region] = [:]
        var nonGeo: [Int: Region] = [:]
        var codes: [Int: [String]] = [:]
        var header: [Substring] = []
        var descs: [Desc] = []
        func ints(_ s: Substring) -> [Int] { s.split(separator: ",").compactMap { Int($0) } }
        func flush() -> Bool {
            guard !header.isEmpty else { return true }
            guard header.count == 11, descs.count == 11, let cc = Int(header[2]) else { return false }
            let r = Region(id: String(header[1]), countryCode: cc, hasLeadingDigits: header[3] == "1",
                           leadingDigits: String(header[4]), internationalPrefix: String(header[5]),
                           nationalPrefixForParsing: String(header[6]), transformRule: String(header[7]),
                           sameMobileAndFixedLinePattern: header[8] == "1", nationalPrefix: String(header[9]),
                           preferredInternationalPrefix: String(header[10]), descs: descs)
            if r.id == "001" { nonGeo[cc] = r } else { regions[r.id] = r }
            header = []
            descs = []
            return true
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            switch f.first {
            case "R":
                guard flush() else { return nil }
                header = f
            case "D":
                guard f.count == 6 else { return nil }
                descs.append(Desc(pattern: String(f[2]), lengths: ints(f[3]), localOnlyLengths: ints(f[4]), example: String(f[5])))
            case "C":
                guard f.count == 3, let cc = Int(f[1]) else { return nil }
                guard flush() else { return nil }
                codes[cc] = f[2].split(separator: ",").map(String.init)
            default:
                return nil
            }
        }
        guard flush(), !regions.isEmpty, !codes.isEmpty else { return nil }
        return PhoneMetadataTable(regions: regions, nonGeographic: nonGeo, regionsForCode: codes)
    }
}
