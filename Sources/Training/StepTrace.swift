import Foundation
import Datasets
import Methods
import NN
import Tensors

/// The first steps of a training cell as `train` runs them, recorded for an independent
/// implementation to replay (`sslbench parity-export`, `Benchmarks/parity.py`): the initial
/// parameters and momentum target, and for every step the augmented views, the learning rate,
/// SDMP's mixing, the loss, each parameter's gradient, the parameters after the optimiser and
/// the target after its EMA, and which units of each ReLU of the step passed the gradient.
public struct StepTrace {
    public struct Step {
        public var epoch: Int
        public var learningRate: Float
        /// [2N, 32, 32, 3]: view A of the batch, then view B.
        public var views: Tensor
        public var mix: SDMPMix?
        public var loss: Float
        /// ∂L/∂p of every parameter, in `parameterNames` order.
        public var gradients: [Tensor]
        /// The parameters after the optimiser step.
        public var parameters: [Tensor]
        /// The optimiser's state after the step (LARS and SGD: one velocity per parameter).
        public var optimizerState: [Tensor]
        /// The momentum target after its update (empty without one).
        public var target: [Tensor]
        /// Every ReLU of the step's forward passes, in call order (`ReLURecorder`): its output's
        /// shape (our layout) and one bit per unit, set where the output is positive.
        public var reluCalls: [(shape: [Int], positive: [UInt8])] = []
    }
    public var configuration: CellConfiguration
    public var parameterNames: [String] = []
    public var initialParameters: [Tensor] = []
    public var initialTarget: [Tensor] = []
    public var steps: [Step] = []
    public var totalSteps = 0
}

/// Runs `configuration` through `train` and records every step (see `StepTrace`). The cell
/// should be short: every step's tensors are kept in memory.
public func traceSteps(_ configuration: CellConfiguration, train trainSet: LabeledImages, test testSet: LabeledImages) throws -> StepTrace {
    var trace = StepTrace(configuration: configuration)
    let used = min(configuration.trainImages ?? trainSet.count, trainSet.count)
    let stepsPerEpoch = used / configuration.batchSize
    trace.totalSteps = stepsPerEpoch * configuration.epochs
    let schedule = WarmupCosineSchedule(baseLearningRate: configuration.learningRate,
                                        warmupSteps: stepsPerEpoch * configuration.warmupEpochs, totalSteps: trace.totalSteps)
    var recorder: StepRecorder?
    _ = try train(configuration, train: trainSet, test: testSet, wrapMethod: { method in
        let r = StepRecorder(method, schedule: schedule)
        recorder = r
        return r
    }, observeOptimizer: { optimizer in recorder?.optimizer = optimizer })
    guard let r = recorder else { return trace }
    trace.parameterNames = r.parameters.map(\.name)
    trace.initialParameters = r.initialParameters
    trace.initialTarget = r.initialTarget
    trace.steps = r.steps
    return trace
}

/// A method that runs another one and copies what each step reads and writes.
final class StepRecorder: SelfSupervisedMethod {
    let inner: SelfSupervisedMethod
    let schedule: WarmupCosineSchedule
    var optimizer: Optimizer?
    var initialParameters: [Tensor] = [], initialTarget: [Tensor] = []
    var steps: [StepTrace.Step] = []

    init(_ inner: SelfSupervisedMethod, schedule: WarmupCosineSchedule) {
        self.inner = inner; self.schedule = schedule
        initialParameters = inner.parameters.map { $0.value.copy() }
        initialTarget = inner.momentumTarget?.target.map { $0.value.copy() } ?? []
    }

    var encoder: ResNet18 { inner.encoder }
    var projector: Sequential { inner.projector }
    var parameters: [Parameter] { inner.parameters }
    var smallCrops: SmallCropPlan { inner.smallCrops }
    var momentumTarget: (online: [Parameter], target: [Parameter])? { inner.momentumTarget }
    var extraStateTensors: [Tensor] { inner.extraStateTensors }

    func trainingStep(views: Tensor, smallCrops: Tensor?, context: StepContext) -> Float {
        precondition(smallCrops == nil, "parity traces do not cover multi-crop")
        let copiedViews = views.copy()
        var reluCalls: [(shape: [Int], positive: [UInt8])] = []
        ReLURecorder.record = { output in
            var bits = [UInt8](repeating: 0, count: (output.count + 7) / 8)
            for i in 0 ..< output.count where output[i] > 0 { bits[i >> 3] |= 1 << UInt8(i & 7) }
            reluCalls.append((output.shape, bits))
        }
        let loss = inner.trainingStep(views: views, smallCrops: smallCrops, context: context)
        ReLURecorder.record = nil
        steps.append(StepTrace.Step(epoch: context.epoch, learningRate: schedule.learningRate(atStep: context.step),
                                    views: copiedViews, mix: (inner as? MoCoV3)?.lastMix, loss: loss,
                                    gradients: inner.parameters.map { $0.grad.copy() }, parameters: [], optimizerState: [], target: [],
                                    reluCalls: reluCalls))
        return loss
    }

    func afterOptimizerStep(context: StepContext) {
        steps[steps.count - 1].parameters = inner.parameters.map { $0.value.copy() }
        steps[steps.count - 1].optimizerState = optimizer?.stateTensors(for: inner.parameters).map { $0.copy() } ?? []
        inner.afterOptimizerStep(context: context)
        steps[steps.count - 1].target = inner.momentumTarget?.target.map { $0.value.copy() } ?? []
    }
}

extension StepTrace {
    /// Writes `trace.json` (the cell's settings, the method's `referenceSettings`, the steps'
    /// scalars and an index of the tensors), `tensors.bin` (every tensor as little-endian
    /// float32, in the index's order) and `relu.bin` (each step's ReLU calls, one bit per unit
    /// from the lowest bit of each byte up, at the byte offsets of the steps' `relu` lists) into
    /// `folder`, created when missing.
    ///
    /// Layouts are ours and named in the index: convolution weights [k, k, Cin, Cout], linear
    /// weights [in, out], views [N, H, W, C] (NHWC).
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var blob = Data()
        var index: [[String: Any]] = []
        func add(_ key: String, _ t: Tensor) {
            index.append(["key": key, "shape": t.shape, "offset": blob.count / 4])
            t.data.withMemoryRebound(to: UInt8.self, capacity: t.count * 4) { blob.append($0, count: t.count * 4) }
        }
        for (i, t) in initialParameters.enumerated() { add("initial/parameter/\(i)", t) }
        for (i, t) in initialTarget.enumerated() { add("initial/target/\(i)", t) }
        var stepRecords: [[String: Any]] = []
        var reluBlob = Data()
        for (k, s) in steps.enumerated() {
            add("step/\(k)/views", s.views)
            for (i, t) in s.gradients.enumerated() { add("step/\(k)/gradient/\(i)", t) }
            for (i, t) in s.parameters.enumerated() { add("step/\(k)/parameter/\(i)", t) }
            for (i, t) in s.target.enumerated() { add("step/\(k)/target/\(i)", t) }
            for (i, t) in s.optimizerState.enumerated() { add("step/\(k)/optimizer/\(i)", t) }
            var record: [String: Any] = ["epoch": s.epoch, "learning_rate": Double(s.learningRate), "loss": Double(s.loss)]
            record["relu"] = s.reluCalls.map { call -> [String: Any] in
                defer { reluBlob.append(contentsOf: call.positive) }
                return ["shape": call.shape, "offset": reluBlob.count]
            }
            if let m = s.mix {
                record["mix"] = ["strategy": m.queries.strategy.rawValue, "lambdas": m.queries.lambdas.map(Double.init),
                                 "boxes": m.queries.boxes.map { [$0.top, $0.left, $0.height, $0.width] },
                                 "key_boxes": m.keys.boxes.map { [$0.top, $0.left, $0.height, $0.width] },
                                 "mixed_view": m.mixedView] as [String: Any]
            }
            stepRecords.append(record)
        }
        let c = configuration
        let parameters: [[String: Any]] = zip(parameterNames, initialParameters).map { ["name": $0.0, "shape": $0.1.shape] }
        let document: [String: Any] = [
            "method": c.method.name,
            "method_settings": c.method.referenceSettings,
            "backbone_width": c.backboneWidth, "batch_size": c.batchSize, "seed": Int(c.seed),
            "optimizer": ["name": c.optimizer.rawValue, "momentum": Double(c.momentum), "weight_decay": Double(c.weightDecay),
                          "trust_coefficient": Double(c.trustCoefficient), "clip_trust_ratio": c.clipTrustRatio,
                          "epsilon": LARS.epsilon] as [String: Any],
            "total_steps": totalSteps,
            "parameters": parameters,
            "target_parameter_count": initialTarget.count,
            "steps": stepRecords,
            "tensors": index,
            "layouts": ["conv": "[k, k, Cin, Cout]", "linear": "[in, out]", "views": "[N, H, W, C]"],
        ]
        let json = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: URL(fileURLWithPath: folder + "/trace.json"))
        try blob.write(to: URL(fileURLWithPath: folder + "/tensors.bin"))
        try reluBlob.write(to: URL(fileURLWithPath: folder + "/relu.bin"))
    }
}
