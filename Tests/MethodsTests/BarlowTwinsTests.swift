import XCTest
@testable import Methods
import NN
import Tensors

final class BarlowTwinsTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }
    let ctx = StepContext(step: 0, totalSteps: 1, epoch: 0, stepsPerEpoch: 1, seed: 0)

    /// Every variant of the ablations (Tables 5 and 6), in two parts.
    /// The value: the step returns the variant's objective (`BarlowTwinsReference`, in double
    /// precision, with the variant's normalisation, objective and weights) of its own
    /// embeddings, recomputed here from the encoder, projector and predictor.
    /// The step: the gradient it leaves is that of what the variant trains, J(θ) = L(branch A(θ),
    /// z_B(θ)), with z_B held at its value before the step under stop-gradient. One plain SGD
    /// step θ ← θ − lr·g, with lr set so that the first-order decrease lr·‖g‖² is 0.2% of |L|,
    /// must lower J by that amount within 10%.
    func testEveryVariantTrainsAStep() {
        let n = 8, d = 16
        for variant in BarlowTwinsVariant.allCases {
            var rng = RandomGenerator(seed: 7)
            var config = BarlowTwinsConfiguration()
            config.projectorDimensions = [d, d]
            variant.apply(to: &config)
            let model = BarlowTwins(configuration: config, backboneWidth: 2, rng: &rng)
            XCTAssertEqual(model.predictor != nil, config.predictor)
            let views = GradientCheck.random([2 * n, 8, 8, 3], rng: &rng)
            /// The embeddings of the two branches, from the networks directly.
            func branches() -> (a: [Double], b: [Double]) {
                let z = model.projector.forward(model.encoder.forward(views, training: true), training: true)
                let za = Tensor(shape: [n, d], values: Array(z.array[0 ..< n * d]))
                let b = z.array[n * d ..< 2 * n * d].map(Double.init)
                return ((model.predictor?.forward(za, training: true) ?? za).array.map(Double.init), b)
            }
            func objective(_ a: [Double], _ b: [Double]) -> Double {
                BarlowTwinsReference.loss(a, b, rows: n, columns: d, lambda: Double(config.offDiagonalWeight),
                                          scale: Double(config.lossScale), invarianceWeight: Double(config.invarianceWeight),
                                          normalization: config.normalization, objective: config.objective)
            }
            let loss = model.trainingStep(views: views, context: ctx)
            let before = branches(), expected = objective(before.a, before.b)
            XCTAssertEqual(Double(loss), expected, accuracy: 1e-5 * max(abs(expected), 1), "\(variant): value")

            var squaredNorm = 0.0
            for p in model.parameters { for i in 0 ..< p.grad.count { squaredNorm += Double(p.grad[i]) * Double(p.grad[i]) } }
            let predicted = 0.002 * abs(expected), lr = Float(predicted / squaredNorm)
            SGD(momentum: 0).step(model.parameters, learningRate: lr)
            let after = branches()
            let decrease = expected - objective(after.a, config.stopGradient ? before.b : after.b)
            XCTAssertEqual(decrease / predicted, 1, accuracy: 0.1, "\(variant): the step lowered its objective by \(decrease), not \(predicted)")
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
