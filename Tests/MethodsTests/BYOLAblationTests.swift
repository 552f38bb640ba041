import XCTest
import Foundation
@testable import Methods
import NN
import Tensors

/// BYOL's ablation knobs: InfoNCE^{α,β} against its definition, a held τ, no predictor, no
/// target network (targets that learn), and the heads' depths.
final class BYOLAblationTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func row(_ z: Tensor, _ i: Int) -> [Double] {
        let d = z.columns
        let r = (0 ..< d).map { Double(z[i * d + $0]) }
        let norm = r.map { $0 * $0 }.reduce(0, +).squareRoot()
        return r.map { $0 / norm }
    }
    func cosine(_ a: Tensor, _ i: Int, _ b: Tensor, _ j: Int) -> Double { zip(row(a, i), row(b, j)).map(*).reduce(0, +) }

    /// −(2/B) Σ S(φ_i, ψ'_i) + β (2α/B) Σ ln(Σ_{j≠i} e^{S(φ_i, ψ_j)/α} + Σ_j e^{S(φ_i, ψ'_j)/α}), in double.
    func definition(_ p: Tensor, _ other: Tensor, _ same: Tensor, alpha: Double, beta: Double) -> (positive: Double, negatives: Double) {
        let b = p.rows
        var positive = 0.0, negatives = 0.0
        for i in 0 ..< b {
            positive -= 2 * cosine(p, i, other, i) / Double(b)
            var sum = 0.0
            for j in 0 ..< b where j != i { sum += exp(cosine(p, i, same, j) / alpha) }
            for j in 0 ..< b { sum += exp(cosine(p, i, other, j) / alpha) }
            negatives += 2 * alpha / Double(b) * log(sum)
        }
        return (positive, beta * negatives)
    }

    func assertGradient(_ f: @escaping () -> Double, _ x: Tensor, _ analytic: Tensor, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        let idx = Array(0 ..< x.count)
        let numeric = GradientCheck.numerical(f, x: x.data, indices: idx, epsilon: 1e-2, kinkTolerance: .infinity).map { $0! }
        let error = GradientCheck.relativeError(idx.map { Double(analytic[$0]) }, numeric)
        XCTAssertLessThan(error, 1e-2, "\(what): gradient off by \(error)", file: file, line: line)
    }

    /// At the defaults (α 0.1, β 0: BYOL's loss) and at β 1 (α 0.1, Table 5b; α 0.3): the value
    /// against the definition, so that β 1 adds exactly the InfoNCE term, and the gradients
    /// with respect to the predictions and both sets of targets against finite differences.
    func testValueAndGradientsAgainstTheDefinition() {
        let defaults = BootstrapInfoNCELoss()
        XCTAssertEqual(defaults.temperature, BYOLConfiguration().negativesTemperature)
        XCTAssertEqual(defaults.negativesWeight, 0); XCTAssertEqual(BYOLConfiguration().negativesWeight, 0)
        for (alpha, beta) in [(Float(0.1), Float(0)), (0.1, 1), (0.3, 1), (0.1, 0.5)] {
            var rng = RandomGenerator(seed: 11)
            let p = GradientCheck.random([6, 4], rng: &rng), other = GradientCheck.random([6, 4], rng: &rng)
            let same = GradientCheck.random([6, 4], rng: &rng)
            let loss = BootstrapInfoNCELoss(temperature: alpha, negativesWeight: beta)
            let gp = Tensor(shape: [0]), go = Tensor(shape: [0]), gs = Tensor(shape: [0])
            let value = loss.loss(predictions: p, otherTargets: other, sameTargets: same, gradPredictions: gp,
                                  gradOtherTargets: go, gradSameTargets: gs)
            let expected = definition(p, other, same, alpha: Double(alpha), beta: Double(beta))
            XCTAssertEqual(Double(value), expected.positive + expected.negatives, accuracy: 1e-5, "α \(alpha) β \(beta)")
            let f = { Double(loss.loss(predictions: p, otherTargets: other, sameTargets: same, gradPredictions: Tensor(shape: [0]))) }
            assertGradient(f, p, gp, "predictions, α \(alpha) β \(beta)")
            assertGradient(f, other, go, "other view's targets, α \(alpha) β \(beta)")
            assertGradient(f, same, gs, "same view's targets, α \(alpha) β \(beta)")
            if beta == 0 { XCTAssertTrue(gs.array.allSatisfy { $0 == 0 }, "β 0: the same view's targets play no part") }
        }
    }

    /// β 0 is BYOL's normalised MSE less its constant 2, with the same gradient.
    func testBetaZeroIsBYOLsLoss() {
        var rng = RandomGenerator(seed: 12)
        let p = GradientCheck.random([5, 4], rng: &rng), t = GradientCheck.random([5, 4], rng: &rng)
        let same = GradientCheck.random([5, 4], rng: &rng)
        let gBridge = Tensor(shape: [0]), gMSE = Tensor(shape: [0])
        let bridge = BootstrapInfoNCELoss().loss(predictions: p, otherTargets: t, sameTargets: same, gradPredictions: gBridge)
        let mse = NormalizedMSELoss().loss(prediction: p, target: t, gradient: gMSE)
        XCTAssertEqual(bridge, mse - 2, accuracy: 1e-5)
        for i in 0 ..< gMSE.count { XCTAssertEqual(gBridge[i], gMSE[i], accuracy: 1e-6) }
    }

    func small(_ change: (inout BYOLConfiguration) -> Void = { _ in }) -> BYOLConfiguration {
        var c = BYOLConfiguration()
        c.projectorHiddenDimensions = 8; c.projectionDimensions = 6; c.predictorHiddenDimensions = 8
        change(&c)
        return c
    }

    /// `--momentum-schedule constant` holds τ at τ_base (τ 0: the target is the online network
    /// after each step); the default cosine rises.
    func testAHeldMomentumStaysConstant() {
        for (schedule, base) in [(MomentumSchedule.constant, Float(0.5)), (.constant, 0), (.cosine, 0.5)] {
            var rng = RandomGenerator(seed: 3)
            let byol = BYOL(configuration: small { $0.momentumSchedule = schedule; $0.baseMomentum = base }, backboneWidth: 2, rng: &rng)
            let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
            let context = StepContext(step: 7, totalSteps: 10, epoch: 0, stepsPerEpoch: 10, seed: 0)
            _ = byol.trainingStep(views: views, context: context)
            let before = byol.targetParameters.map { $0.value.array }
            SGD(momentum: 0).step(byol.parameters, learningRate: 0.1)
            byol.afterOptimizerStep(context: context)
            let tau = schedule == .constant ? base : cosineMomentum(base: base, progress: 0.7)
            XCTAssertNotEqual(cosineMomentum(base: base, progress: 0.7), base)
            let online = byol.encoder.parameters + byol.projector.parameters
            for (k, t) in byol.targetParameters.enumerated() {
                for i in 0 ..< min(4, t.value.count) {
                    XCTAssertEqual(t.value[i], tau * before[k][i] + (1 - tau) * online[k].value[i], accuracy: 1e-6, "\(schedule) τ \(base)")
                }
            }
        }
    }

    /// `--predictor-lr-scale` puts the predictor's parameters, and only them, at that multiple of
    /// the global rate; it parses, and must be above 0.
    func testPredictorLearningRateScaleReachesThePredictorOnly() throws {
        var rng = RandomGenerator(seed: 3)
        let byol = BYOL(configuration: small { $0.predictorLearningRateScale = 10 }, backboneWidth: 2, rng: &rng)
        let predictor = Set(byol.predictor.parameters.map(ObjectIdentifier.init))
        XCTAssertFalse(predictor.isEmpty)
        for p in byol.parameters {
            XCTAssertEqual(p.learningRateScale, predictor.contains(ObjectIdentifier(p)) ? 10 : 1, p.name)
        }
        XCTAssertTrue(BYOL(configuration: small { _ in }, backboneWidth: 2, rng: &rng).parameters.allSatisfy { $0.learningRateScale == 1 })
        var c = BYOLConfiguration()
        try BYOLConfiguration.options.first { $0.name == "predictor-lr-scale" }!.apply(&c, "10")
        XCTAssertEqual(c.predictorLearningRateScale, 10)
        XCTAssertThrowsError(try BYOLConfiguration.options.first { $0.name == "predictor-lr-scale" }!.apply(&c, "0"))
        c.predictorLearningRateScale = -1
        XCTAssertThrowsError(try c.validate())
    }

    /// Depth L is L Linear maps (1: a single map, no batch norm); predictor depth 0 is none, and
    /// the projection is then the prediction. The cost estimate counts the same maps.
    func testHeadDepthsAndNoPredictor() {
        for (projectorDepth, predictorDepth) in [(1, 0), (1, 1), (2, 2), (3, 1), (3, 3)] {
            var rng = RandomGenerator(seed: 4)
            let c = small { $0.projectorDepth = projectorDepth; $0.predictorDepth = predictorDepth }
            XCTAssertNoThrow(try c.validate())
            let byol = BYOL(configuration: c, backboneWidth: 2, rng: &rng)
            XCTAssertEqual(byol.projector.layers.filter { $0 is Linear }.count, projectorDepth)
            XCTAssertEqual(byol.predictor.layers.filter { $0 is Linear }.count, predictorDepth)
            XCTAssertEqual(byol.targetProjector?.layers.filter { $0 is Linear }.count, projectorDepth)
            XCTAssertEqual(c.cost(featureDimensions: 16).onlineLayers.count, projectorDepth + predictorDepth)
            let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
            let loss = byol.trainingStep(views: views, context: StepContext(step: 0, totalSteps: 1, epoch: 0, stepsPerEpoch: 1, seed: 0))
            XCTAssertTrue(loss.isFinite)
        }
        XCTAssertEqual(small { $0.projectorDepth = 3 }.projectorDescription, "8-8-6")
        XCTAssertEqual(BYOLConfiguration().projectorDescription, "4096-256")
        XCTAssertThrowsError(try small { $0.projectorDepth = 0 }.validate())
        XCTAssertThrowsError(try small { $0.negativesWeight = 2 }.validate())
    }

    /// Without a target network there is no momentum target; the targets are the online
    /// projections and their gradient reaches the online weights: every variant's step gradient
    /// agrees with the directional derivative of its loss (ReLUs made linear so that no kink lies
    /// between the probes). With a target network the target gets no gradient.
    func testVariantStepGradients() {
        let variants: [(String, (inout BYOLConfiguration) -> Void)] = [
            ("BYOL", { _ in }),
            ("pred+target/1", { $0.negativesWeight = 1 }),
            ("target/1", { $0.predictorDepth = 0; $0.negativesWeight = 1 }),
            ("none/1", { $0.predictorDepth = 0; $0.targetNetwork = false; $0.negativesWeight = 1 }),
            ("pred/1", { $0.targetNetwork = false; $0.negativesWeight = 1 }),
            ("pred/0", { $0.targetNetwork = false }),
            ("none/0", { $0.predictorDepth = 0; $0.targetNetwork = false }),
            ("depth 3/3", { $0.projectorDepth = 3; $0.predictorDepth = 3 }),
        ]
        for (name, change) in variants {
            var rng = RandomGenerator(seed: 5)
            let c = small(change)
            let byol = BYOL(configuration: c, backboneWidth: 2, rng: &rng)
            XCTAssertEqual(byol.momentumTarget == nil, !c.targetNetwork, name)
            XCTAssertEqual(byol.targetParameters.isEmpty, !c.targetNetwork, name)
            for bn in byol.encoder.batchNorms + (byol.targetEncoder?.batchNorms ?? []) { bn.fusedReLU = false }
            for block in byol.encoder.residualBlocks + (byol.targetEncoder?.residualBlocks ?? []) { block.outputReLU = false }
            for case let bn as BatchNorm in byol.projector.layers + byol.predictor.layers + (byol.targetProjector?.layers ?? []) {
                bn.fusedReLU = false
            }
            let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
            let context = StepContext(step: 0, totalSteps: 10, epoch: 0, stepsPerEpoch: 10, seed: 0)
            _ = byol.trainingStep(views: views, context: context)
            for t in byol.targetParameters { XCTAssertTrue(t.grad.array.allSatisfy { $0 == 0 }, "\(name): the target learned") }
            let params = byol.parameters, grads = params.map { $0.grad.array }
            let f = { Double(byol.trainingStep(views: views, context: context)) }
            var results: [(Double, Double)] = [], largest = 0.0
            for (k, p) in params.enumerated() where k % 4 == 0 || k >= params.count - 4 {
                var v = (0 ..< p.value.count).map { _ in rng.normal() }
                let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
                v = v.map { $0 / norm }
                let saved = p.value.array
                let analytic = zip(grads[k], v).map { Double($0 * $1) }.reduce(0, +)
                for i in v.indices { p.value[i] = saved[i] + 1e-3 * v[i] }
                let plus = f()
                for i in v.indices { p.value[i] = saved[i] - 1e-3 * v[i] }
                let minus = f()
                for i in v.indices { p.value[i] = saved[i] }
                results.append((analytic, (plus - minus) / 2e-3)); largest = max(largest, abs((plus - minus) / 2e-3))
            }
            let worst = results.map { abs($0.0 - $0.1) / max(largest, 1e-3) }.max() ?? 0
            XCTAssertLessThan(worst, 2e-2, "\(name): directional derivatives off by \(worst) of the largest")
        }
    }
}
