import XCTest
@testable import NN
import Tensors

/// Every layer against central finite differences. Tolerance: 2% of the gradient's largest
/// entry, in float32 with ε = 1e-2, or 1e-3 for networks with many ReLUs (the truncation error
/// of central differences is O(ε²), the rounding error about 1e-7·|L|/ε; both sit well below
/// the tolerance at these sizes). Entries within ε of a ReLU kink are skipped (at most 25%).
final class LayerGradientTests: XCTestCase {
    let tolerance = 2e-2
    override func setUp() { Parallel.configure(threads: 2) }

    func assertGradients(_ layer: Layer, _ x: Tensor, training: Bool = true, checkInput: Bool = true, epsilon: Float = 1e-2,
                         file: StaticString = #filePath, line: UInt = #line) {
        let (error, location, skipped) = GradientCheck.check(layer: layer, input: x, training: training,
                                                             checkInput: checkInput, epsilon: epsilon)
        XCTAssertLessThan(error, tolerance, "gradient of \(location) off by \(error)", file: file, line: line)
        XCTAssertLessThan(skipped, 0.25, "\(Int(skipped * 100))% of the sampled entries sat on ReLU kinks", file: file, line: line)
    }

    /// Composite networks: every parameter tensor along a random direction (see
    /// `GradientCheck.directionalCheck`), same 2% tolerance.
    func assertDirectionalGradients(_ layer: Layer, _ x: Tensor, checkInput: Bool = true,
                                    file: StaticString = #filePath, line: UInt = #line) {
        let (error, location, unchecked) = GradientCheck.directionalCheck(layer: layer, input: x, checkInput: checkInput)
        XCTAssertLessThan(error, tolerance, "directional derivative along \(location) off by \(error)", file: file, line: line)
        XCTAssertEqual(unchecked, 0, "\(unchecked) tensors had no direction free of ReLU kinks", file: file, line: line)
    }

    func testConv3x3Stride1() {
        var rng = RandomGenerator(seed: 1)
        let conv = Conv2d(inputChannels: 3, outputChannels: 4, kernelSize: 3, stride: 1, padding: 1, rng: &rng)
        assertGradients(conv, GradientCheck.random([2, 5, 5, 3], rng: &rng))
    }

    /// Conv2d at its initialiser's defaults (stride 1, padding 0): the im2col and col2im path
    /// of a convolution that shrinks the image.
    func testConv3x3AtItsDefaults() {
        var rng = RandomGenerator(seed: 21)
        let conv = Conv2d(inputChannels: 3, outputChannels: 4, kernelSize: 3, rng: &rng)
        XCTAssertEqual([conv.stride, conv.padding], [1, 0])
        XCTAssertTrue(conv.computesInputGradient)
        assertGradients(conv, GradientCheck.random([2, 6, 5, 3], rng: &rng))
    }

    func testConv3x3Stride2() {
        var rng = RandomGenerator(seed: 2)
        let conv = Conv2d(inputChannels: 4, outputChannels: 5, kernelSize: 3, stride: 2, padding: 1, rng: &rng)
        assertGradients(conv, GradientCheck.random([3, 6, 6, 4], rng: &rng))
    }

    func testConv1x1Stride1ReadsInputDirectly() {
        var rng = RandomGenerator(seed: 3)
        let conv = Conv2d(inputChannels: 4, outputChannels: 3, kernelSize: 1, rng: &rng)
        XCTAssertTrue(conv.readsInputDirectly)
        assertGradients(conv, GradientCheck.random([2, 4, 4, 4], rng: &rng))
    }

    func testConv1x1Stride2() {
        var rng = RandomGenerator(seed: 4)
        let conv = Conv2d(inputChannels: 3, outputChannels: 6, kernelSize: 1, stride: 2, rng: &rng)
        assertGradients(conv, GradientCheck.random([2, 6, 6, 3], rng: &rng))
    }

    /// The direct kernels (few channels, stride 1) against the im2col + sgemm path of the same
    /// layer: forward, ∂L/∂x and ∂L/∂w, on shapes that hit every tile and remainder.
    func testDirectConvolutionKernelsMatchIm2col() {
        var rng = RandomGenerator(seed: 11)
        for (cin, cout, size, stride, inputGradient) in [(16, 16, 9, 1, true), (8, 16, 6, 1, true), (16, 8, 11, 1, true), (3, 8, 7, 1, false),
                                                         (24, 24, 5, 1, true), (8, 32, 4, 1, true), (32, 8, 3, 1, true),
                                                         (16, 32, 8, 2, true), (8, 16, 7, 2, true), (16, 24, 5, 2, true), (5, 16, 6, 1, true), (7, 16, 5, 2, true),
                                                         (16, 16, 13, 1, true)] {
            let conv = Conv2d(inputChannels: cin, outputChannels: cout, kernelSize: 3, stride: stride, padding: 1, rng: &rng)
            conv.computesInputGradient = inputGradient
            conv.allowsDirectKernels = true
            XCTAssertTrue(conv.usesDirectKernels, "\(cin)→\(cout) should run the direct kernels")
            XCTAssertEqual(conv.inputGradientUsesDirectKernels, inputGradient && stride == 1 && cin % 8 == 0)
            let x = GradientCheck.random([3, size, size + 1, cin], rng: &rng)
            let dy = GradientCheck.random([3, conv.outputSize(size), conv.outputSize(size + 1), cout], rng: &rng)
            func run(direct: Bool) -> (y: [Float], dx: [Float], dw: [Float]) {
                conv.allowsDirectKernels = direct
                conv.weight.grad.zero()
                let y = conv.forward(x, training: true).array
                let dx = conv.backward(dy)
                return (y, inputGradient ? dx.array : [], conv.weight.grad.array)
            }
            let direct = run(direct: true), reference = run(direct: false)
            for (name, a, b) in [("y", direct.y, reference.y), ("dx", direct.dx, reference.dx), ("dw", direct.dw, reference.dw)] {
                XCTAssertEqual(a.count, b.count)
                let scale = b.map(abs).max() ?? 1
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-5 * max(scale, 1), "\(cin)→\(cout) \(size)×\(size + 1): \(name) differs by \(worst)")
            }
        }
    }

    func testConv3x3DirectKernelGradients() {
        var rng = RandomGenerator(seed: 12)
        for stride in [1, 2] {
            let conv = Conv2d(inputChannels: 8, outputChannels: 16, kernelSize: 3, stride: stride, padding: 1, rng: &rng)
            conv.allowsDirectKernels = true
            XCTAssertTrue(conv.usesDirectKernels)
            assertGradients(conv, GradientCheck.random([2, 5, 6, 8], rng: &rng))
        }
    }

    func testConvMatchesDirectSum() {
        var rng = RandomGenerator(seed: 5)
        let conv = Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: 3, stride: 2, padding: 1, rng: &rng)
        let x = GradientCheck.random([1, 5, 5, 2], rng: &rng)
        let y = conv.forward(x, training: true)
        XCTAssertEqual(y.shape, [1, 3, 3, 3])
        for oy in 0 ..< 3 { for ox in 0 ..< 3 { for co in 0 ..< 3 {
            var s: Float = 0
            for ky in 0 ..< 3 { for kx in 0 ..< 3 { for ci in 0 ..< 2 {
                let iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx
                if iy < 0 || iy >= 5 || ix < 0 || ix >= 5 { continue }
                s += x[(iy * 5 + ix) * 2 + ci] * conv.weight.value[((ky * 3 + kx) * 2 + ci) * 3 + co]
            } } }
            XCTAssertEqual(y[(oy * 3 + ox) * 3 + co], s, accuracy: 1e-5)
        } } }
    }

    func testBatchNorm2dTrainingAffine() {
        var rng = RandomGenerator(seed: 6)
        let bn = BatchNorm(channels: 3)
        for i in 0 ..< 3 { bn.gamma!.value[i] = rng.uniform(0.5, 1.5); bn.beta!.value[i] = rng.uniform(-0.5, 0.5) }
        assertGradients(bn, GradientCheck.random([4, 3, 3, 3], rng: &rng))
    }

    /// BatchNorm as constructed: one group, affine with γ 1 and β 0, no ReLU, training mode.
    func testBatchNormAtItsDefaults() {
        var rng = RandomGenerator(seed: 22)
        let bn = BatchNorm(channels: 3)
        XCTAssertEqual(bn.gamma!.value.array, [1, 1, 1]); XCTAssertEqual(bn.beta!.value.array, [0, 0, 0])
        XCTAssertEqual(bn.groups, 1); XCTAssertFalse(bn.fusedReLU)
        assertGradients(bn, GradientCheck.random([4, 3, 3, 3], rng: &rng))
    }

    func testBatchNormGroupsAndFusedReLU() {
        var rng = RandomGenerator(seed: 7)
        let bn = BatchNorm(channels: 5, groups: 2, fusedReLU: true)
        for i in 0 ..< 5 { bn.gamma!.value[i] = rng.uniform(0.5, 1.5); bn.beta!.value[i] = rng.uniform(-0.5, 0.5) }
        assertGradients(bn, GradientCheck.random([8, 5], rng: &rng))
    }

    func testBatchNormWithoutAffine() {
        var rng = RandomGenerator(seed: 8)
        assertGradients(BatchNorm(channels: 4, affine: false), GradientCheck.random([6, 4], rng: &rng))
    }

    func testBatchNormEvalMode() {
        var rng = RandomGenerator(seed: 9)
        let bn = BatchNorm(channels: 3)
        _ = bn.forward(GradientCheck.random([16, 3], rng: &rng, uniform: (1, 3)), training: true)
        assertGradients(bn, GradientCheck.random([5, 3], rng: &rng), training: false)
    }

    func testBatchNormGroupsMatchSeparatePasses() {
        var rng = RandomGenerator(seed: 10)
        let x = GradientCheck.random([8, 3], rng: &rng)
        let grouped = BatchNorm(channels: 3, groups: 2), single = BatchNorm(channels: 3)
        let y = grouped.forward(x, training: true).array
        let first = Tensor(shape: [4, 3], values: Array(x.array[0 ..< 12])), second = Tensor(shape: [4, 3], values: Array(x.array[12 ..< 24]))
        let y1 = single.forward(first, training: true).array, y2 = single.forward(second, training: true).array
        for (a, b) in zip(y, y1 + y2) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for c in 0 ..< 3 {
            XCTAssertEqual(grouped.runningMean[c], single.runningMean[c], accuracy: 1e-6)
            XCTAssertEqual(grouped.runningVariance[c], single.runningVariance[c], accuracy: 1e-6)
        }
    }

    func testBatchNormRunningStatistics() {
        let bn = BatchNorm(channels: 1)
        let x = Tensor(shape: [4, 1], values: [1, 2, 3, 4])
        let y = bn.forward(x, training: true)
        // mean 2.5, biased variance 1.25; running: 0.9·0 + 0.1·2.5, 0.9·1 + 0.1·(1.25·4/3)
        XCTAssertEqual(bn.runningMean[0], 0.25, accuracy: 1e-6)
        XCTAssertEqual(bn.runningVariance[0], 0.9 + 0.1 * 5.0 / 3.0, accuracy: 1e-6)
        XCTAssertEqual(y[0], (1 - 2.5) / (1.25 + 1e-5).squareRoot(), accuracy: 1e-5)
    }

    /// The planted fault's mode: an eval-mode forward normalises with the batch's statistics
    /// and updates the running ones, exactly as a training-mode forward of a twin layer does.
    func testBatchNormLeftInTrainingModeNormalisesWithTheBatch() {
        var rng = RandomGenerator(seed: 14)
        let x = GradientCheck.random([6, 3], rng: &rng, uniform: (1, 3))
        let faulty = BatchNorm(channels: 3), twin = BatchNorm(channels: 3), correct = BatchNorm(channels: 3)
        faulty.normalisesWithBatchStatisticsInEvaluation = true
        let y = faulty.forward(x, training: false).array, expected = twin.forward(x, training: true).array
        for (a, b) in zip(y, expected) { XCTAssertEqual(a, b) }
        for c in 0 ..< 3 { XCTAssertEqual(faulty.runningMean[c], twin.runningMean[c]); XCTAssertEqual(faulty.runningVariance[c], twin.runningVariance[c]) }
        // the correct layer in eval mode uses its running statistics (mean 0, variance 1 at the start): y ≈ x
        let z = correct.forward(x, training: false).array
        for (a, b) in zip(z, x.array) { XCTAssertEqual(a, b / (1 + 1e-5).squareRoot(), accuracy: 1e-6) }
        XCTAssertNotEqual(y, z)
    }

    func testReLU() {
        var rng = RandomGenerator(seed: 11)
        assertGradients(ReLU(), GradientCheck.random([4, 7], rng: &rng))
    }

    func testGlobalAveragePool() {
        var rng = RandomGenerator(seed: 12)
        assertGradients(GlobalAveragePool(), GradientCheck.random([2, 3, 3, 4], rng: &rng))
    }

    func testLinearWithAndWithoutBias() {
        var rng = RandomGenerator(seed: 13)
        assertGradients(Linear(inputDimensions: 6, outputDimensions: 5, bias: true, rng: &rng), GradientCheck.random([4, 6], rng: &rng))
        assertGradients(Linear(inputDimensions: 6, outputDimensions: 5, bias: false, rng: &rng), GradientCheck.random([4, 6], rng: &rng))
    }

    func testLinearSplitOverThreadsMatchesOneThread() {
        var rng = RandomGenerator(seed: 14)
        let layer = Linear(inputDimensions: 32, outputDimensions: 24, rng: &rng)
        let x = GradientCheck.random([256, 32], rng: &rng)
        Parallel.configure(threads: 1, partitions: 1)
        let one = layer.forward(x, training: true).array
        Parallel.configure(threads: 2)
        let two = layer.forward(x, training: true).array
        for (a, b) in zip(one, two) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testBasicBlockWithShortcut() {
        var rng = RandomGenerator(seed: 15)
        let block = BasicBlock(inputChannels: 3, outputChannels: 4, stride: 2, bnGroups: 1, rng: &rng)
        assertDirectionalGradients(block, GradientCheck.random([4, 4, 4, 3], rng: &rng))
    }

    func testBasicBlockIdentity() {
        var rng = RandomGenerator(seed: 16)
        let block = BasicBlock(inputChannels: 3, outputChannels: 3, stride: 1, bnGroups: 2, rng: &rng)
        assertDirectionalGradients(block, GradientCheck.random([4, 3, 3, 3], rng: &rng))
    }

    /// ResNet-18's wiring (stem, stages, strides, shortcuts, pooling) with its ReLUs switched
    /// off, so that no finite difference straddles a kink: the ReLU masks themselves are
    /// checked in the BatchNorm and BasicBlock tests above. (With the ReLUs on, a deep net of
    /// width 2 has a kink within ε of nearly every direction, and float32 cannot take ε lower;
    /// the network with its ReLUs is checked against a double-precision reference below.)
    func testResNet18WiringWithoutKinks() {
        var rng = RandomGenerator(seed: 17)
        let net = ResNet18(width: 2, bnGroups: 2, rng: &rng)
        XCTAssertEqual(net.featureDimensions, 16)
        for bn in net.batchNorms { bn.fusedReLU = false }
        for block in net.residualBlocks { block.outputReLU = false }
        // the stem computes no input gradient: check the parameters only
        assertDirectionalGradients(net, GradientCheck.random([4, 16, 16, 3], rng: &rng), checkInput: false)
    }

    /// ResNet-18 as built by default (every ReLU on, one batch-norm group), which finite
    /// differences of the float32 network cannot check (above). Its analytic gradient of
    /// L = Σ y·r, for 4 sampled entries of every parameter tensor, against central differences
    /// (step 1e-6) of the same network written out in double precision (`ResNetReference`,
    /// whose forward pass must first match the layer's to float32 precision): per entry,
    /// |g − g_ref| ≤ 1e-4·|g_ref| + 1e-4·max|g_ref| over the tensor's sampled entries (float32
    /// lands within a tenth of that).
    func testResNet18AtItsDefaultsAgainstADoublePrecisionReference() {
        var rng = RandomGenerator(seed: 21)
        let net = ResNet18(width: 2, rng: &rng)
        let x = GradientCheck.random([4, 16, 16, 3], rng: &rng)
        let reference = ResNetReference(net)
        let y = net.forward(x, training: true)
        let yRef = reference.forward(x)
        let yScale = yRef.map(abs).max()!
        for (a, b) in zip(y.array, yRef) { XCTAssertEqual(Double(a), b, accuracy: 1e-5 * yScale, "forward") }
        let r = GradientCheck.random(y.shape, rng: &rng)
        net.zeroGradients()
        _ = net.backward(r)
        let f = { zip(reference.forward(x), r.array).map { $0 * Double($1) }.reduce(0, +) }
        for (k, p) in net.parameters.enumerated() {
            let idx = GradientCheck.sampleIndices(p.value.count, count: 4, rng: &rng)
            let numeric: [Double] = idx.map { i in
                let saved = reference.values[k][i]
                reference.values[k][i] = saved + 1e-6; let plus = f()
                reference.values[k][i] = saved - 1e-6; let minus = f()
                reference.values[k][i] = saved
                return (plus - minus) / 2e-6
            }
            let scale = numeric.map(abs).max()!
            for (i, expected) in zip(idx, numeric) {
                let excess = abs(Double(p.grad[i]) - expected) / (1e-4 * abs(expected) + 1e-4 * scale)
                XCTAssertLessThanOrEqual(excess, 1, "\(p.name) #\(k)[\(i)]: \(p.grad[i]) against \(expected)")
            }
        }
    }

    func testResNet18Shapes() {
        var rng = RandomGenerator(seed: 20)
        let net = ResNet18(width: 4, bnGroups: 1, rng: &rng)
        let y = net.forward(GradientCheck.random([2, 32, 32, 3], rng: &rng), training: true)
        XCTAssertEqual(y.shape, [2, 32])
        // 4 stages × 2 blocks × 2 convs + stem + 3 shortcut convs = 20 convolutions
        XCTAssertEqual(net.parameters.filter { $0.kind == .weight }.count, 20)
    }

    func testMultilayerPerceptron() {
        var rng = RandomGenerator(seed: 18)
        assertDirectionalGradients(multilayerPerceptron(dimensions: [5, 8, 8, 6], bnGroups: 2, rng: &rng), GradientCheck.random([8, 5], rng: &rng))
        assertDirectionalGradients(multilayerPerceptron(dimensions: [5, 7, 4], batchNorm: false, rng: &rng), GradientCheck.random([6, 5], rng: &rng))
        // at the defaults: batch norm, one group, no final bias
        assertDirectionalGradients(multilayerPerceptron(dimensions: [5, 8, 6], rng: &rng), GradientCheck.random([8, 5], rng: &rng))
    }

    func testGradientCheckCatchesAWrongGradient() {
        // A layer whose backward is off by a factor must fail the check: the check can fail.
        final class Doubling: Layer {
            let output = Tensor(shape: [0]), grad = Tensor(shape: [0])
            var parameters: [Parameter] { [] }
            func forward(_ x: Tensor, training: Bool) -> Tensor { output.reshape(x.shape); for i in 0 ..< x.count { output[i] = 2 * x[i] }; return output }
            func backward(_ g: Tensor) -> Tensor { grad.reshape(g.shape); for i in 0 ..< g.count { grad[i] = 2.2 * g[i] }; return grad }
        }
        var rng = RandomGenerator(seed: 19)
        let (error, _, _) = GradientCheck.check(layer: Doubling(), input: GradientCheck.random([3, 3], rng: &rng))
        XCTAssertGreaterThan(error, tolerance)
        let (directional, _, _) = GradientCheck.directionalCheck(layer: Doubling(), input: GradientCheck.random([3, 3], rng: &rng))
        XCTAssertGreaterThan(directional, tolerance)
    }
}
