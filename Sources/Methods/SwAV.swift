import Foundation
import NN
import Options
import Tensors

/// SwAV (Caron et al., NeurIPS 2020): embeddings are L2-normalised and scored against learnable
/// prototypes (of unit norm, `PrototypeNormalization`); codes come from Sinkhorn–Knopp without
/// gradient, and each view predicts the codes of the other view (swapped prediction, softmax
/// at temperature τ). Multi-crop adds small crops that only predict. CIFAR defaults from
/// solo-learn (docs/PAPERS.md): projector 2048 → 128, 3000 prototypes, τ 0.1, ε 0.05, 3 iterations;
/// LARS lr 0.6 at batch 256, weight decay 1e-6, trust ratio clipped, the symmetric SimCLR / SwAV
/// augmentation; the prototypes frozen for the first 2 epochs and a queue of 3840 embeddings per
/// view from epoch 50 (solo-learn's `swav.yaml`, 1000 epochs). The smoke, ci and cpu scales
/// (`AblationTable.base`) freeze 1 epoch and keep no queue.
///
/// How the prototypes are kept at unit norm.
public enum PrototypeNormalization: String, CaseIterable, Equatable {
    /// solo-learn's `swav.py`: a weight-normalised layer with the norm fixed at 1. The parameter
    /// V is free; the scores use C = V/‖V‖ row by row, and the gradient passes through the
    /// normalisation: ∂L/∂V_k = (∂L/∂C_k − C_k⟨C_k, ∂L/∂C_k⟩)/‖V_k‖.
    case weightNorm = "weight-norm"
    /// The official SwAV code: C ← C/‖C‖ in place before every step, the gradient taken with
    /// respect to C.
    case inPlace = "in-place"
}

public struct SwAVConfiguration: Equatable {
    public var projectorHiddenDimensions = 2048
    public var projectionDimensions = 128
    public var prototypeCount = 3000
    public var temperature: Float = 0.1
    public var sinkhornEpsilon: Double = 0.05
    public var sinkhornIterations = 3
    public var freezePrototypesEpochs = 2
    public var smallCrops = SmallCropPlan()
    /// Embeddings of earlier batches kept per view to stabilise Sinkhorn with small batches (0:
    /// none): view v's codes are computed over the batch and the last `queueLength` embeddings
    /// of view v, from epoch `queueStartEpoch` on and once the queue is full (the official code;
    /// solo-learn's also counts the zero rows of a queue not yet full).
    public var queueLength = 3840
    public var queueStartEpoch = 50
    public var prototypeNormalization = PrototypeNormalization.weightNorm
    public init() {}
}

extension SwAVConfiguration: MethodConfiguration, HiddenLayerProjector {
    public var name: String { "swav" }
    public var recipe: TrainingRecipe {
        TrainingRecipe(baseLearningRate: 0.6, weightDecay: 1e-6, clipsTrustRatio: true, augmentation: .simclr)
    }
    public func validate() throws {
        if projectionDimensions <= 0 || projectorHiddenDimensions <= 0 || prototypeCount <= 0 {
            throw ConfigurationError("projector", projectionDimensions, "every layer width and the prototype count must be positive integers")
        }
        try Check.positive("temperature", temperature)
        if smallCrops.count < 0 || smallCrops.size < 8 || smallCrops.size > 32 {
            throw ConfigurationError("small crops", "\(smallCrops.count)×\(smallCrops.size)", "need a count ≥ 0 and a size in 8…32")
        }
        if queueLength < 0 { throw ConfigurationError("queue length", queueLength, "must be 0 or more") }
    }
    public var referenceSettings: [String: Any] {
        ["projector_hidden": projectorHiddenDimensions, "projection": projectionDimensions, "prototypes": prototypeCount,
         "temperature": Double(temperature), "sinkhorn_epsilon": sinkhornEpsilon, "sinkhorn_iterations": sinkhornIterations,
         "freeze_prototypes_epochs": freezePrototypesEpochs, "queue_length": queueLength, "queue_start_epoch": queueStartEpoch, "small_crops": smallCrops.count,
         "prototype_normalization": prototypeNormalization.rawValue]
    }
    public func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod {
        SwAV(configuration: self, backboneWidth: backboneWidth, rng: &rng)
    }
    public func cost(featureDimensions f: Int) -> HeadCost {
        var cost = HeadCost()
        cost.onlineLayers = projectorLayers(featureDimensions: f) + [(projectionDimensions, prototypeCount)]
        cost.smallCrops = smallCrops
        return cost
    }
    public static let options: [Option<Self>] = [
        Option("temperature", "X", example: "0.2", "softmax temperature of the swapped prediction (0.1)") { c, v in
            c.temperature = try Value.float(v, option: "temperature")
        },
        Option("prototypes", "K", example: "100", "number of prototypes (3000)") { c, v in
            c.prototypeCount = try Value.int(v, option: "prototypes", minimum: 1)
        },
        Option("queue", "L[,E]", example: "3840,1", "keep the last L embeddings of each view for Sinkhorn, used from epoch E\nonce full (0: none) (3840,50)") { c, v in
            let parts = try Value.ints(v, option: "queue", counts: 1 ... 2, form: "LENGTH or LENGTH,START_EPOCH (0 or more)")
            guard parts.allSatisfy({ $0 >= 0 }) else { throw OptionError("--queue expects LENGTH or LENGTH,START_EPOCH (0 or more), got '\(v)'") }
            c.queueLength = parts[0]; c.queueStartEpoch = parts.count == 2 ? parts[1] : 0
        },
        Option("freeze-prototypes", "E", example: "1", "epochs with the prototypes frozen (2)") { c, v in
            c.freezePrototypesEpochs = try Value.int(v, option: "freeze-prototypes", minimum: 0)
        },
        Option("prototype-normalization", "HOW", example: "in-place",
               "weight-norm (solo-learn: C = V/‖V‖, gradient through it) or in-place (the official code:\nC renormalised before every step) (weight-norm)") { c, v in
            c.prototypeNormalization = try Value.named(v, option: "prototype-normalization", as: PrototypeNormalization.self)
        },
        Option("small-crops", "V", example: "2", "multi-crop: V extra 16×16 crops per image (0)") { c, v in
            c.smallCrops.count = try Value.int(v, option: "small-crops")
        },
    ]
}

public final class SwAV: SelfSupervisedMethod {
    public let configuration: SwAVConfiguration
    public let encoder: ResNet18
    public let projector: Sequential
    /// [K, D]: one prototype per row, as the optimiser sees it (V, or C itself in place).
    public let prototypes: Parameter
    /// [K, D]: the unit-norm prototypes C the scores of the last step used.
    public let prototypeMatrix = Tensor(shape: [0])
    private let prototypeInverseNorms = Tensor(shape: [0]), prototypeMatrixGrad = Tensor(shape: [0])
    /// ∂L/∂V of the weight-normalised prototypes, kept between steps.
    private let prototypeParameterGrad = Tensor(shape: [0])
    public var smallCrops: SmallCropPlan { configuration.smallCrops }
    /// The codes of the last step, [2N, K] (view A rows, then view B), for inspection.
    public private(set) var lastCodes = Tensor(shape: [0])

    private let embeddings = Tensor(shape: [0]), inverseNorms = Tensor(shape: [0]), scores = Tensor(shape: [0])
    private let gradScores = Tensor(shape: [0]), gradEmbeddings = Tensor(shape: [0]), gradZ = Tensor(shape: [0])
    private let part = Tensor(shape: [0]), partGrad = Tensor(shape: [0]), cropGrad = Tensor(shape: [0])
    private var queue: Tensor?          // [2, queueLength, D]: view v's queue, newest first
    /// Rows filled in each view's queue, kept in a tensor so that a checkpoint saves it with the rest.
    private let queueFillTensor = Tensor(shape: [1])
    private var queueFilled: Int {
        get { Int(queueFillTensor[0]) }
        set { queueFillTensor[0] = Float(newValue) }
    }

    public init(configuration: SwAVConfiguration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        let c = configuration
        encoder = ResNet18(width: backboneWidth, bnGroups: 2, rng: &rng)
        projector = multilayerPerceptron(dimensions: [encoder.featureDimensions, c.projectorHiddenDimensions, c.projectionDimensions],
                                         bnGroups: 2, finalBias: true, rng: &rng)
        prototypes = Parameter(name: "swav.prototypes", shape: [c.prototypeCount, c.projectionDimensions], kind: .weight)
        initialiseUniform(prototypes.value, fanIn: c.projectionDimensions, rng: &rng)
        if c.queueLength > 0 { queue = Tensor(shape: [2, c.queueLength, c.projectionDimensions]) }
    }

    public var parameters: [Parameter] { encoder.parameters + projector.parameters + [prototypes] }
    /// Running statistics, and the queue with its fill count.
    public var extraStateTensors: [Tensor] {
        runningStatistics(encoder.batchNorms + projector.batchNorms) + (queue.map { [$0, queueFillTensor] } ?? [])
    }

    /// C = V/‖V‖ row by row into `prototypeMatrix`; with `.inPlace` V itself is overwritten by C
    /// (no gradient flows through the normalisation).
    func normalizePrototypes() {
        let k = configuration.prototypeCount, d = configuration.projectionDimensions
        prototypeMatrix.reshape([k, d]); prototypeInverseNorms.reshape([k]); prototypeMatrixGrad.reshape([k, d])
        prototypeMatrixGrad.zero()
        RowNormalization.forward(prototypes.value.data, rows: k, columns: d, into: prototypeMatrix.data,
                                 inverseNorms: prototypeInverseNorms.data)
        if configuration.prototypeNormalization == .inPlace { prototypes.value.copy(from: prototypeMatrix) }
    }

    /// ∂L/∂C accumulated over the step into the prototypes' gradient: as it is in place, through
    /// the normalisation for the weight-normalised layer.
    private func prototypeGradient() {
        let k = configuration.prototypeCount, d = configuration.projectionDimensions, g = prototypes.grad.data
        switch configuration.prototypeNormalization {
        case .inPlace:
            for i in 0 ..< k * d { g[i] += prototypeMatrixGrad[i] }
        case .weightNorm:
            prototypeParameterGrad.reshape([k, d])
            RowNormalization.backward(prototypeMatrix.data, prototypeMatrixGrad.data, rows: k, columns: d,
                                      inverseNorms: prototypeInverseNorms.data, into: prototypeParameterGrad.data)
            let projected = prototypeParameterGrad.data
            for i in 0 ..< k * d { g[i] += projected[i] }
        }
    }

    /// Forward of the head: u = z/‖z‖, scores = u·Cᵀ.
    private func score(_ z: Tensor) {
        let n = z.rows, d = z.columns, k = configuration.prototypeCount
        embeddings.reshape([n, d]); inverseNorms.reshape([n]); scores.reshape([n, k])
        RowNormalization.forward(z.data, rows: n, columns: d, into: embeddings.data, inverseNorms: inverseNorms.data)
        parallelGemm(transposeB: true, m: n, n: k, k: d, a: embeddings.data, lda: d, b: prototypeMatrix.data, ldb: d,
                     c: scores.data, ldc: k)
    }

    /// Backward of the head from ∂L/∂scores: into the prototypes (unless frozen) and ∂L/∂z.
    private func scoreBackward(frozen: Bool) -> Tensor {
        let n = scores.rows, k = configuration.prototypeCount, d = configuration.projectionDimensions
        if !frozen {   // ∂L/∂C += (∂L/∂scores)ᵀ·U
            parallelGemm(transposeA: true, m: k, n: d, k: n, a: gradScores.data, lda: k, b: embeddings.data, ldb: d,
                         beta: 1, c: prototypeMatrixGrad.data, ldc: d)
        }
        gradEmbeddings.reshape([n, d]); gradZ.reshape([n, d])
        parallelGemm(m: n, n: d, k: k, a: gradScores.data, lda: k, b: prototypeMatrix.data, ldb: d, c: gradEmbeddings.data, ldc: d)
        RowNormalization.backward(embeddings.data, gradEmbeddings.data, rows: n, columns: d, inverseNorms: inverseNorms.data,
                                  into: gradZ.data)
        return gradZ
    }

    /// Codes of view v's rows of `scores`, with the scores of view v's queue appended for
    /// Sinkhorn when the queue is in use (only the batch's own rows are kept).
    private func codes(view v: Int, rows: Range<Int>, useQueue: Bool) -> Tensor {
        let k = configuration.prototypeCount, d = configuration.projectionDimensions
        let extra = useQueue ? queueFilled : 0
        let input = Tensor(shape: [rows.count + extra, k])
        input.data.update(from: scores.data + rows.lowerBound * k, count: rows.count * k)
        if extra > 0, let q = queue {
            gemm(transposeB: true, m: extra, n: k, k: d, a: q.data + v * configuration.queueLength * d, lda: d,
                 b: prototypeMatrix.data, ldb: d, c: input.data + rows.count * k, ldc: k)
        }
        let all = sinkhornCodes(scores: input, epsilon: configuration.sinkhornEpsilon, iterations: configuration.sinkhornIterations)
        let own = Tensor(shape: [rows.count, k])
        own.data.update(from: all.data, count: rows.count * k)
        return own
    }

    public func trainingStep(views: Tensor, smallCrops crops: Tensor?, context: StepContext) -> Float {
        let c = configuration, k = c.prototypeCount
        for p in parameters { p.grad.zero() }
        normalizePrototypes()
        let frozen = context.epoch < c.freezePrototypesEpochs
        let useQueue = queue != nil && context.epoch >= c.queueStartEpoch && queueFilled == c.queueLength
        let n = views.shape[0] / 2
        let cropCount = crops == nil ? 0 : c.smallCrops.count
        // every code is predicted by the other 1 + V views; the loss averages over them and over the two codes
        let weight = 1 / Float((1 + cropCount) * 2)

        // the two views
        encoder.setBatchNormGroups(2); projector.setBatchNormGroups(2)
        let z = projector.forward(encoder.forward(views, training: true), training: true)
        score(z)
        let codesA = codes(view: 0, rows: 0 ..< n, useQueue: useQueue), codesB = codes(view: 1, rows: n ..< 2 * n, useQueue: useQueue)
        lastCodes.reshape([2 * n, k])
        lastCodes.placeRows(codesA, at: 0); lastCodes.placeRows(codesB, at: n)
        gradScores.reshape([2 * n, k])
        var loss: Float = 0
        // view B predicts the codes of view A, and view A those of view B
        part.setRows(of: scores, n ..< 2 * n)
        loss += swappedPredictionLoss(scores: part, codes: codesA, temperature: c.temperature, gradient: partGrad, weight: weight)
        gradScores.placeRows(partGrad, at: n)
        part.setRows(of: scores, 0 ..< n)
        loss += swappedPredictionLoss(scores: part, codes: codesB, temperature: c.temperature, gradient: partGrad, weight: weight)
        gradScores.placeRows(partGrad, at: 0)
        if let q = queue { enqueue(q, rowsPerView: n) }
        _ = encoder.backward(projector.backward(scoreBackward(frozen: frozen)))

        // the small crops predict both codes; one pass over all of them, one batch-norm batch
        if let crops = crops, cropCount > 0 {
            encoder.setBatchNormGroups(1); projector.setBatchNormGroups(1)
            let zc = projector.forward(encoder.forward(crops, training: true), training: true)
            score(zc)
            gradScores.reshape([cropCount * n, k])
            for v in 0 ..< cropCount {
                part.setRows(of: scores, v * n ..< (v + 1) * n)
                loss += swappedPredictionLoss(scores: part, codes: codesA, temperature: c.temperature, gradient: cropGrad, weight: weight)
                loss += swappedPredictionLoss(scores: part, codes: codesB, temperature: c.temperature, gradient: partGrad, weight: weight)
                for i in 0 ..< n * k { cropGrad[i] += partGrad[i] }
                gradScores.placeRows(cropGrad, at: v * n)
            }
            _ = encoder.backward(projector.backward(scoreBackward(frozen: frozen)))
            encoder.setBatchNormGroups(2); projector.setBatchNormGroups(2)
        }
        if !frozen { prototypeGradient() }
        return loss
    }

    /// Pushes each view's normalised embeddings (rows v·n ..< (v+1)·n of `embeddings`) into
    /// that view's queue, dropping the oldest.
    private func enqueue(_ q: Tensor, rowsPerView n: Int) {
        let length = configuration.queueLength, d = configuration.projectionDimensions
        let keep = max(0, length - n), fresh = min(n, length)
        for v in 0 ..< 2 {
            let queue = q.data + v * length * d
            if keep > 0 { memmove(queue + n * d, queue, keep * d * MemoryLayout<Float>.size) }
            queue.update(from: embeddings.data + v * n * d, count: fresh * d)
        }
        queueFilled = min(length, queueFilled + n)
    }
}
