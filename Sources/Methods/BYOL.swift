import NN
import Options
import Tensors

/// BYOL (Grill et al., NeurIPS 2020): an online encoder, projector and predictor regress the
/// target network's projection of the other view; the target (encoder + projector) gets no
/// gradient and follows the online weights as an exponential moving average whose τ rises from
/// `baseMomentum` to 1 by cosine. CIFAR defaults from solo-learn (docs/PAPERS.md): projector and
/// predictor 4096 → 256, τ 0.99 → 1; LARS lr 1.0 at batch 256, weight decay 1e-5, trust ratio
/// clipped, the asymmetric BYOL / Barlow Twins augmentation. The remaining fields are the
/// paper's ablations: a held τ (Table 5a), no predictor, no target network and the negatives
/// term of InfoNCE^{α,β} (Table 5b), and the heads' depths (Table 14a).
public struct BYOLConfiguration: Equatable {
    public var projectorHiddenDimensions = 4096
    public var projectionDimensions = 256
    public var predictorHiddenDimensions = 4096
    /// τ_base, the target momentum at the first step.
    public var baseMomentum: Float = 0.99
    /// Whether τ rises to 1 by cosine or stays τ_base.
    public var momentumSchedule = MomentumSchedule.cosine
    /// Linear maps in the projector (2: Linear-BN-ReLU-Linear; 1: a single linear map).
    public var projectorDepth = 2
    /// Linear maps in the predictor; 0: no predictor (the projection is the prediction).
    public var predictorDepth = 2
    /// false: no target network; the targets are the online projections, with their gradient.
    public var targetNetwork = true
    /// β of InfoNCE^{α,β}: the weight of the negatives term (0: BYOL's own loss).
    public var negativesWeight: Float = 0
    /// α of InfoNCE^{α,β}: the temperature of the negatives term (0.1, BYOL's Table 5b).
    public var negativesTemperature: Float = 0.1
    /// The predictor's rate as a multiple of the schedule's (1, as in solo-learn and the official
    /// code). A larger one keeps the predictor nearer its optimum for the current projections,
    /// the condition BYOL §3.2 and Tian et al. 2021 (DirectPred) give for training without collapse.
    public var predictorLearningRateScale: Float = 1
    public init() {}

    /// Whether the loss is BYOL's regression against a momentum target through a predictor, the
    /// paper's method; every other combination trains with `BootstrapInfoNCELoss`.
    var isPlainBYOL: Bool { predictorDepth > 0 && targetNetwork && negativesWeight == 0 }

    var headShape: MomentumHeadShape {
        MomentumHeadShape(projectorHidden: projectorHiddenDimensions, projection: projectionDimensions,
                          predictorHidden: predictorHiddenDimensions, projectorDepth: projectorDepth, predictorDepth: predictorDepth,
                          hasTarget: targetNetwork, baseMomentum: baseMomentum, schedule: momentumSchedule)
    }
}

extension BYOLConfiguration: MethodConfiguration, PredictorAndMomentumTarget {
    public var name: String { "byol" }
    public var recipe: TrainingRecipe {
        TrainingRecipe(baseLearningRate: 1.0, weightDecay: 1e-5, clipsTrustRatio: true, augmentation: .barlowTwins)
    }
    public var projectorDescription: String {
        MomentumHeadShape.widths(input: 0, hidden: projectorHiddenDimensions, output: projectionDimensions, depth: projectorDepth)
            .dropFirst().map(String.init).joined(separator: "-")
    }
    public func validate() throws {
        try validateHeadsAndMomentum()
        if !(1 ... 4).contains(projectorDepth) { throw ConfigurationError("projector depth", projectorDepth, "must be 1 to 4") }
        if !(0 ... 4).contains(predictorDepth) { throw ConfigurationError("predictor depth", predictorDepth, "must be 0 (none) to 4") }
        if !(negativesWeight >= 0 && negativesWeight <= 1) { throw ConfigurationError("negatives weight", negativesWeight, "must be in [0, 1]") }
        try Check.positive("negatives temperature", negativesTemperature)
        try Check.positive("predictor learning-rate scale", predictorLearningRateScale)
    }
    public var referenceSettings: [String: Any] {
        var settings = momentumHeadSettings
        if predictorLearningRateScale != 1 { settings["predictor_lr_scale"] = Double(predictorLearningRateScale) }
        return settings
    }
    public func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod {
        BYOL(configuration: self, backboneWidth: backboneWidth, rng: &rng)
    }
    public func cost(featureDimensions f: Int) -> HeadCost {
        let shape = headShape
        var cost = HeadCost()
        let projector = MomentumHeadShape.layers(shape.projectorWidths(features: f))
        cost.onlineLayers = projector + (predictorDepth > 0 ? MomentumHeadShape.layers(shape.predictorWidths) : [])
        cost.targetLayers = targetNetwork ? projector : nil
        return cost
    }
    public static let options: [Option<Self>] = [
        baseMomentumOption("the target's momentum τ at the start, rising to 1 (0.99)"),
        Option("momentum-schedule", "HOW", example: "constant",
               "cosine (τ rises from τ_base to 1) or constant (τ stays τ_base: BYOL Table 5a's τ 0) (cosine)") { c, v in
            c.momentumSchedule = try Value.named(v, option: "momentum-schedule", as: MomentumSchedule.self)
        },
        Option("projector-depth", "L", example: "3", "linear maps in the projector, 1 to 4; 1 is a single linear map (2)") { c, v in
            c.projectorDepth = try Value.int(v, option: "projector-depth", minimum: 1, maximum: 4)
        },
        Option("predictor-depth", "L", example: "1", "linear maps in the predictor, 0 (none) to 4 (2)") { c, v in
            c.predictorDepth = try Value.int(v, option: "predictor-depth", minimum: 0, maximum: 4)
        },
        Option(switch: "no-target-network",
               "targets are the online projections, and learn (BYOL Table 5b); else a momentum target") { $0.targetNetwork = false },
        Option("negatives-weight", "BETA", example: "1",
               "β of InfoNCE^{α,β} (BYOL Eq. 8): the weight of the negatives term, 0 to 1 (0: BYOL's loss)") { c, v in
            c.negativesWeight = try Value.float(v, option: "negatives-weight")
            guard c.negativesWeight >= 0 && c.negativesWeight <= 1 else { throw OptionError("--negatives-weight must be in [0, 1], got \(v)") }
        },
        Option("negatives-temperature", "ALPHA", example: "0.3", "α of InfoNCE^{α,β}: the negatives' temperature (0.1)") { c, v in
            c.negativesTemperature = try Value.float(v, option: "negatives-temperature")
        },
        Option("predictor-lr-scale", "X", example: "10", "the predictor's rate as a multiple of the schedule's, above 0 (1)") { c, v in
            c.predictorLearningRateScale = try Value.float(v, option: "predictor-lr-scale")
            guard c.predictorLearningRateScale > 0 else { throw OptionError("--predictor-lr-scale must be above 0, got \(v)") }
        },
    ]
}

public final class BYOL: SelfSupervisedMethod {
    public let configuration: BYOLConfiguration
    let networks: OnlineAndMomentumNetworks
    public let objective = NormalizedMSELoss()
    /// The loss of every variant but the plain method (`BYOLConfiguration.isPlainBYOL`).
    public let bridge: BootstrapInfoNCELoss
    private let predictionA = Tensor(shape: [0]), predictionB = Tensor(shape: [0])
    private let targetA = Tensor(shape: [0]), targetB = Tensor(shape: [0])
    private let gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0]), gradPredictions = Tensor(shape: [0])
    private let gradTargets = Tensor(shape: [0]), gradOther = Tensor(shape: [0]), gradSame = Tensor(shape: [0])

    public init(configuration: BYOLConfiguration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        networks = OnlineAndMomentumNetworks(shape: configuration.headShape, backboneWidth: backboneWidth, heads: .byol, rng: &rng)
        bridge = BootstrapInfoNCELoss(temperature: configuration.negativesTemperature, negativesWeight: configuration.negativesWeight)
        for p in networks.predictor.parameters { p.learningRateScale = configuration.predictorLearningRateScale }
    }

    public var encoder: ResNet18 { networks.encoder }
    public var projector: Sequential { networks.projector }
    /// Empty (the identity) without a predictor.
    public var predictor: Sequential { networks.predictor }
    /// nil without a target network.
    public var targetEncoder: ResNet18? { networks.targetEncoder }
    public var targetProjector: Sequential? { networks.targetProjector }
    public var parameters: [Parameter] { networks.onlineParameters }
    public var extraStateTensors: [Tensor] { networks.extraStateTensors }
    public var targetParameters: [Parameter] { networks.targetParameters }
    public var momentumTarget: (online: [Parameter], target: [Parameter])? { networks.momentumTarget }

    /// L = ℓ(p_A, sg(t_B)) + ℓ(p_B, sg(t_A)) with ℓ the normalised MSE (BYOL Eq. 2–3); for the
    /// ablations, the same two directions of InfoNCE^{α,β} (`bridge`), symmetrised as Eq. 2 is.
    public func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        for p in parameters { p.grad.zero() }
        let predictions = networks.predictions(views)
        let targets = networks.targets(views)
        if configuration.isPlainBYOL {
            let loss = symmetricLoss(predictions: predictions, targets: targets, gradient: gradPredictions)
            networks.backward(gradPredictions)
            return loss
        }
        let learningTargets = !configuration.targetNetwork
        let loss = bridgeLoss(predictions: predictions, targets: targets, gradPredictions: gradPredictions,
                              gradTargets: learningTargets ? gradTargets : nil)
        if learningTargets { networks.backward(gradPredictions, gradProjections: gradTargets) } else { networks.backward(gradPredictions) }
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

    /// InfoNCE^{α,β} with view A's predictions as anchors against the targets of both views, plus
    /// the same with view B's: ∂L/∂p into `gradPredictions` and, when given, ∂L/∂t into `gradTargets`
    /// ([2N, D] each, view A's rows first).
    public func bridgeLoss(predictions: Tensor, targets: Tensor, gradPredictions: Tensor, gradTargets: Tensor?) -> Float {
        let n = predictions.rows / 2
        predictionA.setRows(of: predictions, 0 ..< n); predictionB.setRows(of: predictions, n ..< 2 * n)
        targetA.setRows(of: targets, 0 ..< n); targetB.setRows(of: targets, n ..< 2 * n)
        let wantTargets = gradTargets != nil
        gradPredictions.reshape(predictions.shape)
        if let g = gradTargets { g.reshape(targets.shape); g.zero() }
        var loss: Float = 0
        for (anchors, other, same, row) in [(predictionA, targetB, targetA, 0), (predictionB, targetA, targetB, n)] {
            loss += bridge.loss(predictions: anchors, otherTargets: other, sameTargets: same, gradPredictions: gradA,
                                gradOtherTargets: wantTargets ? gradOther : nil, gradSameTargets: wantTargets ? gradSame : nil)
            gradPredictions.placeRows(gradA, at: row)
            if let g = gradTargets {
                // view A's anchors send gradient to view B's targets (other) and view A's (same)
                let otherRow = row == 0 ? n : 0
                g.addRows(gradOther, at: otherRow); g.addRows(gradSame, at: row)
            }
        }
        return loss
    }

    /// The target moves by EMA only, with τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2 (or τ_base held).
    public func afterOptimizerStep(context: StepContext) { networks.updateTarget(context) }
}
