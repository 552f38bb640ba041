import Foundation
import Tensors

/// The intra-batch mixing strategies of SDMP (Ren et al., CVPR 2022, §3.2).
public enum MixStrategy: String, CaseIterable, Equatable {
    case mixup, cutmix, resizemix
}

/// Which of the two views SDMP mixes on the query side.
public enum MixedView: String, CaseIterable, Equatable {
    /// One of the two, drawn with probability ½ per batch (the official `moco/builder.py` swaps
    /// the views at random before mixing the second).
    case random
    /// Always the first view (view A, the view with blur always on in the asymmetric
    /// augmentation): sslbench's rule before the official one was followed, kept to rerun old cells.
    case first
}

/// Where the boxes of the mixed keys lie (CutMix and ResizeMix).
public enum KeyBoxes: String, CaseIterable, Equatable {
    /// Boxes of the same size as the queries' (so the same λ) at new random places: the official
    /// `moco/builder.py` mixes each view with its own call to the box sampler.
    case fresh
    /// The queries' boxes reused: sslbench's rule before the official one was followed.
    case shared
}

/// SDMP's mixing: which strategies a batch may draw from (uniformly, one per batch), α of the
/// Beta(α, α) that draws each sample's λ, the range λ is mapped into, the weights of the two
/// mixed losses, which view is mixed and where the keys' boxes lie. The paper gives no α; the
/// official code (`moco/builder.py`) draws u ~ Beta(1, 1) and maps it linearly, λ = 0.1 + 0.8·u
/// (uniform on [0.1, 0.9]), returns the source and the mixing loss halved beside the plain MoCo v3
/// term, mixes one of the two views chosen at random per batch, and draws the keys' boxes anew;
/// ours does the same by default.
public struct MixingConfiguration: Equatable {
    public var strategies: [MixStrategy] = MixStrategy.allCases
    public var alpha: Double = 1
    /// λ = lower + (upper − lower)·u with u ~ Beta(α, α).
    public var lambdaRange: ClosedRange<Double> = 0.1 ... 0.9
    /// Weight of the source loss (soft labels λ, 1 − λ on the two source keys): ½ as in the official code.
    public var sourceLossWeight: Float = 0.5
    /// Weight of the mixing loss (soft labels over the mixed keys): ½ as in the official code.
    public var mixingLossWeight: Float = 0.5
    public var mixedView = MixedView.random
    public var keyBoxes = KeyBoxes.fresh
    /// Ablations of SDMP's loss (the paper's Tables 6–7 as docs/PAPERS.md lists them; their exact
    /// definitions could not be read, so these are ours): one λ drawn per batch instead of per
    /// sample, the source loss's labels ½ and ½ instead of λ_i and 1 − λ_i, and the mixing loss's
    /// labels ½ and ½ (λc held at 1) instead of 1/(1 + λc_i) and λc_i/(1 + λc_i).
    public var lambdaPerBatch = false
    public var equalSourceLabels = false
    public var equalMixingLabels = false
    public init(strategies: [MixStrategy] = MixStrategy.allCases) { self.strategies = strategies }

    func validate() throws {
        if strategies.isEmpty { throw ConfigurationError("mixing", "none", "sdmp needs at least one strategy (moco-v3 is SDMP without mixing)") }
        if !(alpha > 0) { throw ConfigurationError("mixing alpha", alpha, "must be positive") }
        if !(lambdaRange.lowerBound >= 0 && lambdaRange.upperBound <= 1) {
            throw ConfigurationError("mixing lambda range", lambdaRange, "must lie within [0, 1]")
        }
        if !(sourceLossWeight >= 0 && mixingLossWeight >= 0) {
            throw ConfigurationError("mixing loss weights", "\(sourceLossWeight), \(mixingLossWeight)", "must not be negative")
        }
    }
}

/// One batch's mixing: image i is mixed with image n−1−i (the reversed batch), with its own λ_i
/// and, for CutMix and ResizeMix, its own box. λ_i is the share of image i in mixed image i.
public struct MixPlan {
    public struct Box: Equatable { public var top, left, height, width: Int }
    public let strategy: MixStrategy
    public let lambdas: [Float]
    public let boxes: [Box]          // empty for Mixup
    public let height: Int, width: Int
    /// The labels' ablations of `MixingConfiguration` (false, false: SDMP's own labels).
    public var equalSourceLabels = false, equalMixingLabels = false

    /// Draws a strategy for the batch and λ (and a box) per sample. For CutMix and ResizeMix the
    /// box has sides √(1−λ)·H, √(1−λ)·W rounded to pixels, lies inside the image, and λ is
    /// recomputed as 1 − box area/HW, so that the label matches the pixels exactly.
    public static func draw(batch n: Int, height: Int, width: Int, configuration: MixingConfiguration,
                            rng: inout RandomGenerator) -> MixPlan {
        precondition(!configuration.strategies.isEmpty)
        let strategy = configuration.strategies[rng.int(below: configuration.strategies.count)]
        var lambdas: [Float] = [], boxes: [Box] = []
        var batchLambda: Double? = nil
        for _ in 0 ..< n {
            let lambda: Double
            if let l = batchLambda { lambda = l } else {
                let raw = sampleBeta(configuration.alpha, &rng)
                let range = configuration.lambdaRange
                lambda = range.lowerBound + (range.upperBound - range.lowerBound) * raw
                if configuration.lambdaPerBatch { batchLambda = lambda }
            }
            if strategy == .mixup { lambdas.append(Float(lambda)); continue }
            let side = (1 - lambda).squareRoot()
            let h = min(height, max(1, Int((Double(height) * side).rounded()))), w = min(width, max(1, Int((Double(width) * side).rounded())))
            let box = Box(top: rng.int(below: height - h + 1), left: rng.int(below: width - w + 1), height: h, width: w)
            boxes.append(box)
            lambdas.append(1 - Float(h * w) / Float(height * width))
        }
        var plan = MixPlan(strategy: strategy, lambdas: lambdas, boxes: boxes, height: height, width: width)
        plan.equalSourceLabels = configuration.equalSourceLabels; plan.equalMixingLabels = configuration.equalMixingLabels
        return plan
    }

    /// The same strategy, λ and box sizes with each box moved to a new random place inside the
    /// image (λ is unchanged, as it only depends on the box's area).
    public func movingBoxes(rng: inout RandomGenerator) -> MixPlan {
        let moved = boxes.map { b in
            Box(top: rng.int(below: height - b.height + 1), left: rng.int(below: width - b.width + 1), height: b.height, width: b.width)
        }
        var plan = MixPlan(strategy: strategy, lambdas: lambdas, boxes: moved, height: height, width: width)
        plan.equalSourceLabels = equalSourceLabels; plan.equalMixingLabels = equalMixingLabels
        return plan
    }

    /// Mixes a batch of images x ([n, H, W, C]) into `out`: image i with image n−1−i.
    ///   Mixup:     m_i = λ_i·x_i + (1 − λ_i)·x_{n−1−i}
    ///   CutMix:    m_i = x_i with the box of x_{n−1−i} (same place) pasted in
    ///   ResizeMix: m_i = x_i with the whole x_{n−1−i}, resized to the box (bilinear), pasted in
    public func apply(to x: Tensor, into out: Tensor) {
        let n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3]
        precondition(n == lambdas.count && h == height && w == width)
        out.reshape(x.shape)
        let image = h * w * c, src = x.data, dst = out.data
        Parallel.forEach(n) { i in
            let own = src + i * image, partner = src + (n - 1 - i) * image, m = dst + i * image
            switch strategy {
            case .mixup:
                let l = lambdas[i]
                for j in 0 ..< image { m[j] = l * own[j] + (1 - l) * partner[j] }
            case .cutmix:
                m.update(from: own, count: image)
                let b = boxes[i]
                for y in b.top ..< b.top + b.height {
                    (m + (y * w + b.left) * c).update(from: partner + (y * w + b.left) * c, count: b.width * c)
                }
            case .resizemix:
                m.update(from: own, count: image)
                let b = boxes[i]
                let sy = Float(h) / Float(b.height), sx = Float(w) / Float(b.width)
                for y in 0 ..< b.height {
                    let fy = max((Float(y) + 0.5) * sy - 0.5, 0)
                    let y0 = min(Int(fy), h - 1), y1 = min(y0 + 1, h - 1), ly = fy - Float(y0)
                    for xx in 0 ..< b.width {
                        let fx = max((Float(xx) + 0.5) * sx - 0.5, 0)
                        let x0 = min(Int(fx), w - 1), x1 = min(x0 + 1, w - 1), lx = fx - Float(x0)
                        let d = m + ((b.top + y) * w + b.left + xx) * c
                        for ch in 0 ..< c {
                            let top = partner[(y0 * w + x0) * c + ch] * (1 - lx) + partner[(y0 * w + x1) * c + ch] * lx
                            let bottom = partner[(y1 * w + x0) * c + ch] * (1 - lx) + partner[(y1 * w + x1) * c + ch] * lx
                            d[ch] = top * (1 - ly) + bottom * ly
                        }
                    }
                }
            }
        }
    }

    /// The source loss's soft labels over the keys of the other view [n, n]: λ_i on key i and
    /// 1 − λ_i on key n−1−i (SDMP Eq. 3); ½ and ½ with `equalSourceLabels`. The middle image of
    /// an odd batch is mixed with itself: 1.
    public func sourceTargets() -> Tensor {
        let n = lambdas.count, t = Tensor(shape: [n, n])
        for i in 0 ..< n {
            let own: Float = equalSourceLabels ? 0.5 : lambdas[i]
            t[i * n + i] += own; t[i * n + n - 1 - i] += 1 - own
        }
        return t
    }

    /// The mixing loss's soft labels over the mixed keys [n, n] (SDMP Eq. 4–5): with
    /// λc_i = min(λ_i, 1 − λ_{n−1−i}) + min(1 − λ_i, λ_{n−1−i}), the share of content that mixed
    /// images i and n−1−i have in common, 1/(1 + λc_i) on key i and λc_i/(1 + λc_i) on key n−1−i;
    /// with `equalMixingLabels` λc is held at 1: ½ and ½.
    public func mixingTargets() -> Tensor {
        let n = lambdas.count, t = Tensor(shape: [n, n])
        for i in 0 ..< n {
            let j = n - 1 - i
            let common = equalMixingLabels ? 1 : min(lambdas[i], 1 - lambdas[j]) + min(1 - lambdas[i], lambdas[j])
            t[i * n + i] += 1 / (1 + common)
            t[i * n + j] += common / (1 + common)
        }
        return t
    }
}

/// One SDMP step's mixing: the plan of the mixed queries, the plan of the mixed keys (the same λ;
/// the boxes moved or shared, `KeyBoxes`) and which view was mixed.
public struct SDMPMix {
    public let queries: MixPlan
    public let keys: MixPlan
    /// 0: view A mixed and view B kept; 1: view B mixed and view A kept.
    public let mixedView: Int

    /// Draws a step's mixing: the queries' plan, then which view (`MixedView`), then the keys' boxes.
    public static func draw(batch n: Int, height: Int, width: Int, configuration: MixingConfiguration,
                            rng: inout RandomGenerator) -> SDMPMix {
        let queries = MixPlan.draw(batch: n, height: height, width: width, configuration: configuration, rng: &rng)
        let mixedView = configuration.mixedView == .random && rng.nextDouble() < 0.5 ? 1 : 0
        let keys = configuration.keyBoxes == .fresh ? queries.movingBoxes(rng: &rng) : queries
        return SDMPMix(queries: queries, keys: keys, mixedView: mixedView)
    }
}

/// Beta(α, α) from two Gamma(α) draws (Marsaglia–Tsang; α < 1 through the boost U^(1/α)).
func sampleBeta(_ alpha: Double, _ rng: inout RandomGenerator) -> Double {
    func gamma(_ a: Double) -> Double {
        if a < 1 { return gamma(a + 1) * pow(max(rng.nextDouble(), 1e-300), 1 / a) }
        let d = a - 1.0 / 3.0, c = 1 / (9 * d).squareRoot()
        while true {
            let x = Double(rng.normal()), v0 = 1 + c * x
            if v0 <= 0 { continue }
            let v = v0 * v0 * v0, u = rng.nextDouble()
            if u < 1 - 0.0331 * x * x * x * x || log(max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }
    let a = gamma(alpha), b = gamma(alpha)
    return a / (a + b)
}
