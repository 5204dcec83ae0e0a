import ArgumentParser
import Foundation
import MirrorGen
import ReconCore

/// Writes the sample mirror as SQL to stdout (pipe it into psql) and its ground truth to a file.
struct ReconMirror: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recon-mirror",
        abstract: "Generate a sample CRM + ERP mirror (SQL on stdout) with injected findings and their ground truth.")

    @Option(name: .long, help: "Customers per system.")
    var customers: Int = 500

    @Option(name: .long, help: "Seed for names, amounts and formats.")
    var seed: UInt64 = 42

    @Option(name: .long, help: ArgumentHelp(
        "Share of customers (0 to 1) carrying an injected case, dealt by chance; without it every 100th slot carries each case (about one customer in three). 0.6 puts over half of the customers in some finding: a dense mirror.",
        valueName: "share"))
    var anomalyRate: Double?

    @Option(name: .long, help: "Where to write the ground truth CSV (type,entity,field,records).")
    var truth: String?

    @Option(name: .long, help: ArgumentHelp(
        "Instead of a mirror: check recon's phone fast path against libphonenumber over a corpus with this many random mutations per example number; prints JSON, exits 1 on any difference.",
        valueName: "variants"))
    var phoneDifferential: Int?

    func validate() throws {
        guard customers >= 100 else { throw ValidationError("--customers must be at least 100 (every injected case needs a slot)") }
        if let anomalyRate, !(0...1).contains(anomalyRate) {
            throw ValidationError("--anomaly-rate must be between 0 and 1, got \(anomalyRate)")
        }
    }

    func run() throws {
        if let phoneDifferential {
            throw ExitCode(PhoneDifferential.run(variants: phoneDifferential, seed: seed))
        }
        let generator = MirrorGenerator(customers: customers, seed: seed, anomalyRate: anomalyRate)
        let stdout = FileHandle.standardOutput
        let expected = generator.generate { chunk in stdout.write(Data(chunk.utf8)) }
        if let truth {
            var text = "type,entity,field,records\n"
            for t in expected.sorted(by: { $0.key < $1.key }) {
                text += "\(t.type),\(t.entity),\(t.field),\(t.records.joined(separator: " "))\n"
            }
            try text.write(toFile: truth, atomically: true, encoding: .utf8)
            let involved = Set(expected.map(\.customer)).count
            FileHandle.standardError.write(Data(("recon-mirror: \(expected.count) findings injected, \(involved) of \(customers) customers "
                + "(\(involved * 100 / customers) %) in some finding; ground truth in \(truth)\n").utf8))
        }
    }
}

/// The large differential check `make bench` runs (the test suite runs a small one).
enum PhoneDifferential {
    static func run(variants: Int, seed: UInt64) -> Int32 {
        guard let table = PhoneMetadataTable.shared, let fast = PhoneFastPath(table: table) else {
            FileHandle.standardError.write(Data("recon-mirror: libphonenumber metadata unreadable\n".utf8))
            return 2
        }
        let corpus = PhoneCorpus(table: table, variants: variants, seed: seed)
        var answered = 0
        var differences = 0
        var fastNanos: UInt64 = 0
        var slowNanos: UInt64 = 0
        let clock = ContinuousClock()
        func nanos(_ d: Duration) -> UInt64 { UInt64(d.components.seconds) * 1_000_000_000 + UInt64(d.components.attoseconds / 1_000_000_000) }
        for e in corpus.entries {
            let t0 = clock.now
            let got = fast.normalise(e.text, region: e.region)
            let t1 = clock.now
            let want = PhoneNormaliser.parse(e.text, region: e.region)
            let t2 = clock.now
            fastNanos += nanos(t1 - t0)
            slowNanos += nanos(t2 - t1)
            guard let got else { continue }
            answered += 1
            if got != want {
                differences += 1
                if differences <= 20 {
                    FileHandle.standardError.write(Data("difference: region \(e.region) text \(e.text): fast \(got), libphonenumber \(want)\n".utf8))
                }
            }
        }
        let n = max(corpus.entries.count, 1)
        print("{\"entries\": \(corpus.entries.count), \"fast_answered\": \(answered), \"differences\": \(differences), "
            + "\"fast_ns_per_entry\": \(fastNanos / UInt64(n)), \"libphonenumber_ns_per_entry\": \(slowNanos / UInt64(n))}")
        return differences == 0 ? 0 : 1
    }
}

ReconMirror.main()
