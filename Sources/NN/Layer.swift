import Tensors

/// A trainable tensor and the gradient accumulated into it. `kind` tells the optimisers
/// how to treat it: weights of convolutions and linear layers get weight decay and LARS
/// adaptation; biases and batch-norm parameters get neither (Barlow Twins §2.2, as in the
/// official code).
public final class Parameter {
    public enum Kind { case weight, biasOrNorm }
    public let name: String
    public let value: Tensor
    public let grad: Tensor
    public let kind: Kind
    /// The factor of the optimiser's global rate this parameter steps at (1): every optimiser
    /// uses lr·`learningRateScale` for it, LARS's clip included. A method sets it for a part of
    /// its network that learns at a rate of its own (BYOL's `predictorLearningRateScale`).
    public var learningRateScale: Float = 1

    public init(name: String, shape: [Int], kind: Kind) {
        self.name = name
        value = Tensor(shape: shape)
        grad = Tensor(shape: shape)
        self.kind = kind
    }
}

/// A layer owns its output and input-gradient buffers and caches, in `forward`, what its
/// `backward` needs. `backward` takes ∂L/∂output, accumulates ∂L/∂parameters with `+=`, and
/// returns ∂L/∂input. The input passed to `forward` must stay unchanged until `backward`.
public protocol Layer: AnyObject {
    var parameters: [Parameter] { get }
    func forward(_ input: Tensor, training: Bool) -> Tensor
    func backward(_ gradOutput: Tensor) -> Tensor
}

public extension Layer {
    func zeroGradients() { for p in parameters { p.grad.zero() } }
    var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// Layers applied in order.
public final class Sequential: Layer {
    public let layers: [Layer]
    public init(_ layers: [Layer]) { self.layers = layers }
    public var parameters: [Parameter] { layers.flatMap { $0.parameters } }
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        var x = input
        for layer in layers { x = layer.forward(x, training: training) }
        return x
    }
    /// Sets the statistics groups of every batch norm in the sequence.
    public func setBatchNormGroups(_ groups: Int) { for case let bn as BatchNorm in layers { bn.groups = groups } }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        var g = gradOutput
        for layer in layers.reversed() { g = layer.backward(g) }
        return g
    }
}

/// PyTorch's default initialisation for convolution and linear weights
/// (kaiming_uniform with a = √5): U(−1/√fanIn, 1/√fanIn). The peer reference uses it too.
public func initialiseUniform(_ t: Tensor, fanIn: Int, rng: inout RandomGenerator) {
    let bound = 1 / Float(fanIn).squareRoot()
    for i in 0 ..< t.count { t[i] = rng.uniform(-bound, bound) }
}
