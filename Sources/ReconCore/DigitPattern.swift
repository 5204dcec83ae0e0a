/// A regular expression from libphonenumber's metadata, over ASCII digits only.
///
/// libphonenumber writes its number patterns, prefixes and leading digits in a small dialect:
/// digits, `\d`, classes such as `[2-9]`, groups `(…)` and `(?:…)`, alternation, the quantifiers
/// `?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`, and `$`. Anything else (a lazy or possessive quantifier,
/// a look-around, a letter) is refused with `Unsupported`, and the region it belongs to is left to
/// libphonenumber itself. Two ways of matching, because libphonenumber uses two:
/// - `fullMatch` (ICU `matches`): whether the whole input is in the language. Compiled to a DFA
///   over the ten digits, so a check costs one table step per digit.
/// - `prefixEnd` (ICU `lookingAt`, as `Consume` uses it): where the *first* match at the start
///   ends under Perl's leftmost-first rules (alternatives in order, greedy quantifiers), found by
///   backtracking exactly as ICU does. The length matters there: it decides what is stripped.
struct DigitPattern: Sendable {
    indirect enum Node: Sendable {
        case digits(UInt16)                       // bit d set: digit d matches
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?)  // max nil: unbounded
        case end                                  // `$`
    }

    struct Unsupported: Error, CustomStringConvertible {
        let pattern: String
        let reason: String
        var description: String { "pattern \(pattern) is outside recon's digit-pattern subset: \(reason)" }
    }

    let source: String
    let root: Node
    /// Set when the pattern is a plain digit string ("0", "011"): a prefix compare is enough.
    let literal: [UInt8]?
    /// Built by `compileDFA()`; nil until then (prefix-only patterns never need one).
    private(set) var dfa: DFA?

    init(_ source: String) throws {
        self.source = source
        var parser = Parser(bytes: Array(source.utf8), source: source)
        root = try parser.parseAll()
        let bytes = Array(source.utf8)
        literal = !bytes.isEmpty && bytes.allSatisfy { $0 >= 48 && $0 <= 57 } ? bytes : nil
    }

    mutating func compileDFA(stateLimit: Int = 4096) throws {
        dfa = try DFA(root, source: source, stateLimit: stateLimit)
    }

    /// Whole-input match; requires `compileDFA()`.
    func fullMatch(_ digits: ArraySlice<UInt8>) -> Bool {
        guard let dfa else { preconditionFailure("fullMatch before compileDFA") }
        return dfa.matches(digits)
    }

    /// The end index of the leftmost-first match anchored at the start of `digits`, or nil.
    func prefixEnd(_ digits: ArraySlice<UInt8>) -> Int? {
        digits.withUnsafeBufferPointer { prefixEnd($0) }.map { digits.startIndex + $0 }
    }

    /// The length of the leftmost-first match anchored at the start of `digits`, or nil.
    func prefixEnd(_ digits: UnsafeBufferPointer<UInt8>) -> Int? {
        if let literal {
            guard digits.count >= literal.count else { return nil }
            for (i, b) in literal.enumerated() where digits[i] != b { return nil }
            return literal.count
        }
        return Backtracker(input: digits).match(root, 0) { $0 }
    }

    // MARK: Parsing

    private struct Parser {
        let bytes: [UInt8]
        let source: String
        var i = 0

        init(bytes: [UInt8], source: String) {
            self.bytes = bytes
            self.source = source
        }

        func fail(_ reason: String) -> Unsupported { Unsupported(pattern: source, reason: reason) }

        mutating func parseAll() throws -> Node {
            let node = try alternation()
            if i != bytes.count { throw fail("unbalanced ) at offset \(i)") }
            return node
        }

        mutating func alternation() throws -> Node {
            var branches = [try sequence()]
            while i < bytes.count, bytes[i] == UInt8(ascii: "|") {
                i += 1
                branches.append(try sequence())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func sequence() throws -> Node {
            var items: [Node] = []
            while i < bytes.count, bytes[i] != UInt8(ascii: "|"), bytes[i] != UInt8(ascii: ")") {
                let a = try atom()
                items.append(try quantified(a))
            }
            return items.count == 1 ? items[0] : .sequence(items)
        }

        mutating func atom() throws -> Node {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "("):
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "?") {
                    guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: ":") else { throw fail("group modifier at offset \(i)") }
                    i += 2
                }
                let inner = try alternation()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ")") else { throw fail("unclosed group") }
                i += 1
                return inner
            case UInt8(ascii: "["):
                return try charClass()
            case UInt8(ascii: "\\"):
                guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "d") else { throw fail("escape at offset \(i)") }
                i += 2
                return .digits(0x3FF)
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                i += 1
                return .digits(1 << UInt16(c - 48))
            case UInt8(ascii: "$"):
                i += 1
                return .end
            default:
                throw fail("character \(Character(Unicode.Scalar(c))) at offset \(i)")
            }
        }

        mutating func charClass() throws -> Node {
            i += 1
            var negate = false
            if i < bytes.count, bytes[i] == UInt8(ascii: "^") { negate = true; i += 1 }
            var mask: UInt16 = 0
            var first = true
            while i < bytes.count, bytes[i] != UInt8(ascii: "]") || first {
                first = false
                let c = bytes[i]
                if c == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "d") {
                    mask |= 0x3FF
                    i += 2
                    continue
                }
                guard c >= 48, c <= 57 else { throw fail("class member at offset \(i)") }
                if i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "-"), bytes[i + 2] >= 48, bytes[i + 2] <= 57 {
                    let hi = bytes[i + 2]
                    guard hi >= c else { throw fail("reversed range at offset \(i)") }
                    for d in c...hi { mask |= 1 << UInt16(d - 48) }
                    i += 3
                } else {
                    mask |= 1 << UInt16(c - 48)
                    i += 1
                }
            }
            guard i < bytes.count else { throw fail("unclosed class") }
            i += 1
            if negate { mask = ~mask & 0x3FF }
            return .digits(mask)
        }

        mutating func quantified(_ atom: Node) throws -> Node {
            guard i < bytes.count else { return atom }
            var node = atom
            switch bytes[i] {
            case UInt8(ascii: "?"): i += 1; node = .repetition(atom, min: 0, max: 1)
            case UInt8(ascii: "*"): i += 1; node = .repetition(atom, min: 0, max: nil)
            case UInt8(ascii: "+"): i += 1; node = .repetition(atom, min: 1, max: nil)
            case UInt8(ascii: "{"):
                i += 1
                let lo = try number()
                var hi: Int? = lo
                if i < bytes.count, bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    hi = i < bytes.count && bytes[i] != UInt8(ascii: "}") ? try number() : nil
                }
                guard i < bytes.count, bytes[i] == UInt8(ascii: "}") else { throw fail("unclosed {") }
                i += 1
                if let hi, hi < lo { throw fail("{\(lo),\(hi)}") }
                node = .repetition(atom, min: lo, max: hi)
            default:
                return atom
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "?") || bytes[i] == UInt8(ascii: "+") {
                throw fail("lazy or possessive quantifier at offset \(i)")
            }
            return node
        }

        mutating func number() throws -> Int {
            var v = 0
            let start = i
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                v = v * 10 + Int(bytes[i] - 48)
                i += 1
                if v > 1000 { throw fail("repetition count too large") }
            }
            if i == start { throw fail("repetition without a count") }
            return v
        }
    }

    // MARK: Leftmost-first prefix matching

    private struct Backtracker {
        let input: UnsafeBufferPointer<UInt8>

        func match(_ node: Node, _ i: Int, _ k: (Int) -> Int?) -> Int? {
            switch node {
            case .digits(let mask):
                guard i < input.endIndex else { return nil }
                let d = input[i] &- 48
                guard d < 10, mask & (1 << UInt16(d)) != 0 else { return nil }
                return k(i + 1)
            case .sequence(let items):
                return sequence(items[...], i, k)
            case .alternation(let branches):
                for b in branches {
                    if let r = match(b, i, k) { return r }
                }
                return nil
            case .repetition(let inner, let lo, let hi):
                return repetition(inner, lo, hi, 0, i, k)
            case .end:
                return i == input.endIndex ? k(i) : nil
            }
        }

        func sequence(_ items: ArraySlice<Node>, _ i: Int, _ k: (Int) -> Int?) -> Int? {
            guard let first = items.first else { return k(i) }
            return match(first, i) { j in sequence(items.dropFirst(), j, k) }
        }

        /// Greedy: one more repetition first, then stop (ICU's order).
        func repetition(_ inner: Node, _ lo: Int, _ hi: Int?, _ count: Int, _ i: Int, _ k: (Int) -> Int?) -> Int? {
            if hi.map({ count < $0 }) ?? true {
                let more = match(inner, i) { j in
                    if j == i && count >= lo { return nil }   // an empty iteration cannot loop
                    return repetition(inner, lo, hi, count + 1, j, k)
                }
                if let more { return more }
            }
            return count >= lo ? k(i) : nil
        }
    }

    // MARK: Full matching through a DFA

    struct DFA: Sendable {
        /// next[state * 10 + digit], -1 for the dead state.
        let next: [Int32]
        let accepting: [Bool]

        func matches(_ digits: ArraySlice<UInt8>) -> Bool {
            var s: Int32 = 0
            return next.withUnsafeBufferPointer { table in
                for b in digits {
                    let d = Int(b &- 48)
                    if d >= 10 { return false }
                    s = table[Int(s) &* 10 &+ d]
                    if s < 0 { return false }
                }
                return accepting[Int(s)]
            }
        }

        init(_ root: Node, source: String, stateLimit: Int) throws {
            var nfa = NFA()
            let start = nfa.add()
            let accept = try nfa.build(root, from: start, source: source)
            func closure(_ seeds: [Int32]) -> [Int32] {
                var seen = Set<Int32>(seeds)
                var stack = seeds
                while let s = stack.popLast() {
                    for t in nfa.epsilon[Int(s)] where seen.insert(t).inserted { stack.append(t) }
                }
                return seen.sorted()
            }
            var ids: [[Int32]: Int32] = [:]
            var sets: [[Int32]] = []
            var table: [Int32] = []
            var accepting: [Bool] = []
            let first = closure([start])
            ids[first] = 0
            sets.append(first)
            var at = 0
            while at < sets.count {
                let set = sets[at]
                accepting.append(set.contains(accept))
                for d in 0..<10 {
                    var targets: [Int32] = []
                    for s in set where nfa.mask[Int(s)] & (1 << UInt16(d)) != 0 { targets.append(nfa.target[Int(s)]) }
                    if targets.isEmpty { table.append(-1); continue }
                    let c = closure(targets)
                    if let id = ids[c] {
                        table.append(id)
                    } else {
                        if sets.count >= stateLimit {
                            throw Unsupported(pattern: source, reason: "more than \(stateLimit) DFA states")
                        }
                        let id = Int32(sets.count)
                        ids[c] = id
                        sets.append(c)
                        table.append(id)
                    }
                }
                at += 1
            }
            next = table
            self.accepting = accepting
        }
    }

    /// Thompson construction: each state has epsilon edges and at most one digit edge.
    private struct NFA {
        var epsilon: [[Int32]] = []
        var mask: [UInt16] = []
        var target: [Int32] = []

        mutating func add() -> Int32 {
            epsilon.append([])
            mask.append(0)
            target.append(-1)
            return Int32(epsilon.count - 1)
        }

        /// Builds `node` starting at `from`; returns the fragment's end state.
        mutating func build(_ node: Node, from: Int32, source: String) throws -> Int32 {
            if epsilon.count > 100_000 { throw Unsupported(pattern: source, reason: "pattern expands too far") }
            switch node {
            case .digits(let m):
                let c = add()
                epsilon[Int(from)].append(c)
                let e = add()
                mask[Int(c)] = m
                target[Int(c)] = e
                return e
            case .sequence(let items):
                var cur = from
                for item in items { cur = try build(item, from: cur, source: source) }
                return cur
            case .alternation(let branches):
                let e = add()
                for b in branches {
                    let s = add()
                    epsilon[Int(from)].append(s)
                    let be = try build(b, from: s, source: source)
                    epsilon[Int(be)].append(e)
                }
                return e
            case .repetition(let inner, let lo, let hi):
                var cur = from
                for _ in 0..<lo { cur = try build(inner, from: cur, source: source) }
                if let hi {
                    var ends = [cur]
                    for _ in lo..<hi {
                        cur = try build(inner, from: cur, source: source)
                        ends.append(cur)
                    }
                    let e = add()
                    for x in ends { epsilon[Int(x)].append(e) }
                    return e
                }
                let loop = add()
                epsilon[Int(cur)].append(loop)
                let be = try build(inner, from: loop, source: source)
                epsilon[Int(be)].append(loop)
                let e = add()
                epsilon[Int(loop)].append(e)
                return e
            case .end:
                throw Unsupported(pattern: source, reason: "$ in a whole-number pattern")
            }
        }
    }
}
