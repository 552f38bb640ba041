import Foundation
import Datasets
import NN
import Tensors

/// Backbone features of `images` in eval mode (running batch-norm statistics),
/// [count, featureDimensions], L2-normalised unless `l2Normalize` is false. Images are
/// normalised, not augmented.
public func extractFeatures(encoder: ResNet18, images: LabeledImages, recipe: AugmentationRecipe = .init(),
                            batchSize: Int = 512, l2Normalize: Bool = true) -> Tensor {
    let dims = encoder.featureDimensions
    let features = Tensor(shape: [images.count, dims])
    let batch = Tensor(shape: [batchSize, 32, 32, 3])
    var start = 0
    while start < images.count {
        let end = min(start + batchSize, images.count)
        normalizedBatch(images, range: start ..< end, recipe: recipe, into: batch)
        let out = encoder.forward(batch, training: false)
        (features.data + start * dims).update(from: out.data, count: (end - start) * dims)
        start = end
    }
    return l2Normalize ? l2Normalized(features) : features
}

/// A copy of `features` with every row scaled to unit length.
public func l2Normalized(_ source: Tensor) -> Tensor {
    let features = Tensor(shape: source.shape)
    features.copy(from: source)
    let dims = features.columns
    let f = features.data
    Parallel.forEach(features.rows) { i in
        let row = f + i * dims
        var s: Float = 0
        for j in 0 ..< dims { s += row[j] * row[j] }
        let inv = 1 / max(s.squareRoot(), 1e-12)
        for j in 0 ..< dims { row[j] *= inv }
    }
    return features
}

/// Weighted k-nearest-neighbour classification (Wu et al. 2018, as in the lightly and
/// solo-learn benchmarks): for each query, the k training features of highest cosine
/// similarity vote for their class with weight exp(similarity / temperature); the class with
/// the most weight wins (ties: the lowest class index). Features must be L2-normalised.
/// Returns the top-1 accuracy in percent.
public func weightedKNNAccuracy(trainFeatures: Tensor, trainLabels: [Int32], queryFeatures: Tensor, queryLabels: [Int32],
                                classCount: Int, neighbours k: Int = 200, temperature: Float = 0.1) -> Double {
    let nTrain = trainFeatures.rows, nQuery = queryFeatures.rows, dims = trainFeatures.columns
    precondition(queryFeatures.columns == dims && trainLabels.count == nTrain && queryLabels.count == nQuery)
    let k = min(k, nTrain)
    let blockRows = 64
    var correctPerChunk = [Int](repeating: 0, count: Parallel.partitions)
    let tf = trainFeatures.data, qf = queryFeatures.data
    trainLabels.withUnsafeBufferPointer { tl in
        queryLabels.withUnsafeBufferPointer { ql in
            correctPerChunk.withUnsafeMutableBufferPointer { correct in
                Parallel.chunks(nQuery) { t, queries in
                    let sims = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * nTrain)
                    let heapValues = UnsafeMutablePointer<Float>.allocate(capacity: k)
                    let heapIndices = UnsafeMutablePointer<Int>.allocate(capacity: k)
                    var votes = [Double](repeating: 0, count: classCount)
                    defer { sims.deallocate(); heapValues.deallocate(); heapIndices.deallocate() }
                    var start = queries.lowerBound
                    while start < queries.upperBound {
                        let end = min(start + blockRows, queries.upperBound)
                        gemm(transposeB: true, m: end - start, n: nTrain, k: dims, a: qf + start * dims, lda: dims,
                             b: tf, ldb: dims, c: sims, ldc: nTrain)
                        for q in start ..< end {
                            let row = sims + (q - start) * nTrain
                            // the k largest similarities, kept in a min-heap
                            var size = 0
                            for i in 0 ..< nTrain {
                                let v = row[i]
                                if size < k {
                                    var c = size; size += 1
                                    while c > 0 { let p = (c - 1) / 2; if heapValues[p] <= v { break }; heapValues[c] = heapValues[p]; heapIndices[c] = heapIndices[p]; c = p }
                                    heapValues[c] = v; heapIndices[c] = i
                                } else if v > heapValues[0] {
                                    var c = 0
                                    while true {
                                        let l = 2 * c + 1; if l >= size { break }
                                        var m = l; if l + 1 < size && heapValues[l + 1] < heapValues[l] { m = l + 1 }
                                        if heapValues[m] >= v { break }
                                        heapValues[c] = heapValues[m]; heapIndices[c] = heapIndices[m]; c = m
                                    }
                                    heapValues[c] = v; heapIndices[c] = i
                                }
                            }
                            for c in 0 ..< classCount { votes[c] = 0 }
                            for h in 0 ..< size { votes[Int(tl[heapIndices[h]])] += Foundation.exp(Double(heapValues[h] / temperature)) }
                            var best = 0
                            for c in 1 ..< classCount where votes[c] > votes[best] { best = c }
                            if best == Int(ql[q]) { correct[t] += 1 }
                        }
                        start = end
                    }
                }
            }
        }
    }
    return 100 * Double(correctPerChunk.reduce(0, +)) / Double(max(nQuery, 1))
}
