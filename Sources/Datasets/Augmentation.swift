import Foundation
import Tensors

/// The augmentation recipes of the papers' CIFAR setups by the name that `--augmentation` and the
/// CSV's `augmentation` column use.
public enum AugmentationPreset: String, CaseIterable, Sendable {
    /// BYOL / Barlow Twins (solo-learn's asymmetric recipe): jitter (0.4, 0.4, 0.2, 0.1) with p 0.8,
    /// grayscale 0.2, no blur, solarisation 0 on the first view and 0.2 on the second.
    case barlowTwins = "barlow-twins"
    /// SimCLR / SwAV (solo-learn's symmetric recipe): jitter (0.8, 0.8, 0.8, 0.2) with p 0.8,
    /// grayscale 0.2, Gaussian blur with p 0.5, no solarisation.
    case simclr
}

/// A part of an augmentation recipe that an ablation removes (BYOL Table 17, Barlow Twins
/// Fig. 3): removed, it is never applied to either view. The random resized crop is never removed.
public enum AugmentationPart: String, CaseIterable, Sendable {
    case flip
    case colourJitter = "colour-jitter"
    case grayscale, blur, solarization
}

/// The augmentation recipe of BYOL / Barlow Twins for CIFAR (torchvision semantics):
/// random resized crop to 32×32 (bilinear), horizontal flip, colour jitter with a random order
/// of brightness, contrast, saturation and a real hue rotation, grayscale, optional Gaussian
/// blur, solarisation, per-channel normalisation.
public struct AugmentationRecipe: Equatable {
    public var cropScale: (Float, Float) = (0.08, 1.0)
    public var cropRatio: (Float, Float) = (3.0 / 4.0, 4.0 / 3.0)
    public var flipProbability: Float = 0.5
    public var jitterProbability: Float = 0.8
    public var brightness: Float = 0.4, contrast: Float = 0.4, saturation: Float = 0.2, hue: Float = 0.1
    public var grayscaleProbability: Float = 0.2
    public var blurProbability: Float = 0
    public var blurSigma: (Float, Float) = (0.1, 2.0)
    /// 0: a kernel of 2⌈3σ⌉ + 1 taps, as PIL's GaussianBlur(radius = σ) that solo-learn uses.
    public var blurKernelSize: Int = 0
    public var solarizeProbability: Float = 0
    /// CIFAR-10 channel statistics (solo-learn's recipe, docs/PAPERS.md).
    public var mean: (Float, Float, Float) = (0.4914, 0.4822, 0.4465)
    public var std: (Float, Float, Float) = (0.2470, 0.2435, 0.2616)

    public init() {}

    /// Barlow Twins / BYOL on CIFAR (solo-learn): solarisation 0 on the first view, 0.2 on the second.
    public static func barlowTwinsCIFAR(view: Int) -> AugmentationRecipe {
        var r = AugmentationRecipe()
        r.solarizeProbability = view == 0 ? 0 : 0.2
        return r
    }

    /// SimCLR / SwAV on CIFAR (solo-learn, docs/PAPERS.md): stronger jitter (0.8, 0.8, 0.8, 0.2),
    /// Gaussian blur with p 0.5, no solarisation.
    public static func simclrCIFAR() -> AugmentationRecipe {
        var r = AugmentationRecipe()
        r.brightness = 0.8; r.contrast = 0.8; r.saturation = 0.8; r.hue = 0.2
        r.blurProbability = 0.5
        return r
    }

    /// The same recipe with `parts` switched off: their probabilities set to 0.
    public func removing(_ parts: [AugmentationPart]) -> AugmentationRecipe {
        var r = self
        for part in parts {
            switch part {
            case .flip: r.flipProbability = 0
            case .colourJitter: r.jitterProbability = 0
            case .grayscale: r.grayscaleProbability = 0
            case .blur: r.blurProbability = 0
            case .solarization: r.solarizeProbability = 0
            }
        }
        return r
    }

    /// The two views' recipes of `preset`.
    public static func views(_ preset: AugmentationPreset) -> (AugmentationRecipe, AugmentationRecipe) {
        switch preset {
        case .barlowTwins: return (.barlowTwinsCIFAR(view: 0), .barlowTwinsCIFAR(view: 1))
        case .simclr: return (.simclrCIFAR(), .simclrCIFAR())
        }
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.cropScale == b.cropScale && a.cropRatio == b.cropRatio && a.flipProbability == b.flipProbability
            && a.jitterProbability == b.jitterProbability && a.brightness == b.brightness && a.contrast == b.contrast
            && a.saturation == b.saturation && a.hue == b.hue && a.grayscaleProbability == b.grayscaleProbability
            && a.blurProbability == b.blurProbability && a.blurSigma == b.blurSigma && a.blurKernelSize == b.blurKernelSize
            && a.solarizeProbability == b.solarizeProbability && a.mean == b.mean && a.std == b.std
    }
}

/// Crop box (top, left, height, width) as torchvision's RandomResizedCrop.get_params draws it:
/// ten tries of a random area fraction and log-uniform aspect ratio, else a central crop.
public func randomResizedCropBox(height: Int, width: Int, scale: (Float, Float), ratio: (Float, Float),
                                 rng: inout RandomGenerator) -> (top: Int, left: Int, height: Int, width: Int) {
    let area = Float(height * width)
    let logLow = Foundation.log(ratio.0), logHigh = Foundation.log(ratio.1)
    for _ in 0 ..< 10 {
        let target = area * rng.uniform(scale.0, scale.1)
        let aspect = Foundation.exp(rng.uniform(logLow, logHigh))
        let w = Int((target * aspect).squareRoot().rounded()), h = Int((target / aspect).squareRoot().rounded())
        if w > 0 && w <= width && h > 0 && h <= height {
            let top = rng.int(below: height - h + 1), left = rng.int(below: width - w + 1)
            return (top, left, h, w)
        }
    }
    let inRatio = Float(width) / Float(height)
    var w = width, h = height
    if inRatio < ratio.0 { h = Int((Float(w) / ratio.0).rounded()) }
    else if inRatio > ratio.1 { w = Int((Float(h) * ratio.1).rounded()) }
    return ((height - h) / 2, (width - w) / 2, h, w)
}

@inline(__always) private func clamp01(_ x: Float) -> Float { min(max(x, 0), 1) }

/// Rotates the hue of an RGB pixel by `shift` (a fraction of the colour circle), through HSV,
/// as torchvision's adjust_hue does.
@inline(__always)
public func rotateHue(_ r: Float, _ g: Float, _ b: Float, by shift: Float) -> (Float, Float, Float) {
    let maxc = max(r, g, b), minc = min(r, g, b)
    let v = maxc, delta = maxc - minc
    if delta <= 0 { return (r, g, b) }
    let s = delta / maxc
    var h: Float
    let rc = (maxc - r) / delta, gc = (maxc - g) / delta, bc = (maxc - b) / delta
    if maxc == r { h = bc - gc } else if maxc == g { h = 2 + rc - bc } else { h = 4 + gc - rc }
    h = h / 6
    h = h - h.rounded(.down)
    h += shift
    h = h - h.rounded(.down)
    // HSV → RGB
    let h6 = h * 6, i = Int(h6) % 6, f = h6 - h6.rounded(.down)
    let p = clamp01(v * (1 - s)), q = clamp01(v * (1 - s * f)), t = clamp01(v * (1 - s * (1 - f)))
    switch i {
    case 0: return (v, t, p)
    case 1: return (q, v, p)
    case 2: return (p, v, t)
    case 3: return (p, q, v)
    case 4: return (t, p, v)
    default: return (v, p, q)
    }
}

/// Augments one 32×32 RGB image (8-bit HWC) into `output` (float HWC, normalised), of
/// `outputSize`×`outputSize` pixels (32 for the views, smaller for SwAV's multi-crop).
public func augment(image: UnsafePointer<UInt8>, recipe: AugmentationRecipe, rng: inout RandomGenerator,
                    output: UnsafeMutablePointer<Float>, outputSize: Int = 32) {
    let side = LabeledImages.side, out = outputSize, n = out * out
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * 3 * n) { scratch in
        let x = scratch.baseAddress!, tmp = x + 3 * n
        // 1. random resized crop, bilinear (align_corners = false), with the horizontal flip folded in
        let box = randomResizedCropBox(height: side, width: side, scale: recipe.cropScale, ratio: recipe.cropRatio, rng: &rng)
        let flip = rng.bernoulli(recipe.flipProbability)
        let scaleY = Float(box.height) / Float(out), scaleX = Float(box.width) / Float(out)
        for oy in 0 ..< out {
            let sy = max((Float(oy) + 0.5) * scaleY - 0.5, 0)
            let y0 = min(Int(sy), box.height - 1), y1 = min(y0 + 1, box.height - 1), ly = sy - Float(y0)
            for ox in 0 ..< out {
                let sx = max((Float(ox) + 0.5) * scaleX - 0.5, 0)
                let x0 = min(Int(sx), box.width - 1), x1 = min(x0 + 1, box.width - 1), lx = sx - Float(x0)
                let p00 = image + ((box.top + y0) * side + box.left + x0) * 3
                let p01 = image + ((box.top + y0) * side + box.left + x1) * 3
                let p10 = image + ((box.top + y1) * side + box.left + x0) * 3
                let p11 = image + ((box.top + y1) * side + box.left + x1) * 3
                let dx = flip ? out - 1 - ox : ox
                let d = x + (oy * out + dx) * 3
                for c in 0 ..< 3 {
                    let top = Float(p00[c]) * (1 - lx) + Float(p01[c]) * lx
                    let bottom = Float(p10[c]) * (1 - lx) + Float(p11[c]) * lx
                    d[c] = (top * (1 - ly) + bottom * ly) * (1 / 255)
                }
            }
        }
        // 2. colour jitter with probability p, its four parts in random order
        if rng.bernoulli(recipe.jitterProbability) {
            let b = rng.uniform(max(0, 1 - recipe.brightness), 1 + recipe.brightness)
            let ct = rng.uniform(max(0, 1 - recipe.contrast), 1 + recipe.contrast)
            let s = rng.uniform(max(0, 1 - recipe.saturation), 1 + recipe.saturation)
            let h = rng.uniform(-recipe.hue, recipe.hue)
            var order = [0, 1, 2, 3]
            for i in stride(from: 3, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
            for op in order {
                switch op {
                case 0 where recipe.brightness > 0:
                    for i in 0 ..< 3 * n { x[i] = clamp01(x[i] * b) }
                case 1 where recipe.contrast > 0:
                    var total: Float = 0
                    for p in 0 ..< n { total += 0.299 * x[3 * p] + 0.587 * x[3 * p + 1] + 0.114 * x[3 * p + 2] }
                    let m = total / Float(n)
                    for i in 0 ..< 3 * n { x[i] = clamp01(ct * x[i] + (1 - ct) * m) }
                case 2 where recipe.saturation > 0:
                    for p in 0 ..< n {
                        let gray = 0.299 * x[3 * p] + 0.587 * x[3 * p + 1] + 0.114 * x[3 * p + 2]
                        for c in 0 ..< 3 { x[3 * p + c] = clamp01(s * x[3 * p + c] + (1 - s) * gray) }
                    }
                case 3 where recipe.hue > 0:
                    for p in 0 ..< n {
                        let (r, g, bl) = rotateHue(x[3 * p], x[3 * p + 1], x[3 * p + 2], by: h)
                        x[3 * p] = r; x[3 * p + 1] = g; x[3 * p + 2] = bl
                    }
                default: break
                }
            }
        }
        // 3. grayscale
        if rng.bernoulli(recipe.grayscaleProbability) {
            for p in 0 ..< n {
                let gray = 0.299 * x[3 * p] + 0.587 * x[3 * p + 1] + 0.114 * x[3 * p + 2]
                x[3 * p] = gray; x[3 * p + 1] = gray; x[3 * p + 2] = gray
            }
        }
        // 4. Gaussian blur (separable, reflected borders)
        if recipe.blurProbability > 0 && rng.bernoulli(recipe.blurProbability) {
            gaussianBlur(x, scratch: tmp, side: out, sigma: rng.uniform(recipe.blurSigma.0, recipe.blurSigma.1),
                         kernelSize: recipe.blurKernelSize)
        }
        // 5. solarisation
        if recipe.solarizeProbability > 0 && rng.bernoulli(recipe.solarizeProbability) {
            for i in 0 ..< 3 * n where x[i] >= 0.5 { x[i] = 1 - x[i] }
        }
        // 6. normalisation
        let mean = [recipe.mean.0, recipe.mean.1, recipe.mean.2], invStd = [1 / recipe.std.0, 1 / recipe.std.1, 1 / recipe.std.2]
        for p in 0 ..< n { for c in 0 ..< 3 { output[3 * p + c] = (x[3 * p + c] - mean[c]) * invStd[c] } }
    }
}

/// Separable Gaussian blur of a side×side RGB float image in place; `scratch` holds one image.
func gaussianBlur(_ x: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, side: Int, sigma: Float, kernelSize: Int) {
    let radius = kernelSize > 0 ? kernelSize / 2 : Int((3 * sigma).rounded(.up))
    var weights = [Float](repeating: 0, count: 2 * radius + 1)
    for i in -radius ... radius { weights[i + radius] = Foundation.exp(-Float(i * i) / (2 * sigma * sigma)) }
    let total = weights.reduce(0, +)
    for i in weights.indices { weights[i] /= total }
    @inline(__always) func reflect(_ i: Int) -> Int { i < 0 ? -i : (i >= side ? 2 * side - 2 - i : i) }
    for y in 0 ..< side { for xx in 0 ..< side { for c in 0 ..< 3 {
        var s: Float = 0
        for k in -radius ... radius { s += weights[k + radius] * x[(y * side + reflect(xx + k)) * 3 + c] }
        scratch[(y * side + xx) * 3 + c] = s
    } } }
    for y in 0 ..< side { for xx in 0 ..< side { for c in 0 ..< 3 {
        var s: Float = 0
        for k in -radius ... radius { s += weights[k + radius] * scratch[(reflect(y + k) * side + xx) * 3 + c] }
        x[(y * side + xx) * 3 + c] = s
    } } }
}

/// Normalises images without augmenting them (evaluation): (x/255 − mean)/std.
public func normalize(image: UnsafePointer<UInt8>, recipe: AugmentationRecipe, output: UnsafeMutablePointer<Float>) {
    let mean = [recipe.mean.0, recipe.mean.1, recipe.mean.2], invStd = [1 / recipe.std.0, 1 / recipe.std.1, 1 / recipe.std.2]
    for p in 0 ..< 1024 { for c in 0 ..< 3 { output[3 * p + c] = (Float(image[3 * p + c]) / 255 - mean[c]) * invStd[c] } }
}

/// Fills `batch` ([count, s, s, 3], starting at image `offset`, s = `outputSize`) with one
/// augmented view of each image `indices[i]`, in parallel. The random stream of image i depends
/// only on (seed, step, indices[i], view), never on the thread that does it.
public func augmentBatch(_ images: LabeledImages, indices: ArraySlice<Int>, recipe: AugmentationRecipe,
                         seed: UInt64, step: Int, view: Int, into batch: Tensor, offset: Int, outputSize: Int = 32) {
    let imageSize = outputSize * outputSize * 3
    let out = batch.data + offset * imageSize
    let idx = Array(indices)
    images.pixels.withUnsafeBufferPointer { pixels in
        let base = pixels.baseAddress!
        Parallel.forEach(idx.count) { i in
            var rng = RandomGenerator(seed: seed, stream: UInt64(step), substream: UInt64(idx[i]) << 3 | UInt64(view))
            augment(image: base + idx[i] * LabeledImages.pixelsPerImage, recipe: recipe, rng: &rng,
                    output: out + i * imageSize, outputSize: outputSize)
        }
    }
}

/// Fills `batch` with the normalised images `range` (evaluation: no augmentation).
public func normalizedBatch(_ images: LabeledImages, range: Range<Int>, recipe: AugmentationRecipe, into batch: Tensor) {
    batch.reshape([range.count, 32, 32, 3])
    let out = batch.data
    images.pixels.withUnsafeBufferPointer { pixels in
        let base = pixels.baseAddress!
        Parallel.forEach(range.count) { i in
            normalize(image: base + (range.lowerBound + i) * LabeledImages.pixelsPerImage, recipe: recipe,
                      output: out + i * LabeledImages.pixelsPerImage)
        }
    }
}
