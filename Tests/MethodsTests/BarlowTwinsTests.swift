import XCTest
@testable import Methods
import NN
import Tensors

final class BarlowTwinsTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func testStepLowersTheLossOnAFixedBatch() {
        var rng = RandomGenerator(seed: 4)
        var config = BarlowTwinsConfiguration()
        config.projectorDimensions = [32, 32, 32]
        let model = BarlowTwins(configuration: config, backboneWidth: 4, rng: &rng)
        let views = GradientCheck.random([16, 16, 16, 3], rng: &rng)
        let optimizer = LARS(weightDecay: 0, trustCoefficient: 0.02)
        let first = model.trainingStep(views: views)
        for _ in 0 ..< 10 { optimizer.step(model.parameters, learningRate: 0.5); _ = model.trainingStep(views: views) }
        let last = model.trainingStep(views: views)
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
        let before = model.trainingStep(views: views)
        // permute the pairs consistently in both views: the loss is a sum over the batch
        let swapped = Tensor(shape: views.shape)
        let image = 8 * 8 * 3
        let order = [1, 0, 3, 2]
        for v in 0 ..< 2 { for i in 0 ..< 4 {
            (swapped.data + (v * 4 + i) * image).update(from: views.data + (v * 4 + order[i]) * image, count: image)
        } }
        let after = model.trainingStep(views: swapped)
        XCTAssertEqual(before, after, accuracy: 1e-4 * abs(before))
    }
}
