import XCTest
@testable import NN
import Tensors

/// The register-tiled kernels of `DirectConvolution` against `ReferenceConvolution` (the
/// definitions, summed in Double): forward, ∂L/∂w and the input gradient as the convolution
/// of the padded ∂L/∂y with the flipped weights. Tolerance 1e-5 of the largest reference value
/// (float32 sums of at most a few thousand terms of size about 1).
final class DirectConvolutionTests: XCTestCase {
    func assertClose(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = max(1, b.map(abs).max() ?? 0)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-5 * scale, "\(what): differs by \(worst) (largest value \(scale))", file: file, line: line)
    }

    func random(_ count: Int, _ rng: inout RandomGenerator) -> [Float] { (0 ..< count).map { _ in rng.uniform(-1, 1) } }

    /// The kernels' y, ∂L/∂w (added to `dw0`) and, where `Conv2d` runs it on the kernels (stride 1,
    /// Cin a multiple of 8, as the flipped convolution's output channels), ∂L/∂x of one image.
    func kernels(_ x: [Float], _ weights: [Float], _ dy: [Float], _ dw0: [Float], cin: Int, cout: Int, height h: Int, width w: Int,
                 stride s: Int, kernelSize k: Int) -> (y: [Float], dw: [Float], dx: [Float]?) {
        let p = (k - 1) / 2
        let oh = ReferenceConvolution.outputSize(h, kernelSize: k, stride: s, padding: p)
        let ow = ReferenceConvolution.outputSize(w, kernelSize: k, stride: s, padding: p)
        var padded = [Float](repeating: .nan, count: (h + 2 * p) * (w + 2 * p) * cin)
        var y = [Float](repeating: .nan, count: oh * ow * cout), dw = dw0
        padded.withUnsafeMutableBufferPointer { xp in
            DirectConvolution.pad(x, height: h, width: w, channels: cin, padding: p, into: xp.baseAddress!)
            DirectConvolution.forward(padded: xp.baseAddress!, paddedWidth: w + 2 * p, channels: cin, stride: s, weights: weights,
                                      outputChannels: cout, kernelSize: k, outHeight: oh, outWidth: ow, output: &y)
            DirectConvolution.weightGradient(padded: xp.baseAddress!, paddedWidth: w + 2 * p, channels: cin, stride: s,
                                             gradOutput: dy, outputChannels: cout, kernelSize: k, outHeight: oh, outWidth: ow,
                                             weightGradient: &dw)
        }
        guard s == 1 && cin % 8 == 0 else { return (y, dw, nil) }
        var flipped = [Float](repeating: .nan, count: weights.count)
        DirectConvolution.flip(weights, kernelSize: k, inputChannels: cin, outputChannels: cout, into: &flipped)
        var paddedGrad = [Float](repeating: .nan, count: (oh + 2 * p) * (ow + 2 * p) * cout)
        var dx = [Float](repeating: .nan, count: h * w * cin)
        paddedGrad.withUnsafeMutableBufferPointer { gp in
            DirectConvolution.pad(dy, height: oh, width: ow, channels: cout, padding: p, into: gp.baseAddress!)
            DirectConvolution.forward(padded: gp.baseAddress!, paddedWidth: ow + 2 * p, channels: cout, stride: 1, weights: flipped,
                                      outputChannels: cin, kernelSize: k, outHeight: h, outWidth: w, output: &dx)
        }
        return (y, dw, dx)
    }

    /// One image of `height`×`width`×`cin` through every kernel, against the reference.
    func check(cin: Int, cout: Int, height h: Int, width w: Int, stride s: Int, kernelSize k: Int = 3,
               rng: inout RandomGenerator, file: StaticString = #filePath, line: UInt = #line) {
        let p = (k - 1) / 2
        let oh = ReferenceConvolution.outputSize(h, kernelSize: k, stride: s, padding: p)
        let ow = ReferenceConvolution.outputSize(w, kernelSize: k, stride: s, padding: p)
        let name = "\(k)×\(k)/s\(s) \(cin)→\(cout) \(h)×\(w), \(DirectConvolution.vectorWidth)-float vectors"
        let x = random(h * w * cin, &rng), weights = random(k * k * cin * cout, &rng), dy = random(oh * ow * cout, &rng)
        let dw0 = random(k * k * cin * cout, &rng)   // weightGradient adds to what is there
        let (y, dw, dx) = kernels(x, weights, dy, dw0, cin: cin, cout: cout, height: h, width: w, stride: s, kernelSize: k)
        assertClose(y, ReferenceConvolution.forward(x, height: h, width: w, channels: cin, weights: weights, outputChannels: cout,
                                                    kernelSize: k, stride: s, padding: p), "\(name): y", file: file, line: line)
        let dwReference = ReferenceConvolution.weightGradient(x, height: h, width: w, channels: cin, gradOutput: dy,
                                                              outputChannels: cout, kernelSize: k, stride: s, padding: p)
        assertClose(dw, zip(dw0, dwReference).map { $0 + $1 }, "\(name): ∂L/∂w", file: file, line: line)
        guard let dx else { return }
        assertClose(dx, ReferenceConvolution.inputGradient(gradOutput: dy, height: h, width: w, channels: cin, weights: weights,
                                                           outputChannels: cout, kernelSize: k, stride: s, padding: p),
                    "\(name): ∂L/∂x", file: file, line: line)
    }

    /// The 16-float kernels (`WideDirectConvolution`, chosen on CPUs with AVX-512) give exactly the
    /// floats of the 8-float kernels, and pass the reference checks. Where the CPU has no AVX-512
    /// their vectors are compiled as pairs of 8-float halves, so this runs on any machine.
    func testWideKernelsGiveTheSameFloatsAsTheEightWide() {
        let chosen = DirectConvolution.vectorWidth
        defer { DirectConvolution.vectorWidth = chosen }
        var rng = RandomGenerator(seed: 24)
        // widths ending on every mix of 12-, 4- and single-pixel tiles; k·Cin taps ending on
        // every mix of 12-, 4- and single-row ∂L/∂w tiles; Cout with and without a 16-channel rest
        let shapes = [(3, 16, 32, 1), (8, 16, 32, 2), (16, 16, 16, 1), (16, 32, 32, 1), (32, 64, 8, 1), (64, 64, 4, 1),
                      (5, 32, 13, 1), (7, 16, 15, 2), (16, 48, 27, 1), (24, 16, 3, 1), (8, 24, 14, 1), (1, 16, 12, 1)]
        for (cin, cout, w, s) in shapes {
            let oh = ReferenceConvolution.outputSize(5, kernelSize: 3, stride: s, padding: 1)
            let ow = ReferenceConvolution.outputSize(w, kernelSize: 3, stride: s, padding: 1)
            let x = random(5 * w * cin, &rng), weights = random(9 * cin * cout, &rng), dy = random(oh * ow * cout, &rng)
            let dw0 = random(9 * cin * cout, &rng)
            DirectConvolution.vectorWidth = 8
            let narrow = kernels(x, weights, dy, dw0, cin: cin, cout: cout, height: 5, width: w, stride: s, kernelSize: 3)
            DirectConvolution.vectorWidth = 16
            let wide = kernels(x, weights, dy, dw0, cin: cin, cout: cout, height: 5, width: w, stride: s, kernelSize: 3)
            let name = "3×3/s\(s) \(cin)→\(cout) 5×\(w)"
            XCTAssertEqual(wide.y, narrow.y, "\(name): y")
            XCTAssertEqual(wide.dw, narrow.dw, "\(name): ∂L/∂w")
            XCTAssertEqual(wide.dx, narrow.dx, "\(name): ∂L/∂x")
            check(cin: cin, cout: cout, height: 5, width: w, stride: s, rng: &rng)
        }
        check(cin: 16, cout: 32, height: 32, width: 32, stride: 1, rng: &rng)
        check(cin: 8, cout: 16, height: 7, width: 14, stride: 1, kernelSize: 5, rng: &rng)
    }

    /// Channel counts with remainders (the 6- and 4-row ∂L/∂w tiles over k·Cin taps, 8- and
    /// 16-channel groups) on a 14-pixel-wide image (6 + 4 + 4 output tiles at stride 1, 6 + 1 at stride 2).
    func testChannelCounts() {
        var rng = RandomGenerator(seed: 21)
        for s in [1, 2] {
            for cin in [3, 5, 7, 8, 16, 24, 64] {
                for cout in [8, 16, 24, 64] { check(cin: cin, cout: cout, height: 5, width: 14, stride: s, rng: &rng) }
            }
        }
    }

    /// Widths that end each row on every mix of 6-, 4- and single-pixel tiles (16 channels) and of
    /// 8-pixel and single tiles (8 channels); heights that split ∂L/∂w into several row blocks.
    func testWidthsAndHeights() {
        var rng = RandomGenerator(seed: 22)
        for s in [1, 2] {
            for w in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 20, 32] {
                check(cin: 16, cout: 16, height: 3, width: w, stride: s, rng: &rng)
                check(cin: 8, cout: 8, height: 2, width: w, stride: s, rng: &rng)
            }
            check(cin: 16, cout: 32, height: 32, width: 32, stride: s, rng: &rng)
            check(cin: 64, cout: 64, height: 9, width: 8, stride: s, rng: &rng)
        }
    }

    func testFiveByFiveKernel() {
        var rng = RandomGenerator(seed: 23)
        check(cin: 8, cout: 16, height: 7, width: 14, stride: 1, kernelSize: 5, rng: &rng)
        check(cin: 5, cout: 24, height: 7, width: 9, stride: 2, kernelSize: 5, rng: &rng)
    }

    /// The reference itself against a sum written out for one small case, so that both cannot
    /// share a mistake in the indexing: 2×2 image, 1 → 1 channel, 3×3 kernel, padding 1.
    func testReferenceByHand() {
        let x: [Float] = [1, 2, 3, 4], w: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        // y[0,0] = x00·w11 + x01·w12 + x10·w21 + x11·w22 = 5 + 12 + 24 + 36
        let y = ReferenceConvolution.forward(x, height: 2, width: 2, channels: 1, weights: w, outputChannels: 1,
                                             kernelSize: 3, stride: 1, padding: 1)
        // y[0,1] = x00·w10 + x01·w11 + x10·w20 + x11·w21, y[1,0] = x00·w01 + x01·w02 + x10·w11 + x11·w12,
        // y[1,1] = x00·w00 + x01·w01 + x10·w10 + x11·w11
        let expected: [Float] = [77, 67, 47, 37]   // 5+12+24+36, 4+10+21+32, 2+6+15+24, 1+4+12+20
        XCTAssertEqual(y, expected)
        // ∂L/∂x for ∂L/∂y = y is the adjoint: ⟨y, y⟩ = ⟨x, ∂L/∂x⟩; ⟨∂L/∂w, w⟩ = ⟨y, y⟩ too.
        let dx = ReferenceConvolution.inputGradient(gradOutput: y, height: 2, width: 2, channels: 1, weights: w, outputChannels: 1,
                                                    kernelSize: 3, stride: 1, padding: 1)
        let dw = ReferenceConvolution.weightGradient(x, height: 2, width: 2, channels: 1, gradOutput: y, outputChannels: 1,
                                                     kernelSize: 3, stride: 1, padding: 1)
        let yy = zip(y, y).map(*).reduce(0, +)
        XCTAssertEqual(zip(x, dx).map(*).reduce(0, +), yy)
        XCTAssertEqual(zip(w, dw).map(*).reduce(0, +), yy)
    }
}
