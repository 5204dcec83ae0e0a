import CSupport

/// A value's fields kept in one shared box and copied only when a shared box is written to:
/// copying the value is one reference count, not one per string, array and dictionary in it.
/// `Finding` and `PlanAction` keep their fields this way (a night moves hundreds of thousands of
/// each through sorting, lifecycle, plan and reports).
struct CopyOnWrite<Value>: @unchecked Sendable {
    // @unchecked: the box is never written while shared (`value`'s modify copies it first), so
    // values on different threads never write the same box; `Value` is Sendable where it is used.
    private final class Box {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box

    init(_ value: Value) { box = Box(value) }

    var value: Value {
        get { box.value }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.value) }
            yield &box.value
        }
    }

    /// Whether both share one box (then they are equal without comparing fields).
    func isShared(with other: CopyOnWrite<Value>) -> Bool { box === other.box }
}

/// A value whose fields live in a box elsewhere on the heap (`CopyOnWrite`). A night's findings
/// and actions are hundreds of thousands of boxes scattered over the heap, and a loop over them
/// waits for each box in turn (its reference count is updated before anything else is read):
/// asking for the boxes a few elements ahead lets those loads overlap.
public protocol Prefetchable {
    /// Where the reference to the value's box is in the value's own bytes (a test checks that
    /// the bytes there are the box's reference): read from the array's memory, the element is
    /// neither copied nor retained.
    static var boxOffset: Int { get }
}

/// A collection whose elements' boxes can be asked for by position (`Prefetchable`).
public protocol PrefetchingCollection: RandomAccessCollection where Index == Int {
    /// Asks for the box of the element at `i`, if there is one (nothing is copied or retained).
    func prefetch(_ i: Int)
}

/// Starts loading the box whose reference is at `p` (its first two cache lines).
@usableFromInline func prefetchBox(referencedAt p: UnsafeRawPointer) {
    let box = p.load(as: UnsafeRawPointer.self)
    recon_prefetch(box)
    recon_prefetch(box + 64)
}

extension Array: PrefetchingCollection where Element: Prefetchable {
    @inlinable @inline(__always) public func prefetch(_ i: Int) {
        guard i < endIndex else { return }
        withUnsafeBufferPointer { prefetchBox(referencedAt: UnsafeRawPointer($0.baseAddress! + i) + Element.boxOffset) }
    }
}

extension ArraySlice: PrefetchingCollection where Element: Prefetchable {
    @inlinable @inline(__always) public func prefetch(_ i: Int) {
        guard i < endIndex else { return }
        withUnsafeBufferPointer { prefetchBox(referencedAt: UnsafeRawPointer($0.baseAddress! + (i - startIndex)) + Element.boxOffset) }
    }
}

/// How many elements ahead loops over findings and actions ask for boxes: enough loads in
/// flight to cover a miss, few enough that what arrives is still in the cache when reached.
@inlinable public var prefetchDistance: Int { 8 }

/// Elements of `base` in order, the box `prefetchDistance` elements ahead asked for first.
/// (Inlinable: the loops that use it are in other modules, and must be specialised there.)
public struct Prefetching<Base: PrefetchingCollection>: Sequence {
    @usableFromInline let base: Base
    @inlinable init(base: Base) { self.base = base }
    public struct Iterator: IteratorProtocol {
        @usableFromInline let base: Base
        @usableFromInline var i: Int
        @inlinable init(base: Base, i: Int) { self.base = base; self.i = i }
        @inlinable @inline(__always) public mutating func next() -> Base.Element? {
            guard i < base.endIndex else { return nil }
            base.prefetch(i + prefetchDistance)
            defer { i += 1 }
            return base[i]
        }
    }
    @inlinable public func makeIterator() -> Iterator { Iterator(base: base, i: base.startIndex) }
    @inlinable public var underestimatedCount: Int { base.count }
}

extension PrefetchingCollection {
    /// This collection's elements in order, with the boxes ahead asked for (`Prefetchable`).
    @inlinable public var prefetching: Prefetching<Self> { Prefetching(base: self) }
}

extension Array where Element: Prefetchable {
    /// Asks for the box of `self[rows[k + prefetchDistance]]`: for a loop over `rows` at `k`.
    @inlinable @inline(__always) public func prefetch(rows: [Int], ahead k: Int) {
        let r = k + prefetchDistance
        if r < rows.count { prefetch(rows[r]) }
    }
}
