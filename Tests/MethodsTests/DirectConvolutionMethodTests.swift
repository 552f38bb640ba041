import XCTest
@testable import Methods
import NN
import Tensors

/// The direct convolution kernels must leave every method's training step as it is with
/// im2col + sgemm: the same loss and gradients, online and target, step after step.
final class DirectConvolutionMethodTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    /// ‖a − b‖ / ‖a‖ over all the gradients of `parameters` at once.
    func relativeDistance(_ a: [Parameter], _ b: [Parameter]) -> Double {
        var difference = 0.0, norm = 0.0
        for (p, q) in zip(a, b) {
            for (x, y) in zip(p.grad.array, q.grad.array) {
                difference += Double(x - y) * Double(x - y); norm += Double(x) * Double(x)
            }
        }
        return (difference / max(norm, 1e-30)).squareRoot()
    }

    /// Three copies of `make` from the same seed: a reference with every convolution (online and
    /// target) on im2col, a copy on the direct kernels, and a yardstick on im2col whose views get
    /// a random relative nudge of 1e-6 per pixel. Before every step the other two take the
    /// reference's weights and state, so each comparison is of one step from the same state.
    ///
    /// On random data some steps amplify any rounding change: the nudge moves the whole gradient
    /// by 1e-3 to 5e-3 at most steps here, the direct kernels by about 4e-6 at most steps and by
    /// 2e-3 to 8e-3 at a few (ReLUs that flip near zero; which steps depends on the change). So
    /// the direct copy must agree to 1e-4 at most steps (median) and never stray further than
    /// ten times the yardstick's largest move; a wrong kernel moves every step (a 1% error in
    /// ∂L/∂w moves the gradient by about 1e-2). Loss and EMA target are compared at every step.
    func compare(_ name: String, _ make: (inout RandomGenerator) -> SelfSupervisedMethod,
                 targets: (SelfSupervisedMethod) -> (encoder: ResNet18, parameters: [Parameter])? = { _ in nil }) {
        var rngs = [RandomGenerator(seed: 7), RandomGenerator(seed: 7), RandomGenerator(seed: 7)]
        let reference = make(&rngs[0]), direct = make(&rngs[1]), yardstick = make(&rngs[2])
        for (copy, on) in [(reference, false), (direct, true), (yardstick, false)] {
            for conv in copy.encoder.convolutions + (targets(copy)?.encoder.convolutions ?? []) { conv.allowsDirectKernels = on }
        }
        XCTAssertEqual(direct.encoder.convolutions.filter { $0.usesDirectKernels }.count, 17, "\(name): convolutions on the direct path")
        var rng = RandomGenerator(seed: 11), noise = RandomGenerator(seed: 5)
        let steps = 5
        var directMoves: [Double] = [], yardstickMoves: [Double] = []
        for step in 0 ..< steps {
            for copy in [direct, yardstick] {
                for (a, b) in zip(reference.parameters, copy.parameters) { b.value.copy(from: a.value) }
                for (a, b) in zip(reference.extraStateTensors, copy.extraStateTensors) { b.copy(from: a) }
            }
            let views = GradientCheck.random([32, 32, 32, 3], rng: &rng)
            let nudged = Tensor(shape: views.shape)
            for i in 0 ..< views.count { nudged.data[i] = views.data[i] * (1 + 1e-6 * noise.normal()) }
            let context = StepContext(step: step, totalSteps: steps, epoch: 0, stepsPerEpoch: steps, seed: 3)
            let loss = reference.trainingStep(views: views, context: context)
            XCTAssertEqual(direct.trainingStep(views: views, context: context), loss, accuracy: 1e-4 * max(1, abs(loss)),
                           "\(name) step \(step): loss")
            _ = yardstick.trainingStep(views: nudged, context: context)
            directMoves.append(relativeDistance(reference.parameters, direct.parameters))
            yardstickMoves.append(relativeDistance(reference.parameters, yardstick.parameters))
            for copy in [reference, direct] {
                SGD(momentum: 0).step(copy.parameters, learningRate: 0.05)
                copy.afterOptimizerStep(context: context)
            }
            if let a = targets(reference)?.parameters, let b = targets(direct)?.parameters {
                var worst: Float = 0
                for (p, q) in zip(a, b) { worst = max(worst, zip(p.value.array, q.value.array).map { abs($0 - $1) }.max() ?? 0) }
                XCTAssertLessThan(worst, 1e-4, "\(name) step \(step): target after the EMA")
            }
        }
        XCTAssertLessThan(directMoves.sorted()[steps / 2], 1e-4, "\(name): median move of the gradient, steps \(directMoves)")
        XCTAssertLessThan(directMoves.max()!, 10 * yardstickMoves.max()!,
                          "\(name): largest move \(directMoves) against the yardstick's \(yardstickMoves)")
    }

    func testMethodStepsAgreeOnBothConvolutionPaths() {
        var bt = BarlowTwinsConfiguration(); bt.projectorDimensions = [64, 64, 64]
        compare("Barlow Twins") { BarlowTwins(configuration: bt, backboneWidth: 8, rng: &$0) }
        var simclr = SimCLRConfiguration(); simclr.projectorHiddenDimensions = 64; simclr.projectionDimensions = 16
        compare("SimCLR") { SimCLR(configuration: simclr, backboneWidth: 8, rng: &$0) }
        var moco = MoCoV3Configuration()
        moco.projectorHiddenDimensions = 64; moco.projectionDimensions = 16; moco.predictorHiddenDimensions = 64
        let keys: (SelfSupervisedMethod) -> (encoder: ResNet18, parameters: [Parameter])? = {
            let m = $0 as! MoCoV3; return (m.keyEncoder, m.keyParameters)
        }
        compare("MoCo v3", { MoCoV3(configuration: moco, backboneWidth: 8, rng: &$0) }, targets: keys)
        var sdmp = moco; sdmp.mixing = MixingConfiguration()
        compare("SDMP", { MoCoV3(configuration: sdmp, backboneWidth: 8, rng: &$0) }, targets: keys)
        var byol = BYOLConfiguration()
        byol.projectorHiddenDimensions = 64; byol.projectionDimensions = 16; byol.predictorHiddenDimensions = 64
        compare("BYOL", { BYOL(configuration: byol, backboneWidth: 8, rng: &$0) }, targets: {
            let m = $0 as! BYOL; return (m.networks.targetEncoder!, m.targetParameters)
        })
    }
}
