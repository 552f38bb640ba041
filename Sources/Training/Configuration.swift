import Datasets
import Methods

/// The self-supervised methods the kernel can train.
public enum MethodName: String, CaseIterable {
    case barlowTwins = "barlow-twins"
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
public struct CellConfiguration: Equatable {
    public var method: MethodName = .barlowTwins
    /// ResNet-18 width multiplier (64 = the standard network).
    public var backboneWidth: Int = 16
    public var barlowTwins = BarlowTwinsConfiguration()
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
    public var augmentationA = AugmentationRecipe.barlowTwinsCIFAR(view: 0)
    public var augmentationB = AugmentationRecipe.barlowTwinsCIFAR(view: 1)
    public var knnNeighbours: Int = 200
    public var knnTemperature: Float = 0.1
    public var evaluateAtInitialisation = true

    public init() {}

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
    public enum Status: Equatable { case ok, diverged(step: Int) }
    public var status: Status = .ok
    public var knnTop1: Double = .nan
    public var knnTop1AtInitialisation: Double = .nan
    public var finalLoss: Float = .nan
    /// The loss of every step, in order.
    public var losses: [Float] = []
    /// Training time only (augmentation included, evaluation excluded).
    public var trainingSeconds: Double = 0
    public var imagesPerSecond: Double = 0
    public var totalSeconds: Double = 0
    public var trainImages = 0, testImages = 0
    public init() {}
}
