import NN
import Options
import Tensors

/// Barlow Twins (Zbontar et al., ICML 2021): two augmented views through one encoder and
/// projector; the cross-correlation of the batch-standardised embeddings is pushed to the
/// identity (`BarlowTwinsLoss`). CIFAR defaults from solo-learn's recipe (docs/PAPERS.md):
/// projector 2048-2048-2048, λ 0.0051, loss scale 0.1; LARS lr 0.3 at batch 256, η 0.02, weight
/// decay 1e-4, trust ratio clipped (`barlow.yaml`'s `clip_lr`; the official ImageNet code does not
/// clip), the asymmetric BYOL / Barlow Twins augmentation. The remaining fields are the variants
/// of the paper's §4 ablations (`BarlowTwinsVariant` sets them by name).
public struct BarlowTwinsConfiguration: Equatable {
    /// Output widths of the projector's layers; the last is the embedding dimension D.
    public var projectorDimensions: [Int] = [2048, 2048, 2048]
    /// λ, the weight of the redundancy-reduction term (Eq. 1).
    public var offDiagonalWeight: Float = 0.0051
    /// A constant factor on the loss (0.1 in the CIFAR recipe).
    public var lossScale: Float = 0.1
    public var form: CrossCorrelationForm = .gram
    /// The weight of the invariance term (0: "redundancy reduction term only").
    public var invarianceWeight: Float = 1
    public var normalization: EmbeddingNormalization = .batch
    public var objective: BarlowTwinsObjective = .squaredError
    /// Batch norm in the projector's hidden layers ("no BN in MLP" when false).
    public var projectorBatchNorm = true
    /// A 2-layer predictor (hidden width D, BN+ReLU) on view A's branch (Table 6).
    public var predictor = false
    /// No gradient through view B's branch (Table 6).
    public var stopGradient = false

    public init() {}
}

extension BarlowTwinsConfiguration: MethodConfiguration {
    public var name: String { "barlow-twins" }
    public var recipe: TrainingRecipe {
        TrainingRecipe(baseLearningRate: 0.3, weightDecay: 1e-4, clipsTrustRatio: true, augmentation: .barlowTwins)
    }
    public var projectorDescription: String { projectorDimensions.map(String.init).joined(separator: "-") }
    public var projectorWidth: Int { projectorDimensions.last ?? 0 }
    /// D-D-D: the paper's width ablation varies every layer.
    public mutating func setProjectorWidth(_ width: Int) { projectorDimensions = [width, width, width] }
    public mutating func setProjectorLayers(_ widths: [Int]) throws { projectorDimensions = widths }
    /// hidden-hidden-hidden: the output of Barlow Twins' projector is as wide as its hidden layers.
    public mutating func setHeadWidths(hidden: Int, projection: Int) { projectorDimensions = [hidden, hidden, hidden] }

    public func validate() throws {
        try Check.positive("projector", projectorDimensions)
        if !(offDiagonalWeight >= 0) { throw ConfigurationError("lambda", offDiagonalWeight, "must be 0 or more") }
        try Check.positive("loss scale", lossScale)
    }

    public func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod {
        BarlowTwins(configuration: self, backboneWidth: backboneWidth, rng: &rng)
    }

    public func cost(featureDimensions: Int) -> HeadCost {
        var cost = HeadCost()
        let dims = [featureDimensions] + projectorDimensions
        cost.onlineLayers = zip(dims, dims.dropFirst()).map { ($0, $1) }
        if predictor { let d = dims.last!; cost.onlineLayers += [(d, d), (d, d)] }
        cost.formsSquareMatrix = form == .dense || objective != .squaredError
        return cost
    }

    public var recordedSettings: [String: String] { ["lambda": "\(offDiagonalWeight)", "loss_scale": "\(lossScale)"] }

    public var referenceSettings: [String: Any] {
        var s: [String: Any] = ["projector": projectorDimensions, "lambda": Double(offDiagonalWeight), "loss_scale": Double(lossScale),
                                "invariance_weight": Double(invarianceWeight), "normalization": normalization.rawValue,
                                "projector_batch_norm": projectorBatchNorm, "predictor": predictor, "stop_gradient": stopGradient]
        switch objective {
        case .squaredError: s["objective"] = "squared-error"
        case .crossEntropy(let t): s["objective"] = "cross-entropy"; s["temperature"] = Double(t)
        }
        return s
    }

    public static let options: [Option<Self>] = [
        Option("lambda", "X", example: "0.01", "off-diagonal weight λ (0.0051)") { c, v in
            c.offDiagonalWeight = try Value.float(v, option: "lambda")
        },
        Option("loss-scale", "X", example: "0.1", "a constant factor on the loss (0.1)") { c, v in
            c.lossScale = try Value.float(v, option: "loss-scale")
        },
        Option("loss-form", "FORM", example: "dense", "gram or dense: the loss without or with the D×D matrix (gram)") { c, v in
            c.form = try Value.named(v, option: "loss-form", as: CrossCorrelationForm.self)
        },
        Option("projector-depth", "L", example: "2", "projector layers, 1 to 4, each as wide as the last (3)") { c, v in
            let depth = try Value.int(v, option: "projector-depth", minimum: 1, maximum: 4)
            c.projectorDimensions = Array(repeating: c.projectorDimensions.last!, count: depth)
        },
        Option("variant", "NAME", example: "cross-entropy",
               "an ablation variant of the paper's Tables 5 and 6:\n" + BarlowTwinsVariant.allCases.map(\.rawValue).prefix(5).joined(separator: ", ")
                + ",\n" + BarlowTwinsVariant.allCases.map(\.rawValue).dropFirst(5).joined(separator: ", ")) { c, v in
            try Value.named(v, option: "variant", as: BarlowTwinsVariant.self).apply(to: &c)
        },
        Option("temperature", "X", example: "0.2", "the cross-entropy variant's temperature (0.1)") { c, v in
            guard case .crossEntropy = c.objective else {
                throw OptionError("--temperature applies to barlow-twins only with --variant cross-entropy")
            }
            c.objective = .crossEntropy(temperature: try Value.float(v, option: "temperature"))
        },
    ]
}

/// The named variants of the Barlow Twins ablations (Tables 5 and 6 of the paper).
public enum BarlowTwinsVariant: String, CaseIterable {
    case baseline
    case invarianceOnly = "invariance-only"
    case redundancyOnly = "redundancy-only"
    case featureNormalization = "feature-normalization"
    case noProjectorBN = "no-projector-bn"
    case noProjectorBNNoNormalization = "no-projector-bn-no-normalization"
    case crossEntropy = "cross-entropy"
    case predictor
    case stopGradient = "stop-gradient"
    case predictorAndStopGradient = "predictor-stop-gradient"

    /// Sets the fields of `c` that make this variant (on top of the baseline values).
    public func apply(to c: inout BarlowTwinsConfiguration, crossEntropyTemperature: Float = 0.1) {
        switch self {
        case .baseline: break
        case .invarianceOnly: c.offDiagonalWeight = 0
        case .redundancyOnly: c.invarianceWeight = 0
        case .featureNormalization: c.normalization = .feature
        case .noProjectorBN: c.projectorBatchNorm = false
        case .noProjectorBNNoNormalization: c.projectorBatchNorm = false; c.normalization = .none
        case .crossEntropy: c.objective = .crossEntropy(temperature: crossEntropyTemperature); c.form = .dense
        case .predictor: c.predictor = true
        case .stopGradient: c.stopGradient = true
        case .predictorAndStopGradient: c.predictor = true; c.stopGradient = true
        }
    }
}

public final class BarlowTwins: SelfSupervisedMethod {
    public let configuration: BarlowTwinsConfiguration
    public let encoder: ResNet18
    public let projector: Sequential
    public let predictor: Sequential?
    public let objective: BarlowTwinsLoss
    private let embeddingA = Tensor(shape: [0]), embeddingB = Tensor(shape: [0])
    private let gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0]), gradEmbeddings = Tensor(shape: [0])

    public init(configuration: BarlowTwinsConfiguration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        let c = configuration
        // Both views go through the network stacked in one batch; every batch norm keeps the
        // statistics of each view apart (groups: 2), as two separate passes would.
        encoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        projector = multilayerPerceptron(dimensions: [encoder.featureDimensions] + c.projectorDimensions,
                                         batchNorm: c.projectorBatchNorm, bnGroups: 2, rng: &rng)
        let d = c.projectorDimensions.last!
        predictor = c.predictor ? multilayerPerceptron(dimensions: [d, d, d], batchNorm: true, bnGroups: 1, rng: &rng) : nil
        objective = BarlowTwinsLoss(offDiagonalWeight: c.offDiagonalWeight, scale: c.lossScale, form: c.form)
        objective.invarianceWeight = c.invarianceWeight
        objective.normalization = c.normalization
        objective.objective = c.objective
    }

    public var extraStateTensors: [Tensor] { runningStatistics(encoder.batchNorms + projector.batchNorms + (predictor?.batchNorms ?? [])) }

    public var parameters: [Parameter] { encoder.parameters + projector.parameters + (predictor?.parameters ?? []) }

    /// One step on `views` ([2N, 32, 32, 3]: the first N images are view A of the batch, the
    /// next N view B of the same images): zeroes the gradients, runs forward and backward, and
    /// returns the loss. The optimiser step is the caller's.
    public func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        for p in parameters { p.grad.zero() }
        let features = encoder.forward(views, training: true)
        let z = projector.forward(features, training: true)
        let n = z.rows / 2, d = z.columns
        embeddingA.setRows(of: z, 0 ..< n); embeddingB.setRows(of: z, n ..< 2 * n)
        let branchA = predictor?.forward(embeddingA, training: true) ?? embeddingA
        let value = objective.loss(branchA, embeddingB, gradA: gradA, gradB: gradB)
        gradEmbeddings.reshape([2 * n, d])
        gradEmbeddings.placeRows(predictor?.backward(gradA) ?? gradA, at: 0)
        if configuration.stopGradient { (gradEmbeddings.data + n * d).update(repeating: 0, count: n * d) }
        else { gradEmbeddings.placeRows(gradB, at: n) }
        _ = encoder.backward(projector.backward(gradEmbeddings))
        return value
    }
}
