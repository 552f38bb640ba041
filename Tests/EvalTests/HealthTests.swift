import XCTest
import Foundation
@testable import Eval
import Tensors

final class HealthTests: XCTestCase {
    /// An N×F matrix Q·diag(σ)·R with orthonormal columns in Q ([N, F]) and a rotation R, so
    /// that its singular values are exactly σ.
    func matrix(singularValues sigma: [Double], rows n: Int, rng: inout RandomGenerator) -> Tensor {
        let f = sigma.count
        func orthonormalColumns(_ rows: Int, _ cols: Int) -> [[Double]] {   // Gram–Schmidt on Gaussian columns
            var q: [[Double]] = []
            for _ in 0 ..< cols {
                var v = (0 ..< rows).map { _ in Double(rng.normal()) }
                for u in q { let d = zip(u, v).map(*).reduce(0, +); v = zip(v, u).map { $0 - d * $1 } }
                let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
                q.append(v.map { $0 / norm })
            }
            return q
        }
        let q = orthonormalColumns(n, f), r = orthonormalColumns(f, f)
        var values = [Float](repeating: 0, count: n * f)
        for i in 0 ..< n { for j in 0 ..< f {
            var s = 0.0
            for k in 0 ..< f { s += q[k][i] * sigma[k] * r[k][j] }
            values[i * f + j] = Float(s)
        } }
        return Tensor(shape: [n, f], values: values)
    }

    func testRankMeMatchesItsFormulaOnKnownSingularValues() {
        var rng = RandomGenerator(seed: 3)
        let sigma: [Double] = [10, 5, 2, 1, 0.5, 0, 0, 0]
        let x = matrix(singularValues: sigma, rows: 64, rng: &rng)
        let total = sigma.reduce(0, +)
        let expected = exp(-sigma.map { $0 / total + 1e-7 }.map { $0 * log($0) }.reduce(0, +))
        XCTAssertEqual(rankMe(x), expected, accuracy: 1e-3 * expected)
        // Equal singular values: the full rank; one direction only: 1.
        XCTAssertEqual(rankMe(matrix(singularValues: [Double](repeating: 2, count: 8), rows: 64, rng: &rng)), 8, accuracy: 0.01)
        XCTAssertEqual(rankMe(matrix(singularValues: [3, 0, 0, 0, 0, 0, 0, 0], rows: 64, rng: &rng)), 1, accuracy: 0.01)
    }

    func testEigenvaluesOfASymmetricMatrix() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let w = symmetricEigenvalues([2, 1, 1, 2], n: 2)
        XCTAssertEqual(w[0], 1, accuracy: 1e-12); XCTAssertEqual(w[1], 3, accuracy: 1e-12)
    }

    func testEmbeddingStandardDeviationIsZeroWhenCollapsedAndAboutOneOverRootDWhenSpread() {
        var rng = RandomGenerator(seed: 5)
        let n = 4000, d = 64
        let spread = Tensor(shape: [n, d], values: (0 ..< n * d).map { _ in rng.normal() })
        XCTAssertEqual(normalizedEmbeddingStandardDeviation(spread), 1 / Double(d).squareRoot(), accuracy: 0.005)
        let row = (0 ..< d).map { _ in rng.normal() }
        let collapsed = Tensor(shape: [n, d], values: (0 ..< n).flatMap { _ in row.map { $0 * 3 } })
        XCTAssertEqual(normalizedEmbeddingStandardDeviation(collapsed), 0, accuracy: 1e-4)
        // Scaling a row does not change its direction: the figure is the same.
        let scaled = Tensor(shape: [n, d], values: (0 ..< n * d).map { spread.data[$0] * Float(1 + $0 / d % 7) })
        XCTAssertEqual(normalizedEmbeddingStandardDeviation(scaled), normalizedEmbeddingStandardDeviation(spread), accuracy: 1e-6)
    }
}
