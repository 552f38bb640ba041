import NN
import Tensors

/// Barlow Twins (Zbontar et al., ICML 2021): two augmented views through one encoder and
/// projector; the cross-correlation of the batch-standardised embeddings is pushed to the
/// identity (`BarlowTwinsLoss`). CIFAR defaults from solo-learn's recipe (PAPERS.md):
/// projector 2048-2048-2048, λ 0.0051, loss scale 0.1.
public struct BarlowTwinsConfiguration: Equatable {
    /// Output widths of the projector's layers; the last is the embedding dimension D.
    public var projectorDimensions: [Int] = [2048, 2048, 2048]
    /// λ, the weight of the redundancy-reduction term (Eq. 1).
    public var offDiagonalWeight: Float = 0.0051
    /// A constant factor on the loss (0.1 in the CIFAR recipe).
    public var lossScale: Float = 0.1
    public var form: CrossCorrelationForm = .gram

    public init() {}
}

public final class BarlowTwins {
    public let configuration: BarlowTwinsConfiguration
    public let encoder: ResNet18
    public let projector: Sequential
    public let objective: BarlowTwinsLoss
    private let embeddingA = Tensor(shape: [0]), embeddingB = Tensor(shape: [0])
    private let gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0]), gradEmbeddings = Tensor(shape: [0])

    public init(configuration: BarlowTwinsConfiguration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        // Both views go through the network stacked in one batch; every batch norm keeps the
        // statistics of each view apart (groups: 2), as two separate passes would.
        encoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        projector = multilayerPerceptron(dimensions: [encoder.featureDimensions] + configuration.projectorDimensions,
                                         batchNorm: true, bnGroups: 2, rng: &rng)
        objective = BarlowTwinsLoss(offDiagonalWeight: configuration.offDiagonalWeight, scale: configuration.lossScale,
                                    form: configuration.form)
    }

    public var parameters: [Parameter] { encoder.parameters + projector.parameters }

    /// One step on `views` ([2N, 32, 32, 3]: the first N images are view A of the batch, the
    /// next N view B of the same images): zeroes the gradients, runs forward and backward, and
    /// returns the loss. The optimiser step is the caller's.
    public func trainingStep(views: Tensor) -> Float {
        for p in parameters { p.grad.zero() }
        let features = encoder.forward(views, training: true)
        let z = projector.forward(features, training: true)
        let n = z.rows / 2, d = z.columns
        embeddingA.reshape([n, d]); embeddingB.reshape([n, d])
        embeddingA.data.update(from: z.data, count: n * d)
        embeddingB.data.update(from: z.data + n * d, count: n * d)
        let value = objective.loss(embeddingA, embeddingB, gradA: gradA, gradB: gradB)
        gradEmbeddings.reshape([2 * n, d])
        gradEmbeddings.data.update(from: gradA.data, count: n * d)
        (gradEmbeddings.data + n * d).update(from: gradB.data, count: n * d)
        _ = encoder.backward(projector.backward(gradEmbeddings))
        return value
    }
}
