import XCTest
@testable import Methods
import NN
import Tensors

/// The Barlow Twins loss in both forms: against a direct double-precision evaluation of the
/// paper's formula, against finite differences, and against each other.
final class BarlowTwinsLossTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    /// L = s·[Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²] with C from batch-standardised embeddings,
    /// straight from the definition, in double precision.
    func referenceLoss(_ za: Tensor, _ zb: Tensor, lambda: Double, scale: Double) -> Double {
        let n = za.shape[0], d = za.shape[1]
        func standardise(_ z: Tensor) -> [[Double]] {
            var out = [[Double]](repeating: [Double](repeating: 0, count: d), count: n)
            for j in 0 ..< d {
                let col = (0 ..< n).map { Double(z[$0 * d + j]) }
                let mean = col.reduce(0, +) / Double(n)
                let variance = col.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
                for i in 0 ..< n { out[i][j] = (col[i] - mean) / (variance + 1e-5).squareRoot() }
            }
            return out
        }
        let a = standardise(za), b = standardise(zb)
        var loss = 0.0
        for i in 0 ..< d { for j in 0 ..< d {
            var c = 0.0
            for k in 0 ..< n { c += a[k][i] * b[k][j] }
            c /= Double(n)
            loss += i == j ? (1 - c) * (1 - c) : lambda * c * c
        } }
        return scale * loss
    }

    func testValueMatchesDefinitionInBothForms() {
        var rng = RandomGenerator(seed: 1)
        let za = GradientCheck.random([16, 12], rng: &rng), zb = GradientCheck.random([16, 12], rng: &rng)
        for i in 0 ..< za.count { zb[i] = 0.7 * za[i] + 0.3 * zb[i] }   // correlated views
        let expected = referenceLoss(za, zb, lambda: 0.0051, scale: 0.1)
        for form in CrossCorrelationForm.allCases {
            let loss = BarlowTwinsLoss(offDiagonalWeight: 0.0051, scale: 0.1, form: form)
            let value = loss.loss(za, zb, gradA: Tensor(shape: [0]), gradB: Tensor(shape: [0]))
            XCTAssertEqual(Double(value), expected, accuracy: 1e-4 * abs(expected), "\(form)")
        }
    }

    /// Finite differences on every entry of both inputs, in each form. Tolerance: 1% of the
    /// largest gradient entry (float32, ε = 1e-2; the loss is smooth, so no kinks).
    func testGradientsAgainstFiniteDifferences() {
        for form in CrossCorrelationForm.allCases {
            var rng = RandomGenerator(seed: 2)
            let za = GradientCheck.random([8, 6], rng: &rng), zb = GradientCheck.random([8, 6], rng: &rng)
            // a large λ so that the redundancy term's gradient is not lost next to the invariance term's
            // (the recipe's λ 0.0051 and scale 0.1: testGradientsAtTheDefaultsEntrywise)
            let loss = BarlowTwinsLoss(offDiagonalWeight: 0.3, scale: 0.5, form: form)
            let ga = Tensor(shape: [0]), gb = Tensor(shape: [0])
            _ = loss.loss(za, zb, gradA: ga, gradB: gb)
            let f = { Double(loss.loss(za, zb, gradA: Tensor(shape: [0]), gradB: Tensor(shape: [0]))) }
            for (z, g) in [(za, ga), (zb, gb)] {
                let idx = Array(0 ..< z.count)
                let numeric = GradientCheck.numerical(f, x: z.data, indices: idx, epsilon: 1e-2, kinkTolerance: .infinity).map { $0! }
                let error = GradientCheck.relativeError(idx.map { Double(g[$0]) }, numeric)
                XCTAssertLessThan(error, 1e-2, "\(form): gradient off by \(error)")
            }
        }
    }

    /// The gradient at the recipe's settings (λ 0.0051, loss scale 0.1), where the redundancy
    /// term's gradient is a few percent of the invariance term's, entry by entry in both forms
    /// against central differences of the double-precision definition:
    ///   |g − g_ref| ≤ 1e-4·|g_ref| + 1e-5·max|g_ref|   for every entry of ∂L/∂zA and ∂L/∂zB
    /// (float32 lands within a tenth of that here).
    /// Views as a projector gives them early in training: the two views strongly correlated,
    /// the features of a view correlated with each other (so that C has sizeable off-diagonal
    /// entries). The test also shows its own reach: 1% of the redundancy term's gradient alone
    /// exceeds the tolerance on most entries, so a redundancy gradient off by 1% fails it.
    func testGradientsAtTheDefaultsEntrywise() {
        let defaults = BarlowTwinsConfiguration()
        let lambda = defaults.offDiagonalWeight, scale = defaults.lossScale
        XCTAssertEqual(lambda, 0.0051); XCTAssertEqual(scale, 0.1)
        let n = 32, d = 24
        var rng = RandomGenerator(seed: 21)
        let za = Tensor(shape: [n, d]), zb = Tensor(shape: [n, d])
        let base = GradientCheck.random([n, d], rng: &rng), shared = GradientCheck.random([n], rng: &rng)
        for i in 0 ..< n { for j in 0 ..< d {
            za[i * d + j] = base[i * d + j] + 0.8 * shared[i]
            zb[i * d + j] = za[i * d + j] + 0.3 * rng.normal()
        } }
        let x = (za.array + zb.array).map(Double.init)
        func reference(_ lambda: Double) -> [Double] {
            BarlowTwinsReference.gradient(at: x) {
                BarlowTwinsReference.loss(Array($0[0 ..< n * d]), Array($0[n * d ..< 2 * n * d]), rows: n, columns: d,
                                          lambda: lambda, scale: Double(scale))
            }
        }
        let expected = reference(Double(lambda)), invarianceOnly = reference(0)
        let atol = 1e-5 * expected.map(abs).max()!, rtol = 1e-4
        let tolerance = expected.map { rtol * abs($0) + atol }
        // the test's reach: entries where a 1% error in the redundancy gradient alone exceeds the tolerance
        let visible = zip(zip(expected, invarianceOnly), tolerance).filter { 0.01 * abs($0.0 - $0.1) > $1 }.count
        XCTAssertGreaterThan(visible, x.count / 2, "the redundancy gradient is lost in the tolerance")
        for form in CrossCorrelationForm.allCases {
            let loss = BarlowTwinsLoss(offDiagonalWeight: lambda, scale: scale, form: form)
            let ga = Tensor(shape: [0]), gb = Tensor(shape: [0])
            _ = loss.loss(za, zb, gradA: ga, gradB: gb)
            let analytic = (ga.array + gb.array).map(Double.init)
            var failures = 0, worst = 0.0
            for i in 0 ..< x.count {
                let excess = abs(analytic[i] - expected[i]) / tolerance[i]
                worst = max(worst, excess)
                if excess > 1 { failures += 1 }
            }
            XCTAssertEqual(failures, 0, "\(form): \(failures) of \(x.count) entries off, worst at \(worst)× the tolerance")
        }
    }

    func testGramAndDenseAgreeAtProjectorWidth() {
        var rng = RandomGenerator(seed: 3)
        let n = 64, d = 2048
        let za = GradientCheck.random([n, d], rng: &rng), zb = GradientCheck.random([n, d], rng: &rng)
        for i in 0 ..< za.count { zb[i] = 0.8 * za[i] + 0.2 * zb[i] }
        var values: [Float] = [], grads: [[Float]] = []
        for form in CrossCorrelationForm.allCases {
            let ga = Tensor(shape: [0]), gb = Tensor(shape: [0])
            values.append(BarlowTwinsLoss(offDiagonalWeight: 0.0051, scale: 0.1, form: form).loss(za, zb, gradA: ga, gradB: gb))
            grads.append(ga.array + gb.array)
        }
        XCTAssertEqual(values[0], values[1], accuracy: 1e-5 * abs(values[1]))
        let scale = grads[1].map(abs).max()!
        let worst = zip(grads[0], grads[1]).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst / scale, 1e-4)
    }

    /// Every variant of the loss against finite differences (1% of the largest entry).
    func testVariantGradientsAgainstFiniteDifferences() {
        let settings: [(String, (BarlowTwinsLoss) -> Void)] = [
            ("invariance only", { $0.offDiagonalWeight = 0 }),
            ("redundancy only", { $0.invarianceWeight = 0 }),
            ("feature normalisation, gram", { $0.normalization = .feature }),
            ("feature normalisation, dense", { $0.normalization = .feature; $0.form = .dense }),
            ("no normalisation", { $0.normalization = .none }),
            ("cross-entropy", { $0.objective = .crossEntropy(temperature: 0.5) }),
        ]
        for (name, set) in settings {
            var rng = RandomGenerator(seed: 11)
            let za = GradientCheck.random([8, 6], rng: &rng), zb = GradientCheck.random([8, 6], rng: &rng)
            let loss = BarlowTwinsLoss(offDiagonalWeight: 0.3, scale: 0.5)
            set(loss)
            let ga = Tensor(shape: [0]), gb = Tensor(shape: [0])
            _ = loss.loss(za, zb, gradA: ga, gradB: gb)
            let f = { Double(loss.loss(za, zb, gradA: Tensor(shape: [0]), gradB: Tensor(shape: [0]))) }
            for (z, g) in [(za, ga), (zb, gb)] {
                let idx = Array(0 ..< z.count)
                // the cross-entropy has a kink at C_ij = 0 (max(C, 0)): those entries are skipped
                let numeric = GradientCheck.numerical(f, x: z.data, indices: idx, epsilon: 1e-2,
                                                      kinkTolerance: name == "cross-entropy" ? 0.05 : .infinity)
                let pairs = idx.compactMap { i in numeric[i].map { (Double(g[i]), $0) } }
                XCTAssertGreaterThan(pairs.count, idx.count / 2, name)
                let error = GradientCheck.relativeError(pairs.map(\.0), pairs.map(\.1))
                XCTAssertLessThan(error, 1e-2, "\(name): gradient off by \(error)")
            }
        }
    }

    func testCrossEntropyValueMatchesDefinition() {
        var rng = RandomGenerator(seed: 12)
        let za = GradientCheck.random([8, 4], rng: &rng), zb = GradientCheck.random([8, 4], rng: &rng)
        let loss = BarlowTwinsLoss(offDiagonalWeight: 0.5, scale: 1)
        loss.objective = .crossEntropy(temperature: 0.2)
        let value = Double(loss.loss(za, zb, gradA: Tensor(shape: [0]), gradB: Tensor(shape: [0])))
        // C from the squared-error path's dense form: recover it from the reference definition
        func standardise(_ z: Tensor) -> [[Double]] {
            (0 ..< 4).map { j in
                let col = (0 ..< 8).map { Double(z[$0 * 4 + j]) }
                let m = col.reduce(0, +) / 8, v = col.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 8
                return col.map { ($0 - m) / (v + 1e-5).squareRoot() }
            }
        }
        let a = standardise(za), b = standardise(zb)
        var diag = 0.0, off = 0.0
        for i in 0 ..< 4 { for j in 0 ..< 4 {
            let c = (0 ..< 8).map { a[i][$0] * b[j][$0] }.reduce(0, +) / 8
            if i == j { diag += exp(c / 0.2) } else { off += exp(max(c, 0) / 0.2) }
        } }
        XCTAssertEqual(value, -log(diag) + 0.5 * log(off), accuracy: 1e-4)
    }

    /// The check: Gram and dense forms agree to 1e-5 relative at N 256, D 16384 (the
    /// dense form builds a 1 GiB matrix here; the Gram form never does).
    func testGramAndDenseAgreeAtWidth16384() {
        var rng = RandomGenerator(seed: 13)
        let n = 256, d = 16384
        let za = GradientCheck.random([n, d], rng: &rng), zb = GradientCheck.random([n, d], rng: &rng)
        for i in 0 ..< za.count { zb[i] = 0.8 * za[i] + 0.2 * zb[i] }
        var values: [Float] = []
        var gradients: [Tensor] = []
        for form in CrossCorrelationForm.allCases {
            let ga = Tensor(shape: [0]), gb = Tensor(shape: [0])
            values.append(BarlowTwinsLoss(offDiagonalWeight: 0.0051, scale: 0.1, form: form).loss(za, zb, gradA: ga, gradB: gb))
            gradients.append(ga)
        }
        XCTAssertEqual(values[0], values[1], accuracy: 1e-5 * abs(values[1]))
        var worst: Float = 0, scale: Float = 0
        for i in 0 ..< gradients[0].count {
            worst = max(worst, abs(gradients[0][i] - gradients[1][i])); scale = max(scale, abs(gradients[1][i]))
        }
        XCTAssertLessThan(worst / scale, 1e-4)
    }

    func testIdenticalWhitenedViewsGiveZeroInvariance() {
        // Two identical views with decorrelated units: C = I, so the loss is 0 up to ε.
        let n = 4, d = 2
        let z = Tensor(shape: [n, d], values: [1, 1, 1, -1, -1, 1, -1, -1])
        let loss = BarlowTwinsLoss(offDiagonalWeight: 0.0051, scale: 1)
        let value = loss.loss(z, z, gradA: Tensor(shape: [0]), gradB: Tensor(shape: [0]))
        XCTAssertEqual(value, 0, accuracy: 1e-4)
        XCTAssertEqual(loss.redundancyTerm, 0, accuracy: 1e-6)
    }
}
