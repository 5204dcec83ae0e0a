// swift-tools-version:6.0
import PackageDescription

// Dependencies, each justified:
// - swift-argument-parser: subcommands, options and help text for `recon` without hand-written parsing.
// - Yams: YAML parsing with line/column marks, so config errors can name the line.
// - swift-crypto: SHA-256 for stable finding ids (and, later, plan hashes).
// - swift-log: the standard logging API; recon supplies a text / JSON-lines handler.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "recon",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "recon", targets: ["recon"]),
        .executable(name: "recon-mirror", targets: ["recon-mirror"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "CPhoneNumber",
            linkerSettings: [.linkedLibrary("phonenumber"), .linkedLibrary("protobuf")]
        ),
        // What Swift has no spelling for: a cache prefetch, the loader's list of objects, O_DIRECT.
        .target(name: "CSupport"),
        .target(name: "Postgres", dependencies: ["CLibPQ"], swiftSettings: strict),
        .target(
            name: "ReconCore",
            dependencies: [
                "CPhoneNumber",
                "CSupport",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // Numbering plans read at run time (PhoneMetadataFile), refreshed by scripts/update-phone-metadata.sh.
            resources: [.copy("Resources/phone-metadata.bin")],
            swiftSettings: strict
        ),
        .target(name: "ReconReports", dependencies: ["ReconCore", "CSupport"], swiftSettings: strict),
        .target(name: "ReconState", dependencies: ["Postgres", "ReconCore"], swiftSettings: strict),
        .target(
            name: "ReconPipeline",
            dependencies: ["Postgres", "ReconCore", "ReconReports", "ReconState",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(name: "MirrorGen", dependencies: ["ReconCore"], swiftSettings: strict),
        .executableTarget(
            name: "recon",
            dependencies: [
                "ReconPipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "recon-mirror",
            dependencies: [
                "MirrorGen",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ReconCoreTests", dependencies: ["ReconCore"], swiftSettings: strict),
        .testTarget(
            name: "ReconReportsTests",
            dependencies: ["ReconReports"],
            resources: [.copy("Golden")],
            swiftSettings: strict
        ),
        .target(name: "TestSupport", dependencies: ["Postgres"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["ReconCore", "ReconState", "MirrorGen", "TestSupport", "Postgres"],
            swiftSettings: strict
        ),
    ],
    cxxLanguageStandard: .cxx17
)
