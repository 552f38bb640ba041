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
    public let encoder: ResNet18
    public let projector: Sequential, predictor: Sequential
    public let targetEncoder: ResNet18, targetProjector: Sequential
    public let objective = NormalizedMSELoss()
    private let predictionA = Tensor(shape: [0]), predictionB = Tensor(shape: [0])
    private let targetA = Tensor(shape: [0]), targetB = Tensor(shape: [0])
    private let gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0]), gradPredictions = Tensor(shape: [0])

    public init(configuration: BYOLConfiguration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        let c = configuration
        encoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        projector = multilayerPerceptron(dimensions: [encoder.featureDimensions, c.projectorHiddenDimensions, c.projectionDimensions],
                                         bnGroups: 2, finalBias: true, rng: &rng)
        predictor = multilayerPerceptron(dimensions: [c.projectionDimensions, c.predictorHiddenDimensions, c.projectionDimensions],
                                         bnGroups: 2, finalBias: true, rng: &rng)
        targetEncoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        targetProjector = multilayerPerceptron(dimensions: [encoder.featureDimensions, c.projectorHiddenDimensions, c.projectionDimensions],
                                               bnGroups: 2, finalBias: true, rng: &rng)
        // the target starts as a copy of the online network
        copyParameters(from: encoder.parameters + projector.parameters, to: targetParameters)
    }

    public var parameters: [Parameter] { encoder.parameters + projector.parameters + predictor.parameters }
    public var targetParameters: [Parameter] { targetEncoder.parameters + targetProjector.parameters }

    /// L = ℓ(p_A, sg(t_B)) + ℓ(p_B, sg(t_A)) with ℓ the normalised MSE (BYOL Eq. 2–3).
    public func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        for p in parameters { p.grad.zero() }
        let n = views.shape[0] / 2
        let predictions = predictor.forward(projector.forward(encoder.forward(views, training: true), training: true), training: true)
        // the target network: forward only, never a backward pass
        let targets = targetProjector.forward(targetEncoder.forward(views, training: true), training: true)
        predictionA.setRows(of: predictions, 0 ..< n); predictionB.setRows(of: predictions, n ..< 2 * n)
        targetA.setRows(of: targets, 0 ..< n); targetB.setRows(of: targets, n ..< 2 * n)
        let loss = objective.loss(prediction: predictionA, target: targetB, gradient: gradA)
            + objective.loss(prediction: predictionB, target: targetA, gradient: gradB)
        gradPredictions.reshape(predictions.shape)
        gradPredictions.placeRows(gradA, at: 0); gradPredictions.placeRows(gradB, at: n)
        _ = encoder.backward(projector.backward(predictor.backward(gradPredictions)))
        return loss
    }

    /// The target moves by EMA only, with τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2.
    public func afterOptimizerStep(context: StepContext) {
        let tau = cosineMomentum(base: configuration.baseMomentum, progress: Double(context.step + 1) / Double(max(context.totalSteps, 1)))
        exponentialMovingAverage(target: targetParameters, online: encoder.parameters + projector.parameters, momentum: tau)
    }
}
