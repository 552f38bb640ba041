import XCTest
import Foundation
@testable import Methods
import NN
import Tensors

/// NT-Xent, BYOL's normalised MSE and MoCo v3's InfoNCE: values against the definitions in
/// double precision, gradients against finite differences (1% of the largest entry, ε 1e-2;
/// the losses are smooth).
final class ContrastiveLossTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func normalised(_ z: Tensor, _ i: Int) -> [Double] {
        let d = z.columns
        let row = (0 ..< d).map { Double(z[i * d + $0]) }
        let norm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
        return row.map { $0 / norm }
    }
    func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }

    func assertGradient(_ f: @escaping () -> Double, _ x: Tensor, _ analytic: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let idx = Array(0 ..< x.count)
        let numeric = GradientCheck.numerical(f, x: x.data, indices: idx, epsilon: 1e-2, kinkTolerance: .infinity).map { $0! }
        let error = GradientCheck.relativeError(idx.map { Double(analytic[$0]) }, numeric)
        XCTAssertLessThan(error, 1e-2, "gradient off by \(error)", file: file, line: line)
    }

    /// At τ 0.5 and at the default, SimCLR's τ 0.2.
    func testNTXentValueAndGradient() {
        XCTAssertEqual(NTXentLoss().temperature, SimCLRConfiguration().temperature)
        for temperature in [0.5, NTXentLoss().temperature] as [Float] {
            var rng = RandomGenerator(seed: 1)
            let z = GradientCheck.random([8, 5], rng: &rng)
            let loss = NTXentLoss(temperature: temperature)
            let grad = Tensor(shape: [0])
            let value = loss.loss(z, gradient: grad)
            let t = Double(temperature)
            var expected = 0.0
            for i in 0 ..< 8 {
                let positive = (i + 4) % 8
                var sum = 0.0
                for k in 0 ..< 8 where k != i { sum += exp(dot(normalised(z, i), normalised(z, k)) / t) }
                expected += -dot(normalised(z, i), normalised(z, positive)) / t + log(sum)
            }
            XCTAssertEqual(Double(value), expected / 8, accuracy: 1e-5, "τ \(temperature)")
            assertGradient({ Double(loss.loss(z, gradient: Tensor(shape: [0]))) }, z, grad)
        }
    }

    /// Without the ℓ2 normalisation (SimCLR Table 5's raw rows, τ 10): s_ik = ⟨z_i, z_k⟩/τ.
    func testNTXentWithoutNormalisationValueAndGradient() {
        var rng = RandomGenerator(seed: 4)
        let z = GradientCheck.random([8, 5], rng: &rng)
        for i in 0 ..< z.count { z[i] *= 3 }
        let loss = NTXentLoss(temperature: 10, normalizes: false)
        let grad = Tensor(shape: [0])
        let value = loss.loss(z, gradient: grad)
        func raw(_ i: Int, _ k: Int) -> Double { (0 ..< 5).map { Double(z[i * 5 + $0]) * Double(z[k * 5 + $0]) }.reduce(0, +) / 10 }
        var expected = 0.0
        for i in 0 ..< 8 {
            var sum = 0.0
            for k in 0 ..< 8 where k != i { sum += exp(raw(i, k)) }
            expected += -raw(i, (i + 4) % 8) + log(sum)
        }
        XCTAssertEqual(Double(value), expected / 8, accuracy: 1e-5)
        assertGradient({ Double(loss.loss(z, gradient: Tensor(shape: [0]))) }, z, grad)
        // scaling the embeddings changes the raw loss (it does not change the normalised one)
        let normalised = NTXentLoss(temperature: 10)
        let before = normalised.loss(z, gradient: Tensor(shape: [0]))
        for i in 0 ..< z.count { z[i] *= 2 }
        XCTAssertEqual(normalised.loss(z, gradient: Tensor(shape: [0])), before, accuracy: 1e-5)
        XCTAssertNotEqual(loss.loss(z, gradient: Tensor(shape: [0])), value, accuracy: 1e-3)
    }

    func testNormalizedMSEValueAndGradient() {
        var rng = RandomGenerator(seed: 2)
        let p = GradientCheck.random([6, 4], rng: &rng), t = GradientCheck.random([6, 4], rng: &rng)
        let loss = NormalizedMSELoss()
        let grad = Tensor(shape: [0])
        let value = loss.loss(prediction: p, target: t, gradient: grad)
        let expected = (0 ..< 6).map { 2 - 2 * dot(normalised(p, $0), normalised(t, $0)) }.reduce(0, +) / 6
        XCTAssertEqual(Double(value), expected, accuracy: 1e-5)
        assertGradient({ Double(loss.loss(prediction: p, target: t, gradient: Tensor(shape: [0]))) }, p, grad)
        // the same vector up to scale costs nothing
        let scaled = Tensor(shape: p.shape, values: p.array.map { 3 * $0 })
        XCTAssertEqual(loss.loss(prediction: p, target: scaled, gradient: Tensor(shape: [0])), 0, accuracy: 1e-5)
    }

    /// At the defaults, MoCo v3's: τ 0.2, the cross-entropy scaled by 2τ.
    func testInfoNCEValueAndGradientWithHardAndSoftLabels() {
        var rng = RandomGenerator(seed: 3)
        let q = GradientCheck.random([5, 4], rng: &rng), k = GradientCheck.random([5, 4], rng: &rng)
        let loss = InfoNCELoss()
        XCTAssertEqual(loss.temperature, 0.2); XCTAssertEqual(MoCoV3Configuration().temperature, 0.2)
        XCTAssertTrue(loss.scaleByTwiceTemperature)
        let grad = Tensor(shape: [0])
        let value = loss.loss(queries: q, keys: k, gradient: grad)
        var expected = 0.0
        for i in 0 ..< 5 {
            let logits = (0 ..< 5).map { dot(normalised(q, i), normalised(k, $0)) / 0.2 }
            expected += -(logits[i] - log(logits.map(exp).reduce(0, +)))
        }
        XCTAssertEqual(Double(value), 2 * 0.2 * expected / 5, accuracy: 1e-5)
        assertGradient({ Double(loss.loss(queries: q, keys: k, gradient: Tensor(shape: [0]))) }, q, grad)
        // soft labels: row i puts 0.7 on key i and 0.3 on key 4 − i
        let targets = Tensor(shape: [5, 5])
        for i in 0 ..< 5 { targets[i * 5 + i] += 0.7; targets[i * 5 + 4 - i] += 0.3 }
        let softGrad = Tensor(shape: [0])
        _ = loss.loss(queries: q, keys: k, gradient: softGrad, targets: targets)
        assertGradient({ Double(loss.loss(queries: q, keys: k, gradient: Tensor(shape: [0]), targets: targets)) }, q, softGrad)
    }
}
