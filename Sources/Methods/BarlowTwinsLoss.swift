import Foundation
import Tensors

/// How the Barlow Twins loss is computed. `.gram` never forms the D×D cross-correlation
/// (docs/ARCHITECTURE.md, "Numeric conventions"); `.dense` does, as the official code. Same values.
public enum CrossCorrelationForm: String, CaseIterable { case gram, dense }

/// Calls `body(columns, sums)` for each thread's contiguous block of columns, with `count`
/// zeroed Double accumulators per column. The passes below walk the [N, D] rows in memory order
/// inside the block (a column walk strides D floats and misses the TLB at every row when D is
/// large); each column's sum still runs over the rows in order, so the results are the same.
@inline(__always)
private func forColumnBlocks(_ d: Int, accumulators count: Int, _ body: (Range<Int>, UnsafeMutablePointer<Double>) -> Void) {
    Parallel.chunks(d) { _, cols in
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(count * cols.count, 1)) { buffer in
            let sums = buffer.baseAddress!
            sums.update(repeating: 0, count: count * cols.count)
            body(cols, sums)
        }
    }
}

/// Standardises each column of `z` ([N, D]) over the batch: a = (z − mean)/√(var + ε),
/// the biased variance as BatchNorm1d(affine = false) in training. Writes `a` and the
/// per-column 1/√(var + ε).
func standardizeColumns(_ z: UnsafePointer<Float>, rows n: Int, columns d: Int, epsilon: Float,
                        into a: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
    forColumnBlocks(d, accumulators: 2) { cols, sums in
        let w = cols.count, first = cols.lowerBound, sum = sums, sumSquares = sums + w
        for i in 0 ..< n {
            let row = z + i * d + first
            for j in 0 ..< w { let v = Double(row[j]); sum[j] += v; sumSquares[j] += v * v }
        }
        for j in 0 ..< w {   // sum[j] ← mean, sumSquares[j] ← 1/√(var + ε)
            let mean = sum[j] / Double(n), variance = max(sumSquares[j] / Double(n) - mean * mean, 0)
            let r = Float(1 / (variance + Double(epsilon)).squareRoot())
            rstd[first + j] = r; sum[j] = mean; sumSquares[j] = Double(r)
        }
        for i in 0 ..< n {
            let row = z + i * d + first, out = a + i * d + first
            for j in 0 ..< w { out[j] = (row[j] - Float(sum[j])) * Float(sumSquares[j]) }
        }
    }
}

/// Backward of `standardizeColumns`: given ∂L/∂a, writes ∂L/∂z = rstd·(∂L/∂a − mean(∂L/∂a) − a·mean(∂L/∂a·a)).
func standardizeColumnsBackward(_ a: UnsafePointer<Float>, _ gradA: UnsafePointer<Float>, rows n: Int, columns d: Int,
                                rstd: UnsafePointer<Float>, into gradZ: UnsafeMutablePointer<Float>) {
    forColumnBlocks(d, accumulators: 2) { cols, sums in
        let w = cols.count, first = cols.lowerBound, sumG = sums, sumGA = sums + w
        for i in 0 ..< n {
            let g = gradA + i * d + first, x = a + i * d + first
            for j in 0 ..< w { let gj = Double(g[j]); sumG[j] += gj; sumGA[j] += gj * Double(x[j]) }
        }
        for j in 0 ..< w { sumG[j] = Double(Float(sumG[j] / Double(n))); sumGA[j] = Double(Float(sumGA[j] / Double(n))) }
        for i in 0 ..< n {
            let g = gradA + i * d + first, x = a + i * d + first, out = gradZ + i * d + first
            for j in 0 ..< w { out[j] = rstd[first + j] * (g[j] - Float(sumG[j]) - x[j] * Float(sumGA[j])) }
        }
    }
}

/// Centres each column of z over the batch (a = z − mean) and its backward (∂L/∂z = ∂L/∂a − mean(∂L/∂a)).
func centerColumns(_ z: UnsafePointer<Float>, rows n: Int, columns d: Int, into a: UnsafeMutablePointer<Float>) {
    forColumnBlocks(d, accumulators: 1) { cols, sum in
        let w = cols.count, first = cols.lowerBound
        for i in 0 ..< n { let row = z + i * d + first; for j in 0 ..< w { sum[j] += Double(row[j]) } }
        for j in 0 ..< w { sum[j] = Double(Float(sum[j] / Double(n))) }
        for i in 0 ..< n {
            let row = z + i * d + first, out = a + i * d + first
            for j in 0 ..< w { out[j] = row[j] - Float(sum[j]) }
        }
    }
}
func centerColumnsBackward(_ gradA: UnsafePointer<Float>, rows n: Int, columns d: Int, into gradZ: UnsafeMutablePointer<Float>) {
    centerColumns(gradA, rows: n, columns: d, into: gradZ)
}

/// How the embeddings are normalised before the cross-correlation (Barlow Twins §4, Table 5).
public enum EmbeddingNormalization: String, CaseIterable {
    /// each unit standardised over the batch; C = aᵀb/N is the cross-correlation (the paper's)
    case batch
    /// standardised over the batch, then each embedding L2-normalised over its features;
    /// C = aᵀb, the unnormalised covariance ("normalisation along feature dim.")
    case feature
    /// centred only; C = aᵀb/N, the cross-covariance ("no normalisation")
    case none
}

/// What is made of C: the paper's squared-error objective or the cross-entropy variant of
/// Table 5, L = −log Σ_i exp(C_ii/τ) + λ log Σ_i Σ_{j≠i} exp(max(C_ij, 0)/τ).
public enum BarlowTwinsObjective: Equatable {
    case squaredError
    case crossEntropy(temperature: Float)
}

/// The Barlow Twins objective (Zbontar et al. 2021, Eq. 1–2) on two batches of embeddings
/// zA, zB of shape [N, D]:
///   C_ij = Σ_n a_ni·b_nj / N   (a, b: zA, zB standardised over the batch)
///   L = scale · [ Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij² ]
/// `loss` returns L and writes ∂L/∂zA and ∂L/∂zB. Buffers are kept between calls.
/// Variants of §4: `invarianceWeight` 0 keeps the redundancy term only, `offDiagonalWeight` 0
/// the invariance term only; `normalization` and `objective` as their types say. The
/// cross-entropy objective needs the whole matrix and always uses the dense form.
public final class BarlowTwinsLoss {
    public var offDiagonalWeight: Float       // λ
    public var invarianceWeight: Float = 1
    public var normalization: EmbeddingNormalization = .batch
    public var objective: BarlowTwinsObjective = .squaredError
    public var scale: Float
    public var form: CrossCorrelationForm
    public let epsilon: Float = 1e-5
    /// Σ_i (1 − C_ii)² and Σ_{i≠j} C_ij² of the last call, before weighting.
    public private(set) var invarianceTerm: Float = 0, redundancyTerm: Float = 0

    private let a = Tensor(shape: [0]), b = Tensor(shape: [0]), gradA = Tensor(shape: [0]), gradB = Tensor(shape: [0])
    private let rstdA = Tensor(shape: [0]), rstdB = Tensor(shape: [0]), diagonal = Tensor(shape: [0])
    private let gramA = Tensor(shape: [0]), gramB = Tensor(shape: [0]), crossCorrelation = Tensor(shape: [0])
    private let standardA = Tensor(shape: [0]), standardB = Tensor(shape: [0]), gradStandard = Tensor(shape: [0])
    private let normsA = Tensor(shape: [0]), normsB = Tensor(shape: [0])
    /// C = aᵀb / divisor: N for the cross-correlation and cross-covariance, 1 for `.feature`.
    private var divisor: Float = 1

    public init(offDiagonalWeight: Float = 0.0051, scale: Float = 1, form: CrossCorrelationForm = .gram) {
        self.offDiagonalWeight = offDiagonalWeight; self.scale = scale; self.form = form
    }

    public func loss(_ zA: Tensor, _ zB: Tensor, gradA outA: Tensor, gradB outB: Tensor) -> Float {
        precondition(zA.shape == zB.shape && zA.shape.count == 2, "Barlow Twins needs two [N, D] batches, got \(zA.shape) and \(zB.shape)")
        let n = zA.shape[0], d = zA.shape[1]
        for t in [a, b, gradA, gradB] { t.reshape([n, d]) }
        for t in [rstdA, rstdB, diagonal] { t.reshape([d]) }
        outA.reshape([n, d]); outB.reshape([n, d])
        // the embeddings a, b that C is made of
        switch normalization {
        case .batch:
            divisor = Float(n)
            standardizeColumns(zA.data, rows: n, columns: d, epsilon: epsilon, into: a.data, rstd: rstdA.data)
            standardizeColumns(zB.data, rows: n, columns: d, epsilon: epsilon, into: b.data, rstd: rstdB.data)
        case .feature:
            divisor = 1
            for t in [standardA, standardB, gradStandard] { t.reshape([n, d]) }
            normsA.reshape([n]); normsB.reshape([n])
            standardizeColumns(zA.data, rows: n, columns: d, epsilon: epsilon, into: standardA.data, rstd: rstdA.data)
            standardizeColumns(zB.data, rows: n, columns: d, epsilon: epsilon, into: standardB.data, rstd: rstdB.data)
            RowNormalization.forward(standardA.data, rows: n, columns: d, into: a.data, inverseNorms: normsA.data)
            RowNormalization.forward(standardB.data, rows: n, columns: d, into: b.data, inverseNorms: normsB.data)
        case .none:
            divisor = Float(n)
            centerColumns(zA.data, rows: n, columns: d, into: a.data)
            centerColumns(zB.data, rows: n, columns: d, into: b.data)
        }
        let value: Float
        switch (objective, form) {
        case (.crossEntropy(let temperature), _): value = crossEntropyForm(n: n, d: d, temperature: temperature)
        case (.squaredError, .gram): value = gramForm(n: n, d: d)
        case (.squaredError, .dense): value = denseForm(n: n, d: d)
        }
        switch normalization {
        case .batch:
            standardizeColumnsBackward(a.data, gradA.data, rows: n, columns: d, rstd: rstdA.data, into: outA.data)
            standardizeColumnsBackward(b.data, gradB.data, rows: n, columns: d, rstd: rstdB.data, into: outB.data)
        case .feature:
            RowNormalization.backward(a.data, gradA.data, rows: n, columns: d, inverseNorms: normsA.data, into: gradStandard.data)
            standardizeColumnsBackward(standardA.data, gradStandard.data, rows: n, columns: d, rstd: rstdA.data, into: outA.data)
            RowNormalization.backward(b.data, gradB.data, rows: n, columns: d, inverseNorms: normsB.data, into: gradStandard.data)
            standardizeColumnsBackward(standardB.data, gradStandard.data, rows: n, columns: d, rstd: rstdB.data, into: outB.data)
        case .none:
            centerColumnsBackward(gradA.data, rows: n, columns: d, into: outA.data)
            centerColumnsBackward(gradB.data, rows: n, columns: d, into: outB.data)
        }
        return value
    }

    /// Σ_{ij} C_ij² = ⟨a·aᵀ, b·bᵀ⟩ / N² with N×N Gram matrices; the diagonal C_ii directly
    /// (N stands for the divisor of C).
    ///   ∂/∂a [λ Σ_ij C_ij²] = 2λ/N² · (b·bᵀ)·a
    ///   ∂/∂a_ni [w Σ_i (1−C_ii)² − λ Σ_i C_ii²] = (−2w(1 − C_ii) − 2λ·C_ii) · b_ni / N
    private func gramForm(n: Int, d: Int) -> Float {
        let ap = a.data, bp = b.data, diag = diagonal.data, lambda = offDiagonalWeight, w = invarianceWeight, div = divisor
        Parallel.chunks(d) { _, cols in
            for j in cols { diag[j] = 0 }
            for i in 0 ..< n { let ra = ap + i * d, rb = bp + i * d; for j in cols { diag[j] += ra[j] * rb[j] } }
            for j in cols { diag[j] /= div }
        }
        gramA.reshape([n, n]); gramB.reshape([n, n])
        parallelGemm(transposeB: true, m: n, n: n, k: d, a: ap, lda: d, b: ap, ldb: d, c: gramA.data, ldc: n)
        parallelGemm(transposeB: true, m: n, n: n, k: d, a: bp, lda: d, b: bp, ldb: d, c: gramB.data, ldc: n)
        var allSquares = 0.0
        for i in 0 ..< n * n { allSquares += Double(gramA[i]) * Double(gramB[i]) }
        allSquares /= Double(div) * Double(div)
        var invariance = 0.0, diagonalSquares = 0.0
        for j in 0 ..< d { let c = Double(diag[j]); invariance += (1 - c) * (1 - c); diagonalSquares += c * c }
        invarianceTerm = Float(invariance); redundancyTerm = Float(allSquares - diagonalSquares)
        // ∂L/∂a = s·[coef_j·b_nj/N + 2λ/N²·(Gb·a)_nj], and symmetrically for b
        let s = scale, gA = gradA.data, gB = gradB.data
        parallelGemm(m: n, n: d, k: n, alpha: s * 2 * lambda / (div * div), a: gramB.data, lda: n, b: ap, ldb: d, c: gA, ldc: d)
        parallelGemm(m: n, n: d, k: n, alpha: s * 2 * lambda / (div * div), a: gramA.data, lda: n, b: bp, ldb: d, c: gB, ldc: d)
        Parallel.chunks(d) { _, cols in
            for i in 0 ..< n {
                for j in cols {
                    let c = diag[j], coef = s * (-2 * w * (1 - c) - 2 * lambda * c) / div
                    gA[i * d + j] += coef * bp[i * d + j]
                    gB[i * d + j] += coef * ap[i * d + j]
                }
            }
        }
        return scale * (w * invarianceTerm + lambda * redundancyTerm)
    }

    /// C = aᵀ·b / N formed explicitly (D×D).
    ///   ∂L/∂C_ij = s·2λ·C_ij (i ≠ j), s·(−2)(1 − C_ii) (i = j);  ∂L/∂a = b·(∂L/∂C)ᵀ/N,  ∂L/∂b = a·∂L/∂C/N
    private func denseForm(n: Int, d: Int) -> Float {
        crossCorrelation.reshape([d, d])
        let cp = crossCorrelation.data, lambda = offDiagonalWeight, s = scale, w = invarianceWeight, div = divisor
        parallelGemm(transposeA: true, m: d, n: d, k: n, alpha: 1 / div, a: a.data, lda: d, b: b.data, ldb: d, c: cp, ldc: d)
        var invariance = 0.0, offDiagonal = 0.0
        for i in 0 ..< d {
            for j in 0 ..< d {
                let c = cp[i * d + j]
                if i == j { invariance += Double((1 - c) * (1 - c)); cp[i * d + j] = s * -2 * w * (1 - c) }
                else { offDiagonal += Double(c * c); cp[i * d + j] = s * 2 * lambda * c }
            }
        }
        invarianceTerm = Float(invariance); redundancyTerm = Float(offDiagonal)
        backwardThroughCrossCorrelation(n: n, d: d)
        return scale * (w * invarianceTerm + lambda * redundancyTerm)
    }

    /// With ∂L/∂C in `crossCorrelation`: ∂L/∂a = b·(∂L/∂C)ᵀ/N, ∂L/∂b = a·∂L/∂C/N.
    private func backwardThroughCrossCorrelation(n: Int, d: Int) {
        let cp = crossCorrelation.data
        parallelGemm(transposeB: true, m: n, n: d, k: d, alpha: 1 / divisor, a: b.data, lda: d, b: cp, ldb: d, c: gradA.data, ldc: d)
        parallelGemm(m: n, n: d, k: d, alpha: 1 / divisor, a: a.data, lda: d, b: cp, ldb: d, c: gradB.data, ldc: d)
    }

    /// The cross-entropy variant (Table 5), on the explicit C:
    ///   L = s·[−log Σ_i exp(C_ii/τ) + λ log Σ_{i≠j} exp(max(C_ij, 0)/τ)]
    ///   ∂L/∂C_ii = −s·softmax_i(C_kk/τ)/τ;  ∂L/∂C_ij = s·λ·softmax_ij(max(C, 0)/τ)/τ where C_ij > 0, else 0.
    /// `invarianceTerm` and `redundancyTerm` hold the two log-sum-exps.
    private func crossEntropyForm(n: Int, d: Int, temperature t: Float) -> Float {
        crossCorrelation.reshape([d, d])
        let cp = crossCorrelation.data, lambda = offDiagonalWeight, s = scale, w = invarianceWeight
        parallelGemm(transposeA: true, m: d, n: d, k: n, alpha: 1 / divisor, a: a.data, lda: d, b: b.data, ldb: d, c: cp, ldc: d)
        var maxDiag = -Double.infinity, maxOff = -Double.infinity
        for i in 0 ..< d {
            for j in 0 ..< d {
                let v = Double(cp[i * d + j]) / Double(t)
                if i == j { maxDiag = max(maxDiag, v) } else { maxOff = max(maxOff, max(v, 0)) }
            }
        }
        var sumDiag = 0.0, sumOff = 0.0
        for i in 0 ..< d {
            for j in 0 ..< d {
                let v = Double(cp[i * d + j]) / Double(t)
                if i == j { sumDiag += Foundation.exp(v - maxDiag) } else { sumOff += Foundation.exp(max(v, 0) - maxOff) }
            }
        }
        let logDiag = maxDiag + Foundation.log(sumDiag), logOff = d > 1 ? maxOff + Foundation.log(sumOff) : 0
        for i in 0 ..< d {
            for j in 0 ..< d {
                let c = cp[i * d + j], v = Double(c) / Double(t)
                if i == j { cp[i * d + j] = -s * w * Float(Foundation.exp(v - logDiag)) / t }
                else { cp[i * d + j] = c > 0 ? s * lambda * Float(Foundation.exp(v - logOff)) / t : 0 }
            }
        }
        invarianceTerm = Float(-logDiag); redundancyTerm = Float(logOff)
        backwardThroughCrossCorrelation(n: n, d: d)
        return s * (w * invarianceTerm + lambda * redundancyTerm)
    }
}
