import Methods
import NN
import Tensors
import Training

/// Deliberate faults that the regression plants around a method (`make regress SABOTAGE=…`, the
/// regression's tests) to show that it notices them. Each is a wrapper around the method as
/// built; Training and the methods know nothing of them.
public enum Fault: Equatable, CustomStringConvertible {
    /// Every parameter gradient has its sign flipped before the optimiser step: a sign error in
    /// a loss gradient, the kind of bug the accuracy regression must catch.
    case negatedGradients
    /// The loss reads NaN from this step on: a run that diverges mid-cell.
    case nanLossFromStep(Int)
    /// A momentum target (BYOL's, MoCo v3's) is overwritten with the online weights after every
    /// step (τ = 0, no slow target): a broken EMA. At the `ci` scale BYOL survives it, as
    /// SimSiam's predictor does without a momentum encoder (README, "Accuracy regression").
    case targetCopiesOnline
    /// BYOL's loss gradient also flows through the target branch into the online weights (the
    /// stop-gradient removed), the bug that lets BYOL and SimSiam collapse. Other methods train
    /// as they are.
    case targetReceivesGradients
    // Faults that cost a few points rather than a collapse: the recipe changed the way a slip in
    // the code would change it (`configure`). A method the fault does not concern trains as it is.
    /// The colour jitter never applied, in either view.
    case noColourJitter
    /// The target's momentum held at τ_base instead of rising to 1 (BYOL, MoCo v3, SDMP).
    case heldMomentum
    /// The softmax temperature doubled (SimCLR, SwAV, MoCo v3, SDMP).
    case doubledTemperature
    /// Barlow Twins' λ ten times larger.
    case tenfoldLambda
    /// The learning-rate warm-up skipped.
    case noWarmup
    /// The learning rate half what the recipe asks (a batch scaling of batch/512 where the
    /// recipe's is batch/256).
    case halvedLearningRate
    /// The backbone's batch norms normalise with the batch's statistics at evaluation too (the
    /// network never switched to eval mode), at initialisation and after training.
    case batchNormTrainModeAtEvaluation

    static let recipeFaults: [Fault] = [.noColourJitter, .heldMomentum, .doubledTemperature, .tenfoldLambda, .noWarmup, .halvedLearningRate]

    /// The faults without a parameter, in the order `--sabotage`'s help lists them: the collapses
    /// first, then the faults of a few points.
    static let plainFaults: [Fault] = [.negatedGradients, .targetCopiesOnline, .targetReceivesGradients]
        + recipeFaults + [.batchNormTrainModeAtEvaluation]

    /// Every fault `--sabotage` takes, by its name, with a line on what it does.
    public static let catalogue: [(name: String, summary: String)] =
        plainFaults.prefix(3).map { ($0.description, $0.summary) }
        + [("nan-loss-at-STEP", "the loss NaN from step STEP on")]
        + plainFaults.dropFirst(3).map { ($0.description, $0.summary) }
    public static let names = catalogue.map(\.name)

    public init?(parsing text: String) {
        if let fault = Self.plainFaults.first(where: { $0.description == text }) { self = fault; return }
        if text.hasPrefix("nan-loss-at-"), let step = Int(text.dropFirst("nan-loss-at-".count)), step >= 0 {
            self = .nanLossFromStep(step); return
        }
        return nil
    }

    /// What the fault does, in a line.
    public var summary: String {
        switch self {
        case .negatedGradients: return "every gradient's sign flipped"
        case .nanLossFromStep(let s): return "the loss NaN from step \(s) on"
        case .targetCopiesOnline: return "the momentum target overwritten by the online weights (τ = 0)"
        case .targetReceivesGradients: return "BYOL without its stop-gradient"
        case .noColourJitter: return "the colour jitter never applied"
        case .heldMomentum: return "the target's momentum held at τ_base (BYOL, MoCo v3, SDMP)"
        case .doubledTemperature: return "the softmax temperature doubled (SimCLR, SwAV, MoCo v3, SDMP)"
        case .tenfoldLambda: return "Barlow Twins' λ ten times larger"
        case .noWarmup: return "the learning-rate warm-up skipped"
        case .halvedLearningRate: return "the learning rate halved"
        case .batchNormTrainModeAtEvaluation: return "the backbone's batch norms left in training mode for the kNN"
        }
    }

    public var description: String {
        switch self {
        case .negatedGradients: return "negate-gradients"
        case .nanLossFromStep(let s): return "nan-loss-at-\(s)"
        case .targetCopiesOnline: return "target-copies-online"
        case .targetReceivesGradients: return "target-receives-gradients"
        case .noColourJitter: return "no-colour-jitter"
        case .heldMomentum: return "held-momentum"
        case .doubledTemperature: return "doubled-temperature"
        case .tenfoldLambda: return "tenfold-lambda"
        case .noWarmup: return "no-warmup"
        case .halvedLearningRate: return "halved-learning-rate"
        case .batchNormTrainModeAtEvaluation: return "bn-train-mode-at-evaluation"
        }
    }

    /// `method` with this fault planted (the recipe faults act through `configure` and leave the method as built).
    public func plant(in method: SelfSupervisedMethod) -> SelfSupervisedMethod {
        if Self.recipeFaults.contains(self) { return method }
        if self == .batchNormTrainModeAtEvaluation {
            for norm in method.encoder.batchNorms { norm.normalisesWithBatchStatisticsInEvaluation = true }
            return method
        }
        if self == .targetReceivesGradients {
            guard let byol = method as? BYOL else { return method }
            return BYOLWithoutStopGradient(byol)
        }
        return FaultyMethod(method, fault: self)
    }

    /// Whether the fault changes anything for a cell of this configuration: a recipe fault that
    /// changes its recipe, a fault of a part only some methods have (a momentum target, BYOL's
    /// stop-gradient) for those methods; the others concern every method.
    public func concerns(_ configuration: CellConfiguration) -> Bool {
        if Self.recipeFaults.contains(self) {
            var c = configuration
            return configure(&c)
        }
        let method = configuration.method
        switch self {
        case .targetReceivesGradients: return method is BYOLConfiguration
        case .targetCopiesOnline: return method is BYOLConfiguration || method is MoCoV3Configuration || method is SDMPConfiguration
        default: return true
        }
    }

    /// The results columns a recipe fault may change (the regression does not hold them to the
    /// baseline's while the fault is planted); none for the other faults.
    public var changedColumns: Set<String> { Self.recipeFaults.contains(self) ? ["augmentation", "lambda", "learning_rate"] : [] }

    /// Changes the cell as a recipe fault would; returns whether it concerns the cell's method
    /// (the other faults change no configuration and return false).
    @discardableResult
    public func configure(_ c: inout CellConfiguration) -> Bool {
        let before = c
        switch self {
        case .noColourJitter:
            if !c.removedAugmentations.contains(.colourJitter) { c.removedAugmentations.append(.colourJitter) }
        case .heldMomentum:
            c.ifMethod(BYOLConfiguration.self) { $0.momentumSchedule = .constant }
            c.ifMethod(MoCoV3Configuration.self) { $0.momentumSchedule = .constant }
            c.ifMethod(SDMPConfiguration.self) { $0.moco.momentumSchedule = .constant }
        case .doubledTemperature:
            c.ifMethod(SimCLRConfiguration.self) { $0.temperature *= 2 }
            c.ifMethod(SwAVConfiguration.self) { $0.temperature *= 2 }
            c.ifMethod(MoCoV3Configuration.self) { $0.temperature *= 2 }
            c.ifMethod(SDMPConfiguration.self) { $0.moco.temperature *= 2 }
        case .tenfoldLambda:
            c.ifMethod(BarlowTwinsConfiguration.self) { $0.offDiagonalWeight *= 10 }
        case .noWarmup:
            c.warmupEpochs = 0
        case .halvedLearningRate:
            c.baseLearningRate /= 2
        default: break
        }
        return c != before
    }
}

/// A method whose steps pass through a fault: its gradients negated, its loss NaN from a step
/// on, or its momentum target reset to the online weights after every update.
final class FaultyMethod: SelfSupervisedMethod {
    let inner: SelfSupervisedMethod
    let fault: Fault
    private var step = 0

    init(_ inner: SelfSupervisedMethod, fault: Fault) { self.inner = inner; self.fault = fault }

    var encoder: ResNet18 { inner.encoder }
    var projector: Sequential { inner.projector }
    var parameters: [Parameter] { inner.parameters }
    var smallCrops: SmallCropPlan { inner.smallCrops }
    var extraStateTensors: [Tensor] { inner.extraStateTensors }
    var momentumTarget: (online: [Parameter], target: [Parameter])? { inner.momentumTarget }

    func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        let loss = inner.trainingStep(views: views, smallCrops: smallCrops, context: context)
        switch fault {
        case .negatedGradients:
            for p in parameters { let g = p.grad.data; for i in 0 ..< p.grad.count { g[i] = -g[i] } }
        case .nanLossFromStep(let first) where context.step >= first:
            return .nan
        default: break
        }
        return loss
    }

    func afterOptimizerStep(context: StepContext) {
        inner.afterOptimizerStep(context: context)
        if fault == .targetCopiesOnline, let pair = momentumTarget {
            for (online, target) in zip(pair.online, pair.target) { target.value.data.update(from: online.value.data, count: online.value.count) }
        }
    }
}

/// BYOL with the stop-gradient sg(·) of its Eq. 2 removed: the loss's gradient with respect to
/// the target's projections runs back through the target networks, and lands on the online
/// weights the target mirrors (their sum, as if the two branches shared weights).
final class BYOLWithoutStopGradient: SelfSupervisedMethod {
    let byol: BYOL
    private let gradPredictions = Tensor(shape: [0]), gradTargets = Tensor(shape: [0])

    init(_ byol: BYOL) { self.byol = byol }

    var encoder: ResNet18 { byol.encoder }
    var projector: Sequential { byol.projector }
    var parameters: [Parameter] { byol.parameters }
    var extraStateTensors: [Tensor] { byol.extraStateTensors }
    var momentumTarget: (online: [Parameter], target: [Parameter])? { byol.momentumTarget }

    func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        for p in parameters { p.grad.zero() }
        let predictions = byol.predictor.forward(byol.projector.forward(byol.encoder.forward(views, training: true), training: true),
                                                 training: true)
        let targets = byol.targetProjector!.forward(byol.targetEncoder!.forward(views, training: true), training: true)
        let loss = byol.symmetricLoss(predictions: predictions, targets: targets, gradient: gradPredictions)
        _ = byol.encoder.backward(byol.projector.backward(byol.predictor.backward(gradPredictions)))
        // ℓ is symmetric in p and t: the same loss with the roles swapped gives ∂L/∂t
        _ = byol.symmetricLoss(predictions: targets, targets: predictions, gradient: gradTargets)
        guard let pair = byol.momentumTarget else { return loss }
        for t in pair.target { t.grad.zero() }
        _ = byol.targetEncoder!.backward(byol.targetProjector!.backward(gradTargets))
        for (t, o) in zip(pair.target, pair.online) {
            let tg = t.grad.data, og = o.grad.data
            for i in 0 ..< o.grad.count { og[i] += tg[i] }
        }
        return loss
    }

    func afterOptimizerStep(context: StepContext) { byol.afterOptimizerStep(context: context) }
}
