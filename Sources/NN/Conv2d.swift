import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// 2-D convolution without bias on NHWC tensors:
///   y[n, oy, ox, co] = Σ_{ky, kx, ci} x[n, oy·s − p + ky, ox·s − p + kx, ci] · w[ky, kx, ci, co]
/// computed as an im2col matrix [rows = images·Ho·Wo, K = k·k·Cin] times the weight matrix
/// [K, Cout]. The batch is split over the threads, and each thread works through its images
/// a few at a time so that its im2col block stays in cache. A 1×1 convolution with stride 1
/// reads the input directly. Backward: ∂L/∂w = colᵀ·∂L/∂y; ∂L/∂x is, for the size-keeping
/// stride-1 convolutions (most of ResNet-18), the convolution of ∂L/∂y with the flipped,
/// channel-transposed weights (im2col + one product), and otherwise ∂L/∂col = ∂L/∂y·wᵀ
/// scattered back by col2im. Size-keeping stride-1 convolutions with at most
/// `directKernelChannelLimit` channels (the first stages of the narrow networks) skip im2col
/// and sgemm altogether and run on the register-tiled kernels of `DirectConvolution`, forward,
/// ∂L/∂w and ∂L/∂x alike. Weight layout: [k, k, Cin, Cout]; initialisation as PyTorch's
/// default (U(±1/√(k·k·Cin))).
public final class Conv2d: Layer {
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int
    public let weight: Parameter
    /// The stem convolution sees the images and needs no input gradient.
    public var computesInputGradient = true
    public var parameters: [Parameter] { [weight] }

    private var input: Tensor?
    public let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var columns: [Tensor] = []      // per thread: im2col block
    private var columnGrads: [Tensor] = []  // per thread: ∂L/∂(im2col block)
    private var weightGrads: [Tensor] = []  // per thread: partial ∂L/∂w
    private let flippedWeight = Tensor(shape: [0])  // [k, k, Cout, Cin]: w rotated by 180°, channels swapped
    private var paddedInputs: [Tensor] = []   // per thread: one zero-padded input image (direct kernels)
    private var paddedGrads: [Tensor] = []    // per thread: one zero-padded ∂L/∂y image (direct kernels)

    /// Whether the direct kernels may be used (`Conv2d.directKernelsByDefault` unless set).
    public var allowsDirectKernels = Conv2d.directKernelsByDefault
    /// On, unless the environment has SSLBENCH_DIRECT_CONV=0 (to compare the paths on whole runs).
    /// They were off from c9c8586 to f90334e, after SDMP seed 0 at the `ci` scale fell from 30.62
    /// to 25.39 kNN top-1 with them. `DirectConvolutionMethodTests` then showed every method's
    /// step the same on both paths, within what a 1e-6 nudge of the input moves it; that run's
    /// loss curves agree to 1e-6 for two steps and then drift apart as any rounding change makes
    /// them; four `ci` seeds on them spread as widely (README, "Speed").
    public static let directKernelsByDefault: Bool = getenv("SSLBENCH_DIRECT_CONV").map { String(cString: $0) != "0" } ?? true
    /// Channel counts up to which a size-keeping stride-1 convolution runs on `DirectConvolution`
    /// instead of im2col + sgemm (chosen with `sslbench bench --only layers`).
    public static let directKernelChannelLimit = 64

    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                rng: inout RandomGenerator) {
        self.inputChannels = inputChannels; self.outputChannels = outputChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        weight = Parameter(name: "conv\(kernelSize)x\(kernelSize).weight",
                           shape: [kernelSize, kernelSize, inputChannels, outputChannels], kind: .weight)
        initialiseUniform(weight.value, fanIn: kernelSize * kernelSize * inputChannels, rng: &rng)
    }

    var patchSize: Int { kernelSize * kernelSize * inputChannels }
    var readsInputDirectly: Bool { kernelSize == 1 && stride == 1 && padding == 0 }
    /// A k×k convolution with stride 1 that keeps the image size (2p = k − 1): its input gradient
    /// is itself such a convolution, of ∂L/∂y with the weights flipped in space and transposed in
    /// channels, so `backward` runs im2col + one product instead of a product + col2im scatter.
    var inputGradientIsConvolution: Bool { kernelSize > 1 && stride == 1 && 2 * padding == kernelSize - 1 }
    /// Forward and ∂L/∂w on `DirectConvolution`: a k×k convolution with padding (k − 1)/2,
    /// stride 1 or 2, few channels and Cout a multiple of 8.
    public var usesDirectKernels: Bool {
        allowsDirectKernels && kernelSize > 1 && 2 * padding == kernelSize - 1 && (stride == 1 || stride == 2)
            && outputChannels % 8 == 0 && max(inputChannels, outputChannels) <= Conv2d.directKernelChannelLimit
    }
    /// ∂L/∂x on `DirectConvolution` (the convolution of the padded ∂L/∂y with the flipped weights):
    /// stride 1 and Cin a multiple of 8 as well.
    var inputGradientUsesDirectKernels: Bool {
        usesDirectKernels && computesInputGradient && stride == 1 && inputChannels % 8 == 0
    }
    public func outputSize(_ inputSize: Int) -> Int { (inputSize + 2 * padding - kernelSize) / stride + 1 }

    /// Images per im2col block: about 2 MB of floats, at least one image.
    private func imagesPerBlock(outputPixels: Int) -> Int {
        max(1, (1 << 19) / max(1, outputPixels * patchSize))
    }

    private func ensureScratch(_ list: inout [Tensor], _ size: Int) {
        while list.count < Parallel.threads { list.append(Tensor(shape: [0])) }
        for t in list { t.reshape([size]) }
    }

    private func prepareScratch(batch: Int, height: Int, width: Int, forBackward: Bool) {
        let pixels = outputSize(height) * outputSize(width)
        let blockRows = min(imagesPerBlock(outputPixels: pixels), batch) * pixels
        let direct = usesDirectKernels
        if direct { ensureScratch(&paddedInputs, (height + 2 * padding) * (width + 2 * padding) * inputChannels) }
        else if !readsInputDirectly { ensureScratch(&columns, blockRows * patchSize) }
        if forBackward {
            ensureScratch(&weightGrads, patchSize * outputChannels)
            if inputGradientUsesDirectKernels {
                ensureScratch(&paddedGrads, (outputSize(height) + 2 * padding) * (outputSize(width) + 2 * padding) * outputChannels)
            } else if !readsInputDirectly && computesInputGradient {
                let width = inputGradientIsConvolution ? kernelSize * kernelSize * outputChannels : patchSize
                ensureScratch(&columnGrads, blockRows * width)
            }
        }
    }

    /// Copies the receptive fields of images `images` into `col`, one row per output pixel.
    @inline(__always)
    private func im2col(_ x: UnsafePointer<Float>, images: Range<Int>, height: Int, width: Int,
                        outHeight: Int, outWidth: Int, into col: UnsafeMutablePointer<Float>) {
        Conv2d.im2col(x, channels: inputChannels, kernelSize: kernelSize, stride: stride, padding: padding, images: images,
                      height: height, width: width, outHeight: outHeight, outWidth: outWidth, into: col)
    }

    /// im2col of an NHWC tensor with `channels` channels: row (n, oy, ox) holds the k×k×channels
    /// window at (oy·stride − padding, ox·stride − padding), zeros outside the image.
    @inline(__always)
    static func im2col(_ x: UnsafePointer<Float>, channels c: Int, kernelSize k: Int, stride: Int, padding: Int,
                       images: Range<Int>, height: Int, width: Int, outHeight: Int, outWidth: Int,
                       into col: UnsafeMutablePointer<Float>) {
        var dst = col
        for n in images {
            let image = x + n * height * width * c
            for oy in 0 ..< outHeight {
                for ox in 0 ..< outWidth {
                    let ix0 = ox * stride - padding
                    for ky in 0 ..< k {
                        let iy = oy * stride - padding + ky
                        if iy < 0 || iy >= height { dst.update(repeating: 0, count: k * c); dst += k * c; continue }
                        let rowStart = image + iy * width * c
                        if ix0 >= 0 && ix0 + k <= width {
                            dst.update(from: rowStart + ix0 * c, count: k * c); dst += k * c
                        } else {
                            for kx in 0 ..< k {
                                let ix = ix0 + kx
                                if ix < 0 || ix >= width { dst.update(repeating: 0, count: c) }
                                else { dst.update(from: rowStart + ix * c, count: c) }
                                dst += c
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds each row of `colGrad` back onto the input pixels it was copied from (the adjoint
    /// of `im2col`). The images' gradient must be zeroed first.
    @inline(__always)
    private func col2im(_ colGrad: UnsafePointer<Float>, images: Range<Int>, height: Int, width: Int,
                        outHeight: Int, outWidth: Int, into dx: UnsafeMutablePointer<Float>) {
        let c = inputChannels, k = kernelSize
        var src = colGrad
        for n in images {
            let image = dx + n * height * width * c
            for oy in 0 ..< outHeight {
                for ox in 0 ..< outWidth {
                    let ix0 = ox * stride - padding
                    for ky in 0 ..< k {
                        let iy = oy * stride - padding + ky
                        if iy < 0 || iy >= height { src += k * c; continue }
                        let rowStart = image + iy * width * c
                        for kx in 0 ..< k {
                            let ix = ix0 + kx
                            if ix >= 0 && ix < width {
                                let d = rowStart + ix * c
                                for j in 0 ..< c { d[j] += src[j] }
                            }
                            src += c
                        }
                    }
                }
            }
        }
    }

    /// "conv3x3/s1 16→32 32×32": the profile's name of this convolution on input `x`.
    private func profileName(_ x: Tensor) -> String {
        "conv\(kernelSize)x\(kernelSize)/s\(stride) \(inputChannels)→\(outputChannels) \(x.shape[1])×\(x.shape[2])"
    }
    private func profileFLOPs(_ x: Tensor) -> Double {
        Double(2 * x.shape[0] * outputSize(x.shape[1]) * outputSize(x.shape[2]) * patchSize * outputChannels)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        StepProfile.measure(profileName(x) + " forward", flops: profileFLOPs(x)) { forwardPass(x) }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { fatalError("Conv2d.backward before forward") }
        return StepProfile.measure(profileName(x) + " backward", flops: (computesInputGradient ? 2 : 1) * profileFLOPs(x)) {
            backwardPass(gradOutput)
        }
    }

    private func forwardPass(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[3] == inputChannels, "Conv2d expects [N, H, W, \(inputChannels)], got \(x.shape)")
        let n = x.shape[0], h = x.shape[1], w = x.shape[2]
        let oh = outputSize(h), ow = outputSize(w), pixels = oh * ow
        input = x
        output.reshape([n, oh, ow, outputChannels])
        prepareScratch(batch: n, height: h, width: w, forBackward: false)
        let block = imagesPerBlock(outputPixels: pixels), k = patchSize, cout = outputChannels, cin = inputChannels
        let xp = x.data, yp = output.data, wp = weight.value.data
        let inPixels = h * w * cin, direct = usesDirectKernels, p = padding
        Parallel.chunks(n) { t, images in
            if direct {
                let padded = paddedInputs[t].data
                for image in images {
                    DirectConvolution.pad(xp + image * inPixels, height: h, width: w, channels: cin, padding: p, into: padded)
                    DirectConvolution.forward(padded: padded, paddedWidth: w + 2 * p, channels: cin, stride: stride, weights: wp,
                                              outputChannels: cout, kernelSize: kernelSize, outHeight: oh, outWidth: ow,
                                              output: yp + image * pixels * cout)
                }
                return
            }
            var start = images.lowerBound
            while start < images.upperBound {
                let end = min(start + block, images.upperBound), rows = (end - start) * pixels
                let a: UnsafePointer<Float>
                if readsInputDirectly { a = UnsafePointer(xp + start * inPixels) } else {
                    im2col(xp, images: start ..< end, height: h, width: w, outHeight: oh, outWidth: ow, into: columns[t].data)
                    a = UnsafePointer(columns[t].data)
                }
                gemm(m: rows, n: cout, k: k, a: a, lda: k, b: wp, ldb: cout, c: yp + start * pixels * cout, ldc: cout)
                start = end
            }
        }
        return output
    }

    private func backwardPass(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { fatalError("Conv2d.backward before forward") }
        let n = x.shape[0], h = x.shape[1], w = x.shape[2]
        let oh = outputSize(h), ow = outputSize(w), pixels = oh * ow
        prepareScratch(batch: n, height: h, width: w, forBackward: true)
        if computesInputGradient { gradInput.reshape(x.shape) }
        let block = imagesPerBlock(outputPixels: pixels), k = patchSize, cout = outputChannels, cin = inputChannels
        let xp = x.data, dyp = gradOutput.data, wp = weight.value.data, dxp = gradInput.data
        let inPixels = h * w * cin, kk = kernelSize, p = padding
        let chunkCount = min(Parallel.threads, n)
        let directWeights = usesDirectKernels, directInput = inputGradientUsesDirectKernels
        let asConvolution = computesInputGradient && inputGradientIsConvolution
        if asConvolution {
            // w'[ky, kx, co, ci] = w[k−1−ky, k−1−kx, ci, co]
            flippedWeight.reshape([kk, kk, cout, cin])
            DirectConvolution.flip(wp, kernelSize: kk, inputChannels: cin, outputChannels: cout, into: flippedWeight.data)
        }
        let fwp = UnsafePointer(flippedWeight.data)
        Parallel.chunks(n) { t, images in
            let dw = weightGrads[t].data
            dw.update(repeating: 0, count: k * cout)
            var start = images.lowerBound
            while start < images.upperBound {
                let end = min(start + block, images.upperBound), rows = (end - start) * pixels
                let dy = dyp + start * pixels * cout
                // ∂L/∂w[ky, kx, ci, co] += Σ_{n, oy, ox} x̃[n, s·oy + ky, s·ox + kx, ci] · ∂L/∂y[n, oy, ox, co]
                if directWeights {
                    let padded = paddedInputs[t].data
                    for image in start ..< end {
                        DirectConvolution.pad(xp + image * inPixels, height: h, width: w, channels: cin, padding: p, into: padded)
                        DirectConvolution.weightGradient(padded: padded, paddedWidth: w + 2 * p, channels: cin, stride: stride,
                                                         gradOutput: dyp + image * pixels * cout, outputChannels: cout, kernelSize: kk,
                                                         outHeight: oh, outWidth: ow, weightGradient: dw)
                    }
                } else {
                    let a: UnsafePointer<Float>
                    if readsInputDirectly { a = UnsafePointer(xp + start * inPixels) } else {
                        im2col(xp, images: start ..< end, height: h, width: w, outHeight: oh, outWidth: ow, into: columns[t].data)
                        a = UnsafePointer(columns[t].data)
                    }
                    // ∂L/∂w += colᵀ · ∂L/∂y
                    gemm(transposeA: true, m: k, n: cout, k: rows, a: a, lda: k, b: dy, ldb: cout, beta: 1, c: dw, ldc: cout)
                }
                if !computesInputGradient {
                } else if directInput {
                    // ∂L/∂x = the padded ∂L/∂y convolved with w'[ky, kx, co, ci]
                    let paddedGrad = paddedGrads[t].data
                    for image in start ..< end {
                        DirectConvolution.pad(dyp + image * pixels * cout, height: oh, width: ow, channels: cout, padding: p, into: paddedGrad)
                        DirectConvolution.forward(padded: paddedGrad, paddedWidth: ow + 2 * p, channels: cout, stride: 1, weights: fwp,
                                                  outputChannels: cin, kernelSize: kk, outHeight: h, outWidth: w,
                                                  output: dxp + image * inPixels)
                    }
                } else if asConvolution {
                    // ∂L/∂x[iy, ix, ci] = Σ_{ky, kx, co} ∂L/∂y[iy − p + ky, ix − p + kx, co] · w'[ky, kx, co, ci]
                    let dcol = columnGrads[t].data
                    Conv2d.im2col(dy, channels: cout, kernelSize: kk, stride: 1, padding: p, images: 0 ..< end - start,
                                  height: oh, width: ow, outHeight: h, outWidth: w, into: dcol)
                    gemm(m: rows, n: cin, k: kk * kk * cout, a: dcol, lda: kk * kk * cout, b: fwp, ldb: cin,
                         c: dxp + start * inPixels, ldc: cin)
                } else if readsInputDirectly {
                    // ∂L/∂x = ∂L/∂y · wᵀ
                    gemm(transposeB: true, m: rows, n: cin, k: cout, a: dy, lda: cout, b: wp, ldb: cout,
                         c: dxp + start * inPixels, ldc: cin)
                } else {
                    // ∂L/∂col = ∂L/∂y · wᵀ, then scattered back onto the pixels
                    let dcol = columnGrads[t].data
                    gemm(transposeB: true, m: rows, n: k, k: cout, a: dy, lda: cout, b: wp, ldb: cout, c: dcol, ldc: k)
                    (dxp + start * inPixels).update(repeating: 0, count: (end - start) * inPixels)
                    col2im(dcol, images: start ..< end, height: h, width: w, outHeight: oh, outWidth: ow, into: dxp)
                }
                start = end
            }
        }
        // Sum the per-thread partial weight gradients in a fixed order.
        let g = weight.grad.data
        for t in 0 ..< chunkCount {
            let dw = weightGrads[t].data
            for i in 0 ..< k * cout { g[i] += dw[i] }
        }
        return gradInput
    }
}
