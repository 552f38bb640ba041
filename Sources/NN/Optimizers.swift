import Foundation
import Tensors

/// An optimiser updates parameters from their accumulated gradients.
public protocol Optimizer: AnyObject {
    func step(_ parameters: [Parameter], learningRate: Float)
    /// The optimiser's state for `parameters`, in their order (created as zeros when absent),
    /// for a checkpoint to save and restore in place.
    func stateTensors(for parameters: [Parameter]) -> [Tensor]
    /// Steps taken, where the update depends on it (AdamW's bias correction); settable on resume.
    var stepsTaken: Int { get set }
}

public extension Optimizer {
    var stepsTaken: Int { get { 0 } set {} }
}

/// Per-parameter state buffers, created on first use.
final class StateStore {
    private var states: [ObjectIdentifier: [Tensor]] = [:]
    func buffers(for p: Parameter, count: Int) -> [Tensor] {
        if let s = states[ObjectIdentifier(p)] { return s }
        let s = (0 ..< count).map { _ in Tensor(shape: p.value.shape) }
        states[ObjectIdentifier(p)] = s
        return s
    }
}

/// The block sums of `term(j)` over blocks of 256 elements (Float within a block, Double
/// across blocks, in block order): the same figure for any thread count, computed over the
/// threads. `scratch` holds one Double per block.
func blockedSum(_ n: Int, scratch: inout [Double], _ term: (Int) -> Float) -> Double {
    let blocks = (n + 255) / 256
    if scratch.count < blocks { scratch = Array(repeating: 0, count: blocks) }
    scratch.withUnsafeMutableBufferPointer { partial in
        let out = partial.baseAddress!
        func fill(_ r: Range<Int>) {
            for b in r {
                var s: Float = 0
                for j in b * 256 ..< min(b * 256 + 256, n) { s += term(j) }
                out[b] = Double(s)
            }
        }
        if n < 1 << 15 || Parallel.partitions == 1 { fill(0 ..< blocks) } else { Parallel.chunks(blocks) { _, r in fill(r) } }
    }
    var total = 0.0
    for b in 0 ..< blocks { total += scratch[b] }
    return total
}

/// SGD with momentum as PyTorch defines it:
///   v ← μ·v + (g + wd·p),  p ← p − lr·v   (weight decay on weights only).
public final class SGD: Optimizer {
    public let momentum: Float, weightDecay: Float
    private let store = StateStore()
    public init(momentum: Float = 0.9, weightDecay: Float = 0) { self.momentum = momentum; self.weightDecay = weightDecay }
    public func stateTensors(for parameters: [Parameter]) -> [Tensor] { parameters.flatMap { store.buffers(for: $0, count: 1) } }
    public func step(_ parameters: [Parameter], learningRate globalRate: Float) {
        for p in parameters {
            let v = store.buffers(for: p, count: 1)[0].data, w = p.value.data, g = p.grad.data
            let wd = p.kind == .weight ? weightDecay : 0, mu = momentum, lr = globalRate * p.learningRateScale
            Parallel.elementwise(p.value.count) { r in
                for i in r {
                    v[i] = mu * v[i] + g[i] + wd * w[i]
                    w[i] -= lr * v[i]
                }
            }
        }
    }
}

/// LARS (You et al., 2017) as solo-learn's CIFAR recipes run it. For a weight p with gradient g:
///   q = η·‖p‖ / (‖g‖ + wd·‖p‖ + 1e-8),   d = g + wd·p,   v ← μ·v + q·d,   p ← p − lr·v.
/// With `clipTrustRatio` (solo-learn's `clip_lr`) q becomes min(q/lr, 1) (1 while lr is 0), so
/// that the layer's effective rate lr·q is min(η‖p‖/(‖g‖ + wd‖p‖), lr): never above the global
/// rate. When ‖p‖ or ‖g‖ is 0 the weight gets plain momentum SGD on g, without the decay.
/// Biases and batch-norm parameters get neither the decay nor the adaptation: v ← μ·v + g.
/// (The official Barlow Twins and BYOL code divide by ‖g + wd·p‖ instead and do not clip.)
public final class LARS: Optimizer {
    public let momentum: Float, weightDecay: Float, trustCoefficient: Float, clipTrustRatio: Bool
    /// Added to the trust ratio's denominator, as in solo-learn.
    public static let epsilon = 1e-8
    private let store = StateStore()
    private var scratch: [Double] = []  // block sums of the norms
    public init(momentum: Float = 0.9, weightDecay: Float = 0, trustCoefficient: Float = 0.02, clipTrustRatio: Bool = false) {
        self.momentum = momentum; self.weightDecay = weightDecay
        self.trustCoefficient = trustCoefficient; self.clipTrustRatio = clipTrustRatio
    }
    public func stateTensors(for parameters: [Parameter]) -> [Tensor] { parameters.flatMap { store.buffers(for: $0, count: 1) } }

    /// The factor q of a weight with norms ‖p‖ and ‖g‖ at rate `lr`; nil when either norm is 0.
    public func trustRatio(weightNorm pnorm: Double, gradientNorm gnorm: Double, learningRate lr: Float) -> Float? {
        guard pnorm > 0 && gnorm > 0 else { return nil }
        let ratio = Float(Double(trustCoefficient) * pnorm / (gnorm + Double(weightDecay) * pnorm + LARS.epsilon))
        guard clipTrustRatio else { return ratio }
        return lr > 0 ? min(ratio / lr, 1) : 1
    }

    public func step(_ parameters: [Parameter], learningRate globalRate: Float) {
        for p in parameters {
            let v = store.buffers(for: p, count: 1)[0].data, w = p.value.data, g = p.grad.data
            let n = p.value.count, mu = momentum, lr = globalRate * p.learningRateScale
            var adapted: Float? = nil
            if p.kind == .weight {
                // ‖g‖ and ‖p‖ without a temporary buffer, in blocks the thread count does not change
                let gnorm = blockedSum(n, scratch: &scratch) { j in g[j] * g[j] }.squareRoot()
                let pnorm = blockedSum(n, scratch: &scratch) { j in w[j] * w[j] }.squareRoot()
                adapted = trustRatio(weightNorm: pnorm, gradientNorm: gnorm, learningRate: lr)
            }
            if let q = adapted {
                let wd = weightDecay
                Parallel.elementwise(n) { r in
                    for j in r {
                        v[j] = mu * v[j] + q * (g[j] + wd * w[j])
                        w[j] -= lr * v[j]
                    }
                }
            } else {
                Parallel.elementwise(n) { r in
                    for j in r {
                        v[j] = mu * v[j] + g[j]
                        w[j] -= lr * v[j]
                    }
                }
            }
        }
    }
}

/// AdamW (Loshchilov & Hutter, 2019): decoupled weight decay p ← p − lr·wd·p on weights, then
/// m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − lr·m̂/(√v̂ + ε).
public final class AdamW: Optimizer {
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private var stepCount = 0
    private let store = StateStore()
    public var stepsTaken: Int { get { stepCount } set { stepCount = newValue } }
    public func stateTensors(for parameters: [Parameter]) -> [Tensor] { parameters.flatMap { store.buffers(for: $0, count: 2) } }
    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }
    public func step(_ parameters: [Parameter], learningRate globalRate: Float) {
        stepCount += 1
        let c1 = 1 - Float(pow(Double(beta1), Double(stepCount))), c2 = 1 - Float(pow(Double(beta2), Double(stepCount)))
        for p in parameters {
            let lr = globalRate * p.learningRateScale
            let s = store.buffers(for: p, count: 2)
            let m = s[0].data, v = s[1].data, w = p.value.data, g = p.grad.data
            let decay = p.kind == .weight ? 1 - lr * weightDecay : 1
            for i in 0 ..< p.value.count {
                w[i] *= decay
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                w[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon)
            }
        }
    }
}

/// Linear warm-up from 0 to `baseLearningRate` over `warmupSteps`, then cosine decay to
/// `finalLearningRate` at `totalSteps`:
///   lr(t) = base·t/warmup for t < warmup, else final + (base − final)·(1 + cos(π·(t − warmup)/(total − warmup)))/2.
public struct WarmupCosineSchedule {
    public var baseLearningRate: Float, warmupSteps: Int, totalSteps: Int, finalLearningRate: Float
    public init(baseLearningRate: Float, warmupSteps: Int, totalSteps: Int, finalLearningRate: Float = 0) {
        self.baseLearningRate = baseLearningRate; self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps; self.finalLearningRate = finalLearningRate
    }
    public func learningRate(atStep t: Int) -> Float {
        if t < warmupSteps { return baseLearningRate * Float(t) / Float(warmupSteps) }
        let progress = Double(t - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        return finalLearningRate + (baseLearningRate - finalLearningRate) * Float(0.5 * (1 + cos(Double.pi * min(progress, 1))))
    }
}
