/// **Invalid values**: a value that fails validation is an `invalid` finding on its record and
/// field, and is never used as a key (the record still takes part through its other values):
/// - **id**: empty (the row cannot take part; the finding names its row), or repeated within
///   one query (the first row is used, the finding says how often it occurs);
/// - **email**: not one address (`EmailNormaliser`: no `@`, spaces, a bad domain, …);
/// - **phone**: unparseable, impossible or in no range of the numbering plan (`PhoneNormaliser`,
///   which says which);
/// - **country**: not an ISO 3166-1 alpha-2 code libphonenumber knows; the record's phone is
///   then read with `default_country`;
/// - **order status**: empty, or a raw status `statuses.crm` / `statuses.erp` does not map;
/// - **order amount**: not a decimal number.
enum InvalidValue {
    static func emptyId(row: Int, file: String) -> String { "empty id at row \(row) of \(file)" }

    static func repeatedId(times: Int, file: String) -> String {
        "id occurs \(times) times in \(file); the first row is used for matching"
    }

    static func unknownCountry(defaultCountry: String) -> String {
        "country is not an ISO 3166-1 alpha-2 code; phone read with default_country \(defaultCountry)"
    }

    static func status(empty: Bool, system: System) -> String {
        empty ? "status is empty" : "raw status is not in statuses.\(system.rawValue) of recon.yml"
    }

    static let amount = "amount is not a decimal number"
}
