import NN
import Tensors

/// BYOL (Grill et al., NeurIPS 2020): an online encoder, projector and predictor regress the
/// target network's projection of the other view; the target (encoder + projector) gets no
/// gradient and follows the online weights as an exponential moving average whose τ rises from
/// `baseMomentum` to 1 by cosine. CIFAR defaults from solo-learn (PAPERS.md): projector and
/// predictor 4096 → 256, τ 0.99 → 1.
public struct BYOLConfiguration: Equatable {
    public var projectorHiddenDimensions = 4096
    public var projectionDimensions = 256
    public var predictorHiddenDimensions = 4096
    /// τ_base, the target momentum at the first step.
    public var baseMomentum: Float = 0.99
    public init() {}
}

public final class BYOL: SelfSupervisedMethod {
    public let configuration: BYOLConfiguration
    let networks: OnlineAndMomentumNetworks
    public let objective = NormalizedMSELoss()
    private let predictionA = Tensor(shape: [0]), predictionB = Tensor(shape: [0])
    private let targetA = Tensor(shape: [0]), targetB = Tensor(shape: [0])
    private let gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0]), gradPredictions = Tensor(shape: [0])
    private let gradTargetA = Tensor(shape: [0]), gradTargetB = Tensor(shape: [0]), gradTargets = Tensor(shape: [0])
    /// Sabotage only (`--sabotage target-receives-gradients`): the loss's gradient also flows
    /// into the target branch and from there into the online weights it mirrors, as if the
    /// stop-gradient sg(·) of Eq. 2 were missing. Off in every real run.
    public var gradientThroughTarget = false

    public init(configuration: BYOLConfiguration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        let c = configuration
        networks = OnlineAndMomentumNetworks(backboneWidth: backboneWidth, projectorHidden: c.projectorHiddenDimensions,
                                             projection: c.projectionDimensions, predictorHidden: c.predictorHiddenDimensions,
                                             baseMomentum: c.baseMomentum, rng: &rng)
    }

    public var encoder: ResNet18 { networks.encoder }
    public var projector: Sequential { networks.projector }
    public var predictor: Sequential { networks.predictor }
    public var parameters: [Parameter] { networks.onlineParameters }
    public var extraStateTensors: [Tensor] { networks.extraStateTensors }
    public var targetParameters: [Parameter] { networks.targetParameters }

    /// L = ℓ(p_A, sg(t_B)) + ℓ(p_B, sg(t_A)) with ℓ the normalised MSE (BYOL Eq. 2–3).
    public func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        for p in parameters { p.grad.zero() }
        let n = views.shape[0] / 2
        let predictions = networks.predictions(views)
        let targets = networks.targets(views)
        predictionA.setRows(of: predictions, 0 ..< n); predictionB.setRows(of: predictions, n ..< 2 * n)
        targetA.setRows(of: targets, 0 ..< n); targetB.setRows(of: targets, n ..< 2 * n)
        let loss = objective.loss(prediction: predictionA, target: targetB, gradient: gradA)
            + objective.loss(prediction: predictionB, target: targetA, gradient: gradB)
        gradPredictions.reshape(predictions.shape)
        gradPredictions.placeRows(gradA, at: 0); gradPredictions.placeRows(gradB, at: n)
        networks.backward(gradPredictions)
        if gradientThroughTarget {
            // ℓ is symmetric in p and t: the same loss with the roles swapped gives ∂ℓ/∂t
            _ = objective.loss(prediction: targetB, target: predictionA, gradient: gradTargetB)
            _ = objective.loss(prediction: targetA, target: predictionB, gradient: gradTargetA)
            gradTargets.reshape(targets.shape)
            gradTargets.placeRows(gradTargetA, at: 0); gradTargets.placeRows(gradTargetB, at: n)
            networks.backwardThroughTarget(gradTargets)
        }
        return loss
    }

    /// The target moves by EMA only, with τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2.
    public func afterOptimizerStep(context: StepContext) { networks.updateTarget(context) }
    public func copyOnlineIntoTarget() { networks.copyOnlineIntoTarget() }
}
