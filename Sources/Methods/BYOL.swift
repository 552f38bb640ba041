import NN
import Options
import Tensors

/// BYOL (Grill et al., NeurIPS 2020): an online encoder, projector and predictor regress the
/// target network's projection of the other view; the target (encoder + projector) gets no
/// gradient and follows the online weights as an exponential moving average whose τ rises from
/// `baseMomentum` to 1 by cosine. CIFAR defaults from solo-learn (docs/PAPERS.md): projector and
/// predictor 4096 → 256, τ 0.99 → 1; LARS lr 1.0 at batch 256, weight decay 1e-5, trust ratio
/// clipped, the asymmetric BYOL / Barlow Twins augmentation.
public struct BYOLConfiguration: Equatable {
    public var projectorHiddenDimensions = 4096
    public var projectionDimensions = 256
    public var predictorHiddenDimensions = 4096
    /// τ_base, the target momentum at the first step.
    public var baseMomentum: Float = 0.99
    public init() {}
}

extension BYOLConfiguration: MethodConfiguration, PredictorAndMomentumTarget {
    public var name: String { "byol" }
    public var recipe: TrainingRecipe {
        TrainingRecipe(baseLearningRate: 1.0, weightDecay: 1e-5, clipsTrustRatio: true, augmentation: .barlowTwins)
    }
    public func validate() throws { try validateHeadsAndMomentum() }
    public var referenceSettings: [String: Any] { momentumHeadSettings }
    public func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod {
        BYOL(configuration: self, backboneWidth: backboneWidth, rng: &rng)
    }
    public static let options: [Option<Self>] = [baseMomentumOption("the target's momentum τ at the start, rising to 1 (0.99)")]
}

public final class BYOL: SelfSupervisedMethod {
    public let configuration: BYOLConfiguration
    let networks: OnlineAndMomentumNetworks
    public let objective = NormalizedMSELoss()
    private let predictionA = Tensor(shape: [0]), predictionB = Tensor(shape: [0])
    private let targetA = Tensor(shape: [0]), targetB = Tensor(shape: [0])
    private let gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0]), gradPredictions = Tensor(shape: [0])

    public init(configuration: BYOLConfiguration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        let c = configuration
        networks = OnlineAndMomentumNetworks(backboneWidth: backboneWidth, projectorHidden: c.projectorHiddenDimensions,
                                             projection: c.projectionDimensions, predictorHidden: c.predictorHiddenDimensions,
                                             baseMomentum: c.baseMomentum, heads: .byol, rng: &rng)
    }

    public var encoder: ResNet18 { networks.encoder }
    public var projector: Sequential { networks.projector }
    public var predictor: Sequential { networks.predictor }
    public var targetEncoder: ResNet18 { networks.targetEncoder }
    public var targetProjector: Sequential { networks.targetProjector }
    public var parameters: [Parameter] { networks.onlineParameters }
    public var extraStateTensors: [Tensor] { networks.extraStateTensors }
    public var targetParameters: [Parameter] { networks.targetParameters }
    public var momentumTarget: (online: [Parameter], target: [Parameter])? { networks.momentumTarget }

    /// L = ℓ(p_A, sg(t_B)) + ℓ(p_B, sg(t_A)) with ℓ the normalised MSE (BYOL Eq. 2–3).
    public func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        for p in parameters { p.grad.zero() }
        let predictions = networks.predictions(views)
        let targets = networks.targets(views)
        let loss = symmetricLoss(predictions: predictions, targets: targets, gradient: gradPredictions)
        networks.backward(gradPredictions)
        return loss
    }

    /// ℓ(p_A, t_B) + ℓ(p_B, t_A) for `predictions` and `targets` [2N, D] (view A's rows, then
    /// view B's), with ∂L/∂p [2N, D] written into `gradient`.
    public func symmetricLoss(predictions: Tensor, targets: Tensor, gradient: Tensor) -> Float {
        let n = predictions.rows / 2
        predictionA.setRows(of: predictions, 0 ..< n); predictionB.setRows(of: predictions, n ..< 2 * n)
        targetA.setRows(of: targets, 0 ..< n); targetB.setRows(of: targets, n ..< 2 * n)
        let loss = objective.loss(prediction: predictionA, target: targetB, gradient: gradA)
            + objective.loss(prediction: predictionB, target: targetA, gradient: gradB)
        gradient.reshape(predictions.shape)
        gradient.placeRows(gradA, at: 0); gradient.placeRows(gradB, at: n)
        return loss
    }

    /// The target moves by EMA only, with τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2.
    public func afterOptimizerStep(context: StepContext) { networks.updateTarget(context) }
}
