import XCTest
@testable import Methods
import NN
import Tensors

final class MixingTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    /// Images whose every pixel holds the image's index: a mixed pixel tells where it came from.
    func indexImages(_ n: Int, side: Int = 8) -> Tensor {
        let t = Tensor(shape: [n, side, side, 3])
        for i in 0 ..< n { for j in 0 ..< side * side * 3 { t[i * side * side * 3 + j] = Float(i) } }
        return t
    }

    func plan(_ strategy: MixStrategy, n: Int, seed: UInt64) -> MixPlan {
        var rng = RandomGenerator(seed: seed)
        return MixPlan.draw(batch: n, height: 8, width: 8, configuration: MixingConfiguration(strategies: [strategy]), rng: &rng)
    }

    func testCutMixBoxAreaIsOneMinusLambdaAndPixelsAgree() {
        for seed in 0 ..< 20 as Range<UInt64> {
            let p = plan(.cutmix, n: 6, seed: seed)
            let x = indexImages(6), m = Tensor(shape: [0])
            p.apply(to: x, into: m)
            for i in 0 ..< 6 {
                let box = p.boxes[i]
                XCTAssertEqual(Float(box.height * box.width) / 64, 1 - p.lambdas[i], accuracy: 1e-6)
                // the share of pixels from image i equals λ_i
                var own = 0
                for j in 0 ..< 64 where m[i * 192 + j * 3] == Float(i) { own += 1 }
                if i != 5 - i { XCTAssertEqual(Float(own) / 64, p.lambdas[i], accuracy: 1e-6) }
                // and the pasted pixels come from the reversed image
                let inside = m[i * 192 + (box.top * 8 + box.left) * 3]
                XCTAssertEqual(inside, Float(5 - i))
            }
        }
    }

    func testMixupIsTheConvexCombination() {
        let p = plan(.mixup, n: 4, seed: 1)
        let x = indexImages(4), m = Tensor(shape: [0])
        p.apply(to: x, into: m)
        for i in 0 ..< 4 {
            XCTAssertEqual(m[i * 192 + 17], p.lambdas[i] * Float(i) + (1 - p.lambdas[i]) * Float(3 - i), accuracy: 1e-5)
            XCTAssertTrue(p.lambdas[i] >= 0.1 && p.lambdas[i] <= 0.9)
        }
    }

    func testResizeMixPastesTheWholePartnerShrunk() {
        // partner images with a left-right ramp: the pasted patch must show the whole ramp
        let n = 2, x = Tensor(shape: [n, 8, 8, 1])
        for i in 0 ..< n { for y in 0 ..< 8 { for xx in 0 ..< 8 { x[(i * 8 + y) * 8 + xx] = i == 0 ? 100 : Float(xx) } } }
        let p = plan(.resizemix, n: n, seed: 3)
        let m = Tensor(shape: [0])
        p.apply(to: x, into: m)
        let b = p.boxes[0]
        XCTAssertEqual(Float(b.height * b.width) / 64, 1 - p.lambdas[0], accuracy: 1e-6)
        let left = m[(b.top * 8 + b.left)], right = m[(b.top * 8 + b.left + b.width - 1)]
        XCTAssertLessThan(left, 1.5); XCTAssertGreaterThan(right, 5.5)
        // outside the box, image 0 is untouched
        var outside = 0
        for j in 0 ..< 64 where m[j] == 100 { outside += 1 }
        XCTAssertEqual(outside, 64 - b.height * b.width)
    }

    func testSoftLabelsSumToOneAndMatchTheDefinitions() {
        let p = MixPlan(strategy: .mixup, lambdas: [0.7, 0.2, 0.4, 0.9], boxes: [], height: 8, width: 8)
        let source = p.sourceTargets(), mixing = p.mixingTargets()
        for i in 0 ..< 4 {
            XCTAssertEqual((0 ..< 4).map { source[i * 4 + $0] }.reduce(0, +), 1, accuracy: 1e-6)
            XCTAssertEqual((0 ..< 4).map { mixing[i * 4 + $0] }.reduce(0, +), 1, accuracy: 1e-6)
        }
        XCTAssertEqual(source[0 * 4 + 0], 0.7, accuracy: 1e-6); XCTAssertEqual(source[0 * 4 + 3], 0.3, accuracy: 1e-6)
        // λc_0 = min(0.7, 1 − 0.9) + min(0.3, 0.9) = 0.1 + 0.3 = 0.4
        XCTAssertEqual(mixing[0 * 4 + 0], 1 / 1.4, accuracy: 1e-6); XCTAssertEqual(mixing[0 * 4 + 3], 0.4 / 1.4, accuracy: 1e-6)
    }

    func testBetaSamplerMoments() {
        var rng = RandomGenerator(seed: 9)
        for alpha in [0.5, 1.0, 2.0] {
            let xs = (0 ..< 20000).map { _ in sampleBeta(alpha, &rng) }
            let mean = xs.reduce(0, +) / 20000
            let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20000
            XCTAssertEqual(mean, 0.5, accuracy: 0.01)
            XCTAssertEqual(variance, 1 / (4 * (2 * alpha + 1)), accuracy: 0.01)   // Var Beta(α, α) = 1/(4(2α + 1))
        }
    }

    /// For MoCo v3 and SDMP: the key networks are in the loss (changing their weights changes
    /// it) yet get no gradient, while every query-side network does; after an optimiser step
    /// every entry of every key tensor moves to τ·key + (1 − τ)·online, and they do move.
    func testMoCoAndSDMPKeysGetNoGradientAndMoveByEMA() {
        var rng = RandomGenerator(seed: 5)
        var config = MoCoV3Configuration()
        config.projectorHiddenDimensions = 16; config.projectionDimensions = 8; config.predictorHiddenDimensions = 16
        for mixing in [nil, MixingConfiguration()] as [MixingConfiguration?] {
            let name = mixing == nil ? "MoCo v3" : "SDMP"
            config.mixing = mixing
            let moco = MoCoV3(configuration: config, backboneWidth: 2, rng: &rng)
            let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
            let context = StepContext(step: 0, totalSteps: 4, epoch: 0, stepsPerEpoch: 4, seed: 1)
            let loss = moco.trainingStep(views: views, context: context)
            XCTAssertEqual(mixing == nil, moco.lastMix == nil)
            for k in moco.keyParameters { XCTAssertTrue(k.grad.array.allSatisfy { $0 == 0 }, "\(name): \(k.name) received a gradient") }
            for (part, network) in [("encoder", moco.encoder.parameters), ("projector", moco.projector.parameters),
                                    ("predictor", moco.predictor.parameters)] {
                XCTAssertTrue(network.contains { p in p.grad.array.contains { $0 != 0 } }, "\(name): the query \(part) got no gradient")
            }
            // the keys are in the loss: nudging the key networks' weights changes it
            let keyValues = moco.keyParameters.map { $0.value.array }
            for p in moco.keyParameters where p.kind == .weight { for i in 0 ..< p.value.count { p.value[i] *= 1.05 + 0.1 * rng.uniform(-1, 1) } }
            let nudged = moco.trainingStep(views: views, context: context)
            XCTAssertGreaterThan(abs(nudged - loss), 1e-3 * abs(loss), "\(name): the key networks do not reach the loss")
            for (p, v) in zip(moco.keyParameters, keyValues) { for i in v.indices { p.value[i] = v[i] } }
            XCTAssertEqual(moco.trainingStep(views: views, context: context), loss)
            // the EMA, entry by entry
            let before = moco.keyParameters.map { $0.value.array }
            SGD(momentum: 0).step(moco.parameters, learningRate: 0.1)
            moco.afterOptimizerStep(context: context)
            let online = moco.encoder.parameters + moco.projector.parameters
            XCTAssertEqual(online.count, moco.keyParameters.count)
            let tau = cosineMomentum(base: 0.99, progress: 0)   // step 0: τ_base
            var moved = 0
            for (k, t) in moco.keyParameters.enumerated() {
                XCTAssertEqual(t.value.shape, online[k].value.shape)
                for i in 0 ..< t.value.count {
                    XCTAssertEqual(t.value[i], tau * before[k][i] + (1 - tau) * online[k].value[i], accuracy: 1e-6, "\(name): \(t.name)[\(i)]")
                }
                if t.value.array != before[k] { moved += 1 }
            }
            XCTAssertGreaterThan(moved, moco.keyParameters.count / 2, "\(name): the keys did not move")
        }
    }

    /// SDMP's whole query-side loss, along random directions of the query network, with the
    /// ReLUs off so that no difference straddles a kink.
    func testSDMPStepGradient() {
        var rng = RandomGenerator(seed: 6)
        var config = MoCoV3Configuration()
        config.projectorHiddenDimensions = 8; config.projectionDimensions = 6; config.predictorHiddenDimensions = 8
        config.mixing = MixingConfiguration(strategies: [.cutmix])
        let sdmp = MoCoV3(configuration: config, backboneWidth: 2, rng: &rng)
        for bn in sdmp.encoder.batchNorms + sdmp.keyEncoder.batchNorms { bn.fusedReLU = false }
        for block in sdmp.encoder.residualBlocks + sdmp.keyEncoder.residualBlocks { block.outputReLU = false }
        for case let bn as BatchNorm in sdmp.projector.layers + sdmp.predictor.layers + sdmp.keyProjector.layers { bn.fusedReLU = false }
        let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
        let context = StepContext(step: 3, totalSteps: 10, epoch: 0, stepsPerEpoch: 10, seed: 2)
        _ = sdmp.trainingStep(views: views, context: context)
        let params = sdmp.parameters
        let grads = params.map { $0.grad.array }
        let f = { Double(sdmp.trainingStep(views: views, context: context)) }
        var worst = 0.0, largest = 0.0
        var results: [(Double, Double)] = []
        for (k, p) in params.enumerated() where k % 5 == 0 {
            var v = [Float](repeating: 0, count: p.value.count)
            var norm: Float = 0
            for i in v.indices { v[i] = rng.normal(); norm += v[i] * v[i] }
            let saved = p.value.array
            var analytic = 0.0
            for i in v.indices { v[i] /= norm.squareRoot(); analytic += Double(grads[k][i] * v[i]) }
            for i in v.indices { p.value[i] = saved[i] + 1e-3 * v[i] }
            let plus = f()
            for i in v.indices { p.value[i] = saved[i] - 1e-3 * v[i] }
            let minus = f()
            for i in v.indices { p.value[i] = saved[i] }
            let numeric = (plus - minus) / 2e-3
            results.append((analytic, numeric)); largest = max(largest, abs(numeric))
        }
        for (a, n) in results { worst = max(worst, abs(a - n) / max(largest, 1e-3)) }
        XCTAssertLessThan(worst, 2e-2)
    }

    /// The official step mixes one of the two views, drawn per batch: about half the steps mix
    /// view B. `--mixed-view first` always mixes view A.
    func testSDMPMixesEitherViewByDefaultAndViewAWhenAsked() {
        var rng = RandomGenerator(seed: 12)
        var config = MixingConfiguration(strategies: [.cutmix])
        XCTAssertEqual(config.mixedView, .random)
        let second = (0 ..< 400).filter { _ in SDMPMix.draw(batch: 4, height: 8, width: 8, configuration: config, rng: &rng).mixedView == 1 }.count
        XCTAssertEqual(Double(second), 200, accuracy: 40)   // binomial sd 10
        config.mixedView = .first
        XCTAssertTrue((0 ..< 50).allSatisfy { _ in SDMPMix.draw(batch: 4, height: 8, width: 8, configuration: config, rng: &rng).mixedView == 0 })
    }

    /// The mixed keys keep the queries' λ and box sizes; by default (the official code) their
    /// boxes lie at new places, with `--key-boxes shared` at the same ones.
    func testSDMPKeyBoxesKeepLambdaAndMoveUnlessShared() {
        var rng = RandomGenerator(seed: 13)
        var config = MixingConfiguration(strategies: [.cutmix, .resizemix])
        XCTAssertEqual(config.keyBoxes, .fresh)
        var moved = 0, boxes = 0
        for _ in 0 ..< 20 {
            let mix = SDMPMix.draw(batch: 6, height: 8, width: 8, configuration: config, rng: &rng)
            XCTAssertEqual(mix.keys.lambdas, mix.queries.lambdas)
            XCTAssertEqual(mix.keys.strategy, mix.queries.strategy)
            for (k, q) in zip(mix.keys.boxes, mix.queries.boxes) {
                XCTAssertEqual([k.height, k.width], [q.height, q.width])
                XCTAssertTrue(k.top + k.height <= 8 && k.left + k.width <= 8 && k.top >= 0 && k.left >= 0)
                if k != q { moved += 1 }
                boxes += 1
            }
        }
        XCTAssertGreaterThan(moved, boxes / 2, "the keys' boxes did not move")
        config.keyBoxes = .shared
        for _ in 0 ..< 10 {
            let mix = SDMPMix.draw(batch: 6, height: 8, width: 8, configuration: config, rng: &rng)
            XCTAssertEqual(mix.keys.boxes, mix.queries.boxes)
        }
    }

    /// With the two mixed losses weighted 0, SDMP's loss is the plain MoCo v3 term of the view
    /// that was not mixed against the other view's keys: the step keeps the view it says it keeps,
    /// whichever it is.
    func testSDMPPlainTermUsesTheViewThatIsKept() {
        var rng = RandomGenerator(seed: 14)
        var config = MoCoV3Configuration()
        config.projectorHiddenDimensions = 16; config.projectionDimensions = 8; config.predictorHiddenDimensions = 16
        var mixing = MixingConfiguration(strategies: [.mixup])
        mixing.sourceLossWeight = 0; mixing.mixingLossWeight = 0
        config.mixing = mixing
        let sdmp = MoCoV3(configuration: config, backboneWidth: 2, rng: &rng)
        let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
        var seen = Set<Int>()
        let scratch = Tensor(shape: [0]), kept = Tensor(shape: [0]), other = Tensor(shape: [0])
        for step in 0 ..< 12 {
            let context = StepContext(step: step, totalSteps: 12, epoch: 0, stepsPerEpoch: 12, seed: 3)
            let loss = sdmp.trainingStep(views: views, context: context)
            let m = sdmp.lastMix!.mixedView
            seen.insert(m)
            let q = sdmp.networks.predictions(views)
            kept.setRows(of: q, (1 - m) * 4 ..< (2 - m) * 4)
            let k = sdmp.networks.targets(views)
            other.setRows(of: k, m * 4 ..< (m + 1) * 4)
            let expected = sdmp.objective.loss(queries: kept, keys: other, gradient: scratch)
            XCTAssertEqual(loss, expected, accuracy: 1e-5 * abs(expected), "step \(step), view \(m) mixed")
        }
        XCTAssertEqual(seen, [0, 1], "both views should be mixed in 12 steps")
    }

    /// λ = 0.1 + 0.8·u with u ~ Beta(1, 1), as the official code maps it: uniform on [0.1, 0.9].
    /// Clamping u into the range instead would put a tenth of the draws on each end.
    func testLambdaIsUniformOnPointOneToPointNine() {
        var rng = RandomGenerator(seed: 31)
        var lambdas: [Float] = []
        for _ in 0 ..< 40 {
            lambdas += MixPlan.draw(batch: 100, height: 8, width: 8, configuration: MixingConfiguration(strategies: [.mixup]), rng: &rng).lambdas
        }
        XCTAssertTrue(lambdas.allSatisfy { $0 >= 0.1 && $0 <= 0.9 })
        let atEnds = lambdas.filter { abs($0 - 0.1) < 1e-3 || abs($0 - 0.9) < 1e-3 }.count
        XCTAssertLessThan(Double(atEnds) / Double(lambdas.count), 0.01, "mass piled on the ends")
        // eight bins of width 0.1: 500 expected in each of 4000 draws (sd about 21)
        for bin in 0 ..< 8 {
            let low = 0.1 + 0.1 * Float(bin)
            let count = lambdas.filter { $0 >= low && $0 < low + 0.1 }.count
            XCTAssertEqual(Double(count), 500, accuracy: 100, "bin \(bin)")
        }
    }

    /// SDMP's loss is the plain MoCo v3 term plus the source and the mixing loss weighted ½ each
    /// (the official builder returns them halved): the loss is linear in the two weights, and the
    /// default weights are ½.
    func testSDMPWeighsSourceAndMixingLossesByHalf() {
        XCTAssertEqual(MixingConfiguration().sourceLossWeight, 0.5)
        XCTAssertEqual(MixingConfiguration().mixingLossWeight, 0.5)
        func loss(source: Float, mixing: Float) -> Double {
            var rng = RandomGenerator(seed: 7)
            var config = MoCoV3Configuration()
            config.projectorHiddenDimensions = 8; config.projectionDimensions = 6; config.predictorHiddenDimensions = 8
            var m = MixingConfiguration(strategies: [.mixup])
            m.sourceLossWeight = source; m.mixingLossWeight = mixing
            config.mixing = m
            let sdmp = MoCoV3(configuration: config, backboneWidth: 2, rng: &rng)
            let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
            return Double(sdmp.trainingStep(views: views, context: StepContext(step: 1, totalSteps: 4, epoch: 0, stepsPerEpoch: 4, seed: 3)))
        }
        let plain = loss(source: 0, mixing: 0), source = loss(source: 1, mixing: 0) - plain, mixing = loss(source: 0, mixing: 1) - plain
        XCTAssertGreaterThan(source, 0.1); XCTAssertGreaterThan(mixing, 0.1)
        XCTAssertEqual(loss(source: 0.5, mixing: 0.5), plain + 0.5 * source + 0.5 * mixing, accuracy: 1e-5)
    }

    /// SDMP's ingredients: one λ (and box size) per batch; equal source labels ½, ½; equal
    /// mixing labels ½, ½ (λc held at 1). The defaults keep λ per sample and the paper's labels.
    func testLambdaPerBatchAndEqualLabels() {
        var c = MixingConfiguration(strategies: [.cutmix])
        XCTAssertFalse(c.lambdaPerBatch || c.equalSourceLabels || c.equalMixingLabels)
        var rng = RandomGenerator(seed: 21)
        let perSample = MixPlan.draw(batch: 8, height: 16, width: 16, configuration: c, rng: &rng)
        XCTAssertGreaterThan(Set(perSample.lambdas).count, 1)
        c.lambdaPerBatch = true; c.equalSourceLabels = true; c.equalMixingLabels = true
        for strategy in MixStrategy.allCases {
            c.strategies = [strategy]
            let plan = MixPlan.draw(batch: 8, height: 16, width: 16, configuration: c, rng: &rng)
            XCTAssertEqual(Set(plan.lambdas).count, 1, "\(strategy): one λ per batch")
            if strategy != .mixup { XCTAssertEqual(Set(plan.boxes.map { $0.height * $0.width }).count, 1) }
            let moved = plan.movingBoxes(rng: &rng)
            for targets in [plan.sourceTargets(), plan.mixingTargets(), moved.sourceTargets(), moved.mixingTargets()] {
                for i in 0 ..< 8 where i != 8 - 1 - i {
                    XCTAssertEqual(targets[i * 8 + i], 0.5); XCTAssertEqual(targets[i * 8 + 7 - i], 0.5)
                }
            }
        }
    }
}
