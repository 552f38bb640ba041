import Foundation
import Tensors

/// Batch normalisation over the rows of a `[rows, C]` view: for NHWC feature maps
/// rows = N·H·W (BatchNorm2d), for feature vectors rows = N (BatchNorm1d).
///
/// Training mode, per channel c and per group of rows (see `groups`):
///   mean_c = (1/M) Σ x,  var_c = (1/M) Σ (x − mean_c)²,  rstd_c = 1/√(var_c + ε)
///   x̂ = (x − mean_c)·rstd_c,   y = γ_c·x̂ + β_c   (then max(0, y) when `fusedReLU`)
/// Eval mode uses the running statistics, updated in training with momentum 0.1 and the
/// unbiased variance, as PyTorch does. γ starts at 1 and β at 0; `affine: false` drops them.
///
/// `groups` splits the rows into that many equal contiguous parts with their own statistics:
/// the two views of a batch are stacked into one tensor, and `groups: 2` normalises each view
/// over its own images, exactly as two separate forward passes would.
public final class BatchNorm: Layer {
    public let channels: Int, affine: Bool
    /// Row groups with their own statistics; settable between steps (not between a forward and its backward).
    public var groups: Int
    /// y = max(0, BN(x)) when set. Settable so that a test can make a network kink-free.
    public var fusedReLU: Bool
    public let epsilon: Float = 1e-5, momentum: Float = 0.1
    /// When set, an eval-mode forward normalises with the batch's own statistics and updates the
    /// running ones, as a training-mode forward does: a network evaluated while still in training
    /// mode. Off by default; the regression's `bn-train-mode-at-evaluation` fault sets it.
    public var normalisesWithBatchStatisticsInEvaluation = false
    public let gamma: Parameter?, beta: Parameter?
    public let runningMean: Tensor, runningVariance: Tensor
    public var parameters: [Parameter] { [gamma, beta].compactMap { $0 } }

    private var input: Tensor?
    private var trainedForward = true
    private var forwardGroups = 1
    public let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private let mean: Tensor, rstd: Tensor              // [groups, C], cached for backward
    private let scale: Tensor, shift: Tensor            // [groups, C] per-pass coefficients
    private let coefficients = Tensor(shape: [0])       // [groups, 3, C] for backward
    private var partials: UnsafeMutablePointer<Double>  // [threads, 2, C]
    private var partialThreads = 0

    public init(channels: Int, groups: Int = 1, affine: Bool = true, fusedReLU: Bool = false) {
        precondition(channels > 0 && groups > 0)
        self.channels = channels; self.groups = groups; self.affine = affine; self.fusedReLU = fusedReLU
        gamma = affine ? Parameter(name: "bn.gamma", shape: [channels], kind: .biasOrNorm) : nil
        beta = affine ? Parameter(name: "bn.beta", shape: [channels], kind: .biasOrNorm) : nil
        gamma?.value.fill(1)
        runningMean = Tensor(shape: [channels]); runningVariance = Tensor(shape: [channels])
        runningVariance.fill(1)
        mean = Tensor(shape: [0]); rstd = Tensor(shape: [0])
        scale = Tensor(shape: [0]); shift = Tensor(shape: [0])
        partials = .allocate(capacity: 1)
    }
    deinit { partials.deallocate() }

    private func preparePartials() {
        if partialThreads < Parallel.partitions {
            partials.deallocate()
            partialThreads = Parallel.partitions
            partials = .allocate(capacity: partialThreads * 2 * channels)
        }
    }

    /// For each channel, Σ a and Σ a·b over `rows` rows starting at `a`/`b` (b = a gives Σ a²),
    /// accumulated in float over blocks of 64 rows and in double across blocks. With `relu`
    /// (scale, shift), a counts only where b·scale + shift > 0: the ReLU mask of the fused
    /// forward, recomputed from its input instead of read from its output.
    private func channelSums(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int,
                             relu: (scale: UnsafePointer<Float>, shift: UnsafePointer<Float>)?,
                             into first: UnsafeMutablePointer<Double>, _ second: UnsafeMutablePointer<Double>) {
        let c = channels
        first.update(repeating: 0, count: c); second.update(repeating: 0, count: c)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * c) { tmp in
            let s1 = tmp.baseAddress!, s2 = s1 + c
            var r = 0
            while r < rows {
                let end = min(r + 64, rows)
                s1.update(repeating: 0, count: c); s2.update(repeating: 0, count: c)
                if c % 8 == 0 && c <= 32 {
                    // Few channels: one group of 8 channels at a time, its two sums in registers over
                    // the block's rows (the block, 64 rows of at most 32 channels, stays in L1). Each
                    // lane adds the same terms in the same order as the scalar loop below.
                    for g in stride(from: 0, to: c, by: 8) {
                        var sumA = F8(), sumAB = F8()
                        if let (sc, sh) = relu {
                            let scale = F8.load(sc + g), shift = F8.load(sh + g)
                            for row in r ..< end {
                                let vb = F8.load(b + row * c + g)
                                let va = F8().replacing(with: F8.load(a + row * c + g), where: vb * scale + shift .> 0)
                                sumA += va; sumAB += va * vb
                            }
                        } else {
                            for row in r ..< end {
                                let va = F8.load(a + row * c + g), vb = F8.load(b + row * c + g)
                                sumA += va; sumAB += va * vb
                            }
                        }
                        sumA.store(s1 + g); sumAB.store(s2 + g)
                    }
                } else if let (sc, sh) = relu {
                    for row in r ..< end {
                        let pa = a + row * c, pb = b + row * c
                        for j in 0 ..< c {
                            let v = pb[j] * sc[j] + sh[j] > 0 ? pa[j] : 0
                            s1[j] += v; s2[j] += v * pb[j]
                        }
                    }
                } else {
                    for row in r ..< end {
                        let pa = a + row * c, pb = b + row * c
                        for j in 0 ..< c { s1[j] += pa[j]; s2[j] += pa[j] * pb[j] }
                    }
                }
                for j in 0 ..< c { first[j] += Double(s1[j]); second[j] += Double(s2[j]) }
                r = end
            }
        }
    }

    /// Runs `channelSums` over the rows of one group, split over the threads, and reduces the
    /// per-thread sums in order.
    private func groupSums(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int,
                           relu: (scale: UnsafePointer<Float>, shift: UnsafePointer<Float>)? = nil,
                           _ body: (_ first: UnsafePointer<Double>, _ second: UnsafePointer<Double>) -> Void) {
        preparePartials()
        let c = channels, p = partials
        let used = min(Parallel.partitions, rows)
        Parallel.chunks(rows) { t, range in
            channelSums(a + range.lowerBound * c, b + range.lowerBound * c, rows: range.count, relu: relu,
                        into: p + t * 2 * c, p + t * 2 * c + c)
        }
        for t in 1 ..< max(used, 1) {
            for j in 0 ..< 2 * c { p[j] += p[t * 2 * c + j] }
        }
        body(p, p + c)
    }

    private func profileName(_ x: Tensor) -> String {
        "batchnorm\(fusedReLU ? "+relu" : "") \(x.rows)×\(channels)"
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        StepProfile.measure(profileName(x) + " forward") { forwardPass(x, training: training) }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        StepProfile.measure(profileName(gradOutput) + " backward") { backwardPass(gradOutput) }
    }

    private func forwardPass(_ x: Tensor, training requested: Bool) -> Tensor {
        let training = requested || normalisesWithBatchStatisticsInEvaluation
        precondition(x.columns == channels, "BatchNorm(\(channels)) got shape \(x.shape)")
        let rows = x.rows, c = channels
        input = x; trainedForward = training
        output.reshape(x.shape)
        let g = training ? groups : 1
        forwardGroups = g
        precondition(rows % g == 0 && rows / g > 1, "BatchNorm: \(rows) rows do not split into \(g) groups of 2 or more")
        let groupRows = rows / g
        for t in [mean, rstd, scale, shift] { t.reshape([g, c]) }
        let gam = gamma?.value.data, bet = beta?.value.data
        for group in 0 ..< g {
            let m = mean.data + group * c, rs = rstd.data + group * c
            let sc = scale.data + group * c, sh = shift.data + group * c
            if training {
                let xg = UnsafePointer(x.data + group * groupRows * c)
                groupSums(xg, xg, rows: groupRows) { sum, sumSquares in
                    let count = Double(groupRows)
                    for j in 0 ..< c {
                        let mu = sum[j] / count
                        let variance = max(sumSquares[j] / count - mu * mu, 0)
                        m[j] = Float(mu)
                        rs[j] = Float(1 / (variance + Double(epsilon)).squareRoot())
                        runningMean[j] = (1 - momentum) * runningMean[j] + momentum * Float(mu)
                        runningVariance[j] = (1 - momentum) * runningVariance[j]
                            + momentum * Float(variance * count / (count - 1))
                    }
                }
            } else {
                for j in 0 ..< c {
                    m[j] = runningMean[j]
                    rs[j] = 1 / (runningVariance[j] + epsilon).squareRoot()
                }
            }
            for j in 0 ..< c {
                let gj = gam?[j] ?? 1, bj = bet?[j] ?? 0
                sc[j] = rs[j] * gj
                sh[j] = bj - m[j] * sc[j]
            }
        }
        // y = x·(γ·rstd) + (β − mean·γ·rstd), then ReLU
        let xp = x.data, yp = output.data, relu = fusedReLU
        Parallel.chunks(rows) { _, range in
            for row in range {
                let group = row / groupRows
                let sc = scale.data + group * c, sh = shift.data + group * c
                let px = xp + row * c, py = yp + row * c
                if c % 8 == 0 {
                    // explicit 8-wide vectors: the compiler's vector loop skips rows of 8 to 24 channels
                    for j in stride(from: 0, to: c, by: 8) {
                        let v = F8.load(px + j) * F8.load(sc + j) + F8.load(sh + j)
                        (relu ? v.replacing(with: 0, where: v .<= 0) : v).store(py + j)   // max(v, 0) as Swift's max
                    }
                } else if relu { for j in 0 ..< c { py[j] = max(px[j] * sc[j] + sh[j], 0) } }
                else { for j in 0 ..< c { py[j] = px[j] * sc[j] + sh[j] } }
            }
        }
        if relu, let record = ReLURecorder.record { record(output) }
        return output
    }

    private func backwardPass(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { fatalError("BatchNorm.backward before forward") }
        let rows = x.rows, c = channels, g = forwardGroups, groupRows = rows / g
        gradInput.reshape(x.shape)
        let xp = x.data, dyp = gradOutput.data, dxp = gradInput.data, relu = fusedReLU
        // dy' = ∂L/∂(γx̂+β) = ∂L/∂y where x·scale + shift > 0 (the fused ReLU), else ∂L/∂y; the
        // mask is recomputed from x in both passes below rather than stored.
        func reluMask(_ group: Int) -> (scale: UnsafePointer<Float>, shift: UnsafePointer<Float>)? {
            relu ? (UnsafePointer(scale.data + group * c), UnsafePointer(shift.data + group * c)) : nil
        }
        // Per-channel coefficients so that dx = dy'·A + x·B + D in one pass.
        coefficients.reshape([g, 3, c])
        for group in 0 ..< g {
            let m = mean.data + group * c, rs = rstd.data + group * c
            let co = coefficients.data + group * 3 * c
            let off = group * groupRows * c
            if trainedForward {
                groupSums(UnsafePointer(dyp + off), UnsafePointer(xp + off), rows: groupRows, relu: reluMask(group)) { sumDy, sumDyX in
                    let count = Float(groupRows)
                    for j in 0 ..< c {
                        let gj = gamma?.value[j] ?? 1
                        let sdy = Float(sumDy[j])
                        // Σ dy'·x̂ = rstd·(Σ dy'·x − mean·Σ dy')
                        let sdyXhat = rs[j] * Float(sumDyX[j] - Double(m[j]) * sumDy[j])
                        gamma?.grad[j] += sdyXhat          // ∂L/∂γ = Σ dy'·x̂
                        beta?.grad[j] += sdy               // ∂L/∂β = Σ dy'
                        // dx = γ·rstd·(dy' − Σdy'/M − x̂·Σ(dy'·x̂)/M)
                        let a = gj * rs[j]
                        let b = -a * rs[j] * sdyXhat / count
                        co[j] = a
                        co[c + j] = b
                        co[2 * c + j] = -a * sdy / count - m[j] * b
                    }
                }
            } else {
                // Eval mode is an affine map: dx = dy'·γ·rstd.
                groupSums(UnsafePointer(dyp + off), UnsafePointer(xp + off), rows: groupRows, relu: reluMask(group)) { sumDy, sumDyX in
                    for j in 0 ..< c {
                        let gj = gamma?.value[j] ?? 1
                        gamma?.grad[j] += rs[j] * Float(sumDyX[j] - Double(m[j]) * sumDy[j])
                        beta?.grad[j] += Float(sumDy[j])
                        co[j] = gj * rs[j]; co[c + j] = 0; co[2 * c + j] = 0
                    }
                }
            }
        }
        let cp = coefficients.data, scp = scale.data, shp = shift.data
        Parallel.chunks(rows) { _, range in
            for row in range {
                let group = row / groupRows
                let co = cp + group * 3 * c
                let a = co, b = co + c, d = co + 2 * c
                let pdy = dyp + row * c, px = xp + row * c, pdx = dxp + row * c
                if c % 8 == 0 {
                    let sc = scp + group * c, sh = shp + group * c
                    for j in stride(from: 0, to: c, by: 8) {
                        var dy = F8.load(pdy + j), vx = F8.load(px + j)
                        if relu { dy = F8().replacing(with: dy, where: vx * F8.load(sc + j) + F8.load(sh + j) .> 0) }
                        (dy * F8.load(a + j) + vx * F8.load(b + j) + F8.load(d + j)).store(pdx + j)
                    }
                } else if relu {
                    let sc = scp + group * c, sh = shp + group * c
                    for j in 0 ..< c { pdx[j] = (px[j] * sc[j] + sh[j] > 0 ? pdy[j] : 0) * a[j] + px[j] * b[j] + d[j] }
                } else {
                    for j in 0 ..< c { pdx[j] = pdy[j] * a[j] + px[j] * b[j] + d[j] }
                }
            }
        }
        return gradInput
    }
}

/// Eight floats, loaded from and stored to unaligned memory.
typealias F8 = SIMD8<Float>

extension SIMD8 where Scalar == Float {
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Self { UnsafeRawPointer(p).loadUnaligned(as: Self.self) }
    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> Self { load(UnsafePointer(p)) }
    @inline(__always) func store(_ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self) }
}
