import NN
import Options
import Tensors

/// SimCLR (Chen et al., ICML 2020): encoder and projection head, NT-Xent over the 2N views of a
/// batch. CIFAR defaults from solo-learn's `simclr.yaml` (docs/PAPERS.md): projector
/// Linear 2048 → ReLU → Linear 256 (no batch norm), temperature 0.2; LARS lr 0.4 at batch 256,
/// weight decay 1e-4, trust ratio clipped, the symmetric SimCLR / SwAV augmentation.
public struct SimCLRConfiguration: Equatable {
    public var projectorHiddenDimensions = 2048
    public var projectionDimensions = 256
    public var temperature: Float = 0.2
    /// Batch norm after the projector's hidden layer, as the TensorFlow original has it;
    /// solo-learn's CIFAR recipe, our default, has none.
    public var projectorBatchNorm = false
    /// ℓ2-normalised embeddings in NT-Xent (cosine similarity); false: raw dot products, which
    /// SimCLR's Table 5 pairs with τ 10 and 100.
    public var normalizesEmbeddings = true
    public init() {}
}

extension SimCLRConfiguration: MethodConfiguration, HiddenLayerProjector {
    public var name: String { "simclr" }
    public var recipe: TrainingRecipe {
        TrainingRecipe(baseLearningRate: 0.4, weightDecay: 1e-4, clipsTrustRatio: true, augmentation: .simclr)
    }
    public func validate() throws {
        try Check.positive("projector", [projectorHiddenDimensions, projectionDimensions])
        try Check.positive("temperature", temperature)
    }
    public var referenceSettings: [String: Any] {
        ["projector_hidden": projectorHiddenDimensions, "projection": projectionDimensions, "temperature": Double(temperature),
         "projector_batch_norm": projectorBatchNorm]
    }
    public func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod {
        SimCLR(configuration: self, backboneWidth: backboneWidth, rng: &rng)
    }
    public func cost(featureDimensions f: Int) -> HeadCost {
        var cost = HeadCost()
        cost.onlineLayers = projectorLayers(featureDimensions: f)
        return cost
    }
    public static let options: [Option<Self>] = [
        Option("temperature", "X", example: "0.5", "NT-Xent temperature (0.2)") { c, v in c.temperature = try Value.float(v, option: "temperature") },
        Option(switch: "projector-bn", "batch norm after the projector's hidden layer, as in the TensorFlow original (solo-learn: none)") {
            $0.projectorBatchNorm = true
        },
        Option(switch: "no-l2-normalization",
               "NT-Xent on raw dot products ⟨z_i, z_k⟩/τ instead of cosines (SimCLR Table 5; pair it with a large τ)") {
            $0.normalizesEmbeddings = false
        },
    ]
}

public final class SimCLR: SelfSupervisedMethod {
    public let configuration: SimCLRConfiguration
    public let encoder: ResNet18
    public let projector: Sequential
    public let objective: NTXentLoss
    private let gradEmbeddings = Tensor(shape: [0])

    public init(configuration: SimCLRConfiguration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        encoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        projector = multilayerPerceptron(dimensions: [encoder.featureDimensions, configuration.projectorHiddenDimensions,
                                                      configuration.projectionDimensions],
                                         batchNorm: configuration.projectorBatchNorm, bnGroups: 2, finalBias: true, rng: &rng)
        objective = NTXentLoss(temperature: configuration.temperature, normalizes: configuration.normalizesEmbeddings)
    }

    public var extraStateTensors: [Tensor] { runningStatistics(encoder.batchNorms + projector.batchNorms) }

    public var parameters: [Parameter] { encoder.parameters + projector.parameters }

    public func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        for p in parameters { p.grad.zero() }
        let z = projector.forward(encoder.forward(views, training: true), training: true)
        let loss = objective.loss(z, gradient: gradEmbeddings)
        _ = encoder.backward(projector.backward(gradEmbeddings))
        return loss
    }
}
