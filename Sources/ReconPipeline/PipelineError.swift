public import ReconCore
public import ReconReports
public import ReconState

/// What stops a command (exit code 2), by where it went wrong. Each message names the file,
/// line, column, query, SQLSTATE, batch or option at fault, never a record's values; the layers
/// below keep their own errors (`StateError`, `ReportError`, `ConfigError`,
/// `PhoneMetadataError`), wrapped here as they are.
public enum PipelineError: Error, CustomStringConvertible {
    /// recon.yml as a file, or a setting that cannot work (the message names the file).
    case config(String)
    /// recon.yml's content, with its line and column.
    case configFile(ConfigError)
    /// A query file: missing, empty, refused, or rows that do not fit what it describes.
    case query(String)
    /// The mirror database: connecting, the snapshot, the role's privileges.
    case mirror(String)
    case state(StateError)
    case report(ReportError)
    case phoneMetadata(PhoneMetadataError)
    /// A correction batch or its plan file.
    case batch(String)
    /// A command's arguments (an option's value, record ids, a missing reason).
    case usage(String)

    public var description: String {
        switch self {
        case .config(let m), .query(let m), .mirror(let m), .batch(let m), .usage(let m): return m
        case .configFile(let e): return e.description
        case .state(let e): return e.description
        case .report(let e): return e.description
        case .phoneMetadata(let e): return e.description
        }
    }
}
