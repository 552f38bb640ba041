import Tensors

// The ways a `Conv2d` computes its output and gradients. Tensors are NHWC and row-major:
//   x, ∂L/∂x [N, H, W, Cin]    w, ∂L/∂w [k, k, Cin, Cout]    y, ∂L/∂y [N, Ho, Wo, Cout]
//   y[n, oy, ox, co] = Σ_{ky, kx, ci} x̃[n, s·oy + ky, s·ox + kx, ci] · w[ky, kx, ci, co]
// with x̃ the input padded by p with zeros and s the stride. `Conv2d` splits the batch over the
// threads and hands each path blocks of at most `ConvolutionShape.imagesPerBlock` images of
// its thread's share; a path keeps one scratch buffer of each kind per thread.

/// The sizes of one pass of a `Conv2d`: its hyperparameters and the batch's image size.
struct ConvolutionShape {
    let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int
    let batch: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
    /// K = k·k·Cin: the length of an im2col row, the rows of the weight matrix [K, Cout].
    let patchSize: Int
    /// H·W·Cin and Ho·Wo.
    let inputImageSize: Int, outputPixels: Int
    /// Images per im2col block: about 2 MB of floats, at least one image.
    let imagesPerBlock: Int
    /// Rows of the largest block of one thread: min(imagesPerBlock, N)·Ho·Wo.
    let blockRows: Int

    init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int, batch: Int, height: Int, width: Int) {
        self.inputChannels = inputChannels; self.outputChannels = outputChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        self.batch = batch; self.height = height; self.width = width
        outHeight = (height + 2 * padding - kernelSize) / stride + 1
        outWidth = (width + 2 * padding - kernelSize) / stride + 1
        patchSize = kernelSize * kernelSize * inputChannels
        inputImageSize = height * width * inputChannels
        outputPixels = outHeight * outWidth
        imagesPerBlock = max(1, (1 << 19) / max(1, outputPixels * patchSize))
        blockRows = min(imagesPerBlock, batch) * outputPixels
    }

    /// Copies the receptive fields of images `images` of x into `col` [images·Ho·Wo, K], one row
    /// per output pixel (`Conv2d.im2col`).
    @inline(__always)
    func im2col(_ x: UnsafePointer<Float>, images: Range<Int>, into col: UnsafeMutablePointer<Float>) {
        Conv2d.im2col(x, channels: inputChannels, kernelSize: kernelSize, stride: stride, padding: padding, images: images,
                      height: height, width: width, outHeight: outHeight, outWidth: outWidth, into: col)
    }

    /// Adds each row of `colGrad` [images·Ho·Wo, K] back onto the pixels of ∂L/∂x it was copied
    /// from (the adjoint of `im2col`). The images' gradient must be zeroed first.
    @inline(__always)
    func col2im(_ colGrad: UnsafePointer<Float>, images: Range<Int>, into dx: UnsafeMutablePointer<Float>) {
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
}

/// One scratch buffer per thread, reused from pass to pass and grown when a pass needs more.
struct ThreadBuffers {
    private var tensors: [Tensor] = []

    mutating func prepare(count: Int) {
        while tensors.count < Parallel.partitions { tensors.append(Tensor(shape: [0])) }
        for t in tensors { t.reshape([count]) }
    }

    subscript(thread: Int) -> UnsafeMutablePointer<Float> { tensors[thread].data }
}

/// How a `Conv2d` computes y and ∂L/∂w.
protocol ConvolutionPath: AnyObject {
    /// Sizes the scratch of every thread for a pass of `shape`; called before each pass.
    func prepare(_ shape: ConvolutionShape)
    /// Writes y[n] for n in `images`, with the scratch of `thread`.
    func forward(_ x: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                 weights: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>)
    /// dw[ky, kx, ci, co] += Σ_{n ∈ images, oy, ox} x̃[n, s·oy + ky, s·ox + kx, ci] · ∂L/∂y[n, oy, ox, co]
    /// with dw [k, k, Cin, Cout], the scratch of `thread`.
    func accumulateWeightGradient(_ x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>, images: Range<Int>, thread: Int,
                                  shape: ConvolutionShape, into dw: UnsafeMutablePointer<Float>)
}

/// How a `Conv2d` computes ∂L/∂x, the adjoint of the forward pass:
///   ∂L/∂x[n, iy, ix, ci] = Σ_{ky, kx, co} w[ky, kx, ci, co] · ∂L/∂y[n, oy, ox, co]
/// over the output pixels with s·oy − p + ky = iy and s·ox − p + kx = ix.
protocol InputGradientPath: AnyObject {
    /// Sizes the scratch of every thread and derives what the pass needs from the weights;
    /// called before each backward pass, on one thread.
    func prepare(_ shape: ConvolutionShape, weights: UnsafePointer<Float>)
    /// Overwrites ∂L/∂x[n] for n in `images`, with the scratch of `thread`.
    func inputGradient(_ dy: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                       weights: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>)
}

// MARK: - y and ∂L/∂w

/// On the register-tiled kernels of `DirectConvolution`, one image at a time: the image is
/// copied into a zero-padded x̃ [H + 2p, W + 2p, Cin] that the kernels read in place. For k×k
/// convolutions with p = (k − 1)/2, stride 1 or 2, Cout a multiple of 8 and few channels.
final class DirectKernelPath: ConvolutionPath {
    private var paddedInputs = ThreadBuffers()   // x̃ of one image

    func prepare(_ shape: ConvolutionShape) {
        let p = shape.padding
        paddedInputs.prepare(count: (shape.height + 2 * p) * (shape.width + 2 * p) * shape.inputChannels)
    }

    func forward(_ x: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                 weights: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>) {
        let padded = paddedInputs[thread], p = shape.padding, cin = shape.inputChannels, cout = shape.outputChannels
        for image in images {
            DirectConvolution.pad(x + image * shape.inputImageSize, height: shape.height, width: shape.width, channels: cin,
                                  padding: p, into: padded)
            DirectConvolution.forward(padded: padded, paddedWidth: shape.width + 2 * p, channels: cin, stride: shape.stride,
                                      weights: weights, outputChannels: cout, kernelSize: shape.kernelSize,
                                      outHeight: shape.outHeight, outWidth: shape.outWidth,
                                      output: y + image * shape.outputPixels * cout)
        }
    }

    func accumulateWeightGradient(_ x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>, images: Range<Int>, thread: Int,
                                  shape: ConvolutionShape, into dw: UnsafeMutablePointer<Float>) {
        let padded = paddedInputs[thread], p = shape.padding, cin = shape.inputChannels, cout = shape.outputChannels
        for image in images {
            DirectConvolution.pad(x + image * shape.inputImageSize, height: shape.height, width: shape.width, channels: cin,
                                  padding: p, into: padded)
            DirectConvolution.weightGradient(padded: padded, paddedWidth: shape.width + 2 * p, channels: cin, stride: shape.stride,
                                             gradOutput: dy + image * shape.outputPixels * cout, outputChannels: cout,
                                             kernelSize: shape.kernelSize, outHeight: shape.outHeight, outWidth: shape.outWidth,
                                             weightGradient: dw)
        }
    }
}

/// As matrix products: y = col · w and ∂L/∂w += colᵀ · ∂L/∂y, with col [rows = images·Ho·Wo, K]
/// the im2col matrix of the block (one per thread) and w the matrix [K, Cout].
final class Im2colPath: ConvolutionPath {
    private var columns = ThreadBuffers()   // col of one block

    func prepare(_ shape: ConvolutionShape) { columns.prepare(count: shape.blockRows * shape.patchSize) }

    func forward(_ x: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                 weights: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>) {
        let col = columns[thread], k = shape.patchSize, cout = shape.outputChannels
        shape.im2col(x, images: images, into: col)
        gemm(m: images.count * shape.outputPixels, n: cout, k: k, a: col, lda: k, b: weights, ldb: cout,
             c: y + images.lowerBound * shape.outputPixels * cout, ldc: cout)
    }

    func accumulateWeightGradient(_ x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>, images: Range<Int>, thread: Int,
                                  shape: ConvolutionShape, into dw: UnsafeMutablePointer<Float>) {
        let col = columns[thread], k = shape.patchSize, cout = shape.outputChannels
        shape.im2col(x, images: images, into: col)
        gemm(transposeA: true, m: k, n: cout, k: images.count * shape.outputPixels, a: col, lda: k,
             b: dy + images.lowerBound * shape.outputPixels * cout, ldb: cout, beta: 1, c: dw, ldc: cout)
    }
}

/// A 1×1 convolution with stride 1 and no padding, whose im2col matrix is x itself, read in
/// place as [rows = images·H·W, Cin]: y = x · w and ∂L/∂w += xᵀ · ∂L/∂y. No scratch.
final class PointwisePath: ConvolutionPath {
    func prepare(_ shape: ConvolutionShape) {}

    func forward(_ x: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                 weights: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>) {
        let k = shape.patchSize, cout = shape.outputChannels
        gemm(m: images.count * shape.outputPixels, n: cout, k: k, a: x + images.lowerBound * shape.inputImageSize, lda: k,
             b: weights, ldb: cout, c: y + images.lowerBound * shape.outputPixels * cout, ldc: cout)
    }

    func accumulateWeightGradient(_ x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>, images: Range<Int>, thread: Int,
                                  shape: ConvolutionShape, into dw: UnsafeMutablePointer<Float>) {
        let k = shape.patchSize, cout = shape.outputChannels
        gemm(transposeA: true, m: k, n: cout, k: images.count * shape.outputPixels, a: x + images.lowerBound * shape.inputImageSize,
             lda: k, b: dy + images.lowerBound * shape.outputPixels * cout, ldb: cout, beta: 1, c: dw, ldc: cout)
    }
}

// MARK: - ∂L/∂x

/// For a stride-1 convolution with p = (k − 1)/2, ∂L/∂x is itself such a convolution, of ∂L/∂y
/// with the weights flipped in space and transposed in channels, w' [k, k, Cout, Cin]
/// (`DirectConvolution.flip`):
///   ∂L/∂x[n, iy, ix, ci] = Σ_{ky, kx, co} ∂L/∂ỹ[n, iy + ky, ix + kx, co] · w'[ky, kx, co, ci]
/// with ∂L/∂ỹ the gradient padded by p. Here on `DirectConvolution.forward`, one padded ∂L/∂y
/// image [Ho + 2p, Wo + 2p, Cout] at a time; Cin must be a multiple of 8.
final class DirectFlippedInputGradient: InputGradientPath {
    private let flippedWeight = Tensor(shape: [0])   // w'
    private var paddedGrads = ThreadBuffers()         // ∂L/∂ỹ of one image

    func prepare(_ shape: ConvolutionShape, weights: UnsafePointer<Float>) {
        let p = shape.padding, k = shape.kernelSize, cin = shape.inputChannels, cout = shape.outputChannels
        paddedGrads.prepare(count: (shape.outHeight + 2 * p) * (shape.outWidth + 2 * p) * cout)
        flippedWeight.reshape([k, k, cout, cin])
        DirectConvolution.flip(weights, kernelSize: k, inputChannels: cin, outputChannels: cout, into: flippedWeight.data)
    }

    func inputGradient(_ dy: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                       weights: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let paddedGrad = paddedGrads[thread], p = shape.padding, cout = shape.outputChannels
        for image in images {
            DirectConvolution.pad(dy + image * shape.outputPixels * cout, height: shape.outHeight, width: shape.outWidth,
                                  channels: cout, padding: p, into: paddedGrad)
            DirectConvolution.forward(padded: paddedGrad, paddedWidth: shape.outWidth + 2 * p, channels: cout, stride: 1,
                                      weights: flippedWeight.data, outputChannels: shape.inputChannels, kernelSize: shape.kernelSize,
                                      outHeight: shape.height, outWidth: shape.width, output: dx + image * shape.inputImageSize)
        }
    }
}

/// The same flipped convolution as `DirectFlippedInputGradient` (stride 1, p = (k − 1)/2), as
/// a product: the im2col matrix of ∂L/∂y [rows = images·H·W, k·k·Cout] (one block per thread)
/// times w' as the matrix [k·k·Cout, Cin].
final class Im2colFlippedInputGradient: InputGradientPath {
    private let flippedWeight = Tensor(shape: [0])   // w'
    private var gradColumns = ThreadBuffers()         // im2col of ∂L/∂y, one block

    func prepare(_ shape: ConvolutionShape, weights: UnsafePointer<Float>) {
        let k = shape.kernelSize, cin = shape.inputChannels, cout = shape.outputChannels
        gradColumns.prepare(count: shape.blockRows * k * k * cout)
        flippedWeight.reshape([k, k, cout, cin])
        DirectConvolution.flip(weights, kernelSize: k, inputChannels: cin, outputChannels: cout, into: flippedWeight.data)
    }

    func inputGradient(_ dy: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                       weights: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let dcol = gradColumns[thread], k = shape.kernelSize, cout = shape.outputChannels, cin = shape.inputChannels
        Conv2d.im2col(dy + images.lowerBound * shape.outputPixels * cout, channels: cout, kernelSize: k, stride: 1,
                      padding: shape.padding, images: 0 ..< images.count, height: shape.outHeight, width: shape.outWidth,
                      outHeight: shape.height, outWidth: shape.width, into: dcol)
        gemm(m: images.count * shape.outputPixels, n: cin, k: k * k * cout, a: dcol, lda: k * k * cout, b: flippedWeight.data,
             ldb: cin, c: dx + images.lowerBound * shape.inputImageSize, ldc: cin)
    }
}

/// A 1×1 convolution with stride 1 and no padding: ∂L/∂x = ∂L/∂y · wᵀ, as the matrices
/// [images·H·W, Cout] · [Cout, Cin]. No scratch.
final class PointwiseInputGradient: InputGradientPath {
    func prepare(_ shape: ConvolutionShape, weights: UnsafePointer<Float>) {}

    func inputGradient(_ dy: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                       weights: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let cout = shape.outputChannels, cin = shape.inputChannels
        gemm(transposeB: true, m: images.count * shape.outputPixels, n: cin, k: cout,
             a: dy + images.lowerBound * shape.outputPixels * cout, lda: cout, b: weights, ldb: cout,
             c: dx + images.lowerBound * shape.inputImageSize, ldc: cin)
    }
}

/// Any other convolution: ∂L/∂col = ∂L/∂y · wᵀ [images·Ho·Wo, K] (one block per thread), whose
/// rows `col2im` adds back onto the pixels their im2col rows were copied from.
final class Col2imInputGradient: InputGradientPath {
    private var columnGrads = ThreadBuffers()   // ∂L/∂col of one block

    func prepare(_ shape: ConvolutionShape, weights: UnsafePointer<Float>) {
        columnGrads.prepare(count: shape.blockRows * shape.patchSize)
    }

    func inputGradient(_ dy: UnsafePointer<Float>, images: Range<Int>, thread: Int, shape: ConvolutionShape,
                       weights: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let dcol = columnGrads[thread], k = shape.patchSize, cout = shape.outputChannels
        gemm(transposeB: true, m: images.count * shape.outputPixels, n: k, k: cout,
             a: dy + images.lowerBound * shape.outputPixels * cout, lda: cout, b: weights, ldb: cout, c: dcol, ldc: k)
        (dx + images.lowerBound * shape.inputImageSize).update(repeating: 0, count: images.count * shape.inputImageSize)
        shape.col2im(dcol, images: images, into: dx)
    }
}
