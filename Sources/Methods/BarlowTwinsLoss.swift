import Tensors

/// How the Barlow Twins loss is computed. `.gram` never forms the D×D cross-correlation
/// (DESIGN.md, "Performance notes"); `.dense` does, as the official code. Same values.
public enum CrossCorrelationForm: String, CaseIterable { case gram, dense }

/// Standardises each column of `z` ([N, D]) over the batch: a = (z − mean)/√(var + ε),
/// the biased variance as BatchNorm1d(affine = false) in training. Writes `a` and the
/// per-column 1/√(var + ε).
func standardizeColumns(_ z: UnsafePointer<Float>, rows n: Int, columns d: Int, epsilon: Float,
                        into a: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
    Parallel.chunks(d) { _, cols in
        for j in cols {
            var sum = 0.0, sumSquares = 0.0
            for i in 0 ..< n { let v = Double(z[i * d + j]); sum += v; sumSquares += v * v }
            let mean = sum / Double(n), variance = max(sumSquares / Double(n) - mean * mean, 0)
            let r = Float(1 / (variance + Double(epsilon)).squareRoot())
            rstd[j] = r
            let m = Float(mean)
            for i in 0 ..< n { a[i * d + j] = (z[i * d + j] - m) * r }
        }
    }
}

/// Backward of `standardizeColumns`: given ∂L/∂a, writes ∂L/∂z = rstd·(∂L/∂a − mean(∂L/∂a) − a·mean(∂L/∂a·a)).
func standardizeColumnsBackward(_ a: UnsafePointer<Float>, _ gradA: UnsafePointer<Float>, rows n: Int, columns d: Int,
                                rstd: UnsafePointer<Float>, into gradZ: UnsafeMutablePointer<Float>) {
    Parallel.chunks(d) { _, cols in
        for j in cols {
            var sumG = 0.0, sumGA = 0.0
            for i in 0 ..< n { let g = Double(gradA[i * d + j]); sumG += g; sumGA += g * Double(a[i * d + j]) }
            let meanG = Float(sumG / Double(n)), meanGA = Float(sumGA / Double(n)), r = rstd[j]
            for i in 0 ..< n { gradZ[i * d + j] = r * (gradA[i * d + j] - meanG - a[i * d + j] * meanGA) }
        }
    }
}

/// The Barlow Twins objective (Zbontar et al. 2021, Eq. 1–2) on two batches of embeddings
/// zA, zB of shape [N, D]:
///   C_ij = Σ_n a_ni·b_nj / N   (a, b: zA, zB standardised over the batch)
///   L = scale · [ Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij² ]
/// `loss` returns L and writes ∂L/∂zA and ∂L/∂zB. Buffers are kept between calls.
public final class BarlowTwinsLoss {
    public var offDiagonalWeight: Float       // λ
    public var scale: Float
    public var form: CrossCorrelationForm
    public let epsilon: Float = 1e-5
    /// Σ_i (1 − C_ii)² and Σ_{i≠j} C_ij² of the last call, before weighting.
    public private(set) var invarianceTerm: Float = 0, redundancyTerm: Float = 0

    private let a = Tensor(shape: [0]), b = Tensor(shape: [0]), gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0])
    private let rstdA = Tensor(shape: [0]), rstdB = Tensor(shape: [0]), diagonal = Tensor(shape: [0])
    private let gramA = Tensor(shape: [0]), gramB = Tensor(shape: [0]), crossCorrelation = Tensor(shape: [0])

    public init(offDiagonalWeight: Float = 0.0051, scale: Float = 1, form: CrossCorrelationForm = .gram) {
        self.offDiagonalWeight = offDiagonalWeight; self.scale = scale; self.form = form
    }

    public func loss(_ zA: Tensor, _ zB: Tensor, gradA outA: Tensor, gradB outB: Tensor) -> Float {
        precondition(zA.shape == zB.shape && zA.shape.count == 2, "Barlow Twins needs two [N, D] batches, got \(zA.shape) and \(zB.shape)")
        let n = zA.shape[0], d = zA.shape[1]
        for t in [a, b, gradA, gradB] { t.reshape([n, d]) }
        for t in [rstdA, rstdB, diagonal] { t.reshape([d]) }
        outA.reshape([n, d]); outB.reshape([n, d])
        standardizeColumns(zA.data, rows: n, columns: d, epsilon: epsilon, into: a.data, rstd: rstdA.data)
        standardizeColumns(zB.data, rows: n, columns: d, epsilon: epsilon, into: b.data, rstd: rstdB.data)
        let value: Float
        switch form {
        case .gram: value = gramForm(n: n, d: d)
        case .dense: value = denseForm(n: n, d: d)
        }
        standardizeColumnsBackward(a.data, gradA.data, rows: n, columns: d, rstd: rstdA.data, into: outA.data)
        standardizeColumnsBackward(b.data, gradB.data, rows: n, columns: d, rstd: rstdB.data, into: outB.data)
        return value
    }

    /// Σ_{ij} C_ij² = ⟨a·aᵀ, b·bᵀ⟩ / N² with N×N Gram matrices; the diagonal C_ii directly.
    ///   ∂/∂a [λ Σ_ij C_ij²] = 2λ/N² · (b·bᵀ)·a
    ///   ∂/∂a_ni [Σ_i (1−C_ii)² − λ Σ_i C_ii²] = (−2(1 − C_ii) − 2λ·C_ii) · b_ni / N
    private func gramForm(n: Int, d: Int) -> Float {
        let ap = a.data, bp = b.data, diag = diagonal.data, lambda = offDiagonalWeight
        Parallel.chunks(d) { _, cols in
            for j in cols { diag[j] = 0 }
            for i in 0 ..< n { let ra = ap + i * d, rb = bp + i * d; for j in cols { diag[j] += ra[j] * rb[j] } }
            for j in cols { diag[j] /= Float(n) }
        }
        gramA.reshape([n, n]); gramB.reshape([n, n])
        parallelGemm(transposeB: true, m: n, n: n, k: d, a: ap, lda: d, b: ap, ldb: d, c: gramA.data, ldc: n)
        parallelGemm(transposeB: true, m: n, n: n, k: d, a: bp, lda: d, b: bp, ldb: d, c: gramB.data, ldc: n)
        var allSquares = 0.0
        for i in 0 ..< n * n { allSquares += Double(gramA[i]) * Double(gramB[i]) }
        allSquares /= Double(n) * Double(n)
        var invariance = 0.0, diagonalSquares = 0.0
        for j in 0 ..< d { let c = Double(diag[j]); invariance += (1 - c) * (1 - c); diagonalSquares += c * c }
        invarianceTerm = Float(invariance); redundancyTerm = Float(allSquares - diagonalSquares)
        // ∂L/∂a = s·[coef_j·b_nj/N + 2λ/N²·(Gb·a)_nj], and symmetrically for b
        let s = scale, gA = gradA.data, gB = gradB.data
        parallelGemm(m: n, n: d, k: n, alpha: s * 2 * lambda / Float(n * n), a: gramB.data, lda: n, b: ap, ldb: d, c: gA, ldc: d)
        parallelGemm(m: n, n: d, k: n, alpha: s * 2 * lambda / Float(n * n), a: gramA.data, lda: n, b: bp, ldb: d, c: gB, ldc: d)
        Parallel.chunks(d) { _, cols in
            for i in 0 ..< n {
                for j in cols {
                    let c = diag[j], coef = s * (-2 * (1 - c) - 2 * lambda * c) / Float(n)
                    gA[i * d + j] += coef * bp[i * d + j]
                    gB[i * d + j] += coef * ap[i * d + j]
                }
            }
        }
        return scale * (invarianceTerm + lambda * redundancyTerm)
    }

    /// C = aᵀ·b / N formed explicitly (D×D).
    ///   ∂L/∂C_ij = s·2λ·C_ij (i ≠ j), s·(−2)(1 − C_ii) (i = j);  ∂L/∂a = b·(∂L/∂C)ᵀ/N,  ∂L/∂b = a·∂L/∂C/N
    private func denseForm(n: Int, d: Int) -> Float {
        crossCorrelation.reshape([d, d])
        let cp = crossCorrelation.data, lambda = offDiagonalWeight, s = scale
        parallelGemm(transposeA: true, m: d, n: d, k: n, alpha: 1 / Float(n), a: a.data, lda: d, b: b.data, ldb: d, c: cp, ldc: d)
        var invariance = 0.0, offDiagonal = 0.0
        for i in 0 ..< d {
            for j in 0 ..< d {
                let c = cp[i * d + j]
                if i == j { invariance += Double((1 - c) * (1 - c)); cp[i * d + j] = s * -2 * (1 - c) }
                else { offDiagonal += Double(c * c); cp[i * d + j] = s * 2 * lambda * c }
            }
        }
        invarianceTerm = Float(invariance); redundancyTerm = Float(offDiagonal)
        parallelGemm(transposeB: true, m: n, n: d, k: d, alpha: 1 / Float(n), a: b.data, lda: d, b: cp, ldb: d, c: gradA.data, ldc: d)
        parallelGemm(m: n, n: d, k: d, alpha: 1 / Float(n), a: a.data, lda: d, b: cp, ldb: d, c: gradB.data, ldc: d)
        return scale * (invarianceTerm + lambda * redundancyTerm)
    }
}
