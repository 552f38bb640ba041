import XCTest
import Foundation
@testable import Methods
import NN
import Tensors

final class SwAVTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func testSinkhornCodesHaveTheRightMarginals() {
        var rng = RandomGenerator(seed: 1)
        let b = 32, k = 8
        let scores = GradientCheck.random([b, k], rng: &rng, uniform: (-1, 1))
        // with many iterations both marginals converge: rows sum to 1, columns to B/K
        let converged = sinkhornCodes(scores: scores, epsilon: 0.05, iterations: 200)
        for i in 0 ..< b { XCTAssertEqual((0 ..< k).map { converged[i * k + $0] }.reduce(0, +), 1, accuracy: 1e-4) }
        for j in 0 ..< k { XCTAssertEqual((0 ..< b).map { converged[$0 * k + j] }.reduce(0, +), Float(b) / Float(k), accuracy: 1e-2) }
        // after 3 iterations (the paper's), the rows are exact (the last step normalises them)
        // and the columns are on their way to uniform: each iteration brings them closer
        func columnDeviation(_ q: Tensor) -> Float {
            (0 ..< k).map { j in abs((0 ..< b).map { q[$0 * k + j] }.reduce(0, +) - Float(b) / Float(k)) }.max()!
        }
        let codes = sinkhornCodes(scores: scores, epsilon: 0.05, iterations: 3)
        for i in 0 ..< b { XCTAssertEqual((0 ..< k).map { codes[i * k + $0] }.reduce(0, +), 1, accuracy: 1e-5) }
        XCTAssertTrue(codes.array.allSatisfy { $0 >= 0 })
        let deviations = [1, 3, 10, 50].map { columnDeviation(sinkhornCodes(scores: scores, epsilon: 0.05, iterations: $0)) }
        for (a, b) in zip(deviations, deviations.dropFirst()) { XCTAssertLessThan(b, a) }
    }

    func testSwappedPredictionValueAndGradient() {
        var rng = RandomGenerator(seed: 2)
        let scores = GradientCheck.random([6, 5], rng: &rng, uniform: (-1, 1))
        let codes = sinkhornCodes(scores: GradientCheck.random([6, 5], rng: &rng, uniform: (-1, 1)))
        let grad = Tensor(shape: [0])
        let value = swappedPredictionLoss(scores: scores, codes: codes, temperature: 0.1, gradient: grad)
        var expected = 0.0
        for i in 0 ..< 6 {
            let logits = (0 ..< 5).map { Double(scores[i * 5 + $0]) / 0.1 }
            let logSum = log(logits.map(exp).reduce(0, +))
            for j in 0 ..< 5 { expected -= Double(codes[i * 5 + j]) * (logits[j] - logSum) }
        }
        XCTAssertEqual(Double(value), expected / 6, accuracy: 1e-4)
        let idx = Array(0 ..< scores.count)
        let f = { Double(swappedPredictionLoss(scores: scores, codes: codes, temperature: 0.1, gradient: Tensor(shape: [0]))) }
        let numeric = GradientCheck.numerical(f, x: scores.data, indices: idx, epsilon: 1e-3, kinkTolerance: .infinity).map { $0! }
        XCTAssertLessThan(GradientCheck.relativeError(idx.map { Double(grad[$0]) }, numeric), 1e-2)
    }

    /// Prototypes: normalised every step, a gradient once training is past the frozen epochs,
    /// none before. (A finite-difference check of the whole step would move the codes too; the
    /// swapped prediction with fixed codes is checked above.)
    func testPrototypesAreNormalisedAndFrozenForTheFirstEpoch() {
        var rng = RandomGenerator(seed: 3)
        var config = SwAVConfiguration()
        config.projectorHiddenDimensions = 8; config.projectionDimensions = 6; config.prototypeCount = 10
        let swav = SwAV(configuration: config, backboneWidth: 2, rng: &rng)
        let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
        _ = swav.trainingStep(views: views, context: StepContext(step: 0, totalSteps: 2, epoch: 0, stepsPerEpoch: 1, seed: 0))
        for i in 0 ..< 10 {
            XCTAssertEqual((0 ..< 6).map { swav.prototypes.value[i * 6 + $0] * swav.prototypes.value[i * 6 + $0] }.reduce(0, +), 1, accuracy: 1e-5)
        }
        XCTAssertTrue(swav.prototypes.grad.array.allSatisfy { $0 == 0 })
        XCTAssertEqual(swav.lastCodes.shape, [8, 10])
        _ = swav.trainingStep(views: views, context: StepContext(step: 1, totalSteps: 2, epoch: 1, stepsPerEpoch: 1, seed: 0))
        XCTAssertTrue(swav.prototypes.grad.array.contains { $0 != 0 })
    }

    func testMultiCropAndQueueRun() {
        var rng = RandomGenerator(seed: 4)
        var config = SwAVConfiguration()
        config.projectorHiddenDimensions = 8; config.projectionDimensions = 6; config.prototypeCount = 10
        config.smallCrops = SmallCropPlan(count: 2, size: 16); config.queueLength = 16
        let swav = SwAV(configuration: config, backboneWidth: 2, rng: &rng)
        let views = GradientCheck.random([8, 32, 32, 3], rng: &rng), crops = GradientCheck.random([8, 16, 16, 3], rng: &rng)
        let context = StepContext(step: 0, totalSteps: 2, epoch: 1, stepsPerEpoch: 1, seed: 0)
        let first = swav.trainingStep(views: views, smallCrops: crops, context: context)
        let second = swav.trainingStep(views: views, smallCrops: crops, context: context)
        XCTAssertTrue(first.isFinite && second.isFinite)
        // with the queue filled, the codes of the same batch differ
        XCTAssertNotEqual(first, second)
    }
}
