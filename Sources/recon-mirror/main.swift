import ArgumentParser
import Foundation
import MirrorGen

/// Writes the sample mirror as SQL to stdout (pipe it into psql) and its ground truth to a file.
struct ReconMirror: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recon-mirror",
        abstract: "Generate a sample CRM + ERP mirror (SQL on stdout) with injected findings and their ground truth.")

    @Option(name: .long, help: "Customers per system.")
    var customers: Int = 500

    @Option(name: .long, help: "Seed for names, amounts and formats.")
    var seed: UInt64 = 42

    @Option(name: .long, help: "Where to write the ground truth CSV (type,entity,field,records).")
    var truth: String?

    func validate() throws {
        guard customers >= 100 else { throw ValidationError("--customers must be at least 100 (every injected case needs a slot)") }
    }

    func run() throws {
        let generator = MirrorGenerator(customers: customers, seed: seed)
        let stdout = FileHandle.standardOutput
        let expected = generator.generate { chunk in stdout.write(Data(chunk.utf8)) }
        if let truth {
            var text = "type,entity,field,records\n"
            for t in expected.sorted(by: { $0.key < $1.key }) {
                text += "\(t.type),\(t.entity),\(t.field),\(t.records.joined(separator: " "))\n"
            }
            try text.write(toFile: truth, atomically: true, encoding: .utf8)
        }
    }
}

ReconMirror.main()
