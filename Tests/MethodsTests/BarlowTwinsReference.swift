import Foundation
@testable import Methods

/// The Barlow Twins objective of every variant straight from its definition, in double
/// precision, on row-major [N, D] embeddings:
///   a, b = zA, zB standardised over the batch (.batch), then L2-normalised per row (.feature),
///          or only centred (.none);  C = aᵀb / N (/ 1 for .feature)
///   squared error:  L = s·[w Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²]
///   cross-entropy:  L = s·[−w log Σ_i exp(C_ii/τ) + λ log Σ_{i≠j} exp(max(C_ij, 0)/τ)]
enum BarlowTwinsReference {
    static func loss(_ za: [Double], _ zb: [Double], rows n: Int, columns d: Int, lambda: Double, scale: Double,
                     invarianceWeight w: Double = 1, normalization: EmbeddingNormalization = .batch,
                     objective: BarlowTwinsObjective = .squaredError) -> Double {
        func embed(_ z: [Double]) -> [Double] {
            var a = z
            for j in 0 ..< d {
                var mean = 0.0
                for i in 0 ..< n { mean += z[i * d + j] }
                mean /= Double(n)
                var variance = 0.0
                for i in 0 ..< n { variance += (z[i * d + j] - mean) * (z[i * d + j] - mean) }
                variance /= Double(n)
                let r = normalization == .none ? 1 : 1 / (variance + 1e-5).squareRoot()
                for i in 0 ..< n { a[i * d + j] = (z[i * d + j] - mean) * r }
            }
            if normalization == .feature {
                for i in 0 ..< n {
                    var s = 0.0
                    for j in 0 ..< d { s += a[i * d + j] * a[i * d + j] }
                    let inv = 1 / max(s.squareRoot(), 1e-12)
                    for j in 0 ..< d { a[i * d + j] *= inv }
                }
            }
            return a
        }
        let a = embed(za), b = embed(zb), divisor = normalization == .feature ? 1 : Double(n)
        var c = [Double](repeating: 0, count: d * d)
        for k in 0 ..< n { for i in 0 ..< d { for j in 0 ..< d { c[i * d + j] += a[k * d + i] * b[k * d + j] } } }
        for i in 0 ..< d * d { c[i] /= divisor }
        switch objective {
        case .squaredError:
            var invariance = 0.0, redundancy = 0.0
            for i in 0 ..< d { for j in 0 ..< d {
                if i == j { invariance += (1 - c[i * d + j]) * (1 - c[i * d + j]) } else { redundancy += c[i * d + j] * c[i * d + j] }
            } }
            return scale * (w * invariance + lambda * redundancy)
        case .crossEntropy(let temperature):
            let t = Double(temperature)
            var diagonal = 0.0, offDiagonal = 0.0
            for i in 0 ..< d { for j in 0 ..< d {
                if i == j { diagonal += exp(c[i * d + j] / t) } else { offDiagonal += exp(max(c[i * d + j], 0) / t) }
            } }
            return scale * (-w * log(diagonal) + lambda * (d > 1 ? log(offDiagonal) : 0))
        }
    }

    /// Central differences of `f` (a function of the concatenation [zA; zB]) for every entry, in
    /// double precision: with h = 1e-5 the truncation (h²) and rounding (1e-16/h) errors are far
    /// below anything float32 can resolve.
    static func gradient(at x: [Double], step h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
        var x = x
        return (0 ..< x.count).map { i in
            let saved = x[i]
            x[i] = saved + h; let plus = f(x)
            x[i] = saved - h; let minus = f(x)
            x[i] = saved
            return (plus - minus) / (2 * h)
        }
    }
}
