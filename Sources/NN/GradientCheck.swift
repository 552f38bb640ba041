import Tensors

/// Finite-difference checking, used by the tests of every layer and loss.
public enum GradientCheck {
    /// Central differences (f(x + ε) − f(x − ε)) / 2ε of `f` with respect to the entries
    /// `indices` of the buffer `x`, each restored afterwards. An entry where the one-sided
    /// differences disagree by more than `kinkTolerance` (relative to the larger of them, or
    /// 1e-3) sits on a kink of a ReLU within ε: its central difference is not a derivative,
    /// and it comes back as nil.
    public static func numerical(_ f: () -> Double, x: UnsafeMutablePointer<Float>, indices: [Int], epsilon: Float,
                                 kinkTolerance: Double = 0.05) -> [Double?] {
        let center = f()
        return indices.map { i in
            let saved = x[i]
            x[i] = saved + epsilon; let plus = f()
            x[i] = saved - epsilon; let minus = f()
            x[i] = saved
            let e = Double(epsilon)
            let forward = (plus - center) / e, backward = (center - minus) / e
            if abs(forward - backward) > kinkTolerance * max(abs(forward), abs(backward), 1e-3) { return nil }
            return (plus - minus) / (2 * e)
        }
    }

    /// max |analytic − numerical| / max(max |numerical|, floor): the error relative to the
    /// gradient's scale.
    public static func relativeError(_ analytic: [Double], _ numerical: [Double], floor: Double = 1e-3) -> Double {
        let scale = max(numerical.map(abs).max() ?? 0, floor)
        return zip(analytic, numerical).map { abs($0 - $1) }.max()! / scale
    }

    /// Σ y·r in double precision: a scalar whose gradient with respect to y is r.
    public static func project(_ y: Tensor, _ r: Tensor) -> Double {
        var s = 0.0
        for i in 0 ..< y.count { s += Double(y[i]) * Double(r[i]) }
        return s
    }

    /// A tensor of the given shape with entries drawn from N(0, 1) (or U(low, high)).
    public static func random(_ shape: [Int], rng: inout RandomGenerator, uniform: (Float, Float)? = nil) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0 ..< t.count { t[i] = uniform.map { rng.uniform($0.0, $0.1) } ?? rng.normal() }
        return t
    }

    /// Up to `count` distinct indices spread over 0..<n.
    public static func sampleIndices(_ n: Int, count: Int, rng: inout RandomGenerator) -> [Int] {
        if n <= count { return Array(0 ..< n) }
        return Array(rng.permutation(n).prefix(count)).sorted()
    }

    /// Checks one layer: with L = Σ forward(x)·r, compares the analytic ∂L/∂x (unless
    /// `checkInput` is false) and ∂L/∂θ for every parameter with central differences. Returns
    /// the worst relative error, where it was, and the fraction of sampled entries skipped as
    /// ReLU kinks (a caller should bound it: a check that skips everything checks nothing).
    public static func check(layer: Layer, input x: Tensor, training: Bool = true, checkInput: Bool = true,
                             epsilon: Float = 1e-2, samples: Int = 24, seed: UInt64 = 1)
        -> (error: Double, location: String, skipped: Double) {
        var rng = RandomGenerator(seed: seed, stream: 99)
        let y0 = layer.forward(x, training: training)
        let r = random(y0.shape, rng: &rng)
        layer.zeroGradients()
        _ = layer.forward(x, training: training)
        let dx = layer.backward(r)
        let f = { project(layer.forward(x, training: training), r) }
        var worst = (0.0, "none")
        var total = 0, skipped = 0
        func compare(_ name: String, _ values: UnsafeMutablePointer<Float>, _ count: Int, _ grad: (Int) -> Float) {
            let idx = sampleIndices(count, count: samples, rng: &rng)
            let numeric = numerical(f, x: values, indices: idx, epsilon: epsilon)
            var a: [Double] = [], n: [Double] = []
            for (k, i) in idx.enumerated() {
                total += 1
                guard let v = numeric[k] else { skipped += 1; continue }
                a.append(Double(grad(i))); n.append(v)
            }
            if a.isEmpty { return }
            let e = relativeError(a, n)
            if e > worst.0 { worst = (e, name) }
        }
        if checkInput { compare("input", x.data, x.count) { dx[$0] } }
        for p in layer.parameters { compare(p.name, p.value.data, p.value.count) { p.grad[$0] } }
        return (worst.0, worst.1, Double(skipped) / Double(max(total, 1)))
    }

    /// Checks a composite network along random directions: for the input (unless
    /// `checkInput` is false) and each parameter tensor θ, unit directions v and
    ///   numerical = (L(θ + εv) − L(θ − εv)) / 2ε   against   analytic = ⟨∂L/∂θ, v⟩,
    /// L = Σ forward(x)·r. A directional derivative sums over every entry, so it stands far
    /// above the float32 rounding of a deep forward pass, where single entries drown in it.
    /// A direction whose one-sided differences disagree by more than 5% crossed a ReLU kink
    /// and is replaced by another, up to `directions` tries; every tensor needs one clean
    /// direction, and all of its clean directions must agree.
    /// Returns the worst |analytic − numerical| relative to the largest |numerical| of the whole
    /// check (as the entrywise check is relative to the gradient's largest entry: a derivative
    /// far below that scale is lost in the rounding of the forward pass), where it was, and
    /// the number of tensors for which no direction was clean (a caller should require 0).
    public static func directionalCheck(layer: Layer, input x: Tensor, training: Bool = true, checkInput: Bool = true,
                                        epsilon: Float = 1e-3, directions: Int = 4, seed: UInt64 = 1)
        -> (error: Double, location: String, unchecked: Int) {
        var rng = RandomGenerator(seed: seed, stream: 98)
        let y0 = layer.forward(x, training: training)
        let r = random(y0.shape, rng: &rng)
        layer.zeroGradients()
        _ = layer.forward(x, training: training)
        let dx = layer.backward(r)
        let f = { project(layer.forward(x, training: training), r) }
        let center = f()
        var checked: [(analytic: Double, numeric: Double, name: String)] = [], unchecked = 0
        func compare(_ name: String, _ values: UnsafeMutablePointer<Float>, _ count: Int, _ grad: UnsafeMutablePointer<Float>) {
            let saved = Array(UnsafeBufferPointer(start: values, count: count))
            var clean = 0
            for _ in 0 ..< directions {
                var v = [Float](repeating: 0, count: count)
                var norm: Float = 0
                for i in 0 ..< count { v[i] = rng.normal(); norm += v[i] * v[i] }
                norm = norm.squareRoot()
                var analytic = 0.0
                for i in 0 ..< count { v[i] /= norm; analytic += Double(grad[i]) * Double(v[i]) }
                for i in 0 ..< count { values[i] = saved[i] + epsilon * v[i] }
                let plus = f()
                for i in 0 ..< count { values[i] = saved[i] - epsilon * v[i] }
                let minus = f()
                for i in 0 ..< count { values[i] = saved[i] }
                let e = Double(epsilon)
                let forward = (plus - center) / e, backward = (center - minus) / e
                if abs(forward - backward) > 0.05 * max(abs(forward), abs(backward), 1e-3) { continue }
                clean += 1
                checked.append((analytic, (plus - minus) / (2 * e), name))
            }
            if clean == 0 { unchecked += 1 }
        }
        if checkInput { compare("input", x.data, x.count, dx.data) }
        for (k, p) in layer.parameters.enumerated() { compare("\(p.name) #\(k)", p.value.data, p.value.count, p.grad.data) }
        let scale = max(checked.map { abs($0.numeric) }.max() ?? 0, 1e-3)
        var worst = (0.0, "none")
        for c in checked where abs(c.analytic - c.numeric) / scale > worst.0 { worst = (abs(c.analytic - c.numeric) / scale, c.name) }
        return (worst.0, worst.1, unchecked)
    }
}
