import XCTest
@testable import Runner
import Methods
import NN
import Tensors

/// The faults the regression plants: each does to a method's step what its name says, and
/// nothing else.
final class FaultTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func context(_ step: Int) -> StepContext { StepContext(step: step, totalSteps: 10, epoch: 0, stepsPerEpoch: 10, seed: 0) }

    func smallBYOL(seed: UInt64 = 1) -> BYOL {
        var rng = RandomGenerator(seed: seed)
        var c = BYOLConfiguration()
        c.setHeadWidths(hidden: 16, projection: 8)
        return BYOL(configuration: c, backboneWidth: 2, rng: &rng)
    }

    func views() -> Tensor { var rng = RandomGenerator(seed: 7); return GradientCheck.random([8, 8, 8, 3], rng: &rng) }

    func testNegatedGradientsFlipEverySignAndKeepTheLoss() {
        let honest = smallBYOL(), faulty = Fault.negatedGradients.plant(in: smallBYOL())
        let x = views()
        let a = honest.trainingStep(views: x, context: context(0)), b = faulty.trainingStep(views: x, context: context(0))
        XCTAssertEqual(a, b)
        for (p, q) in zip(honest.parameters, faulty.parameters) { XCTAssertEqual(p.grad.array.map { -$0 }, q.grad.array, p.name) }
    }

    /// Why BYOL passes the regression with every gradient negated: its loss ℓ(p, t) = 2 − 2·cos(p, t)
    /// is 4 − ℓ(−p, t), and −p is what the predictor outputs with its last weight and bias negated,
    /// so ascending ℓ from one start is descending it from the other; LARS (norms, momentum, decay)
    /// is odd in the sign. Negating the gradients is therefore BYOL itself, begun from the other
    /// sign of the predictor's last map: bit for bit the same encoder, projector and target, that
    /// map the negative. The same steps without the negated start end elsewhere.
    func testNegatedGradientsAreBYOLStartedFromANegatedPredictor() throws {
        let faulty = Fault.negatedGradients.plant(in: smallBYOL()), mirrored = smallBYOL(), plain = smallBYOL()
        let last = try XCTUnwrap(mirrored.predictor.layers.last as? Linear)
        XCTAssertNotNil(last.bias)
        for p in last.parameters { let v = p.value.data; for i in 0 ..< p.value.count { v[i] = -v[i] } }
        let lastIndices = Set(mirrored.parameters.indices.filter { k in last.parameters.contains { $0 === mirrored.parameters[k] } })
        XCTAssertEqual(lastIndices.count, 2)
        let optimisers = (0 ..< 3).map { _ in LARS(weightDecay: 1e-5, trustCoefficient: 0.02, clipTrustRatio: true) }
        var rng = RandomGenerator(seed: 3)
        for step in 0 ..< 4 {
            let x = GradientCheck.random([8, 8, 8, 3], rng: &rng)
            for (method, optimiser) in zip([faulty, mirrored, plain] as [SelfSupervisedMethod], optimisers) {
                _ = method.trainingStep(views: x, context: context(step))
                optimiser.step(method.parameters, learningRate: 0.5)
                method.afterOptimizerStep(context: context(step))
            }
        }
        for (k, (p, q)) in zip(faulty.parameters, mirrored.parameters).enumerated() {
            XCTAssertEqual(p.value.array, lastIndices.contains(k) ? q.value.array.map { -$0 } : q.value.array, p.name)
        }
        for (p, q) in zip(faulty.momentumTarget!.target, mirrored.momentumTarget!.target) { XCTAssertEqual(p.value.array, q.value.array, p.name) }
        XCTAssertNotEqual(faulty.encoder.parameters[0].value.array, plain.encoder.parameters[0].value.array)
    }

    func testTheLossTurnsNaNFromTheGivenStep() {
        let faulty = Fault.nanLossFromStep(2).plant(in: smallBYOL())
        let x = views()
        XCTAssertTrue(faulty.trainingStep(views: x, context: context(1)).isFinite)
        XCTAssertTrue(faulty.trainingStep(views: x, context: context(2)).isNaN)
    }

    func testTheTargetCopiesTheOnlineWeightsAfterEveryStep() throws {
        let faulty = Fault.targetCopiesOnline.plant(in: smallBYOL())
        _ = faulty.trainingStep(views: views(), context: context(0))
        SGD(momentum: 0).step(faulty.parameters, learningRate: 0.1)
        faulty.afterOptimizerStep(context: context(0))
        let pair = try XCTUnwrap(faulty.momentumTarget)
        for (o, t) in zip(pair.online, pair.target) { XCTAssertEqual(o.value.array, t.value.array, t.name) }
        // without the fault the target lags behind by the EMA
        let honest = smallBYOL()
        _ = honest.trainingStep(views: views(), context: context(0))
        SGD(momentum: 0).step(honest.parameters, learningRate: 0.1)
        honest.afterOptimizerStep(context: context(0))
        XCTAssertNotEqual(honest.momentumTarget!.online[0].value.array, honest.momentumTarget!.target[0].value.array)
    }

    /// Without its stop-gradient BYOL's online weights get the honest gradient plus the one that
    /// came back through the target, and the loss is the same.
    func testBYOLWithoutItsStopGradientAddsTheTargetsGradient() {
        let honest = smallBYOL(), faulty = Fault.targetReceivesGradients.plant(in: smallBYOL())
        XCTAssertTrue(faulty is BYOLWithoutStopGradient)
        let x = views()
        XCTAssertEqual(honest.trainingStep(views: x, context: context(0)), faulty.trainingStep(views: x, context: context(0)))
        let pair = faulty.momentumTarget!
        XCTAssertTrue(pair.target.contains { t in t.grad.array.contains { $0 != 0 } })
        for (k, p) in honest.parameters.enumerated() {
            let q = faulty.parameters[k]
            if let i = pair.online.firstIndex(where: { $0 === q }) {
                let expected = zip(p.grad.array, pair.target[i].grad.array).map { $0 + $1 }
                XCTAssertEqual(q.grad.array, expected, q.name)
            } else {
                XCTAssertEqual(q.grad.array, p.grad.array, q.name)   // the predictor: only the honest gradient
            }
        }
        // a method without a momentum target trains as it is
        var rng = RandomGenerator(seed: 1)
        let simclr = SimCLR(configuration: SimCLRConfiguration(), backboneWidth: 2, rng: &rng)
        XCTAssertTrue(Fault.targetReceivesGradients.plant(in: simclr) === simclr)
    }

    func testFaultNamesParseBack() {
        for fault in [Fault.negatedGradients, .nanLossFromStep(3), .targetCopiesOnline, .targetReceivesGradients] {
            XCTAssertEqual(Fault(parsing: fault.description), fault)
        }
        XCTAssertNil(Fault(parsing: "nan-loss-at-x"))
    }
}
