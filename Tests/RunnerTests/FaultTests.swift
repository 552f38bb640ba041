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
