import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// 2-D convolution without bias on NHWC tensors, x [N, H, W, Cin] → y [N, Ho, Wo, Cout]:
///   y[n, oy, ox, co] = Σ_{ky, kx, ci} x[n, oy·s − p + ky, ox·s − p + kx, ci] · w[ky, kx, ci, co]
/// with weights w [k, k, Cin, Cout], initialised as PyTorch's default (U(±1/√(k·k·Cin))).
/// Backward accumulates ∂L/∂w [k, k, Cin, Cout] and returns ∂L/∂x [N, H, W, Cin].
///
/// The batch is split over the threads; each thread works through its images in blocks of
/// `ConvolutionShape.imagesPerBlock` (an im2col block of about 2 MB stays in cache) and sums its
/// own partial ∂L/∂w, added up in thread order at the end. How a block is computed is left to
/// two path objects (ConvolutionPaths.swift), picked on first use from the layer's shape,
/// `allowsDirectKernels` and `computesInputGradient`, and again whenever either of these is set:
///  - y and ∂L/∂w: `DirectKernelPath` (the register-tiled kernels of `DirectConvolution`) for
///    size-keeping k×k convolutions with stride 1 or 2, Cout a multiple of 8 and at most
///    `directKernelChannelLimit` channels; `PointwisePath` (x read in place as the im2col
///    matrix) for 1×1 with stride 1; `Im2colPath` (im2col + sgemm) otherwise.
///  - ∂L/∂x: none for the stem (`computesInputGradient` off); `DirectFlippedInputGradient` on
///    the direct path when the stride is 1 and Cin a multiple of 8; `Im2colFlippedInputGradient`
///    (the convolution of ∂L/∂y with the flipped weights, as im2col + sgemm) for the other
///    size-keeping stride-1 convolutions; `PointwiseInputGradient` (∂L/∂y·wᵀ) for 1×1 with
///    stride 1; `Col2imInputGradient` (∂L/∂col = ∂L/∂y·wᵀ scattered back by col2im) otherwise.
public final class Conv2d: Layer {
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int
    public let weight: Parameter
    /// The stem convolution sees the images and needs no input gradient.
    public var computesInputGradient = true { didSet { inputGradientPath = makeInputGradientPath() } }
    /// Floats per vector of the direct kernels in this process: 16 on CPUs with AVX-512, else 8
    /// (`SSLBENCH_VECTOR_WIDTH` chooses).
    public static var directKernelVectorWidth: Int { DirectConvolution.vectorWidth }
    /// Whether the direct kernels may be used (`Conv2d.directKernelsByDefault` unless set).
    public var allowsDirectKernels = Conv2d.directKernelsByDefault {
        didSet { path = makePath(); inputGradientPath = makeInputGradientPath() }
    }
    public var parameters: [Parameter] { [weight] }

    private var input: Tensor?
    public let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var weightGrads = ThreadBuffers()   // per thread: partial ∂L/∂w
    /// How y and ∂L/∂w are computed.
    private lazy var path: ConvolutionPath = makePath()
    /// How ∂L/∂x is computed; nil when the layer computes none.
    private lazy var inputGradientPath: InputGradientPath? = makeInputGradientPath()

    /// Whether convolutions may use the direct kernels unless told otherwise: true, false when
    /// the environment has SSLBENCH_DIRECT_CONV=0, which puts every convolution on im2col +
    /// sgemm (to compare the two on whole runs).
    public static let directKernelsByDefault: Bool = getenv("SSLBENCH_DIRECT_CONV").map { String(cString: $0) != "0" } ?? true
    /// Channel counts up to which a k×k convolution with padding (k − 1)/2 runs on `DirectConvolution`
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
    /// 1×1 with stride 1 and no padding: x is its own im2col matrix.
    var readsInputDirectly: Bool { kernelSize == 1 && stride == 1 && padding == 0 }
    /// A k×k convolution with stride 1 that keeps the image size (2p = k − 1): its input gradient
    /// is itself such a convolution, of ∂L/∂y with the weights flipped in space and transposed in
    /// channels.
    var inputGradientIsConvolution: Bool { kernelSize > 1 && stride == 1 && 2 * padding == kernelSize - 1 }
    /// A shape `DirectConvolution` computes: k×k with padding (k − 1)/2, stride 1 or 2, Cout a
    /// multiple of 8 and at most `directKernelChannelLimit` channels in and out.
    var suitsDirectKernels: Bool {
        kernelSize > 1 && 2 * padding == kernelSize - 1 && (stride == 1 || stride == 2)
            && outputChannels % 8 == 0 && max(inputChannels, outputChannels) <= Conv2d.directKernelChannelLimit
    }
    /// Forward and ∂L/∂w on `DirectConvolution`.
    public var usesDirectKernels: Bool { path is DirectKernelPath }
    /// ∂L/∂x on `DirectConvolution` (the convolution of the padded ∂L/∂y with the flipped weights).
    var inputGradientUsesDirectKernels: Bool { inputGradientPath is DirectFlippedInputGradient }
    public func outputSize(_ inputSize: Int) -> Int { (inputSize + 2 * padding - kernelSize) / stride + 1 }

    private func makePath() -> ConvolutionPath {
        if allowsDirectKernels && suitsDirectKernels { return DirectKernelPath() }
        return readsInputDirectly ? PointwisePath() : Im2colPath()
    }

    private func makeInputGradientPath() -> InputGradientPath? {
        guard computesInputGradient else { return nil }
        if allowsDirectKernels && suitsDirectKernels && stride == 1 && inputChannels % 8 == 0 { return DirectFlippedInputGradient() }
        if inputGradientIsConvolution { return Im2colFlippedInputGradient() }
        return readsInputDirectly ? PointwiseInputGradient() : Col2imInputGradient()
    }

    /// The sizes of a pass on x [N, H, W, Cin].
    private func shape(of x: Tensor) -> ConvolutionShape {
        ConvolutionShape(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: kernelSize, stride: stride,
                         padding: padding, batch: x.shape[0], height: x.shape[1], width: x.shape[2])
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

    /// y = x ⊛ w, block by block on `path`; keeps x for backward.
    private func forwardPass(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[3] == inputChannels, "Conv2d expects [N, H, W, \(inputChannels)], got \(x.shape)")
        let shape = self.shape(of: x), path = self.path
        input = x
        output.reshape([shape.batch, shape.outHeight, shape.outWidth, outputChannels])
        path.prepare(shape)
        let xp = UnsafePointer(x.data), yp = output.data, wp = UnsafePointer(weight.value.data)
        Parallel.chunks(shape.batch) { t, images in
            for start in Swift.stride(from: images.lowerBound, to: images.upperBound, by: shape.imagesPerBlock) {
                let block = start ..< min(start + shape.imagesPerBlock, images.upperBound)
                path.forward(xp, images: block, thread: t, shape: shape, weights: wp, output: yp)
            }
        }
        return output
    }

    /// ∂L/∂w += the per-thread sums of `path`, added in thread order; ∂L/∂x from
    /// `inputGradientPath`, on the same blocks while they are in cache.
    private func backwardPass(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { fatalError("Conv2d.backward before forward") }
        let shape = self.shape(of: x), path = self.path, inputGradientPath = self.inputGradientPath
        let k = shape.patchSize, cout = outputChannels
        let xp = UnsafePointer(x.data), dyp = UnsafePointer(gradOutput.data), wp = UnsafePointer(weight.value.data)
        path.prepare(shape)
        weightGrads.prepare(count: k * cout)
        if let inputGradientPath {
            gradInput.reshape(x.shape)
            inputGradientPath.prepare(shape, weights: wp)
        }
        let dxp = gradInput.data
        Parallel.chunks(shape.batch) { t, images in
            let dw = weightGrads[t]
            dw.update(repeating: 0, count: k * cout)
            for start in Swift.stride(from: images.lowerBound, to: images.upperBound, by: shape.imagesPerBlock) {
                let block = start ..< min(start + shape.imagesPerBlock, images.upperBound)
                path.accumulateWeightGradient(xp, gradOutput: dyp, images: block, thread: t, shape: shape, into: dw)
                inputGradientPath?.inputGradient(dyp, images: block, thread: t, shape: shape, weights: wp, into: dxp)
            }
        }
        // ∂L/∂w += Σ_t dw_t, each element summed in thread order, the elements split over the threads
        let g = weight.grad.data, used = min(Parallel.partitions, shape.batch)
        Parallel.elementwise(k * cout, minimumToSplit: 1 << 14) { elements in
            for t in 0 ..< used {
                let dw = weightGrads[t]
                for i in elements { g[i] += dw[i] }
            }
        }
        return gradInput
    }
}
