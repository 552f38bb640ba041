import Datasets
import Methods

/// The self-supervised methods the kernel can train.
public enum MethodName: String, CaseIterable {
    case barlowTwins = "barlow-twins"
    case byol
    case simclr
    case swav
    case mocoV3 = "moco-v3"
    /// MoCo v3 with SDMP's intra-batch mixing.
    case sdmp
}

extension MethodName {
    /// The method called `name` on the command line, or an error that lists the known ones.
    public init(named name: String) throws {
        guard let method = MethodName(rawValue: name) else {
            throw ConfigurationError(field: "method", value: "'\(name)'", reason: "unknown; known: \(MethodName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = method
    }
}

public enum OptimizerName: String, CaseIterable { case lars, sgd, adamw }

/// A value out of range in a configuration, named by its field.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let field: String, value: String, reason: String
    public init(field: String, value: String, reason: String) { self.field = field; self.value = value; self.reason = reason }
    public var description: String { "invalid \(field) \(value): \(reason)" }
}

/// Everything one training cell needs: method, network, loss, optimiser and schedule,
/// augmentation, data and budget, seed. One call of `train` runs one of these.
/// Deliberate faults that prove the harness notices them.
public enum FaultInjection: Equatable, CustomStringConvertible {
    /// Every parameter gradient has its sign flipped before the optimiser step: a sign error in
    /// a loss gradient, the kind of bug the accuracy regression must catch.
    case negatedGradients
    /// The loss reads NaN from this step on: a run that diverges mid-cell.
    case nanLossFromStep(Int)
    /// BYOL's and MoCo v3's momentum target is overwritten with the online weights after every
    /// step (τ = 0, no slow target): a broken EMA. At the `ci` scale BYOL survives it, as
    /// SimSiam's predictor does without a momentum encoder (README, "Accuracy regression").
    case targetCopiesOnline
    /// BYOL's loss gradient also flows through the target branch into the online weights (the
    /// stop-gradient removed), the bug that lets BYOL and SimSiam collapse.
    case targetReceivesGradients

    public init?(parsing text: String) {
        if text == "negate-gradients" { self = .negatedGradients; return }
        if text == "target-copies-online" { self = .targetCopiesOnline; return }
        if text == "target-receives-gradients" { self = .targetReceivesGradients; return }
        if text.hasPrefix("nan-loss-at-"), let step = Int(text.dropFirst("nan-loss-at-".count)), step >= 0 {
            self = .nanLossFromStep(step); return
        }
        return nil
    }
    public var description: String {
        switch self {
        case .negatedGradients: return "negate-gradients"
        case .nanLossFromStep(let s): return "nan-loss-at-\(s)"
        case .targetCopiesOnline: return "target-copies-online"
        case .targetReceivesGradients: return "target-receives-gradients"
        }
    }
}

public struct CellConfiguration: Equatable {
    public var method: MethodName = .barlowTwins
    /// ResNet-18 width multiplier (64 = the standard network).
    public var backboneWidth: Int = 16
    public var barlowTwins = BarlowTwinsConfiguration()
    public var byol = BYOLConfiguration()
    public var simclr = SimCLRConfiguration()
    public var swav = SwAVConfiguration()
    public var mocoV3 = MoCoV3Configuration()
    /// SDMP's mixing strategies (used by `sdmp`; `moco-v3` is the same without them).
    public var mixing = MixingConfiguration()
    public var batchSize: Int = 256
    public var epochs: Int = 10
    /// Use the first `trainImages` training images (nil: all of them).
    public var trainImages: Int? = 20000
    /// Evaluate on the first `testImages` test images (nil: all of them).
    public var testImages: Int? = nil
    public var seed: UInt64 = 0
    public var optimizer: OptimizerName = .lars
    /// Learning rate at batch 256; scaled linearly with the batch size.
    public var baseLearningRate: Float = 0.3
    public var weightDecay: Float = 1e-4
    public var momentum: Float = 0.9
    /// LARS trust coefficient η.
    public var trustCoefficient: Float = 0.02
    public var clipTrustRatio: Bool = false
    public var warmupEpochs: Int = 1
    /// The two views' augmentation (the method's own recipe unless `--augmentation` says otherwise).
    public var augmentation: AugmentationPreset = .barlowTwins
    public var augmentationA: AugmentationRecipe { AugmentationRecipe.views(augmentation).0 }
    public var augmentationB: AugmentationRecipe { AugmentationRecipe.views(augmentation).1 }
    public var knnNeighbours: Int = 200
    public var knnTemperature: Float = 0.1
    public var evaluateAtInitialisation = true
    /// Where to keep the cell's checkpoint (written after every epoch, removed when the cell
    /// ends; an existing one of the same configuration is resumed). nil: no checkpoint.
    public var checkpointPath: String? = nil
    /// Refuse configurations whose estimated memory exceeds this (nil: the machine's available memory).
    public var memoryLimitBytes: Int? = nil
    /// Also train a linear probe on the frozen features after the last epoch.
    public var linearProbe = true
    /// A deliberate fault, for the tests and the regression check's sabotage run; nil in
    /// every real run.
    public var faultInjection: FaultInjection? = nil

    public init() {}

    /// The CIFAR recipe of `method` (solo-learn's, PAPERS.md), scaled down to the defaults above:
    /// Barlow Twins LARS lr 0.3, wd 1e-4; BYOL lr 1.0, wd 1e-5; SimCLR lr 0.4, wd 1e-5 with the
    /// stronger SimCLR augmentation.
    public init(method: MethodName) {
        self.method = method
        // solo-learn's CIFAR recipes clip LARS's adaptive rate at the global rate (clip_lr, PAPERS.md);
        // Barlow Twins keeps the official, unclipped LARS of its paper and of the PyTorch peer.
        clipTrustRatio = method != .barlowTwins
        switch method {
        case .barlowTwins: break
        case .byol: baseLearningRate = 1.0; weightDecay = 1e-5
        case .simclr:
            baseLearningRate = 0.4; weightDecay = 1e-5
            augmentation = .simclr
        case .swav:
            baseLearningRate = 0.6; weightDecay = 1e-6
            augmentation = .simclr
        case .mocoV3, .sdmp:
            baseLearningRate = 0.3; weightDecay = 1e-6
        }
    }

    /// The projector's layer widths as the CSV shows them.
    public var projectorDescription: String {
        switch method {
        case .barlowTwins: return barlowTwins.projectorDimensions.map(String.init).joined(separator: "-")
        case .byol: return "\(byol.projectorHiddenDimensions)-\(byol.projectionDimensions)"
        case .simclr: return "\(simclr.projectorHiddenDimensions)-\(simclr.projectionDimensions)"
        case .swav: return "\(swav.projectorHiddenDimensions)-\(swav.projectionDimensions)"
        case .mocoV3, .sdmp: return "\(mocoV3.projectorHiddenDimensions)-\(mocoV3.projectionDimensions)"
        }
    }

    /// Narrower heads for the small scales: every hidden layer `hidden` wide and the output
    /// `projection` wide, for every method (Barlow Twins: hidden-hidden-hidden, its width is its output).
    public mutating func setHeadWidths(hidden: Int, projection: Int) {
        barlowTwins.projectorDimensions = [hidden, hidden, hidden]
        byol.projectorHiddenDimensions = hidden; byol.predictorHiddenDimensions = hidden; byol.projectionDimensions = projection
        simclr.projectorHiddenDimensions = hidden; simclr.projectionDimensions = projection
        swav.projectorHiddenDimensions = hidden; swav.projectionDimensions = projection
        mocoV3.projectorHiddenDimensions = hidden; mocoV3.predictorHiddenDimensions = hidden; mocoV3.projectionDimensions = projection
    }

    /// The projector's output width D (the axis of the width ablation).
    public var projectorWidth: Int {
        switch method {
        case .barlowTwins: return barlowTwins.projectorDimensions.last ?? 0
        case .byol: return byol.projectionDimensions
        case .simclr: return simclr.projectionDimensions
        case .swav: return swav.projectionDimensions
        case .mocoV3, .sdmp: return mocoV3.projectionDimensions
        }
    }

    /// Sets the projector's output width D the way each paper's width ablation varies it:
    /// every layer of the Barlow Twins projector (D-D-D), the output of BYOL's and SimCLR's.
    public mutating func setProjectorWidth(_ d: Int) {
        barlowTwins.projectorDimensions = [d, d, d]
        byol.projectionDimensions = d
        simclr.projectionDimensions = d
        swav.projectionDimensions = d
        mocoV3.projectionDimensions = d
    }

    /// What a checkpoint must match: the configuration without the fields that do not change
    /// training (evaluation switches, memory limit, checkpoint path).
    public var trainingFingerprint: String {
        var c = self
        c.checkpointPath = nil; c.memoryLimitBytes = nil; c.evaluateAtInitialisation = true; c.linearProbe = true
        return String(describing: c)
    }

    /// The peak learning rate: base × batch / 256.
    public var learningRate: Float { baseLearningRate * Float(batchSize) / 256 }

    /// Checks every field against its range and the data at hand.
    public func validate(availableTrainImages: Int? = nil) throws {
        func fail(_ field: String, _ value: Any, _ reason: String) -> ConfigurationError {
            ConfigurationError(field: field, value: "\(value)", reason: reason)
        }
        if backboneWidth <= 0 { throw fail("width", backboneWidth, "must be a positive integer") }
        if batchSize <= 1 { throw fail("batch size", batchSize, "must be at least 2 (batch statistics need two images)") }
        if epochs <= 0 { throw fail("epochs", epochs, "must be a positive integer") }
        if let t = trainImages, t <= 0 { throw fail("train images", t, "must be a positive integer") }
        if let t = testImages, t <= 0 { throw fail("test images", t, "must be a positive integer") }
        if barlowTwins.projectorDimensions.isEmpty || barlowTwins.projectorDimensions.contains(where: { $0 <= 0 }) {
            throw fail("projector", barlowTwins.projectorDimensions, "every layer width must be a positive integer")
        }
        if !(barlowTwins.offDiagonalWeight >= 0) { throw fail("lambda", barlowTwins.offDiagonalWeight, "must be 0 or more") }
        if !(barlowTwins.lossScale > 0) { throw fail("loss scale", barlowTwins.lossScale, "must be positive") }
        if !(baseLearningRate > 0) { throw fail("learning rate", baseLearningRate, "must be positive") }
        if !(weightDecay >= 0) { throw fail("weight decay", weightDecay, "must be 0 or more") }
        if warmupEpochs < 0 { throw fail("warmup epochs", warmupEpochs, "must be 0 or more") }
        if knnNeighbours <= 0 { throw fail("knn k", knnNeighbours, "must be a positive integer") }
        if byol.projectionDimensions <= 0 || byol.projectorHiddenDimensions <= 0 || byol.predictorHiddenDimensions <= 0 {
            throw fail("projector", byol.projectionDimensions, "every layer width must be a positive integer")
        }
        if !(byol.baseMomentum >= 0 && byol.baseMomentum <= 1) { throw fail("base momentum", byol.baseMomentum, "must be in [0, 1]") }
        if simclr.projectionDimensions <= 0 || simclr.projectorHiddenDimensions <= 0 {
            throw fail("projector", simclr.projectionDimensions, "every layer width must be a positive integer")
        }
        if !(simclr.temperature > 0) { throw fail("temperature", simclr.temperature, "must be positive") }
        if swav.projectionDimensions <= 0 || swav.projectorHiddenDimensions <= 0 || swav.prototypeCount <= 0 {
            throw fail("projector", swav.projectionDimensions, "every layer width and the prototype count must be positive integers")
        }
        if swav.smallCrops.count < 0 || swav.smallCrops.size < 8 || swav.smallCrops.size > 32 {
            throw fail("small crops", "\(swav.smallCrops.count)×\(swav.smallCrops.size)", "need a count ≥ 0 and a size in 8…32")
        }
        if swav.queueLength < 0 { throw fail("queue length", swav.queueLength, "must be 0 or more") }
        if mocoV3.projectionDimensions <= 0 || mocoV3.projectorHiddenDimensions <= 0 || mocoV3.predictorHiddenDimensions <= 0 {
            throw fail("projector", mocoV3.projectionDimensions, "every layer width must be a positive integer")
        }
        if !(mocoV3.temperature > 0) { throw fail("temperature", mocoV3.temperature, "must be positive") }
        if method == .sdmp && mixing.strategies.isEmpty { throw fail("mixing", "none", "sdmp needs at least one strategy (moco-v3 is SDMP without mixing)") }
        if !(mixing.alpha > 0) { throw fail("mixing alpha", mixing.alpha, "must be positive") }
        if let available = availableTrainImages {
            let used = min(trainImages ?? available, available)
            if let t = trainImages, t > available {
                throw fail("train images", t, "only \(available) training images are in the data folder")
            }
            if batchSize > used { throw fail("batch size", batchSize, "is larger than the \(used) training images") }
        }
    }
}

/// What one cell produced.
public struct CellResult {
    public enum Status: Equatable { case ok, diverged(step: Int), interrupted(afterEpoch: Int) }
    public var status: Status = .ok
    public var knnTop1: Double = .nan
    public var knnTop1AtInitialisation: Double = .nan
    public var linearTop1: Double = .nan
    public var finalLoss: Float = .nan
    /// The collapse figures at the final evaluation.
    public var health = Health()
    /// The loss of every step, in order.
    public var losses: [Float] = []
    /// Training time only (augmentation included, evaluation excluded).
    public var trainingSeconds: Double = 0
    public var imagesPerSecond: Double = 0
    public var totalSeconds: Double = 0
    /// Why the cell could not run (a configuration error, memory), when it could not.
    public var failure: String? = nil
    public var trainImages = 0, testImages = 0
    public init() {}
}
