import XCTest
@testable import Training
import Datasets
import Methods
import NN
import Tensors

/// `traceSteps` must record what `train` does, step by step: `make parity` compares these
/// records with PyTorch, so a record that drifts from the real run would prove nothing.
final class StepTraceTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func images(_ n: Int, seed: UInt64) -> LabeledImages {
        var rng = RandomGenerator(seed: seed)
        return LabeledImages(pixels: (0 ..< n * 3072).map { _ in UInt8(rng.int(below: 256)) }, labels: (0 ..< n).map { Int32($0 % 10) }, classCount: 10)
    }

    func cell(_ method: any MethodConfiguration) -> CellConfiguration {
        var c = CellConfiguration(method: method)
        c.method.setHeadWidths(hidden: 16, projection: 8)
        c.backboneWidth = 2; c.batchSize = 8; c.trainImages = 8; c.testImages = 8; c.epochs = 3
        c.warmupEpochs = 0; c.knnNeighbours = 3; c.evaluateAtInitialisation = false; c.linearProbe = false
        return c
    }

    func testTheTraceFollowsTheRunStepByStep() throws {
        let train = images(8, seed: 1), test = images(8, seed: 2)
        let c = cell(BYOLConfiguration())
        let trace = try traceSteps(c, train: train, test: test)
        // the same losses as an untraced run
        XCTAssertEqual(trace.steps.map(\.loss), try Training.train(c, train: train, test: test).losses)
        XCTAssertEqual(trace.steps.count, 3)
        XCTAssertEqual(trace.totalSteps, 3)
        // the initial weights are the method as built from the seed
        var rng = RandomGenerator(seed: c.seed, stream: 0xC0FFEE)
        let built = c.method.makeMethod(backboneWidth: 2, rng: &rng)
        XCTAssertEqual(trace.parameterNames, built.parameters.map(\.name))
        XCTAssertEqual(trace.initialParameters.map(\.array), built.parameters.map(\.value.array))
        XCTAssertEqual(trace.initialTarget.count, built.momentumTarget!.target.count)
        let schedule = WarmupCosineSchedule(baseLearningRate: c.learningRate, warmupSteps: 0, totalSteps: 3)
        var before = trace.initialParameters, velocity = before.map { Tensor(shape: $0.shape) }
        for (k, step) in trace.steps.enumerated() {
            XCTAssertEqual(step.learningRate, schedule.learningRate(atStep: k))
            XCTAssertEqual(step.views.shape, [16, 32, 32, 3])
            XCTAssertEqual(step.gradients.count, before.count)
            XCTAssertEqual(step.optimizerState.count, before.count)
            // the recorded parameters are the optimiser's update of the recorded gradients: for a
            // batch-norm parameter (no LARS), v ← 0.9v + g and p ← p − lr·v
            for i in before.indices where trace.parameterNames[i].hasPrefix("bn.") {
                for j in 0 ..< before[i].count {
                    velocity[i][j] = 0.9 * velocity[i][j] + step.gradients[i][j]
                    XCTAssertEqual(step.optimizerState[i][j], velocity[i][j], accuracy: 1e-6)
                    XCTAssertEqual(step.parameters[i][j], before[i][j] - step.learningRate * velocity[i][j], accuracy: 1e-6)
                }
            }
            XCTAssertNotEqual(step.parameters.map(\.array), before.map(\.array))
            XCTAssertEqual(step.target.count, trace.initialTarget.count)
            before = step.parameters
        }
        // every step's views are new augmentations of the same images
        XCTAssertNotEqual(trace.steps[0].views.array, trace.steps[1].views.array)
    }

    func testTheWrittenTraceIndexesEveryTensor() throws {
        let trace = try traceSteps(cell(SDMPConfiguration()), train: images(8, seed: 1), test: images(8, seed: 2))
        let folder = NSTemporaryDirectory() + "sslbench-trace-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try trace.write(to: folder)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/trace.json"))) as! [String: Any]
        let index = json["tensors"] as! [[String: Any]]
        let floats = index.reduce(0) { $0 + ($1["shape"] as! [Int]).reduce(1, *) }
        let size = try FileManager.default.attributesOfItem(atPath: folder + "/tensors.bin")[.size] as! Int
        XCTAssertEqual(size, 4 * floats)
        let keys = Set(index.map { $0["key"] as! String })
        let p = trace.parameterNames.count
        XCTAssertTrue(keys.contains("step/2/gradient/\(p - 1)") && keys.contains("step/2/optimizer/\(p - 1)") && keys.contains("step/2/target/0"))
        XCTAssertEqual(json["method"] as? String, "sdmp")
        // SDMP's mixing of every step is recorded with its λ per image
        let steps = json["steps"] as! [[String: Any]]
        XCTAssertEqual(steps.count, 3)
        for s in steps { XCTAssertEqual(((s["mix"] as! [String: Any])["lambdas"] as! [Double]).count, 8) }
        let settings = json["method_settings"] as! [String: Any]
        XCTAssertEqual((settings["mixing"] as! [String: Any])["source_loss_weight"] as? Double, 0.5)
        // the first view tensor is step 0's views, byte for byte
        let views = index.first { $0["key"] as! String == "step/0/views" }!
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/tensors.bin"))
        let offset = views["offset"] as! Int
        let first = data.subdata(in: 4 * offset ..< 4 * offset + 16).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(first, Array(trace.steps[0].views.array.prefix(4)))
    }

    /// Each step records every ReLU of its forward pass in call order: for Barlow Twins the stem,
    /// each block's first batch norm and its output, then the projector's hidden layers; one bit
    /// per unit, with a share of units passing, and the recorder is off again after the step.
    func testTheTraceRecordsEveryReLUOfTheStep() throws {
        let c = cell(BarlowTwinsConfiguration())
        let trace = try traceSteps(c, train: images(8, seed: 1), test: images(8, seed: 2))
        XCTAssertNil(ReLURecorder.record)
        var rng = RandomGenerator(seed: c.seed, stream: 0xC0FFEE)
        let built = c.method.makeMethod(backboneWidth: 2, rng: &rng)
        let blocks = built.encoder.residualBlocks.count
        let hidden = built.projector.layers.filter { ($0 as? BatchNorm)?.fusedReLU == true || $0 is ReLU }.count
        XCTAssertEqual(blocks, 8); XCTAssertGreaterThan(hidden, 0)
        for step in trace.steps {
            XCTAssertEqual(step.reluCalls.count, 1 + 2 * blocks + hidden)
            let stem = step.reluCalls[0]
            XCTAssertEqual(stem.shape.reduce(1, *), 16 * 32 * 32 * 2)
            for call in step.reluCalls {
                let units = call.shape.reduce(1, *)
                XCTAssertEqual(call.positive.count, (units + 7) / 8)
                let passing = call.positive.reduce(0) { $0 + $1.nonzeroBitCount }
                XCTAssertTrue(passing > 0 && passing < units, "\(passing) of \(units) units pass")
            }
        }
    }
}
