import Foundation

/// The distributions the claim rule needs, written out so that the package stays free of
/// dependencies; each is checked against tabulated values in the tests.
public enum Distributions {
    /// The mean of `values`; NaN when there are none.
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    /// The sample standard deviation of `values`, √(Σ(v − v̄)²/(n − 1)); NaN for fewer than two.
    public static func sampleStandardDeviation(_ values: [Double]) -> Double {
        guard values.count > 1 else { return .nan }
        let m = mean(values)
        return (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }

    /// P(Z ≤ z) for a standard normal Z.
    public static func normalCDF(_ z: Double) -> Double { 0.5 * erfc(-z / 2.squareRoot()) }

    /// P(T ≤ t) for Student's t with ν degrees of freedom (ν > 0; ν = ∞ is the normal):
    /// for t < 0, ½·I_x(ν/2, ½) with x = ν/(ν + t²), I the regularised incomplete beta.
    public static func studentCDF(_ t: Double, degrees nu: Double) -> Double {
        if nu.isInfinite { return normalCDF(t) }
        let tail = 0.5 * regularizedIncompleteBeta(nu / (nu + t * t), a: nu / 2, b: 0.5)
        return t < 0 ? tail : 1 - tail
    }

    /// The t with P(T > t) = p, for 0 < p < 1 (bisection on `studentCDF`, to 1e-10).
    public static func studentQuantile(upperTail p: Double, degrees nu: Double) -> Double {
        precondition(p > 0 && p < 1, "tail probability \(p) outside (0, 1)")
        var low = -1e4, high = 1e4
        while high - low > 1e-10 * max(1, abs(low)) {
            let mid = (low + high) / 2
            if 1 - studentCDF(mid, degrees: nu) > p { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }

    /// I_x(a, b) = B(x; a, b)/B(a, b), from its continued fraction (modified Lentz), taken on the
    /// side of the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where it converges fast.
    public static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let logFront = logPowers - logBeta
        if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(1 - x, a: b, b: a) }
        // I_x(a, b) = front/a · 1/(1 + d1/(1 + d2/(1 + …))), with
        // d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)), d_{2m} = m(b−m)x / ((a+2m−1)(a+2m))
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        d = 1 / (abs(d) < tiny ? tiny : d)
        var fraction = d
        for m in 1 ... 500 {
            let m = Double(m)
            let even: Double = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            let odd: Double = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            for term in [even, odd] {
                d = 1 + term * d; d = 1 / (abs(d) < tiny ? tiny : d)
                c = 1 + term / c; if abs(c) < tiny { c = tiny }
                fraction *= c * d
            }
            if abs(c * d - 1) < 1e-15 { break }
        }
        return exp(logFront) * fraction / a
    }
}
