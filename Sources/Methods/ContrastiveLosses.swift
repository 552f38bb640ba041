import Foundation
import Tensors

/// Row-wise L2 normalisation of [N, D]: u = z/‖z‖, with its backward
/// ∂L/∂z = (∂L/∂u − u·⟨u, ∂L/∂u⟩)/‖z‖.
struct RowNormalization {
    static let epsilon: Float = 1e-12
    /// Writes u and 1/‖z‖ per row.
    static func forward(_ z: UnsafePointer<Float>, rows n: Int, columns d: Int,
                        into u: UnsafeMutablePointer<Float>, inverseNorms: UnsafeMutablePointer<Float>) {
        Parallel.chunks(n) { _, rows in
            for i in rows {
                var s: Float = 0
                for j in 0 ..< d { s += z[i * d + j] * z[i * d + j] }
                let inv = 1 / max(s.squareRoot(), epsilon)
                inverseNorms[i] = inv
                for j in 0 ..< d { u[i * d + j] = z[i * d + j] * inv }
            }
        }
    }
    static func backward(_ u: UnsafePointer<Float>, _ gradU: UnsafePointer<Float>, rows n: Int, columns d: Int,
                         inverseNorms: UnsafePointer<Float>, into gradZ: UnsafeMutablePointer<Float>) {
        Parallel.chunks(n) { _, rows in
            for i in rows {
                var dot: Float = 0
                for j in 0 ..< d { dot += u[i * d + j] * gradU[i * d + j] }
                let inv = inverseNorms[i]
                for j in 0 ..< d { gradZ[i * d + j] = (gradU[i * d + j] - u[i * d + j] * dot) * inv }
            }
        }
    }
}

/// Normalised cross-entropy with temperature (NT-Xent; SimCLR, Chen et al. 2020, Eq. 1) over
/// the 2N embeddings of a batch, z = [view A of images 0..<N; view B of the same images]:
///   s_ik = ⟨u_i, u_k⟩/τ with u = z/‖z‖,   ℓ_i = −s_{i,p(i)} + log Σ_{k≠i} exp(s_ik),
///   L = (1/2N) Σ_i ℓ_i,   p(i) = the other view of image i.
/// Each view's positive is its twin; the other 2N − 2 embeddings are negatives. Without the
/// normalisation (SimCLR Table 5's "no ℓ2 norm" rows) u = z.
public final class NTXentLoss {
    public var temperature: Float
    /// false: the similarities are raw dot products ⟨z_i, z_k⟩/τ.
    public var normalizes = true
    private let u = Tensor(shape: [0]), inverseNorms = Tensor(shape: [0])
    private let similarities = Tensor(shape: [0]), gradU = Tensor(shape: [0])

    public init(temperature: Float = 0.2, normalizes: Bool = true) { self.temperature = temperature; self.normalizes = normalizes }

    /// Returns L and writes ∂L/∂z into `gradient`.
    public func loss(_ z: Tensor, gradient: Tensor) -> Float {
        let m = z.rows, d = z.columns, n = m / 2
        precondition(m % 2 == 0 && n >= 1, "NT-Xent needs the two views stacked: \(z.shape)")
        u.reshape([m, d]); inverseNorms.reshape([m]); similarities.reshape([m, m]); gradU.reshape([m, d]); gradient.reshape([m, d])
        if normalizes {
            RowNormalization.forward(z.data, rows: m, columns: d, into: u.data, inverseNorms: inverseNorms.data)
        } else {
            u.data.update(from: z.data, count: m * d)
        }
        let s = similarities.data, t = temperature
        parallelGemm(transposeB: true, m: m, n: m, k: d, alpha: 1 / t, a: u.data, lda: d, b: u.data, ldb: d, c: s, ldc: m)
        // Row i of `s` becomes ∂L/∂s_i· = (softmax over k ≠ i − [k = p(i)]) / 2N.
        var total = 0.0
        var rowLoss = [Double](repeating: 0, count: m)
        rowLoss.withUnsafeMutableBufferPointer { losses in
            Parallel.chunks(m) { _, rows in
                for i in rows {
                    let row = s + i * m, positive = i < n ? i + n : i - n
                    var maxValue = -Float.infinity
                    for k in 0 ..< m where k != i { maxValue = max(maxValue, row[k]) }
                    var sum = 0.0
                    for k in 0 ..< m where k != i { sum += Foundation.exp(Double(row[k] - maxValue)) }
                    losses[i] = -Double(row[positive]) + Double(maxValue) + Foundation.log(sum)
                    for k in 0 ..< m {
                        let softmax = k == i ? 0 : Float(Foundation.exp(Double(row[k] - maxValue)) / sum)
                        row[k] = (softmax - (k == positive ? 1 : 0)) / Float(m)
                    }
                }
            }
        }
        for l in rowLoss { total += l }
        // s = U·Uᵀ/τ, so ∂L/∂U = (G + Gᵀ)·U/τ with G = ∂L/∂s
        parallelGemm(m: m, n: d, k: m, alpha: 1 / t, a: s, lda: m, b: u.data, ldb: d, c: gradU.data, ldc: d)
        parallelGemm(transposeA: true, m: m, n: d, k: m, alpha: 1 / t, a: s, lda: m, b: u.data, ldb: d, beta: 1, c: gradU.data, ldc: d)
        if normalizes {
            RowNormalization.backward(u.data, gradU.data, rows: m, columns: d, inverseNorms: inverseNorms.data, into: gradient.data)
        } else {
            gradient.data.update(from: gradU.data, count: m * d)
        }
        return Float(total / Double(m))
    }
}

/// BYOL's regression loss (Grill et al. 2020, Eq. 2) between online predictions p and target
/// projections t ([N, D] each; the target gets no gradient):
///   ℓ = (1/N) Σ_i (2 − 2·⟨p_i, t_i⟩/(‖p_i‖·‖t_i‖)).
/// The symmetric loss of the paper is ℓ(p_A, t_B) + ℓ(p_B, t_A): two calls.
public final class NormalizedMSELoss {
    private let u = Tensor(shape: [0]), v = Tensor(shape: [0]), normsU = Tensor(shape: [0]), normsV = Tensor(shape: [0])
    private let gradU = Tensor(shape: [0])
    public init() {}

    /// Returns ℓ and writes ∂ℓ/∂prediction into `gradient`.
    public func loss(prediction p: Tensor, target t: Tensor, gradient: Tensor) -> Float {
        precondition(p.shape == t.shape, "\(p.shape) vs \(t.shape)")
        let n = p.rows, d = p.columns
        for x in [u, v, gradU] { x.reshape([n, d]) }
        normsU.reshape([n]); normsV.reshape([n]); gradient.reshape([n, d])
        RowNormalization.forward(p.data, rows: n, columns: d, into: u.data, inverseNorms: normsU.data)
        RowNormalization.forward(t.data, rows: n, columns: d, into: v.data, inverseNorms: normsV.data)
        var total = 0.0
        let up = u.data, vp = v.data, g = gradU.data
        for i in 0 ..< n {
            var dot: Float = 0
            for j in 0 ..< d { dot += up[i * d + j] * vp[i * d + j] }
            total += Double(2 - 2 * dot)
            // ∂ℓ/∂u_i = −2 v_i / N
            for j in 0 ..< d { g[i * d + j] = -2 * vp[i * d + j] / Float(n) }
        }
        RowNormalization.backward(up, g, rows: n, columns: d, inverseNorms: normsU.data, into: gradient.data)
        return Float(total / Double(n))
    }
}

/// InfoNCE of MoCo v3 (Chen, Xie & He 2021, Algorithm 1) between queries q (online, [N, D])
/// and keys k (momentum encoder, [N, D], no gradient), negatives from the same batch:
///   logits_ij = ⟨q̂_i, k̂_j⟩/τ,   ℓ = 2τ · (1/N) Σ_i CE(logits_i·, i).
/// The symmetric loss of the paper is ℓ(q_A, k_B) + ℓ(q_B, k_A): two calls.
public final class InfoNCELoss {
    public var temperature: Float
    /// MoCo v3 scales the cross-entropy by 2τ; 1 gives the plain cross-entropy.
    public var scaleByTwiceTemperature = true
    private let q = Tensor(shape: [0]), k = Tensor(shape: [0]), normsQ = Tensor(shape: [0]), normsK = Tensor(shape: [0])
    private let logits = Tensor(shape: [0]), gradQ = Tensor(shape: [0])
    public init(temperature: Float = 0.2) { self.temperature = temperature }

    /// Returns ℓ and writes ∂ℓ/∂queries into `gradient`. `targets`, when given, replaces the
    /// one-hot label of row i by a distribution over the keys (rows sum to 1): SDMP's soft labels.
    public func loss(queries: Tensor, keys: Tensor, gradient: Tensor, targets: Tensor? = nil) -> Float {
        let n = queries.rows, d = queries.columns, m = keys.rows
        precondition(keys.columns == d)
        q.reshape([n, d]); k.reshape([m, d]); normsQ.reshape([n]); normsK.reshape([m]); gradQ.reshape([n, d])
        logits.reshape([n, m]); gradient.reshape([n, d])
        RowNormalization.forward(queries.data, rows: n, columns: d, into: q.data, inverseNorms: normsQ.data)
        RowNormalization.forward(keys.data, rows: m, columns: d, into: k.data, inverseNorms: normsK.data)
        let t = temperature, scale: Float = scaleByTwiceTemperature ? 2 * t : 1
        let lp = logits.data
        parallelGemm(transposeB: true, m: n, n: m, k: d, alpha: 1 / t, a: q.data, lda: d, b: k.data, ldb: d, c: lp, ldc: m)
        var rowLoss = [Double](repeating: 0, count: n)
        rowLoss.withUnsafeMutableBufferPointer { losses in
            Parallel.chunks(n) { _, rows in
                for i in rows {
                    let row = lp + i * m
                    var maxValue = -Float.infinity
                    for j in 0 ..< m { maxValue = max(maxValue, row[j]) }
                    var sum = 0.0
                    for j in 0 ..< m { sum += Foundation.exp(Double(row[j] - maxValue)) }
                    let logSum = Double(maxValue) + Foundation.log(sum)
                    var l = 0.0
                    for j in 0 ..< m {
                        let target: Float = targets.map { $0[i * m + j] } ?? (j == i ? 1 : 0)
                        if target != 0 { l -= Double(target) * (Double(row[j]) - logSum) }
                        let softmax = Float(Foundation.exp(Double(row[j]) - logSum))
                        row[j] = scale * (softmax - target) / Float(n)      // ∂ℓ/∂logits
                    }
                    losses[i] = l
                }
            }
        }
        // logits = Q̂·K̂ᵀ/τ → ∂ℓ/∂Q̂ = G·K̂/τ
        parallelGemm(m: n, n: d, k: m, alpha: 1 / t, a: lp, lda: m, b: k.data, ldb: d, c: gradQ.data, ldc: d)
        RowNormalization.backward(q.data, gradQ.data, rows: n, columns: d, inverseNorms: normsQ.data, into: gradient.data)
        return Float(Double(scale) * rowLoss.reduce(0, +) / Double(n))
    }
}

/// BYOL's bridge between its loss and a contrastive one, InfoNCE^{α,β} (Grill et al. 2020, §5
/// Eq. 8, App. F.4), taken as a loss to minimise. For one direction, anchors the predictions φ_i
/// of view X ([B, D]), targets ψ'_j of the other view Y and ψ_j of view X ([B, D] each), with the
/// cosine similarity S(a, b) = ⟨a, b⟩/(‖a‖·‖b‖):
///   ℓ = −(2/B) Σ_i S(φ_i, ψ'_i) + β·(2α/B) Σ_i ln( Σ_{j≠i} exp(S(φ_i, ψ_j)/α) + Σ_j exp(S(φ_i, ψ'_j)/α) ).
/// β 0 is BYOL's regression loss less its constant 2 (ℓ = (1/B) Σ_i (2 − 2S) − 2, the same
/// gradient as `NormalizedMSELoss`); β 1 is InfoNCE over 2B − 1 candidates at temperature α,
/// times 2α (the SimCLR of BYOL's Table 5b). The gradients reach φ and, when asked, both sets
/// of targets: without a target network ψ is the online projection and learns through this loss.
public final class BootstrapInfoNCELoss {
    /// α, the temperature of the negatives term.
    public var temperature: Float
    /// β, the weight of the negatives term (0: BYOL's loss).
    public var negativesWeight: Float
    private let p = Tensor(shape: [0]), tOther = Tensor(shape: [0]), tSame = Tensor(shape: [0])
    private let normsP = Tensor(shape: [0]), normsOther = Tensor(shape: [0]), normsSame = Tensor(shape: [0])
    private let similarities = Tensor(shape: [0])
    private let gradP = Tensor(shape: [0]), gradOther = Tensor(shape: [0]), gradSame = Tensor(shape: [0])

    public init(temperature: Float = 0.1, negativesWeight: Float = 0) {
        self.temperature = temperature; self.negativesWeight = negativesWeight
    }

    /// Returns ℓ; writes ∂ℓ/∂predictions into `gradPredictions` and, when given, ∂ℓ/∂otherTargets
    /// and ∂ℓ/∂sameTargets into those (overwritten, not accumulated).
    public func loss(predictions: Tensor, otherTargets: Tensor, sameTargets: Tensor, gradPredictions: Tensor,
                     gradOtherTargets: Tensor? = nil, gradSameTargets: Tensor? = nil) -> Float {
        let b = predictions.rows, d = predictions.columns
        precondition(otherTargets.shape == predictions.shape && sameTargets.shape == predictions.shape,
                     "\(predictions.shape) \(otherTargets.shape) \(sameTargets.shape)")
        for x in [p, tOther, tSame, gradP, gradOther, gradSame] { x.reshape([b, d]) }
        for x in [normsP, normsOther, normsSame] { x.reshape([b]) }
        RowNormalization.forward(predictions.data, rows: b, columns: d, into: p.data, inverseNorms: normsP.data)
        RowNormalization.forward(otherTargets.data, rows: b, columns: d, into: tOther.data, inverseNorms: normsOther.data)
        RowNormalization.forward(sameTargets.data, rows: b, columns: d, into: tSame.data, inverseNorms: normsSame.data)
        // s [B, 2B]: columns 0 ..< B the other view's targets (S(φ_i, ψ'_j)), B ..< 2B the same view's (S(φ_i, ψ_j))
        similarities.reshape([b, 2 * b])
        let s = similarities.data, m = 2 * b
        parallelGemm(transposeB: true, m: b, n: b, k: d, a: p.data, lda: d, b: tOther.data, ldb: d, c: s, ldc: m)
        parallelGemm(transposeB: true, m: b, n: b, k: d, a: p.data, lda: d, b: tSame.data, ldb: d, c: s + b, ldc: m)
        let alpha = temperature, beta = negativesWeight, scale = 2 / Float(b)
        // row i of `s` becomes ∂ℓ/∂S_i· = −(2/B)·[j = i'] + β·(2/B)·softmax_j(S_i·/α) over the 2B − 1 candidates
        var rowLoss = [Double](repeating: 0, count: b)
        rowLoss.withUnsafeMutableBufferPointer { losses in
            Parallel.chunks(b) { _, rows in
                for i in rows {
                    let row = s + i * m, own = b + i          // S(φ_i, ψ_i) is not a candidate
                    let positive = Double(row[i])
                    var maxValue = -Float.infinity
                    for j in 0 ..< m where j != own { maxValue = max(maxValue, row[j] / alpha) }
                    var sum = 0.0
                    for j in 0 ..< m where j != own { sum += Foundation.exp(Double(row[j] / alpha - maxValue)) }
                    let logSum = Double(maxValue) + Foundation.log(sum)
                    losses[i] = -2 * positive / Double(b) + Double(beta) * 2 * Double(alpha) / Double(b) * logSum
                    for j in 0 ..< m {
                        let softmax = j == own ? 0 : Float(Foundation.exp(Double(row[j] / alpha) - logSum))
                        row[j] = scale * (beta * softmax - (j == i ? 1 : 0))
                    }
                }
            }
        }
        // S = P̂·T̂ᵀ: ∂ℓ/∂P̂ = G_other·T̂_other + G_same·T̂_same, ∂ℓ/∂T̂_other = G_otherᵀ·P̂, ∂ℓ/∂T̂_same = G_sameᵀ·P̂
        parallelGemm(m: b, n: d, k: b, a: s, lda: m, b: tOther.data, ldb: d, c: gradP.data, ldc: d)
        parallelGemm(m: b, n: d, k: b, a: s + b, lda: m, b: tSame.data, ldb: d, beta: 1, c: gradP.data, ldc: d)
        gradPredictions.reshape([b, d])
        RowNormalization.backward(p.data, gradP.data, rows: b, columns: d, inverseNorms: normsP.data, into: gradPredictions.data)
        if let g = gradOtherTargets {
            parallelGemm(transposeA: true, m: b, n: d, k: b, a: s, lda: m, b: p.data, ldb: d, c: gradOther.data, ldc: d)
            g.reshape([b, d])
            RowNormalization.backward(tOther.data, gradOther.data, rows: b, columns: d, inverseNorms: normsOther.data, into: g.data)
        }
        if let g = gradSameTargets {
            parallelGemm(transposeA: true, m: b, n: d, k: b, a: s + b, lda: m, b: p.data, ldb: d, c: gradSame.data, ldc: d)
            g.reshape([b, d])
            RowNormalization.backward(tSame.data, gradSame.data, rows: b, columns: d, inverseNorms: normsSame.data, into: g.data)
        }
        return Float(rowLoss.reduce(0, +))
    }
}
