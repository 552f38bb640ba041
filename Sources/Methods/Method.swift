import NN
import Tensors

/// Where a training step stands, for schedules inside a method (BYOL's τ, SwAV's frozen
/// prototypes) and for its seeded random choices (SDMP's mixing).
public struct StepContext {
    public var step: Int, totalSteps: Int, epoch: Int, stepsPerEpoch: Int, seed: UInt64
    public init(step: Int, totalSteps: Int, epoch: Int, stepsPerEpoch: Int, seed: UInt64) {
        self.step = step; self.totalSteps = totalSteps; self.epoch = epoch; self.stepsPerEpoch = stepsPerEpoch; self.seed = seed
    }
    /// Fraction of training done, in [0, 1].
    public var progress: Double { Double(step) / Double(max(totalSteps, 1)) }
}

/// A self-supervised method on the shared kernel: it owns its encoder and heads, runs forward,
/// loss and backward on a batch of views, and leaves the optimiser step to the kernel.
public protocol SelfSupervisedMethod: AnyObject {
    /// The backbone that evaluation freezes (kNN, linear probe).
    var encoder: ResNet18 { get }
    /// The head that maps backbone features to the embedding the loss sees (the online
    /// branch's projector); the health figures read its output.
    var projector: Sequential { get }
    /// What the optimiser updates (a momentum target is not in it).
    var parameters: [Parameter] { get }
    /// Extra small crops per image that the method wants beside the two views (SwAV's
    /// multi-crop); none by default.
    var smallCrops: SmallCropPlan { get }
    /// Zeroes the gradients, runs one step on `views` ([2N, 32, 32, 3]: view A of the N images,
    /// then view B of the same images) and, when the plan asks for them, `smallCrops`
    /// ([V·N, s, s, 3]: crop 1 of every image, then crop 2, …), and returns the loss.
    func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float
    /// Called after the optimiser step (an EMA target moves here).
    func afterOptimizerStep(context: StepContext)
    /// A momentum target's parameters and the online ones it follows, pairwise in order; nil
    /// for a method without one.
    var momentumTarget: (online: [Parameter], target: [Parameter])? { get }
    /// Everything besides `parameters` and the optimiser that a resumed run needs to continue
    /// exactly: batch-norm running statistics, a momentum target, a queue.
    var extraStateTensors: [Tensor] { get }
}

public extension SelfSupervisedMethod {
    func afterOptimizerStep(context: StepContext) {}
    var momentumTarget: (online: [Parameter], target: [Parameter])? { nil }
    /// The running statistics of the encoder's batch norms; methods with more add theirs.
    var extraStateTensors: [Tensor] { runningStatistics(encoder.batchNorms) }
    var smallCrops: SmallCropPlan { SmallCropPlan() }
    func trainingStep(views: Tensor, context: StepContext) -> Float { trainingStep(views: views, smallCrops: nil, context: context) }
}

/// SwAV's multi-crop: `count` extra crops of `size`×`size` pixels per image, taken with the
/// random-resized-crop area range `scale` (Caron et al. 2020, §3.2).
public struct SmallCropPlan: Equatable {
    public var count = 0, size = 16
    public var scaleLow: Float = 0.05, scaleHigh: Float = 0.14
    public init(count: Int = 0, size: Int = 16) { self.count = count; self.size = size }
}

/// The running mean and variance of each batch norm, in order.
public func runningStatistics(_ norms: [BatchNorm]) -> [Tensor] { norms.flatMap { [$0.runningMean, $0.runningVariance] } }

extension Sequential {
    /// The batch norms of the sequence, in order.
    public var batchNorms: [BatchNorm] { layers.compactMap { $0 as? BatchNorm } }
}
