import Tensors

/// The residual basic block of ResNet-18 (He et al., 2016):
///   out = ReLU(BN(conv3×3(ReLU(BN(conv3×3_s(x))))) + shortcut(x))
/// with shortcut = BN(conv1×1_s(x)) when the stride or the channel count changes, else x.
public final class BasicBlock: Layer {
    let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    let shortcutConv: Conv2d?, shortcutBN: BatchNorm?
    /// The ReLU after the sum; settable so that a test can make a network kink-free.
    public var outputReLU = true
    public let output = Tensor(shape: [0])
    private let gradSum = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(inputChannels: Int, outputChannels: Int, stride: Int, bnGroups: Int, rng: inout RandomGenerator) {
        conv1 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 3, stride: stride, padding: 1, rng: &rng)
        bn1 = BatchNorm(channels: outputChannels, groups: bnGroups, fusedReLU: true)
        conv2 = Conv2d(inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: 3, stride: 1, padding: 1, rng: &rng)
        bn2 = BatchNorm(channels: outputChannels, groups: bnGroups)
        if stride != 1 || inputChannels != outputChannels {
            shortcutConv = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1, stride: stride, rng: &rng)
            shortcutBN = BatchNorm(channels: outputChannels, groups: bnGroups)
        } else { shortcutConv = nil; shortcutBN = nil }
    }

    public var parameters: [Parameter] {
        conv1.parameters + bn1.parameters + conv2.parameters + bn2.parameters
            + (shortcutConv?.parameters ?? []) + (shortcutBN?.parameters ?? [])
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let main = bn2.forward(conv2.forward(bn1.forward(conv1.forward(x, training: training), training: training), training: training), training: training)
        let skip: Tensor
        if let sc = shortcutConv, let sb = shortcutBN { skip = sb.forward(sc.forward(x, training: training), training: training) }
        else { skip = x }
        output.reshape(main.shape)
        let a = main.data, b = skip.data, y = output.data, relu = outputReLU
        StepProfile.measure("residual add+relu \(main.rows)×\(main.columns) forward") {
            Parallel.chunks(main.count) { _, r in for i in r { y[i] = relu ? max(a[i] + b[i], 0) : a[i] + b[i] } }
        }
        if relu, let record = ReLURecorder.record { record(output) }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        // ∂L/∂(main + skip) = ∂L/∂out where out > 0
        gradSum.reshape(output.shape)
        let y = output.data, dy = gradOutput.data, ds = gradSum.data, relu = outputReLU
        StepProfile.measure("residual add+relu \(output.rows)×\(output.columns) backward (mask)") {
            Parallel.chunks(output.count) { _, r in for i in r { ds[i] = (!relu || y[i] > 0) ? dy[i] : 0 } }
        }
        let dMain = conv1.backward(bn1.backward(conv2.backward(bn2.backward(gradSum))))
        gradInput.reshape(dMain.shape)
        let dSkip = (shortcutConv != nil) ? shortcutConv!.backward(shortcutBN!.backward(gradSum)) : gradSum
        let a = dMain.data, b = dSkip.data, dx = gradInput.data
        StepProfile.measure("residual add+relu \(dMain.rows)×\(dMain.columns) backward (sum)") {
            Parallel.chunks(dMain.count) { _, r in for i in r { dx[i] = a[i] + b[i] } }
        }
        return gradInput
    }
}

/// ResNet-18 with the CIFAR stem: 3×3 convolution with stride 1 and no max-pool, then four
/// stages of two basic blocks with widths w, 2w, 4w, 8w (strides 1, 2, 2, 2), then global
/// average pooling. `width` 64 is the standard network; the output has 8·width features.
public final class ResNet18: Layer {
    public let width: Int
    let stem: Conv2d, stemBN: BatchNorm
    let blocks: [BasicBlock]
    let pool = GlobalAveragePool()
    public var featureDimensions: Int { 8 * width }

    public init(width: Int = 64, bnGroups: Int = 1, rng: inout RandomGenerator) {
        precondition(width > 0)
        self.width = width
        stem = Conv2d(inputChannels: 3, outputChannels: width, kernelSize: 3, stride: 1, padding: 1, rng: &rng)
        stem.computesInputGradient = false
        stemBN = BatchNorm(channels: width, groups: bnGroups, fusedReLU: true)
        var blocks: [BasicBlock] = []
        var channels = width
        for (stage, stride) in [1, 2, 2, 2].enumerated() {
            let out = width << stage
            blocks.append(BasicBlock(inputChannels: channels, outputChannels: out, stride: stride, bnGroups: bnGroups, rng: &rng))
            blocks.append(BasicBlock(inputChannels: out, outputChannels: out, stride: 1, bnGroups: bnGroups, rng: &rng))
            channels = out
        }
        self.blocks = blocks
    }

    public var parameters: [Parameter] { stem.parameters + stemBN.parameters + blocks.flatMap { $0.parameters } }
    public var residualBlocks: [BasicBlock] { blocks }
    /// Every convolution, stem first, then each block's conv1, conv2 and shortcut.
    public var convolutions: [Conv2d] {
        [stem] + blocks.flatMap { [$0.conv1, $0.conv2] + ($0.shortcutConv.map { [$0] } ?? []) }
    }
    public var batchNorms: [BatchNorm] {
        [stemBN] + blocks.flatMap { [$0.bn1, $0.bn2] + ($0.shortcutBN.map { [$0] } ?? []) }
    }

    /// Sets the statistics groups of every batch norm (see `BatchNorm.groups`).
    public func setBatchNormGroups(_ groups: Int) { for bn in batchNorms { bn.groups = groups } }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var h = stemBN.forward(stem.forward(x, training: training), training: training)
        for block in blocks { h = block.forward(h, training: training) }
        return pool.forward(h, training: training)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        var g = pool.backward(gradOutput)
        for block in blocks.reversed() { g = block.backward(g) }
        return stem.backward(stemBN.backward(g))   // the stem computes no input gradient
    }
}

/// The projector (or predictor) MLP of the papers: Linear-BN-ReLU for every hidden layer, then
/// a final Linear; no biases when batch norm follows (Barlow Twins §2.2). With
/// `batchNorm: false` the hidden layers are Linear(with bias)-ReLU. `finalBatchNorm` ends the MLP
/// with a batch norm without γ and β (MoCo v3's projector, after SimCLR's design).
public func multilayerPerceptron(dimensions: [Int], batchNorm: Bool = true, bnGroups: Int = 1,
                                 finalBias: Bool = false, finalBatchNorm: Bool = false, rng: inout RandomGenerator) -> Sequential {
    precondition(dimensions.count >= 2 && dimensions.allSatisfy { $0 > 0 })
    var layers: [Layer] = []
    for i in 0 ..< dimensions.count - 1 {
        let last = i == dimensions.count - 2
        layers.append(Linear(inputDimensions: dimensions[i], outputDimensions: dimensions[i + 1],
                             bias: last ? finalBias : !batchNorm, rng: &rng))
        if !last {
            if batchNorm { layers.append(BatchNorm(channels: dimensions[i + 1], groups: bnGroups, fusedReLU: true)) }
            else { layers.append(ReLU()) }
        }
    }
    if finalBatchNorm { layers.append(BatchNorm(channels: dimensions[dimensions.count - 1], groups: bnGroups, affine: false)) }
    return Sequential(layers)
}
