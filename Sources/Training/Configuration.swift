import Datasets
import Eval
import Methods

public enum OptimizerName: String, CaseIterable { case lars, sgd, adamw }

/// Everything one training cell needs: the method with its own configuration, and what every
/// cell has: network width, data and budget, optimiser and schedule, augmentation, evaluation,
/// seed. One call of `train` runs one of these.
public struct CellConfiguration: Equatable {
    /// The method, with its heads, loss settings and options (`MethodConfiguration`).
    @ComparedMethod public var method: any MethodConfiguration
    /// ResNet-18 width multiplier (64 = the standard network).
    public var backboneWidth: Int = 16
    public var batchSize: Int = 256
    public var epochs: Int = 10
    /// Use the first `trainImages` training images (nil: all of them).
    public var trainImages: Int? = 20000
    /// Evaluate on the first `testImages` test images (nil: all of them).
    public var testImages: Int? = nil
    public var seed: UInt64 = 0
    public var optimizer: OptimizerName = .lars
    /// Learning rate at batch 256; scaled linearly with the batch size.
    public var baseLearningRate: Float
    public var weightDecay: Float
    public var momentum: Float = 0.9
    /// LARS trust coefficient η.
    public var trustCoefficient: Float = 0.02
    public var clipTrustRatio: Bool
    public var warmupEpochs: Int = 1
    /// The two views' augmentation.
    public var augmentation: AugmentationPreset
    /// Parts of the augmentation never applied to either view (the augmentation ablation).
    public var removedAugmentations: [AugmentationPart] = []
    public var augmentationA: AugmentationRecipe { AugmentationRecipe.views(augmentation).0.removing(removedAugmentations) }
    public var augmentationB: AugmentationRecipe { AugmentationRecipe.views(augmentation).1.removing(removedAugmentations) }
    /// The preset, followed by every removed part: "barlow-twins", "simclr -colour-jitter -grayscale".
    public var augmentationDescription: String {
        ([augmentation.rawValue] + AugmentationPart.allCases.filter(removedAugmentations.contains).map { "-" + $0.rawValue })
            .joined(separator: " ")
    }
    public var knnNeighbours: Int = 200
    public var knnTemperature: Float = 0.1
    public var evaluateAtInitialisation = true
    /// Where to keep the cell's checkpoint (written after every epoch, removed when the cell
    /// ends; an existing one of the same configuration is resumed). nil: no checkpoint.
    public var checkpointPath: String? = nil
    /// Refuse configurations whose estimated memory exceeds this (nil: the machine's available memory).
    public var memoryLimitBytes: Int? = nil
    /// Also train a linear probe on the frozen features, after the last epoch and (with
    /// `evaluateAtInitialisation`) at initialisation.
    public var linearProbe = true

    /// A cell of `method` with its own recipe (`MethodConfiguration.recipe`: learning rate,
    /// weight decay, LARS clipping, augmentation) and the defaults above.
    public init(method: any MethodConfiguration = BarlowTwinsConfiguration()) {
        self.method = method
        let recipe = method.recipe
        baseLearningRate = recipe.baseLearningRate; weightDecay = recipe.weightDecay
        clipTrustRatio = recipe.clipsTrustRatio; augmentation = recipe.augmentation
    }

    /// Applies `change` to the method's configuration when the cell trains a `M`; a cell of
    /// another method is left as it is.
    public mutating func ifMethod<M: MethodConfiguration>(_ type: M.Type, _ change: (inout M) throws -> Void) rethrows {
        guard var m = method as? M else { return }
        try change(&m)
        method = m
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

    /// Checks every field against its range and the data at hand, the method's own first.
    public func validate(availableTrainImages: Int? = nil) throws {
        func fail(_ field: String, _ value: Any, _ reason: String) -> ConfigurationError { ConfigurationError(field, value, reason) }
        if backboneWidth <= 0 { throw fail("width", backboneWidth, "must be a positive integer") }
        if batchSize <= 1 { throw fail("batch size", batchSize, "must be at least 2 (batch statistics need two images)") }
        if epochs <= 0 { throw fail("epochs", epochs, "must be a positive integer") }
        if let t = trainImages, t <= 0 { throw fail("train images", t, "must be a positive integer") }
        if let t = testImages, t <= 0 { throw fail("test images", t, "must be a positive integer") }
        try method.validate()
        if !(baseLearningRate > 0) { throw fail("learning rate", baseLearningRate, "must be positive") }
        if !(weightDecay >= 0) { throw fail("weight decay", weightDecay, "must be 0 or more") }
        if warmupEpochs < 0 { throw fail("warmup epochs", warmupEpochs, "must be 0 or more") }
        if knnNeighbours <= 0 { throw fail("knn k", knnNeighbours, "must be a positive integer") }
        if let available = availableTrainImages {
            let used = min(trainImages ?? available, available)
            if let t = trainImages, t > available {
                throw fail("train images", t, "only \(available) training images are in the data folder")
            }
            if batchSize > used { throw fail("batch size", batchSize, "is larger than the \(used) training images") }
        }
    }
}

/// Compares two method configurations by type and value, so that a cell stays `Equatable`.
@propertyWrapper
public struct ComparedMethod: Equatable {
    public var wrappedValue: any MethodConfiguration
    public init(wrappedValue: any MethodConfiguration) { self.wrappedValue = wrappedValue }
    public static func == (a: Self, b: Self) -> Bool { a.wrappedValue.isEqual(to: b.wrappedValue) }
}

/// What one cell produced.
public struct CellResult {
    public enum Status: Equatable { case ok, diverged(step: Int), interrupted(afterEpoch: Int) }
    public var status: Status = .ok
    public var knnTop1: Double = .nan
    public var knnTop1AtInitialisation: Double = .nan
    public var linearTop1: Double = .nan
    /// The linear probe's top-1 on the encoder at initialisation (NaN when the probe is off, or
    /// when the cell resumed from a checkpoint written before it was kept).
    public var linearTop1AtInitialisation: Double = .nan
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
