/// What an approver looks at and chooses in a batch: a summary that scales to a person, filters,
/// and the selection an approval covers. Pure: the CLI prints it, the state records it.

/// The actions an approval covers: every action, or only some operations, less some operations
/// and some single actions.
public struct ActionSelection: Sendable, Equatable {
    /// Empty: every operation.
    public var only: Set<Operation> = []
    public var excludedOperations: Set<Operation> = []
    public var excludedIds: Set<String> = []

    public init(only: Set<Operation> = [], excludedOperations: Set<Operation> = [], excludedIds: Set<String> = []) {
        self.only = only
        self.excludedOperations = excludedOperations
        self.excludedIds = excludedIds
    }

    public func includes(_ a: PlanAction) -> Bool {
        (only.isEmpty || only.contains(a.operation)) && !excludedOperations.contains(a.operation) && !excludedIds.contains(a.actionId)
    }

    /// The selection as the approver wrote it, for the audit ("all actions" when nothing is left out).
    public var description: String {
        var parts: [String] = []
        func ops(_ s: Set<Operation>) -> String { s.map(\.rawValue).sorted().joined(separator: ",") }
        if !only.isEmpty { parts.append("--only " + ops(only)) }
        if !excludedOperations.isEmpty { parts.append("--exclude-operation " + ops(excludedOperations)) }
        if !excludedIds.isEmpty { parts.append("--exclude " + excludedIds.sorted().joined(separator: " ")) }
        return parts.isEmpty ? "all actions" : parts.joined(separator: " ")
    }

    /// Operations written as `link,update_status` (one or several arguments).
    /// - Throws: `SelectionError.unknownOperation` naming the word.
    public static func operations(_ arguments: [String]) throws -> Set<Operation> {
        var out: Set<Operation> = []
        let words: [String] = arguments.flatMap { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }
        for word in words where !word.isEmpty {
            guard let op = Operation(rawValue: word) else { throw SelectionError.unknownOperation(word) }
            out.insert(op)
        }
        return out
    }
}

public enum SelectionError: Error, Equatable, CustomStringConvertible {
    case unknownOperation(String)
    case unknownActions([String])
    case nothingSelected

    public var description: String {
        switch self {
        case .unknownOperation(let w):
            return "\"\(w)\" is not an operation (known: \(Operation.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .unknownActions(let ids): return "--exclude names actions that are not in the batch: \(ids.joined(separator: " "))"
        case .nothingSelected: return "the selection leaves no action to apply; reject the batch instead"
        }
    }
}

/// Which actions `batch show` lists.
public struct ActionFilter: Sendable {
    public var operations: Set<Operation> = []
    public var system: System?
    public var findingType: FindingType?
    public var limit: Int?

    public init(operations: Set<Operation> = [], system: System? = nil, findingType: FindingType? = nil, limit: Int? = nil) {
        self.operations = operations
        self.system = system
        self.findingType = findingType
        self.limit = limit
    }

    public func matches(_ a: PlanAction) -> Bool {
        (operations.isEmpty || operations.contains(a.operation)) && (system == nil || a.system == system)
            && (findingType == nil || a.findingIds.contains { FindingType(findingId: $0) == findingType })
    }

    public func matches(_ h: HumanItem) -> Bool {
        operations.isEmpty && (findingType == nil || h.type == findingType)
            && (system == nil || h.records.contains { $0.hasPrefix(system!.rawValue + ":") })
    }
}

extension FindingType {
    /// The type a finding id names (its prefix, e.g. `FLD-C-…`), or nil.
    public init?(findingId id: String) {
        guard let t = FindingType.allCases.first(where: { id.hasPrefix($0.code + "-") }) else { return nil }
        self = t
    }
}

/// A batch in numbers, for the top of `batch show` and the review page: actions by operation and
/// target system (and how many of each a selection leaves out), findings for a human by type.
public struct BatchSummary: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var operation: Operation
        public var system: System
        public var entity: Entity
        public var actions: Int
        public var excluded: Int
    }
    public var rows: [Row]
    public var needsHuman: [(type: FindingType, count: Int)]

    public static func == (a: BatchSummary, b: BatchSummary) -> Bool {
        a.rows == b.rows && a.needsHuman.map(\.type) == b.needsHuman.map(\.type) && a.needsHuman.map(\.count) == b.needsHuman.map(\.count)
    }

    public init(_ plan: Plan, excluded: Set<String> = []) {
        // A batch has a few operations and targets: a short list searched in order, no hash per action.
        var rows: [Row] = []
        for a in plan.actions.prefetching {
            let (op, system, entity) = (a.operation, a.system, a.entity)
            var k = rows.firstIndex { $0.operation == op && $0.system == system && $0.entity == entity }
            if k == nil {
                rows.append(Row(operation: op, system: system, entity: entity, actions: 0, excluded: 0))
                k = rows.count - 1
            }
            let at = k!
            rows[at].actions += 1
            if !excluded.isEmpty, excluded.contains(a.actionId) { rows[at].excluded += 1 }
        }
        self.rows = rows
            .sorted { ($0.operation.rawValue, $0.system.rawValue, $0.entity.rawValue) < ($1.operation.rawValue, $1.system.rawValue, $1.entity.rawValue) }
        var human: [FindingType: Int] = [:]
        for h in plan.needsHuman { human[h.type, default: 0] += 1 }
        needsHuman = human.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The summary as lines of text.
    public var lines: [String] {
        var out = ["operation       target          actions  excluded"]
        for r in rows {
            out.append(r.operation.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
                       + "\(r.system.rawValue) \(r.entity.rawValue)".padding(toLength: 14, withPad: " ", startingAt: 0)
                       + String(r.actions).leftPadded(9) + String(r.excluded).leftPadded(10))
        }
        if rows.isEmpty { out.append("(no actions)") }
        let human = needsHuman.map { "\($0.type.rawValue) \($0.count)" }.joined(separator: ", ")
        out.append("for a human: " + (human.isEmpty ? "none" : human))
        return out
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - count)) + self }
}
