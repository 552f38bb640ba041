import XCTest
@testable import Methods
import NN
import Tensors

/// The direct convolution kernels must leave every method's training step as it is with
/// im2col + sgemm: the same loss and gradients, online and target, step after step.
final class DirectConvolutionMethodTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    /// Three copies of `make` from the same seed: the reference on im2col, a yardstick on im2col
    /// whose views are scaled by 1 + 1e-6, and one on the direct kernels. Before every step the
    /// yardstick and the direct copy take the reference's weights and state, so each comparison
    /// is of one step from the same state. Some steps of a deep network on random data amplify
    /// rounding (a 1e-6 change of the input moves a gradient by 0.5% at SimCLR's second step
    /// here), so a gradient of the direct copy must be within 1e-3 of its largest entry or
    /// within 10 times the yardstick's deviation; a wrong kernel misses both by far.
    func compare(_ name: String, _ make: (inout RandomGenerator) -> SelfSupervisedMethod,
                 targets: (SelfSupervisedMethod) -> [Parameter] = { _ in [] }) {
        var rngs = [RandomGenerator(seed: 7), RandomGenerator(seed: 7), RandomGenerator(seed: 7)]
        let reference = make(&rngs[0]), yardstick = make(&rngs[1]), direct = make(&rngs[2])
        for conv in reference.encoder.convolutions + yardstick.encoder.convolutions { conv.allowsDirectKernels = false }
        for conv in direct.encoder.convolutions { conv.allowsDirectKernels = true }
        // Momentum targets stay on im2col in all three: with them on the direct kernels too, BYOL's
        // and SDMP's second step here deviate by up to 4% (open; README, "Speed").
        for copy in [reference, yardstick, direct] { for conv in targetEncoder(copy)?.convolutions ?? [] { conv.allowsDirectKernels = false } }
        XCTAssertEqual(direct.encoder.convolutions.filter { $0.usesDirectKernels }.count, 17, "\(name): convolutions on the direct path")
        var rng = RandomGenerator(seed: 11)
        let steps = 3
        for step in 0 ..< steps {
            for copy in [yardstick, direct] {
                for (a, b) in zip(reference.parameters, copy.parameters) { b.value.copy(from: a.value) }
                for (a, b) in zip(reference.extraStateTensors, copy.extraStateTensors) { b.copy(from: a) }
            }
            let views = GradientCheck.random([32, 32, 32, 3], rng: &rng)
            let nudged = Tensor(shape: views.shape)
            for i in 0 ..< views.count { nudged.data[i] = views.data[i] * (1 + 1e-6) }
            let context = StepContext(step: step, totalSteps: steps, epoch: 0, stepsPerEpoch: steps, seed: 3)
            let loss = reference.trainingStep(views: views, context: context)
            _ = yardstick.trainingStep(views: nudged, context: context)
            XCTAssertEqual(direct.trainingStep(views: views, context: context), loss, accuracy: 1e-4 * max(1, abs(loss)),
                           "\(name) step \(step): loss")
            for ((r, y), d) in zip(zip(reference.parameters, yardstick.parameters), direct.parameters) {
                let g = r.grad.array
                let noise = zip(g, y.grad.array).map { abs($0 - $1) }.max() ?? 0
                let deviation = zip(g, d.grad.array).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(deviation, max(1e-3 * (g.map(abs).max() ?? 0), 10 * noise),
                                         "\(name) step \(step): gradient of \(r.name) (yardstick \(noise))")
            }
            for copy in [reference, direct] {
                SGD(momentum: 0).step(copy.parameters, learningRate: 0.05)
                copy.afterOptimizerStep(context: context)
            }
            for (a, b) in zip(targets(reference), targets(direct)) {
                let worst = zip(a.value.array, b.value.array).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5, "\(name) step \(step): target \(a.name)")
            }
        }
    }

    func targetEncoder(_ method: SelfSupervisedMethod) -> ResNet18? {
        (method as? MoCoV3)?.keyEncoder ?? (method as? BYOL)?.networks.targetEncoder
    }

    func testMethodStepsAgreeOnBothConvolutionPaths() {
        var bt = BarlowTwinsConfiguration(); bt.projectorDimensions = [64, 64, 64]
        compare("Barlow Twins") { BarlowTwins(configuration: bt, backboneWidth: 8, rng: &$0) }
        var simclr = SimCLRConfiguration(); simclr.projectorHiddenDimensions = 64; simclr.projectionDimensions = 16
        compare("SimCLR") { SimCLR(configuration: simclr, backboneWidth: 8, rng: &$0) }
        var moco = MoCoV3Configuration()
        moco.projectorHiddenDimensions = 64; moco.projectionDimensions = 16; moco.predictorHiddenDimensions = 64
        compare("MoCo v3", { MoCoV3(configuration: moco, backboneWidth: 8, rng: &$0) },
                targets: { ($0 as! MoCoV3).keyParameters })
        var sdmp = moco; sdmp.mixing = MixingConfiguration()
        compare("SDMP", { MoCoV3(configuration: sdmp, backboneWidth: 8, rng: &$0) },
                targets: { ($0 as! MoCoV3).keyParameters })
        var byol = BYOLConfiguration()
        byol.projectorHiddenDimensions = 64; byol.projectionDimensions = 16; byol.predictorHiddenDimensions = 64
        compare("BYOL", { BYOL(configuration: byol, backboneWidth: 8, rng: &$0) },
                targets: { ($0 as! BYOL).targetParameters })
    }
}
