/// A float32 buffer with a shape. Images are NHWC (batch, height, width, channels), so a
/// batch of feature maps is also a `[rows, channels]` matrix with rows = N·H·W; vectors of
/// features are `[N, D]`. The storage is allocated once and reused: `reshape(_:)` keeps it
/// when the new shape fits, so a layer that sees the same batch size every step never
/// allocates inside the step.
public final class Tensor {
    public private(set) var shape: [Int]
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>

    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        let count = shape.reduce(1, *)
        capacity = max(count, 1)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { data.deallocate() }

    public var count: Int { shape.reduce(1, *) }
    /// The last dimension (channels for NHWC, features for [N, D]).
    public var columns: Int { shape.last ?? 1 }
    /// Everything but the last dimension.
    public var rows: Int { count / max(columns, 1) }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// Gives the tensor a new shape, growing the storage only when it does not fit. The
    /// contents are undefined afterwards unless the count is unchanged.
    public func reshape(_ newShape: [Int]) {
        let needed = newShape.reduce(1, *)
        if needed > capacity {
            data.deallocate()
            capacity = needed
            data = .allocate(capacity: capacity)
            data.initialize(repeating: 0, count: capacity)
        }
        shape = newShape
    }

    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }
    public func copy(from other: Tensor) {
        reshape(other.shape)
        data.update(from: other.data, count: other.count)
    }
    /// A new tensor with this one's shape and values.
    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }
    public var array: [Float] { Array(buffer) }
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}
