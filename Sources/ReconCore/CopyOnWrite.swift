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
