import Foundation
import NN
import Tensors

/// θ_target ← τ·θ_target + (1 − τ)·θ_online for matching parameter lists (BYOL Eq. 1, MoCo).
func exponentialMovingAverage(target: [Parameter], online: [Parameter], momentum tau: Float) {
    precondition(target.count == online.count)
    for (t, o) in zip(target, online) {
        let tp = t.value.data, op = o.value.data, n = t.value.count
        // element by element: the split over the threads does not change the result
        Parallel.elementwise(n) { r in for i in r { tp[i] = tau * tp[i] + (1 - tau) * op[i] } }
    }
}

/// Copies the parameter values of `source` into `destination` (same architecture).
func copyParameters(from source: [Parameter], to destination: [Parameter]) {
    precondition(source.count == destination.count)
    for (s, d) in zip(source, destination) {
        precondition(s.value.count == d.value.count)
        d.value.data.update(from: s.value.data, count: s.value.count)
    }
}

/// BYOL's target momentum schedule: τ = 1 − (1 − τ_base)·(cos(π·k/K) + 1)/2, from τ_base at
/// the first step to 1 at the last (BYOL §3.2).
public func cosineMomentum(base: Float, progress: Double) -> Float {
    1 - (1 - base) * Float((Foundation.cos(Double.pi * min(max(progress, 0), 1)) + 1) / 2)
}


/// How the projector and predictor of `OnlineAndMomentumNetworks` end.
enum MomentumHeads {
    /// BYOL (and solo-learn's BYOL): Linear-BN-ReLU-Linear, the last Linear with a bias.
    case byol
    /// MoCo v3 (the official code and solo-learn's `_build_mlp`): every Linear without bias; the
    /// projector ends in a batch norm without γ and β, the predictor in its Linear.
    case mocoV3
}

/// How the target's momentum moves over training.
public enum MomentumSchedule: String, CaseIterable, Equatable {
    /// τ rises from τ_base to 1 by cosine (BYOL §3.2, MoCo v3, solo-learn).
    case cosine
    /// τ stays τ_base for the whole run: BYOL's Table 5a holds τ 0 this way ("stop-gradient of online").
    case constant
}

/// The shape of the heads of `OnlineAndMomentumNetworks`: the widths, the number of Linear maps of
/// the projector and of the predictor (BYOL Table 14a: depth 1 is a single linear map; a
/// predictor of depth 0 is none, BYOL Table 5b), whether a momentum target exists and how its
/// momentum moves.
struct MomentumHeadShape {
    var projectorHidden: Int, projection: Int, predictorHidden: Int
    var projectorDepth = 2, predictorDepth = 2
    /// false: no target network; the targets are the online projections and carry gradients (BYOL Table 5b).
    var hasTarget = true
    var baseMomentum: Float
    var schedule = MomentumSchedule.cosine

    /// [inputs, hidden, …, hidden, output] with `depth` linear maps.
    static func widths(input: Int, hidden: Int, output: Int, depth: Int) -> [Int] {
        [input] + Array(repeating: hidden, count: max(depth - 1, 0)) + [output]
    }
    func projectorWidths(features: Int) -> [Int] {
        Self.widths(input: features, hidden: projectorHidden, output: projection, depth: projectorDepth)
    }
    var predictorWidths: [Int] { Self.widths(input: projection, hidden: predictorHidden, output: projection, depth: predictorDepth) }
    /// The linear maps (inputs, outputs) of a sequence of widths.
    static func layers(_ widths: [Int]) -> [(inputs: Int, outputs: Int)] { zip(widths, widths.dropFirst()).map { ($0, $1) } }
}

/// The networks BYOL and MoCo v3 share: an online encoder → projector → predictor, and a
/// momentum target (encoder → projector) that starts as a copy of the online ones, gets no
/// gradient and moves by EMA with τ rising from `baseMomentum` to 1 by cosine (or held). The
/// MLPs are Linear-BN-ReLU-…-Linear, ending as `heads` says, each view's statistics apart (two
/// groups). A predictor of depth 0 is the identity (an empty sequence); without a target the
/// targets are the online projections of the same pass.
final class OnlineAndMomentumNetworks {
    let encoder: ResNet18, projector: Sequential, predictor: Sequential
    /// nil when the shape has no target network.
    let targetEncoder: ResNet18?, targetProjector: Sequential?
    let shape: MomentumHeadShape
    var baseMomentum: Float { shape.baseMomentum }
    /// The online projections of the last `predictions` call (the targets when there is no target network).
    let onlineProjections = Tensor(shape: [0])

    init(shape: MomentumHeadShape, backboneWidth: Int, heads: MomentumHeads, rng: inout RandomGenerator) {
        self.shape = shape
        let bias = heads == .byol, projectorBatchNorm = heads == .mocoV3
        encoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        let projectorWidths = shape.projectorWidths(features: encoder.featureDimensions)
        projector = multilayerPerceptron(dimensions: projectorWidths, bnGroups: 2, finalBias: bias,
                                         finalBatchNorm: projectorBatchNorm, rng: &rng)
        predictor = shape.predictorDepth == 0 ? Sequential([])
            : multilayerPerceptron(dimensions: shape.predictorWidths, bnGroups: 2, finalBias: bias, rng: &rng)
        if shape.hasTarget {
            let targetEncoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
            let targetProjector = multilayerPerceptron(dimensions: projectorWidths, bnGroups: 2, finalBias: bias,
                                                       finalBatchNorm: projectorBatchNorm, rng: &rng)
            copyParameters(from: encoder.parameters + projector.parameters, to: targetEncoder.parameters + targetProjector.parameters)
            self.targetEncoder = targetEncoder; self.targetProjector = targetProjector
        } else {
            targetEncoder = nil; targetProjector = nil
        }
    }

    var onlineParameters: [Parameter] { encoder.parameters + projector.parameters + predictor.parameters }
    var targetParameters: [Parameter] { (targetEncoder?.parameters ?? []) + (targetProjector?.parameters ?? []) }
    /// The online parameters the target follows and the target's own, pairwise in order; nil without a target.
    var momentumTarget: (online: [Parameter], target: [Parameter])? {
        shape.hasTarget ? (encoder.parameters + projector.parameters, targetParameters) : nil
    }
    /// Running statistics of every network and the target's weights.
    var extraStateTensors: [Tensor] {
        runningStatistics(encoder.batchNorms + projector.batchNorms + predictor.batchNorms + (targetEncoder?.batchNorms ?? [])
                          + (targetProjector?.batchNorms ?? [])) + targetParameters.map(\.value)
    }

    /// predictor(projector(encoder(x))), ready for `backward`; keeps the projections in `onlineProjections`.
    func predictions(_ x: Tensor) -> Tensor {
        let z = projector.forward(encoder.forward(x, training: true), training: true)
        if !shape.hasTarget { onlineProjections.copy(from: z) }
        return predictor.forward(z, training: true)
    }
    /// targetProjector(targetEncoder(x)): forward only, never a backward pass. Without a target
    /// network: the online projections of the last `predictions` call (which must have seen `x`).
    func targets(_ x: Tensor) -> Tensor {
        guard let targetEncoder, let targetProjector else { return onlineProjections }
        return targetProjector.forward(targetEncoder.forward(x, training: true), training: true)
    }
    func backward(_ gradPredictions: Tensor) {
        _ = encoder.backward(projector.backward(predictor.backward(gradPredictions)))
    }
    /// The backward pass when the projections are also targets that learn (no target network):
    /// ∂L/∂z = predictor's backward of ∂L/∂p + ∂L/∂(z as target).
    func backward(_ gradPredictions: Tensor, gradProjections: Tensor) {
        let g = predictor.backward(gradPredictions)
        precondition(g.shape == gradProjections.shape, "\(g.shape) vs \(gradProjections.shape)")
        let gp = g.data, extra = gradProjections.data
        for i in 0 ..< g.count { gp[i] += extra[i] }
        _ = encoder.backward(projector.backward(g))
    }
    /// θ_target ← τ_k·θ_target + (1 − τ_k)·θ_online after step k = `context.step` (from 0), with
    /// τ_k at progress k/K by cosine (the first update uses τ_base, as BYOL's §3.2 and solo-learn's
    /// `MomentumUpdater` have it), or τ_base throughout when the schedule is constant.
    func updateTarget(_ context: StepContext) {
        guard let pair = momentumTarget else { return }
        let tau: Float
        switch shape.schedule {
        case .cosine: tau = cosineMomentum(base: baseMomentum, progress: Double(context.step) / Double(max(context.totalSteps, 1)))
        case .constant: tau = baseMomentum
        }
        exponentialMovingAverage(target: pair.target, online: pair.online, momentum: tau)
    }
}
