import Foundation
import Tensors

/// The linear-evaluation protocol on frozen features: each feature standardised with the
/// training set's mean and standard deviation, then multinomial logistic regression
///   p(y | x) = softmax(x·W + b),  loss = mean cross-entropy + (weightDecay/2)·‖W‖²
/// trained by mini-batch SGD with momentum 0.9 and a cosine learning rate, from zero weights,
/// in a seeded order: the same features give the same accuracy. Returns the test top-1 in percent.
public struct LinearProbe {
    public var epochs = 100
    public var batchSize = 256
    public var learningRate: Float = 0.1
    public var weightDecay: Float = 1e-4
    public var seed: UInt64 = 0
    public init() {}

    public func accuracy(trainFeatures: Tensor, trainLabels: [Int32], testFeatures: Tensor, testLabels: [Int32], classCount: Int) -> Double {
        let n = trainFeatures.rows, d = trainFeatures.columns, k = classCount
        precondition(testFeatures.columns == d && trainLabels.count == n && testLabels.count == testFeatures.rows)
        // standardise with the training statistics
        var mean = [Float](repeating: 0, count: d), invStd = [Float](repeating: 0, count: d)
        for j in 0 ..< d {
            var s = 0.0, ss = 0.0
            for i in 0 ..< n { let v = Double(trainFeatures[i * d + j]); s += v; ss += v * v }
            let m = s / Double(n), variance = max(ss / Double(n) - m * m, 0)
            mean[j] = Float(m); invStd[j] = Float(1 / (variance.squareRoot() + 1e-6))
        }
        func standardised(_ t: Tensor) -> Tensor {
            let out = Tensor(shape: t.shape)
            for i in 0 ..< t.rows { for j in 0 ..< d { out[i * d + j] = (t[i * d + j] - mean[j]) * invStd[j] } }
            return out
        }
        let x = standardised(trainFeatures), xTest = standardised(testFeatures)
        let w = Tensor(shape: [d, k]), b = Tensor(shape: [k])
        let vw = Tensor(shape: [d, k]), vb = Tensor(shape: [k]), gw = Tensor(shape: [d, k]), gb = Tensor(shape: [k])
        let batch = min(batchSize, n)
        let logits = Tensor(shape: [batch, k]), xb = Tensor(shape: [batch, d])
        var rng = RandomGenerator(seed: seed, stream: 0x11AE)
        let stepsPerEpoch = max(1, n / batch), total = stepsPerEpoch * epochs
        var step = 0
        for _ in 0 ..< epochs {
            let order = rng.permutation(n)
            for s in 0 ..< stepsPerEpoch {
                for r in 0 ..< batch { (xb.data + r * d).update(from: x.data + order[s * batch + r] * d, count: d) }
                gemm(m: batch, n: k, k: d, a: xb.data, lda: d, b: w.data, ldb: k, c: logits.data, ldc: k)
                gb.zero()
                for r in 0 ..< batch {
                    let row = logits.data + r * k
                    var maxValue = -Float.infinity
                    for c in 0 ..< k { row[c] += b[c]; maxValue = max(maxValue, row[c]) }
                    var sum: Float = 0
                    for c in 0 ..< k { row[c] = Foundation.exp(row[c] - maxValue); sum += row[c] }
                    let label = Int(trainLabels[order[s * batch + r]])
                    for c in 0 ..< k {
                        // ∂loss/∂logit = (softmax − onehot)/batch
                        row[c] = (row[c] / sum - (c == label ? 1 : 0)) / Float(batch)
                        gb[c] += row[c]
                    }
                }
                // ∂loss/∂W = xᵀ·G + wd·W
                gemm(transposeA: true, m: d, n: k, k: batch, a: xb.data, lda: d, b: logits.data, ldb: k, c: gw.data, ldc: k)
                let lr = learningRate * Float(0.5 * (1 + cos(Double.pi * Double(step) / Double(total))))
                for i in 0 ..< d * k {
                    vw[i] = 0.9 * vw[i] + gw[i] + weightDecay * w[i]
                    w[i] -= lr * vw[i]
                }
                for c in 0 ..< k { vb[c] = 0.9 * vb[c] + gb[c]; b[c] -= lr * vb[c] }
                step += 1
            }
        }
        // test top-1
        let m = xTest.rows
        let testLogits = Tensor(shape: [m, k])
        gemm(m: m, n: k, k: d, a: xTest.data, lda: d, b: w.data, ldb: k, c: testLogits.data, ldc: k)
        var correct = 0
        for i in 0 ..< m {
            var best = 0
            for c in 1 ..< k where testLogits[i * k + c] + b[c] > testLogits[i * k + best] + b[best] { best = c }
            if best == Int(testLabels[i]) { correct += 1 }
        }
        return 100 * Double(correct) / Double(max(m, 1))
    }
}
