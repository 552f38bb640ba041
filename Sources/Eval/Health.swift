import NN
import Tensors
import Foundation

/// Collapse made visible: two figures that fall when a network stops telling images apart,
/// without anyone reading accuracy.

/// The mean over dimensions of the standard deviation, over rows, of the L2-normalised rows of
/// `embeddings` ([N, D]). Embeddings spread over the sphere give about 1/√D; a collapsed
/// projector (every image mapped to one point) gives 0 (Jing et al. 2022 and the SimSiam
/// paper use this figure).
public func normalizedEmbeddingStandardDeviation(_ embeddings: Tensor) -> Double {
    let n = embeddings.rows, d = embeddings.columns
    precondition(n >= 2)
    var sum = [Double](repeating: 0, count: d), sumOfSquares = [Double](repeating: 0, count: d)
    let e = embeddings.data
    for i in 0 ..< n {
        let row = e + i * d
        var norm: Double = 0
        for j in 0 ..< d { norm += Double(row[j]) * Double(row[j]) }
        let inverse = 1 / max(norm.squareRoot(), 1e-12)
        for j in 0 ..< d {
            let x = Double(row[j]) * inverse
            sum[j] += x; sumOfSquares[j] += x * x
        }
    }
    var total: Double = 0
    for j in 0 ..< d {
        let mean = sum[j] / Double(n)
        let variance = max(sumOfSquares[j] / Double(n) - mean * mean, 0) * Double(n) / Double(n - 1)
        total += variance.squareRoot()
    }
    return total / Double(d)
}

/// RankMe (Garrido et al., ICML 2023, eq. 1): the effective rank of `features` ([N, F]),
/// exp(−Σₖ pₖ log pₖ) with pₖ = σₖ / ‖σ‖₁ + ε over the singular values σ of the matrix (not
/// centred). It lies between 1 (every row on one line) and min(N, F). The singular values are
/// the square roots of the eigenvalues of FᵀF, taken in double precision.
public func rankMe(_ features: Tensor, epsilon: Double = 1e-7) -> Double {
    let n = features.rows, f = features.columns
    let gram = Tensor(shape: [f, f])
    gemm(transposeA: true, m: f, n: f, k: n, a: features.data, lda: f, b: features.data, ldb: f, c: gram.data, ldc: f)
    let eigenvalues = symmetricEigenvalues(gram.array.map(Double.init), n: f)
    let singularValues = eigenvalues.map { max($0, 0).squareRoot() }
    let total = singularValues.reduce(0, +)
    guard total > 0 else { return 1 }
    var entropy: Double = 0
    for s in singularValues {
        let p = s / total + epsilon
        entropy -= p * Foundation.log(p)
    }
    return Foundation.exp(entropy)
}

/// The projector's embeddings ([min(N, limit), D]) of the first `limit` rows of `features`,
/// with batch norms in inference mode (running statistics), 512 rows at a time.
public func projectorEmbeddings(_ projector: Layer, features: Tensor, limit: Int = 2048) -> Tensor {
    let n = min(features.rows, limit), f = features.columns
    var embeddings: Tensor? = nil
    let chunk = Tensor(shape: [0, f])
    var start = 0
    while start < n {
        let end = min(start + 512, n)
        chunk.reshape([end - start, f])
        chunk.data.update(from: features.data + start * f, count: (end - start) * f)
        let out = projector.forward(chunk, training: false)
        if embeddings == nil { embeddings = Tensor(shape: [n, out.columns]) }
        (embeddings!.data + start * out.columns).update(from: out.data, count: out.count)
        start = end
    }
    return embeddings!
}

/// Collapse figures of an evaluated network (see `normalizedEmbeddingStandardDeviation` and
/// `rankMe`): the standard deviation of its L2-normalised embeddings (about 1/√D when healthy,
/// 0 when collapsed) and the effective rank of its backbone features on the test set.
public struct Health: Equatable {
    public var embeddingStandardDeviation: Double = .nan
    public var rankMe: Double = .nan
    public var featureDimensions = 0, embeddingDimensions = 0
    public init() {}
    public init(embeddingStandardDeviation: Double, rankMe: Double, featureDimensions: Int, embeddingDimensions: Int) {
        self.embeddingStandardDeviation = embeddingStandardDeviation; self.rankMe = rankMe
        self.featureDimensions = featureDimensions; self.embeddingDimensions = embeddingDimensions
    }
    /// For a progress line: "embedding std 0.0213 (healthy ≈ 0.0221), RankMe 97.3 of 128".
    public var summary: String {
        String(format: "embedding std %.4f (1/√D %.4f), RankMe %.1f of %d", embeddingStandardDeviation,
               1 / Double(max(embeddingDimensions, 1)).squareRoot(), rankMe, featureDimensions)
    }
}
