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

    /// At SwAV's τ 0.1 with Sinkhorn's default codes, with weight 1 (the default) and ½ (a
    /// step without small crops).
    func testSwappedPredictionValueAndGradient() {
        XCTAssertEqual(SwAVConfiguration().temperature, 0.1)
        for weight: Float in [1, 0.5] {
            var rng = RandomGenerator(seed: 2)
            let scores = GradientCheck.random([6, 5], rng: &rng, uniform: (-1, 1))
            let codes = sinkhornCodes(scores: GradientCheck.random([6, 5], rng: &rng, uniform: (-1, 1)))
            let grad = Tensor(shape: [0])
            let value = swappedPredictionLoss(scores: scores, codes: codes, temperature: 0.1, gradient: grad, weight: weight)
            var expected = 0.0
            for i in 0 ..< 6 {
                let logits = (0 ..< 5).map { Double(scores[i * 5 + $0]) / 0.1 }
                let logSum = log(logits.map(exp).reduce(0, +))
                for j in 0 ..< 5 { expected -= Double(codes[i * 5 + j]) * (logits[j] - logSum) }
            }
            XCTAssertEqual(Double(value), Double(weight) * expected / 6, accuracy: 1e-4, "weight \(weight)")
            let idx = Array(0 ..< scores.count)
            let f = { Double(swappedPredictionLoss(scores: scores, codes: codes, temperature: 0.1, gradient: Tensor(shape: [0]), weight: weight)) }
            let numeric = GradientCheck.numerical(f, x: scores.data, indices: idx, epsilon: 1e-3, kinkTolerance: .infinity).map { $0! }
            XCTAssertLessThan(GradientCheck.relativeError(idx.map { Double(grad[$0]) }, numeric), 1e-2, "weight \(weight)")
        }
    }

    /// Prototypes: normalised every step, a gradient once training is past the frozen epochs,
    /// none before. (A finite-difference check of the whole step would move the codes too; the
    /// swapped prediction with fixed codes is checked above.)
    func testPrototypesAreNormalisedAndFrozenForTheFirstEpochs() {
        for normalization in PrototypeNormalization.allCases {
            var rng = RandomGenerator(seed: 3)
            var config = SwAVConfiguration()
            config.projectorHiddenDimensions = 8; config.projectionDimensions = 6; config.prototypeCount = 10
            config.prototypeNormalization = normalization
            let swav = SwAV(configuration: config, backboneWidth: 2, rng: &rng)
            let initial = swav.prototypes.value.array
            let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
            _ = swav.trainingStep(views: views, context: StepContext(step: 0, totalSteps: 2, epoch: 0, stepsPerEpoch: 1, seed: 0))
            for i in 0 ..< 10 {
                let row = (0 ..< 6).map { swav.prototypeMatrix[i * 6 + $0] }
                XCTAssertEqual(row.map { $0 * $0 }.reduce(0, +), 1, accuracy: 1e-5, "\(normalization)")
                let norm = (0 ..< 6).map { initial[i * 6 + $0] * initial[i * 6 + $0] }.reduce(0, +).squareRoot()
                for j in 0 ..< 6 { XCTAssertEqual(row[j], initial[i * 6 + j] / norm, accuracy: 1e-6) }
            }
            // in place, the parameter itself becomes C; weight-normalised, V stays as it was
            XCTAssertEqual(swav.prototypes.value.array == initial, normalization == .weightNorm, "\(normalization)")
            XCTAssertTrue(swav.prototypes.grad.array.allSatisfy { $0 == 0 })
            XCTAssertEqual(swav.lastCodes.shape, [8, 10])
            // solo-learn's 2 frozen epochs: still none in epoch 1, a gradient from epoch 2 on
            XCTAssertEqual(config.freezePrototypesEpochs, 2)
            _ = swav.trainingStep(views: views, context: StepContext(step: 1, totalSteps: 3, epoch: 1, stepsPerEpoch: 1, seed: 0))
            XCTAssertTrue(swav.prototypes.grad.array.allSatisfy { $0 == 0 })
            _ = swav.trainingStep(views: views, context: StepContext(step: 2, totalSteps: 3, epoch: 2, stepsPerEpoch: 1, seed: 0))
            XCTAssertTrue(swav.prototypes.grad.array.contains { $0 != 0 })
        }
    }

    /// The weight-normalised prototypes: the loss depends on V only through V/‖V‖, so its
    /// gradient is orthogonal to every row of V (∂L/∂V_k = (∂L/∂C_k − C_k⟨C_k, ∂L/∂C_k⟩)/‖V_k‖),
    /// scaling V by s leaves the loss alone and divides the gradient by s, and the part of the
    /// gradient along the prototypes' own directions is what the in-place variant keeps.
    func testWeightNormalisedPrototypesPassTheGradientThroughTheNorm() {
        func run(_ normalization: PrototypeNormalization, scale: Float) -> (loss: Float, v: [Float], g: [Float], c: [Float]) {
            var rng = RandomGenerator(seed: 5)
            var config = SwAVConfiguration()
            config.projectorHiddenDimensions = 8; config.projectionDimensions = 6; config.prototypeCount = 10
            config.freezePrototypesEpochs = 0; config.prototypeNormalization = normalization
            let swav = SwAV(configuration: config, backboneWidth: 2, rng: &rng)
            for i in 0 ..< swav.prototypes.value.count { swav.prototypes.value[i] *= scale * (1 + Float(i % 3)) }
            let views = GradientCheck.random([8, 8, 8, 3], rng: &rng)
            let v = swav.prototypes.value.array
            let loss = swav.trainingStep(views: views, context: StepContext(step: 0, totalSteps: 1, epoch: 0, stepsPerEpoch: 1, seed: 0))
            return (loss, v, swav.prototypes.grad.array, swav.prototypeMatrix.array)
        }
        let a = run(.weightNorm, scale: 1), b = run(.weightNorm, scale: 2), flat = run(.inPlace, scale: 1)
        XCTAssertEqual(a.loss, b.loss, accuracy: 1e-5 * abs(a.loss))
        XCTAssertEqual(a.loss, flat.loss, accuracy: 1e-5 * abs(a.loss))
        XCTAssertTrue(a.g.contains { $0 != 0 })
        let scale = a.g.map(abs).max()!
        for k in 0 ..< 10 {
            let row = k * 6 ..< k * 6 + 6
            let radial = row.map { a.v[$0] * a.g[$0] }.reduce(0, +) / row.map { a.v[$0] * a.v[$0] }.reduce(0, +).squareRoot()
            XCTAssertEqual(radial, 0, accuracy: 1e-5 * scale, "row \(k)")
            let norm = row.map { a.v[$0] * a.v[$0] }.reduce(0, +).squareRoot()
            // the in-place gradient G_k projected off C_k and divided by ‖V_k‖
            let along = row.map { flat.c[$0] * flat.g[$0] }.reduce(0, +)
            for j in row {
                XCTAssertEqual(b.g[j], a.g[j] / 2, accuracy: 1e-4 * scale, "scaling V by 2 halves ∂L/∂V")
                XCTAssertEqual(a.g[j], (flat.g[j] - flat.c[j] * along) / norm, accuracy: 1e-4 * scale)
            }
        }
    }

    /// Multi-crop and the queue, each on something observable, recomputed here from the
    /// encoder, projector and prototypes (u = z/‖z‖, scores = u·Cᵀ):
    /// - each view's queue holds the normalised embeddings of that view in the last steps, newest
    ///   first, with the fill count;
    /// - until the queues are full a view's codes are Sinkhorn over that view's scores alone;
    ///   once full, with the scores of that view's queue (as it stood at the start of the step)
    ///   appended, and then they differ from the codes of the batch alone;
    /// - the loss averages the 2(1 + V) swapped predictions: each view predicts the other's
    ///   codes, and each of the V small crops (one batch-norm batch) predicts both.
    func testMultiCropAndQueueRun() {
        var rng = RandomGenerator(seed: 4)
        var config = SwAVConfiguration()
        config.projectorHiddenDimensions = 8; config.projectionDimensions = 6; config.prototypeCount = 10
        config.smallCrops = SmallCropPlan(count: 2, size: 16); config.queueLength = 8; config.queueStartEpoch = 1
        let swav = SwAV(configuration: config, backboneWidth: 2, rng: &rng)
        let n = 4, d = 6, k = 10
        let context = StepContext(step: 0, totalSteps: 2, epoch: 1, stepsPerEpoch: 1, seed: 0)
        /// Rows of z/‖z‖ for a batch, through the networks with `groups` batch-norm groups.
        func embeddings(_ x: Tensor, groups: Int) -> [[Double]] {
            swav.encoder.setBatchNormGroups(groups); swav.projector.setBatchNormGroups(groups)
            defer { swav.encoder.setBatchNormGroups(2); swav.projector.setBatchNormGroups(2) }
            let z = swav.projector.forward(swav.encoder.forward(x, training: true), training: true)
            return (0 ..< z.rows).map { i in
                let row = (0 ..< d).map { Double(z[i * d + $0]) }
                let norm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
                return row.map { $0 / norm }
            }
        }
        func scores(_ u: [[Double]]) -> [[Double]] {
            u.map { row in (0 ..< k).map { j in (0 ..< d).map { row[$0] * Double(swav.prototypeMatrix[j * d + $0]) }.reduce(0, +) } }
        }
        func sinkhorn(_ rows: [[Double]]) -> [[Float]] {
            let codes = sinkhornCodes(scores: Tensor(shape: [rows.count, k], values: rows.flatMap { $0.map(Float.init) }))
            return (0 ..< rows.count).map { i in (0 ..< k).map { codes[i * k + $0] } }
        }
        /// −(1/B) Σ_b Σ_k q_bk log softmax(s_b/τ)_k
        func swapped(_ s: [[Double]], _ q: [[Float]]) -> Double {
            let t = Double(config.temperature)
            return zip(s, q).map { row, code in
                let logSum = log(row.map { exp($0 / t) }.reduce(0, +))
                return -zip(row, code).map { Double($1) * ($0 / t - logSum) }.reduce(0, +)
            }.reduce(0, +) / Double(s.count)
        }
        /// Each view's queue: rows[v][i], newest first.
        func queue() -> (rows: [[[Double]]], filled: Int) {
            let state = swav.extraStateTensors.suffix(2), q = state.first!, fill = state.last!
            XCTAssertEqual(q.shape, [2, 8, d])
            let rows = (0 ..< 2).map { v in (0 ..< 8).map { i in (0 ..< d).map { Double(q[(v * 8 + i) * d + $0]) } } }
            return (rows, Int(fill[0]))
        }
        func assertClose(_ a: [[Double]], _ b: [[Double]], _ accuracy: Double, _ message: String, line: UInt = #line) {
            XCTAssertEqual(a.count, b.count, message, line: line)
            for (x, y) in zip(a, b) { for (p, q) in zip(x, y) { XCTAssertEqual(p, q, accuracy: accuracy, message, line: line) } }
        }
        var losses: [Float] = []
        var queueBefore = queue()
        XCTAssertEqual(queueBefore.filled, 0)
        for step in 1 ... 3 {
            // new images every step, so that the queue holds other embeddings than the batch's
            let views = GradientCheck.random([2 * n, 32, 32, 3], rng: &rng)
            let crops = GradientCheck.random([2 * n, 16, 16, 3], rng: &rng)
            let loss = swav.trainingStep(views: views, smallCrops: crops, context: context)
            losses.append(loss)
            let u = embeddings(views, groups: 2), s = scores(u)
            let sA = Array(s[0 ..< n]), sB = Array(s[n ..< 2 * n])
            // each view's queue: this step's rows of that view in front of what was there
            let now = queue()
            XCTAssertEqual(now.filled, min(8, queueBefore.filled + n), "step \(step): fill")
            for v in 0 ..< 2 {
                assertClose(Array(now.rows[v][0 ..< n]), Array(u[v * n ..< (v + 1) * n]), 1e-5, "step \(step): newest rows of queue \(v)")
                assertClose(Array(now.rows[v][n ..< 8]), Array(queueBefore.rows[v][0 ..< 8 - n]), 0, "step \(step): older rows of queue \(v)")
            }
            // the codes: Sinkhorn with the view's queue as it stood at the start of the step
            // appended, once it was full
            let full = queueBefore.filled == 8
            XCTAssertEqual(full, step == 3)
            let queuedA = full ? scores(queueBefore.rows[0]) : [], queuedB = full ? scores(queueBefore.rows[1]) : []
            let codesA = Array(sinkhorn(sA + queuedA)[0 ..< n]), codesB = Array(sinkhorn(sB + queuedB)[0 ..< n])
            let stepCodes = (0 ..< 2 * n).map { i in (0 ..< k).map { Double(swav.lastCodes[i * k + $0]) } }
            assertClose(stepCodes, (codesA + codesB).map { $0.map(Double.init) }, 1e-4, "step \(step): codes")
            if step == 3 {
                let alone = (sinkhorn(sA) + sinkhorn(sB)).map { $0.map(Double.init) }
                let difference = zip(stepCodes, alone).map { zip($0, $1).map { abs($0 - $1) }.max()! }.max()!
                XCTAssertGreaterThan(difference, 0.05, "the queue's rows changed nothing in the codes")
            }
            // the loss: both views and both crops, each predicting the codes it is given
            let c = scores(embeddings(crops, groups: 1))
            var expected = swapped(sB, codesA) + swapped(sA, codesB)
            for v in 0 ..< 2 {
                let sc = Array(c[v * n ..< (v + 1) * n])
                expected += swapped(sc, codesA) + swapped(sc, codesB)
            }
            expected /= 2 * (1 + 2)
            XCTAssertEqual(Double(loss), expected, accuracy: 1e-4 * expected, "step \(step): loss")
            queueBefore = now
        }
        XCTAssertNotEqual(losses[0], losses[2])
    }
}
