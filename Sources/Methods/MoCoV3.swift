import NN
import Options
import Tensors

/// MoCo v3 (Chen, Xie & He, ICCV 2021) with a ResNet backbone: a query encoder with projector
/// and predictor, a momentum key encoder (backbone + projector) following it by EMA, and a
/// symmetrised InfoNCE with in-batch negatives: L = ctr(q_A, k_B) + ctr(q_B, k_A), each scaled
/// by 2τ. CIFAR defaults from solo-learn (docs/PAPERS.md): projector Linear 4096-BN-ReLU-Linear 256-BN
/// (the last without γ, β) and predictor Linear 4096-BN-ReLU-Linear 256, every Linear without bias,
/// as the official code builds them; τ 0.2, momentum 0.99 → 1 by cosine; LARS lr 0.3 at batch 256, weight decay 1e-6, trust ratio
/// clipped, the asymmetric BYOL / Barlow Twins augmentation.
public struct MoCoV3Configuration: Equatable {
    public var projectorHiddenDimensions = 4096
    public var projectionDimensions = 256
    public var predictorHiddenDimensions = 4096
    public var temperature: Float = 0.2
    public var baseMomentum: Float = 0.99
    /// Whether τ rises to 1 by cosine (MoCo v3, solo-learn) or stays τ_base.
    public var momentumSchedule = MomentumSchedule.cosine
    /// SDMP's mixing on top of MoCo v3 (nil: plain MoCo v3); `SDMPConfiguration` sets it.
    public var mixing: MixingConfiguration? = nil
    public init() {}
}

extension MoCoV3Configuration: MethodConfiguration, PredictorAndMomentumTarget {
    public var name: String { "moco-v3" }
    public var recipe: TrainingRecipe {
        TrainingRecipe(baseLearningRate: 0.3, weightDecay: 1e-6, clipsTrustRatio: true, augmentation: .barlowTwins)
    }
    public func validate() throws {
        try validateHeadsAndMomentum()
        try Check.positive("temperature", temperature)
        if let m = mixing { try m.validate() }
    }
    public var referenceSettings: [String: Any] {
        var s = momentumHeadSettings
        s["temperature"] = Double(temperature)
        if let m = mixing {
            s["mixing"] = ["strategies": m.strategies.map(\.rawValue), "source_loss_weight": Double(m.sourceLossWeight),
                           "mixed_view": m.mixedView.rawValue, "key_boxes": m.keyBoxes.rawValue,
                           "mixing_loss_weight": Double(m.mixingLossWeight)] as [String: Any]
        }
        return s
    }
    public func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod {
        MoCoV3(configuration: self, backboneWidth: backboneWidth, rng: &rng)
    }
    public func cost(featureDimensions f: Int) -> HeadCost {
        var cost = momentumHeadCost(featureDimensions: f)
        // the keys of view B mixed as view A: one more forward of the target per image
        if mixing != nil { cost.extraTargetForwards = 1 }
        return cost
    }
    public static let options: [Option<Self>] = [
        Option("temperature", "X", example: "0.1", "InfoNCE temperature (0.2)") { c, v in c.temperature = try Value.float(v, option: "temperature") },
        baseMomentumOption("the key encoder's momentum τ at the start, rising to 1 (0.99)"),
    ]
}

public final class MoCoV3: SelfSupervisedMethod {
    public let configuration: MoCoV3Configuration
    let networks: OnlineAndMomentumNetworks
    public let objective: InfoNCELoss
    /// The mixing of the last step (SDMP), for inspection.
    public private(set) var lastMix: SDMPMix?

    private let queriesA = Tensor(shape: [0]), queriesB = Tensor(shape: [0]), keysA = Tensor(shape: [0]), keysB = Tensor(shape: [0])
    private let mixedKeys = Tensor(shape: [0]), gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0]), gradQueries = Tensor(shape: [0])
    private let mixedViews = Tensor(shape: [0]), mixedKeyViews = Tensor(shape: [0]), partGrad = Tensor(shape: [0])
    /// SDMP: the view that is mixed (before mixing) and the view that is kept, of the current step.
    private let mixedSource = Tensor(shape: [0]), keptView = Tensor(shape: [0])

    public init(configuration: MoCoV3Configuration = .init(), backboneWidth: Int, rng: inout RandomGenerator) {
        self.configuration = configuration
        let c = configuration
        let shape = MomentumHeadShape(projectorHidden: c.projectorHiddenDimensions, projection: c.projectionDimensions,
                                      predictorHidden: c.predictorHiddenDimensions, baseMomentum: c.baseMomentum,
                                      schedule: c.momentumSchedule)
        networks = OnlineAndMomentumNetworks(shape: shape, backboneWidth: backboneWidth, heads: .mocoV3, rng: &rng)
        objective = InfoNCELoss(temperature: c.temperature)
    }

    public var encoder: ResNet18 { networks.encoder }
    public var projector: Sequential { networks.projector }
    public var predictor: Sequential { networks.predictor }
    public var keyEncoder: ResNet18 { networks.targetEncoder! }
    public var keyProjector: Sequential { networks.targetProjector! }
    public var parameters: [Parameter] { networks.onlineParameters }
    public var extraStateTensors: [Tensor] { networks.extraStateTensors }
    public var keyParameters: [Parameter] { networks.targetParameters }
    public var momentumTarget: (online: [Parameter], target: [Parameter])? { networks.momentumTarget }

    private func queries(_ x: Tensor) -> Tensor { networks.predictions(x) }
    private func keys(_ x: Tensor) -> Tensor { networks.targets(x) }
    private func backward(_ grad: Tensor) { networks.backward(grad) }

    public func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        for p in parameters { p.grad.zero() }
        let n = views.shape[0] / 2
        guard let mixing = configuration.mixing, !mixing.strategies.isEmpty else {
            // plain MoCo v3: queries of both views against the keys of the other
            let q = queries(views)
            queriesA.setRows(of: q, 0 ..< n); queriesB.setRows(of: q, n ..< 2 * n)
            let k = keys(views)
            keysA.setRows(of: k, 0 ..< n); keysB.setRows(of: k, n ..< 2 * n)
            let loss = objective.loss(queries: queriesA, keys: keysB, gradient: gradA)
                + objective.loss(queries: queriesB, keys: keysA, gradient: gradB)
            gradQueries.reshape(q.shape)
            gradQueries.placeRows(gradA, at: 0); gradQueries.placeRows(gradB, at: n)
            backward(gradQueries)
            lastMix = nil
            return loss
        }
        // SDMP (Ren et al. 2022, §3): one view, mixed, replaces itself on the query side; the other
        // view is kept. Rows v·n ..< (v+1)·n of views, keys and queries hold view v throughout;
        // below, the tensors named A hold the mixed view's rows and those named B the kept view's.
        var rng = RandomGenerator(seed: context.seed, stream: 0x5D3F, substream: UInt64(context.step))
        let mix = SDMPMix.draw(batch: n, height: views.shape[1], width: views.shape[2], configuration: mixing, rng: &rng)
        lastMix = mix
        let mixed = mix.mixedView, kept = 1 - mixed
        mixedSource.setRows(of: views, mixed * n ..< (mixed + 1) * n)
        keptView.setRows(of: views, kept * n ..< (kept + 1) * n)
        mixedViews.reshape(views.shape)
        mix.queries.apply(to: mixedSource, into: partGrad)          // partGrad as scratch: the mixed view
        mixedViews.placeRows(partGrad, at: mixed * n); mixedViews.placeRows(keptView, at: kept * n)
        // keys: both views, and the kept view mixed with the same λ (forward only)
        let k = keys(views)
        keysA.setRows(of: k, mixed * n ..< (mixed + 1) * n); keysB.setRows(of: k, kept * n ..< (kept + 1) * n)
        mix.keys.apply(to: keptView, into: partGrad)
        mixedKeyViews.reshape([n] + Array(views.shape.dropFirst()))
        mixedKeyViews.placeRows(partGrad, at: 0)
        keyEncoder.setBatchNormGroups(1); keyProjector.setBatchNormGroups(1)
        mixedKeys.copy(from: keys(mixedKeyViews))
        keyEncoder.setBatchNormGroups(2); keyProjector.setBatchNormGroups(2)
        // queries: the mixed view and the kept one
        let q = queries(mixedViews)
        queriesA.setRows(of: q, mixed * n ..< (mixed + 1) * n); queriesB.setRows(of: q, kept * n ..< (kept + 1) * n)
        // the MoCo v3 term of the kept view against the other view's keys, then the source and
        // the mixing losses of the mixed queries with their weights (½ each, as the official code
        // returns them)
        let sourceWeight = mixing.sourceLossWeight, mixingWeight = mixing.mixingLossWeight
        var loss = objective.loss(queries: queriesB, keys: keysA, gradient: gradB)
        loss += sourceWeight * objective.loss(queries: queriesA, keys: keysB, gradient: gradA, targets: mix.queries.sourceTargets())
        loss += mixingWeight * objective.loss(queries: queriesA, keys: mixedKeys, gradient: partGrad, targets: mix.queries.mixingTargets())
        for i in 0 ..< gradA.count { gradA[i] = sourceWeight * gradA[i] + mixingWeight * partGrad[i] }
        gradQueries.reshape(q.shape)
        gradQueries.placeRows(gradA, at: mixed * n); gradQueries.placeRows(gradB, at: kept * n)
        backward(gradQueries)
        return loss
    }

    /// The key encoder moves by EMA only, τ from `baseMomentum` to 1 by cosine.
    public func afterOptimizerStep(context: StepContext) { networks.updateTarget(context) }
}
