import Foundation
import Tensors

/// Sinkhorn–Knopp as SwAV uses it (Caron et al. 2020, §3.1 and Algorithm 1): from prototype
/// scores [B, K], Q = exp(scores/ε) is rescaled alternately so that every prototype receives
/// 1/K of the mass and every sample 1/B, `iterations` times; the codes are Q·B, one row per
/// sample summing to 1. Computed in double precision, without gradient.
public func sinkhornCodes(scores: Tensor, epsilon: Double = 0.05, iterations: Int = 3) -> Tensor {
    let b = scores.rows, k = scores.columns
    var q = [Double](repeating: 0, count: b * k)
    // subtract the global maximum before exp: a constant factor that the first rescaling removes
    var maxScore = -Double.infinity
    for i in 0 ..< b * k { maxScore = max(maxScore, Double(scores[i])) }
    var total = 0.0
    for i in 0 ..< b * k { q[i] = Foundation.exp((Double(scores[i]) - maxScore) / epsilon); total += q[i] }
    for i in 0 ..< b * k { q[i] /= total }
    var column = [Double](repeating: 0, count: k)
    for _ in 0 ..< iterations {
        // each prototype (column) gets 1/K
        for j in 0 ..< k { column[j] = 0 }
        for i in 0 ..< b { for j in 0 ..< k { column[j] += q[i * k + j] } }
        for i in 0 ..< b { for j in 0 ..< k { q[i * k + j] /= column[j] * Double(k) } }
        // each sample (row) gets 1/B
        for i in 0 ..< b {
            var s = 0.0
            for j in 0 ..< k { s += q[i * k + j] }
            for j in 0 ..< k { q[i * k + j] /= s * Double(b) }
        }
    }
    let codes = Tensor(shape: [b, k])
    for i in 0 ..< b * k { codes[i] = Float(q[i] * Double(b)) }
    return codes
}

/// SwAV's swapped prediction (Eq. 1–2): the cross-entropy between the codes q of one view and
/// the softmax of another view's scores at temperature τ,
///   ℓ(scores, q) = −(1/B) Σ_b Σ_k q_bk · log softmax(scores_b / τ)_k,
/// with ∂ℓ/∂scores = (softmax(scores/τ) − q)/(τ·B). Codes carry no gradient.
public func swappedPredictionLoss(scores: Tensor, codes: Tensor, temperature: Float, gradient: Tensor, weight: Float = 1) -> Float {
    precondition(scores.shape == codes.shape)
    let b = scores.rows, k = scores.columns
    gradient.reshape(scores.shape)
    var rowLoss = [Double](repeating: 0, count: b)
    let s = scores.data, q = codes.data, g = gradient.data
    rowLoss.withUnsafeMutableBufferPointer { losses in
        Parallel.chunks(b) { _, rows in
            for i in rows {
                var maxValue = -Double.infinity
                for j in 0 ..< k { maxValue = max(maxValue, Double(s[i * k + j] / temperature)) }
                var sum = 0.0
                for j in 0 ..< k { sum += Foundation.exp(Double(s[i * k + j] / temperature) - maxValue) }
                let logSum = maxValue + Foundation.log(sum)
                var l = 0.0
                for j in 0 ..< k {
                    let logSoftmax = Double(s[i * k + j] / temperature) - logSum
                    l -= Double(q[i * k + j]) * logSoftmax
                    g[i * k + j] = weight * (Float(Foundation.exp(logSoftmax)) - q[i * k + j]) / (temperature * Float(b))
                }
                losses[i] = l
            }
        }
    }
    return weight * Float(rowLoss.reduce(0, +) / Double(b))
}
