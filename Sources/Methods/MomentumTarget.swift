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

/// The networks BYOL and MoCo v3 share: an online encoder → projector → predictor, and a
/// momentum target (encoder → projector) that starts as a copy of the online ones, gets no
/// gradient and moves by EMA with τ rising from `baseMomentum` to 1 by cosine. The MLPs are
/// Linear-BN-ReLU-Linear, ending as `heads` says, each view's statistics apart (two groups).
final class OnlineAndMomentumNetworks {
    let encoder: ResNet18, projector: Sequential, predictor: Sequential
    let targetEncoder: ResNet18, targetProjector: Sequential
    let baseMomentum: Float

    init(backboneWidth: Int, projectorHidden: Int, projection: Int, predictorHidden: Int, baseMomentum: Float,
         heads: MomentumHeads, rng: inout RandomGenerator) {
        self.baseMomentum = baseMomentum
        let bias = heads == .byol, projectorBatchNorm = heads == .mocoV3
        encoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        let projectorDimensions = [encoder.featureDimensions, projectorHidden, projection]
        projector = multilayerPerceptron(dimensions: projectorDimensions, bnGroups: 2, finalBias: bias,
                                         finalBatchNorm: projectorBatchNorm, rng: &rng)
        predictor = multilayerPerceptron(dimensions: [projection, predictorHidden, projection], bnGroups: 2, finalBias: bias, rng: &rng)
        targetEncoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        targetProjector = multilayerPerceptron(dimensions: projectorDimensions, bnGroups: 2, finalBias: bias,
                                               finalBatchNorm: projectorBatchNorm, rng: &rng)
        copyParameters(from: encoder.parameters + projector.parameters, to: targetParameters)
    }

    var onlineParameters: [Parameter] { encoder.parameters + projector.parameters + predictor.parameters }
    var targetParameters: [Parameter] { targetEncoder.parameters + targetProjector.parameters }
    /// The online parameters the target follows and the target's own, pairwise in order.
    var momentumTarget: (online: [Parameter], target: [Parameter]) { (encoder.parameters + projector.parameters, targetParameters) }
    /// Running statistics of every network and the target's weights.
    var extraStateTensors: [Tensor] {
        runningStatistics(encoder.batchNorms + projector.batchNorms + predictor.batchNorms + targetEncoder.batchNorms
                          + targetProjector.batchNorms) + targetParameters.map(\.value)
    }

    /// predictor(projector(encoder(x))), ready for `backward`.
    func predictions(_ x: Tensor) -> Tensor {
        predictor.forward(projector.forward(encoder.forward(x, training: true), training: true), training: true)
    }
    /// targetProjector(targetEncoder(x)): forward only, never a backward pass.
    func targets(_ x: Tensor) -> Tensor {
        targetProjector.forward(targetEncoder.forward(x, training: true), training: true)
    }
    func backward(_ gradPredictions: Tensor) {
        _ = encoder.backward(projector.backward(predictor.backward(gradPredictions)))
    }
    /// θ_target ← τ_k·θ_target + (1 − τ_k)·θ_online after step k = `context.step` (from 0), with
    /// τ_k at progress k/K: the first update uses τ_base, as BYOL's §3.2 and solo-learn's
    /// `MomentumUpdater` (τ advanced after each update) have it.
    func updateTarget(_ context: StepContext) {
        let tau = cosineMomentum(base: baseMomentum, progress: Double(context.step) / Double(max(context.totalSteps, 1)))
        let pair = momentumTarget
        exponentialMovingAverage(target: pair.target, online: pair.online, momentum: tau)
    }
}
