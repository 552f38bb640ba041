import XCTest
@testable import NN
import Tensors

final class OptimizerTests: XCTestCase {
    func parameter(_ kind: Parameter.Kind, value: [Float], grad: [Float]) -> Parameter {
        let p = Parameter(name: "p", shape: [value.count], kind: kind)
        for i in value.indices { p.value[i] = value[i]; p.grad[i] = grad[i] }
        return p
    }

    func testLARSAdaptsWeightsOnly() {
        let w = parameter(.weight, value: [3, 4], grad: [0.6, 0.8])
        let b = parameter(.biasOrNorm, value: [1, 1], grad: [0.5, -0.5])
        let lars = LARS(momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.02)
        lars.step([w, b], learningRate: 0.5)
        // d = g + 0.1·p = (0.9, 1.2), ‖d‖ = 1.5, ‖p‖ = 5, q = 0.02·5/1.5
        let q: Float = 0.02 * 5 / 1.5
        XCTAssertEqual(w.value[0], 3 - 0.5 * q * 0.9, accuracy: 1e-6)
        XCTAssertEqual(w.value[1], 4 - 0.5 * q * 1.2, accuracy: 1e-6)
        // biases: no decay, no adaptation
        XCTAssertEqual(b.value[0], 1 - 0.5 * 0.5, accuracy: 1e-6)
        XCTAssertEqual(b.value[1], 1 + 0.5 * 0.5, accuracy: 1e-6)
        // second step: momentum
        lars.step([b], learningRate: 0.5)
        XCTAssertEqual(b.value[0], 0.75 - 0.5 * (0.9 * 0.5 + 0.5), accuracy: 1e-6)
    }

    func testLARSClipAndZeroNorms() {
        let w = parameter(.weight, value: [0, 0], grad: [1, 1])
        LARS(weightDecay: 0).step([w], learningRate: 1)
        XCTAssertEqual(w.value[0], -1, accuracy: 1e-6)     // ‖p‖ = 0 → q = 1
        let big = parameter(.weight, value: [100, 0], grad: [0.001, 0])
        LARS(weightDecay: 0, trustCoefficient: 1, clipTrustRatio: true).step([big], learningRate: 1)
        XCTAssertEqual(big.value[0], 100 - 0.001, accuracy: 1e-4)   // q clipped at 1
        // the clip is relative to the rate (solo-learn's clip_lr): the effective rate lr·q is min(η‖p‖/‖g‖, lr)
        let small = parameter(.weight, value: [3, 4], grad: [0.6, 0.8])          // ‖p‖ 5, ‖g‖ 1
        LARS(momentum: 0, weightDecay: 0, trustCoefficient: 0.02, clipTrustRatio: true).step([small], learningRate: 0.5)
        XCTAssertEqual(small.value[0], 3 - 0.1 * 0.6, accuracy: 1e-6)           // min(0.02·5, 0.5) = 0.1: adapted
        let steep = parameter(.weight, value: [3, 4], grad: [0.0006, 0.0008])    // ‖g‖ 0.001: η‖p‖/‖g‖ = 100
        LARS(momentum: 0, weightDecay: 0, trustCoefficient: 0.02, clipTrustRatio: true).step([steep], learningRate: 0.5)
        XCTAssertEqual(steep.value[0], 3 - 0.5 * 0.0006, accuracy: 1e-7)        // min(100, 0.5) = 0.5: plain SGD
        let unclipped = parameter(.weight, value: [3, 4], grad: [0.0006, 0.0008])
        LARS(momentum: 0, weightDecay: 0, trustCoefficient: 0.02).step([unclipped], learningRate: 0.5)
        XCTAssertEqual(unclipped.value[0], 3 - 0.5 * 100 * 0.0006, accuracy: 1e-6)   // lr·q = 50
        // a zero gradient: plain momentum SGD on g, no decay (solo-learn skips both), so the weight stays
        let still = parameter(.weight, value: [3, 4], grad: [0, 0])
        LARS(momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.02, clipTrustRatio: true).step([still], learningRate: 0.5)
        XCTAssertEqual(still.value.array, [3, 4])
        // at a rate of 0 (the first warm-up step) the clipped factor is 1, as min(q/0, 1) is
        XCTAssertEqual(LARS(weightDecay: 0, clipTrustRatio: true).trustRatio(weightNorm: 5, gradientNorm: 1, learningRate: 0), 1)
        XCTAssertNil(LARS().trustRatio(weightNorm: 0, gradientNorm: 1, learningRate: 0.1))
    }

    /// solo-learn's trust ratio: η‖p‖/(‖g‖ + wd‖p‖ + 1e-8), told apart from the official Barlow
    /// Twins code's η‖p‖/‖g + wd·p‖ by a gradient orthogonal to the weight.
    func testLARSTrustRatioDividesBySumOfNorms() {
        let w = parameter(.weight, value: [3, 4], grad: [0.8, -0.6])   // ‖p‖ 5, ‖g‖ 1, g ⟂ p
        LARS(momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.02).step([w], learningRate: 0.5)
        let q: Float = 0.02 * 5 / (1 + 0.1 * 5)                          // 0.0667; ‖g + wd·p‖ would give 0.0894
        XCTAssertEqual(w.value[0], 3 - 0.5 * q * (0.8 + 0.3), accuracy: 1e-7)
        XCTAssertEqual(w.value[1], 4 - 0.5 * q * (-0.6 + 0.4), accuracy: 1e-7)
    }

    /// The optimisers split large parameters over the threads; the update must not depend on it.
    func testLargeParametersGetTheSameUpdateAtOneAndTwoThreads() {
        func run(threads: Int, _ make: () -> Optimizer) -> [Float] {
            Parallel.configure(threads: threads, partitions: threads)
            var rng = RandomGenerator(seed: 11)
            let w = Parameter(name: "w", shape: [300, 257], kind: .weight), b = Parameter(name: "b", shape: [70_001], kind: .biasOrNorm)
            for p in [w, b] { for i in 0 ..< p.value.count { p.value.data[i] = rng.normal() } }
            let optimizer = make()
            for step in 0 ..< 3 {
                for p in [w, b] { for i in 0 ..< p.grad.count { p.grad.data[i] = rng.normal() * Float(step + 1) } }
                optimizer.step([w, b], learningRate: 0.1)
            }
            return Array(UnsafeBufferPointer(start: w.value.data, count: w.value.count))
                + Array(UnsafeBufferPointer(start: b.value.data, count: b.value.count))
        }
        defer { Parallel.configure(threads: 2) }
        for make: () -> Optimizer in [{ LARS(momentum: 0.9, weightDecay: 1e-4) }, { SGD(momentum: 0.9, weightDecay: 1e-4) }] {
            let one = run(threads: 1, make), two = run(threads: 2, make), three = run(threads: 3, make)
            XCTAssertEqual(one, two)
            XCTAssertEqual(one, three)
        }
    }

    /// A parameter's `learningRateScale` multiplies the rate it steps at, in every optimiser and
    /// in LARS's clip: a scaled parameter moves as an unscaled one at the scaled rate.
    func testLearningRateScaleStepsAParameterAtItsOwnRate() {
        let makers: [() -> Optimizer] = [{ LARS(momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.02, clipTrustRatio: true) },
                                         { LARS(momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.02) },
                                         { SGD(momentum: 0.9, weightDecay: 0.1) }, { AdamW(weightDecay: 0.1) }]
        for make in makers {
            for kind in [Parameter.Kind.weight, .biasOrNorm] {
                let scaled = parameter(kind, value: [3, 4], grad: [0.6, -0.8]), plain = parameter(kind, value: [3, 4], grad: [0.6, -0.8])
                scaled.learningRateScale = 10
                let a = make(), b = make()
                for _ in 0 ..< 2 {
                    a.step([scaled], learningRate: 0.03)
                    b.step([plain], learningRate: 0.3)
                }
                XCTAssertEqual(scaled.value.array, plain.value.array, "\(type(of: a)), \(kind)")
                XCTAssertNotEqual(scaled.value.array, [3, 4])
            }
        }
    }

    func testSGDAndAdamW() {
        let p = parameter(.weight, value: [1], grad: [0.5])
        SGD(momentum: 0.9, weightDecay: 0.1).step([p], learningRate: 0.1)
        XCTAssertEqual(p.value[0], 1 - 0.1 * (0.5 + 0.1), accuracy: 1e-6)
        let a = parameter(.weight, value: [1], grad: [0.5])
        AdamW(weightDecay: 0.1).step([a], learningRate: 0.01)
        // first step: m̂ = g, v̂ = g², update = lr·sign(g) (up to ε), after decay 1 − lr·wd
        XCTAssertEqual(a.value[0], 1 * (1 - 0.001) - 0.01, accuracy: 1e-5)
    }

    func testWarmupCosine() {
        let s = WarmupCosineSchedule(baseLearningRate: 1, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s.learningRate(atStep: 0), 0)
        XCTAssertEqual(s.learningRate(atStep: 5), 0.5, accuracy: 1e-6)
        XCTAssertEqual(s.learningRate(atStep: 10), 1, accuracy: 1e-6)
        XCTAssertEqual(s.learningRate(atStep: 60), 0.5, accuracy: 1e-6)
        XCTAssertEqual(s.learningRate(atStep: 110), 0, accuracy: 1e-6)
    }
}
