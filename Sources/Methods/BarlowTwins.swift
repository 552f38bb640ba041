import NN
import Tensors

/// Barlow Twins (Zbontar et al., ICML 2021): two augmented views through one encoder and
/// projector; the cross-correlation of the batch-standardised embeddings is pushed to the
/// identity (`BarlowTwinsLoss`). CIFAR defaults from solo-learn's recipe (PAPERS.md):
/// projector 2048-2048-2048, λ 0.0051, loss scale 0.1. The remaining fields are the variants
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
