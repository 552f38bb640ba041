import XCTest
@testable import Methods
import NN
import Tensors

final class BarlowTwinsTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }
    let ctx = StepContext(step: 0, totalSteps: 1, epoch: 0, stepsPerEpoch: 1, seed: 0)

    func testEveryVariantTrainsAStep() {
        for variant in BarlowTwinsVariant.allCases {
            var rng = RandomGenerator(seed: 7)
            var config = BarlowTwinsConfiguration()
            config.projectorDimensions = [16, 16]
            variant.apply(to: &config)
            let model = BarlowTwins(configuration: config, backboneWidth: 2, rng: &rng)
            XCTAssertEqual(model.predictor != nil, config.predictor)
            let loss = model.trainingStep(views: GradientCheck.random([8, 8, 8, 3], rng: &rng), context: ctx)
            XCTAssertTrue(loss.isFinite, "\(variant): \(loss)")
        }
    }

    func testStopGradientLeavesOnlyViewAsGradient() {
        // With stop-gradient, the encoder's gradient depends on view B only through the loss's
        // value, not through B's own backward: the gradient equals that of a run where B's
        // branch is held fixed, i.e. half of the symmetric gradient when the views coincide.
        var rng = RandomGenerator(seed: 8)
        var config = BarlowTwinsConfiguration(); config.projectorDimensions = [16, 16]
        let symmetric = BarlowTwins(configuration: config, backboneWidth: 2, rng: &rng)
        config.stopGradient = true
        var rng2 = RandomGenerator(seed: 8)
        let stopped = BarlowTwins(configuration: config, backboneWidth: 2, rng: &rng2)
        let half = GradientCheck.random([4, 8, 8, 3], rng: &rng)
        let views = Tensor(shape: [8, 8, 8, 3])
        views.placeRows(half, at: 0); views.placeRows(half, at: 4)
        _ = symmetric.trainingStep(views: views, context: ctx); _ = stopped.trainingStep(views: views, context: ctx)
        let g1 = symmetric.encoder.parameters[0].grad.array, g2 = stopped.encoder.parameters[0].grad.array
        let scale = g1.map(abs).max()!
        for (a, b) in zip(g1, g2) { XCTAssertEqual(b, a / 2, accuracy: 1e-3 * scale) }
    }

    func testStepLowersTheLossOnAFixedBatch() {
        var rng = RandomGenerator(seed: 4)
        var config = BarlowTwinsConfiguration()
        config.projectorDimensions = [32, 32, 32]
        let model = BarlowTwins(configuration: config, backboneWidth: 4, rng: &rng)
        let views = GradientCheck.random([16, 16, 16, 3], rng: &rng)
        let optimizer = LARS(weightDecay: 0, trustCoefficient: 0.02)
        let first = model.trainingStep(views: views, context: ctx)
        for _ in 0 ..< 10 { optimizer.step(model.parameters, learningRate: 0.5); _ = model.trainingStep(views: views, context: ctx) }
        let last = model.trainingStep(views: views, context: ctx)
        XCTAssertLessThan(last, first * 0.9, "loss \(first) → \(last)")
    }

    func testEachViewIsNormalisedOverItsOwnImages() {
        // Swapping the images inside view B only must change nothing for view A's statistics:
        // the loss is symmetric in which image of a view comes first.
        var rng = RandomGenerator(seed: 5)
        var config = BarlowTwinsConfiguration()
        config.projectorDimensions = [16, 16]
        let model = BarlowTwins(configuration: config, backboneWidth: 2, rng: &rng)
        let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
        let before = model.trainingStep(views: views, context: ctx)
        // permute the pairs consistently in both views: the loss is a sum over the batch
        let swapped = Tensor(shape: views.shape)
        let image = 8 * 8 * 3
        let order = [1, 0, 3, 2]
        for v in 0 ..< 2 { for i in 0 ..< 4 {
            (swapped.data + (v * 4 + i) * image).update(from: views.data + (v * 4 + order[i]) * image, count: image)
        } }
        let after = model.trainingStep(views: swapped, context: ctx)
        XCTAssertEqual(before, after, accuracy: 1e-4 * abs(before))
    }
}
