import Foundation
import Tensors

/// Convolution kernels for layers with few channels, where im2col + sgemm is bound by copies:
/// an im2col row of a 3×3 convolution with 16 input channels is 144 floats copied to feed 16
/// outputs, and sgemm with 16 columns runs at half its rate. These kernels read a zero-padded
/// NHWC image in place and keep a tile of outputs in SIMD registers:
///
///   y[oy, ox, co] = Σ_{ky, kx, ci} x̃[s·oy + ky, s·ox + kx, ci] · w[ky, kx, ci, co]      (stride s)
///
/// with x̃ the image padded by p = (k − 1)/2 on each side. For a fixed ky the (kx, ci) pairs are
/// contiguous both in x̃ (k neighbouring pixels of Cin channels) and in w (rows of Cout), so the
/// inner loop runs over j = kx·Cin + ci with one weight row and one input value per tile pixel.
/// A tile is 6 or 4 pixels × 16 output channels (12 or 8 vector accumulators) or 8 pixels × 8 channels.
/// The accumulator `pixelNLow` holds output channels g … g+7 of the tile's pixel N (the N-th
/// pixel to the right of ox), `pixelNHigh` channels g+8 … g+15; `pixelN` all 8 of an 8-channel group.
///
/// `weightGradient` is the adjoint for w, ∂L/∂w[ky, kx, ci, co] += Σ_{oy, ox} x̃[oy + ky, ox + kx, ci]·∂L/∂y[oy, ox, co],
/// with a tile of 6 weight rows × 16 output channels in registers over all pixels (8 rows × 8
/// channels for 8-channel groups, 4 rows for the remainder). There `tapNLow` / `tapNHigh` hold output channels
/// g … g+7 / g+8 … g+15 of weight row j + N of this ky, that is of tap kx·Cin + ci = j + N
/// (`tapN` all 8 of an 8-channel group).
/// The input gradient of such a convolution with stride 1 is the same convolution of the padded
/// ∂L/∂y with the flipped, channel-transposed weights (`flip`), so `forward` serves it too.
/// `ReferenceConvolution` computes all three from their definitions, for the tests. On CPUs with
/// AVX-512, groups of 16 output channels go to `WideDirectConvolution` (see `vectorWidth`).
enum DirectConvolution {
    typealias V = SIMD8<Float>

    /// Floats per vector of the kernels: 16 (`WideDirectConvolution`, for groups of 16 output
    /// channels) on CPUs with AVX-512, else 8. `SSLBENCH_VECTOR_WIDTH=8` or `16` chooses; both
    /// widths give the same floats. Read when the process starts; the tests set it.
    nonisolated(unsafe) static var vectorWidth: Int = {
        if let chosen = ProcessInfo.processInfo.environment["SSLBENCH_VECTOR_WIDTH"], let width = Int(chosen), width == 8 || width == 16 {
            return width
        }
        return MachineInfo.cpuFlags.contains("avx512f") ? 16 : 8
    }()

    /// Output rows per block of `weightGradient`: its ∂L/∂y and input rows stay in L1 (about
    /// 16 KB) while every weight row passes over them; a pass over the whole image would stream
    /// both from L2.
    static func weightGradientRowsPerBlock(paddedWidth pw: Int, channels cin: Int, stride s: Int, outputChannels cout: Int,
                                           outWidth ow: Int) -> Int {
        max(1, (1 << 14) / (4 * (ow * cout + s * pw * cin)))
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
    @inline(__always) static func add(_ v: V, _ p: UnsafeMutablePointer<Float>) { store(load(p) + v, p) }

    /// Copies image `x` [h, w, c] into `padded` [h + 2p, w + 2p, c] with a zero border.
    static func pad(_ x: UnsafePointer<Float>, height h: Int, width w: Int, channels c: Int, padding p: Int,
                    into padded: UnsafeMutablePointer<Float>) {
        let pw = w + 2 * p
        padded.update(repeating: 0, count: p * pw * c)
        for y in 0 ..< h {
            let row = padded + (y + p) * pw * c
            row.update(repeating: 0, count: p * c)
            (row + p * c).update(from: x + y * w * c, count: w * c)
            (row + (p + w) * c).update(repeating: 0, count: p * c)
        }
        (padded + (h + p) * pw * c).update(repeating: 0, count: p * pw * c)
    }

    /// w' [k, k, Cout, Cin] = w [k, k, Cin, Cout] rotated by 180° in space, channels transposed:
    ///   w'[ky, kx, co, ci] = w[k−1−ky, k−1−kx, ci, co].
    /// The input gradient of a stride-1 convolution with padding (k − 1)/2 is the convolution of
    /// ∂L/∂y, padded by (k − 1)/2, with w'.
    static func flip(_ w: UnsafePointer<Float>, kernelSize kk: Int, inputChannels cin: Int, outputChannels cout: Int,
                     into fw: UnsafeMutablePointer<Float>) {
        for ky in 0 ..< kk {
            for kx in 0 ..< kk {
                let src = w + ((kk - 1 - ky) * kk + (kk - 1 - kx)) * cin * cout, dst = fw + (ky * kk + kx) * cout * cin
                for ci in 0 ..< cin { for co in 0 ..< cout { dst[co * cin + ci] = src[ci * cout + co] } }
            }
        }
    }

    /// y [oh, ow, cout] = the convolution with stride s of the padded image x̃ [·, pw, cin] with
    /// w [k, k, cin, cout]; cout must be a multiple of 8. Overwrites y.
    static func forward(padded x: UnsafePointer<Float>, paddedWidth pw: Int, channels cin: Int, stride s: Int,
                        weights w: UnsafePointer<Float>, outputChannels cout: Int, kernelSize k: Int, outHeight oh: Int, outWidth ow: Int,
                        output y: UnsafeMutablePointer<Float>) {
        if vectorWidth == 16 && cout % 16 == 0 {
            WideDirectConvolution.forward(padded: x, paddedWidth: pw, channels: cin, stride: s, weights: w, outputChannels: cout,
                                          kernelSize: k, outHeight: oh, outWidth: ow, output: y)
            return
        }
        let taps = k * cin, step = s * cin   // step: from one tile pixel's window to the next
        var g = 0
        while g < cout {
            if cout - g >= 16 {
                // 6-pixel tiles (12 accumulators, 12 FMAs per 2 weight loads and 6 broadcasts) up to
                // `sixEnd`, then 4-pixel tiles, so that even widths need no single pixels:
                // 32 = 6·4 + 4·2, 16 = 6·2 + 4, 8 = 4·2
                let sixEnd: Int
                switch ow % 6 {
                case 0: sixEnd = ow
                case 4: sixEnd = ow - 4
                case 2 where ow >= 8: sixEnd = ow - 8
                default: sixEnd = ow - ow % 6
                }
                for oy in 0 ..< oh {
                    var ox = 0
                    while ox + 6 <= sixEnd {
                        var pixel0Low = V(), pixel0High = V(), pixel1Low = V(), pixel1High = V(), pixel2Low = V(), pixel2High = V()
                        var pixel3Low = V(), pixel3High = V(), pixel4Low = V(), pixel4High = V(), pixel5Low = V(), pixel5High = V()
                        let s2 = 2 * step, s3 = 3 * step, s4 = 4 * step, s5 = 5 * step
                        for ky in 0 ..< k {
                            // one pointer into the six windows and one into the weights, bumped per tap
                            var xp = x + ((s * oy + ky) * pw + s * ox) * cin, wp = w + ky * taps * cout + g
                            for _ in 0 ..< taps {
                                let weightsLow = load(wp), weightsHigh = load(wp + 8)
                                var input = V(repeating: xp[0])
                                pixel0Low = pixel0Low.addingProduct(input, weightsLow); pixel0High = pixel0High.addingProduct(input, weightsHigh)
                                input = V(repeating: xp[step])
                                pixel1Low = pixel1Low.addingProduct(input, weightsLow); pixel1High = pixel1High.addingProduct(input, weightsHigh)
                                input = V(repeating: xp[s2])
                                pixel2Low = pixel2Low.addingProduct(input, weightsLow); pixel2High = pixel2High.addingProduct(input, weightsHigh)
                                input = V(repeating: xp[s3])
                                pixel3Low = pixel3Low.addingProduct(input, weightsLow); pixel3High = pixel3High.addingProduct(input, weightsHigh)
                                input = V(repeating: xp[s4])
                                pixel4Low = pixel4Low.addingProduct(input, weightsLow); pixel4High = pixel4High.addingProduct(input, weightsHigh)
                                input = V(repeating: xp[s5])
                                pixel5Low = pixel5Low.addingProduct(input, weightsLow); pixel5High = pixel5High.addingProduct(input, weightsHigh)
                                xp += 1; wp += cout
                            }
                        }
                        let yr = y + (oy * ow + ox) * cout + g
                        store(pixel0Low, yr); store(pixel0High, yr + 8)
                        store(pixel1Low, yr + cout); store(pixel1High, yr + cout + 8)
                        store(pixel2Low, yr + 2 * cout); store(pixel2High, yr + 2 * cout + 8)
                        store(pixel3Low, yr + 3 * cout); store(pixel3High, yr + 3 * cout + 8)
                        store(pixel4Low, yr + 4 * cout); store(pixel4High, yr + 4 * cout + 8)
                        store(pixel5Low, yr + 5 * cout); store(pixel5High, yr + 5 * cout + 8)
                        ox += 6
                    }
                    while ox + 4 <= ow {
                        var pixel0Low = V(), pixel0High = V(), pixel1Low = V(), pixel1High = V(), pixel2Low = V(), pixel2High = V(), pixel3Low = V(), pixel3High = V()
                        for ky in 0 ..< k {
                            let xr = x + ((s * oy + ky) * pw + s * ox) * cin, wr = w + ky * taps * cout + g
                            for j in 0 ..< taps {
                                let weightsLow = load(wr + j * cout), weightsHigh = load(wr + j * cout + 8)
                                let input0 = V(repeating: xr[j]), input1 = V(repeating: xr[step + j])
                                let input2 = V(repeating: xr[2 * step + j]), input3 = V(repeating: xr[3 * step + j])
                                pixel0Low = pixel0Low.addingProduct(input0, weightsLow); pixel0High = pixel0High.addingProduct(input0, weightsHigh)
                                pixel1Low = pixel1Low.addingProduct(input1, weightsLow); pixel1High = pixel1High.addingProduct(input1, weightsHigh)
                                pixel2Low = pixel2Low.addingProduct(input2, weightsLow); pixel2High = pixel2High.addingProduct(input2, weightsHigh)
                                pixel3Low = pixel3Low.addingProduct(input3, weightsLow); pixel3High = pixel3High.addingProduct(input3, weightsHigh)
                            }
                        }
                        let yr = y + (oy * ow + ox) * cout + g
                        store(pixel0Low, yr); store(pixel0High, yr + 8)
                        store(pixel1Low, yr + cout); store(pixel1High, yr + cout + 8)
                        store(pixel2Low, yr + 2 * cout); store(pixel2High, yr + 2 * cout + 8)
                        store(pixel3Low, yr + 3 * cout); store(pixel3High, yr + 3 * cout + 8)
                        ox += 4
                    }
                    while ox < ow {
                        var pixelLow = V(), pixelHigh = V()
                        for ky in 0 ..< k {
                            let xr = x + ((s * oy + ky) * pw + s * ox) * cin, wr = w + ky * taps * cout + g
                            for j in 0 ..< taps {
                                let input = V(repeating: xr[j])
                                pixelLow = pixelLow.addingProduct(input, load(wr + j * cout)); pixelHigh = pixelHigh.addingProduct(input, load(wr + j * cout + 8))
                            }
                        }
                        let yr = y + (oy * ow + ox) * cout + g
                        store(pixelLow, yr); store(pixelHigh, yr + 8)
                        ox += 1
                    }
                }
                g += 16
            } else {
                for oy in 0 ..< oh {
                    var ox = 0
                    while ox + 8 <= ow {
                        var pixel0 = V(), pixel1 = V(), pixel2 = V(), pixel3 = V(), pixel4 = V(), pixel5 = V(), pixel6 = V(), pixel7 = V()
                        for ky in 0 ..< k {
                            let xr = x + ((s * oy + ky) * pw + s * ox) * cin, wr = w + ky * taps * cout + g
                            for j in 0 ..< taps {
                                let weights = load(wr + j * cout)
                                pixel0 = pixel0.addingProduct(V(repeating: xr[j]), weights)
                                pixel1 = pixel1.addingProduct(V(repeating: xr[step + j]), weights)
                                pixel2 = pixel2.addingProduct(V(repeating: xr[2 * step + j]), weights)
                                pixel3 = pixel3.addingProduct(V(repeating: xr[3 * step + j]), weights)
                                pixel4 = pixel4.addingProduct(V(repeating: xr[4 * step + j]), weights)
                                pixel5 = pixel5.addingProduct(V(repeating: xr[5 * step + j]), weights)
                                pixel6 = pixel6.addingProduct(V(repeating: xr[6 * step + j]), weights)
                                pixel7 = pixel7.addingProduct(V(repeating: xr[7 * step + j]), weights)
                            }
                        }
                        let yr = y + (oy * ow + ox) * cout + g
                        store(pixel0, yr); store(pixel1, yr + cout); store(pixel2, yr + 2 * cout); store(pixel3, yr + 3 * cout)
                        store(pixel4, yr + 4 * cout); store(pixel5, yr + 5 * cout); store(pixel6, yr + 6 * cout); store(pixel7, yr + 7 * cout)
                        ox += 8
                    }
                    while ox < ow {
                        var pixel = V()
                        for ky in 0 ..< k {
                            let xr = x + ((s * oy + ky) * pw + s * ox) * cin, wr = w + ky * taps * cout + g
                            for j in 0 ..< taps { pixel = pixel.addingProduct(V(repeating: xr[j]), load(wr + j * cout)) }
                        }
                        store(pixel, y + (oy * ow + ox) * cout + g)
                        ox += 1
                    }
                }
                g += 8
            }
        }
    }

    /// dw [k, k, cin, cout] += Σ_{oy, ox} x̃[s·oy + ky, s·ox + kx, ci] · dy[oy, ox, co] for one padded
    /// image x̃ [·, pw, cin] and its dy [oh, ow, cout]; cout a multiple of 8.
    static func weightGradient(padded x: UnsafePointer<Float>, paddedWidth pw: Int, channels cin: Int, stride s: Int,
                               gradOutput dy: UnsafePointer<Float>, outputChannels cout: Int, kernelSize k: Int,
                               outHeight oh: Int, outWidth ow: Int, weightGradient dw: UnsafeMutablePointer<Float>) {
        if vectorWidth == 16 && cout % 16 == 0 {
            WideDirectConvolution.weightGradient(padded: x, paddedWidth: pw, channels: cin, stride: s, gradOutput: dy,
                                                 outputChannels: cout, kernelSize: k, outHeight: oh, outWidth: ow, weightGradient: dw)
            return
        }
        let taps = k * cin, step = s * cin
        let rowsPerBlock = weightGradientRowsPerBlock(paddedWidth: pw, channels: cin, stride: s, outputChannels: cout, outWidth: ow)
        var rowStart = 0
        while rowStart < oh {
        let rowEnd = min(rowStart + rowsPerBlock, oh)
        var g = 0
        while g < cout {
            let wide = cout - g >= 16
            for ky in 0 ..< k {
                var j = 0
                // six weight rows j … j+5 (of this ky) × 16 channels at a time: 12 accumulators,
                // 12 FMAs per 2 loads of ∂L/∂y and 6 broadcasts
                while wide && taps - j >= 6 {
                    var tap0Low = V(), tap0High = V(), tap1Low = V(), tap1High = V(), tap2Low = V(), tap2High = V()
                    var tap3Low = V(), tap3High = V(), tap4Low = V(), tap4High = V(), tap5Low = V(), tap5High = V()
                    for oy in rowStart ..< rowEnd {
                        let xr = x + (s * oy + ky) * pw * cin + j, dr = dy + oy * ow * cout + g
                        for ox in 0 ..< ow {
                            let gradLow = load(dr + ox * cout), gradHigh = load(dr + ox * cout + 8), xp = xr + ox * step
                            let input0 = V(repeating: xp[0]), input1 = V(repeating: xp[1]), input2 = V(repeating: xp[2])
                            tap0Low = tap0Low.addingProduct(input0, gradLow); tap0High = tap0High.addingProduct(input0, gradHigh)
                            tap1Low = tap1Low.addingProduct(input1, gradLow); tap1High = tap1High.addingProduct(input1, gradHigh)
                            tap2Low = tap2Low.addingProduct(input2, gradLow); tap2High = tap2High.addingProduct(input2, gradHigh)
                            let input3 = V(repeating: xp[3]), input4 = V(repeating: xp[4]), input5 = V(repeating: xp[5])
                            tap3Low = tap3Low.addingProduct(input3, gradLow); tap3High = tap3High.addingProduct(input3, gradHigh)
                            tap4Low = tap4Low.addingProduct(input4, gradLow); tap4High = tap4High.addingProduct(input4, gradHigh)
                            tap5Low = tap5Low.addingProduct(input5, gradLow); tap5High = tap5High.addingProduct(input5, gradHigh)
                        }
                    }
                    let base = dw + (ky * taps + j) * cout + g
                    add(tap0Low, base); add(tap0High, base + 8)
                    add(tap1Low, base + cout); add(tap1High, base + cout + 8)
                    add(tap2Low, base + 2 * cout); add(tap2High, base + 2 * cout + 8)
                    add(tap3Low, base + 3 * cout); add(tap3High, base + 3 * cout + 8)
                    add(tap4Low, base + 4 * cout); add(tap4High, base + 4 * cout + 8)
                    add(tap5Low, base + 5 * cout); add(tap5High, base + 5 * cout + 8)
                    j += 6
                }
                // 8-channel groups: eight weight rows j … j+7 at a time, 8 accumulators (four would
                // leave the FMA units waiting on their latency)
                while !wide && taps - j >= 8 {
                    var tap0 = V(), tap1 = V(), tap2 = V(), tap3 = V(), tap4 = V(), tap5 = V(), tap6 = V(), tap7 = V()
                    for oy in rowStart ..< rowEnd {
                        let xr = x + (s * oy + ky) * pw * cin + j, dr = dy + oy * ow * cout + g
                        for ox in 0 ..< ow {
                            let grad = load(dr + ox * cout), xp = xr + ox * step
                            tap0 = tap0.addingProduct(V(repeating: xp[0]), grad); tap1 = tap1.addingProduct(V(repeating: xp[1]), grad)
                            tap2 = tap2.addingProduct(V(repeating: xp[2]), grad); tap3 = tap3.addingProduct(V(repeating: xp[3]), grad)
                            tap4 = tap4.addingProduct(V(repeating: xp[4]), grad); tap5 = tap5.addingProduct(V(repeating: xp[5]), grad)
                            tap6 = tap6.addingProduct(V(repeating: xp[6]), grad); tap7 = tap7.addingProduct(V(repeating: xp[7]), grad)
                        }
                    }
                    let base = dw + (ky * taps + j) * cout + g
                    add(tap0, base); add(tap1, base + cout); add(tap2, base + 2 * cout); add(tap3, base + 3 * cout)
                    add(tap4, base + 4 * cout); add(tap5, base + 5 * cout); add(tap6, base + 6 * cout); add(tap7, base + 7 * cout)
                    j += 8
                }
                // the rest: four weight rows j … j+3 at a time
                while j < taps {
                    let rows = min(4, taps - j)
                    var tap0Low = V(), tap0High = V(), tap1Low = V(), tap1High = V(), tap2Low = V(), tap2High = V(), tap3Low = V(), tap3High = V()
                    for oy in rowStart ..< rowEnd {
                        let xr = x + (s * oy + ky) * pw * cin + j, dr = dy + oy * ow * cout + g
                        if wide && rows == 4 {
                            for ox in 0 ..< ow {
                                let gradLow = load(dr + ox * cout), gradHigh = load(dr + ox * cout + 8), xp = xr + ox * step
                                let input0 = V(repeating: xp[0]), input1 = V(repeating: xp[1]), input2 = V(repeating: xp[2]), input3 = V(repeating: xp[3])
                                tap0Low = tap0Low.addingProduct(input0, gradLow); tap0High = tap0High.addingProduct(input0, gradHigh)
                                tap1Low = tap1Low.addingProduct(input1, gradLow); tap1High = tap1High.addingProduct(input1, gradHigh)
                                tap2Low = tap2Low.addingProduct(input2, gradLow); tap2High = tap2High.addingProduct(input2, gradHigh)
                                tap3Low = tap3Low.addingProduct(input3, gradLow); tap3High = tap3High.addingProduct(input3, gradHigh)
                            }
                        } else if rows == 4 {
                            for ox in 0 ..< ow {
                                let gradLow = load(dr + ox * cout), xp = xr + ox * step
                                tap0Low = tap0Low.addingProduct(V(repeating: xp[0]), gradLow); tap1Low = tap1Low.addingProduct(V(repeating: xp[1]), gradLow)
                                tap2Low = tap2Low.addingProduct(V(repeating: xp[2]), gradLow); tap3Low = tap3Low.addingProduct(V(repeating: xp[3]), gradLow)
                            }
                        } else {
                            for ox in 0 ..< ow {
                                let gradLow = load(dr + ox * cout), gradHigh = wide ? load(dr + ox * cout + 8) : V(), xp = xr + ox * step
                                let input0 = V(repeating: xp[0])
                                tap0Low = tap0Low.addingProduct(input0, gradLow); tap0High = tap0High.addingProduct(input0, gradHigh)
                                if rows > 1 { let input1 = V(repeating: xp[1]); tap1Low = tap1Low.addingProduct(input1, gradLow); tap1High = tap1High.addingProduct(input1, gradHigh) }
                                if rows > 2 { let input2 = V(repeating: xp[2]); tap2Low = tap2Low.addingProduct(input2, gradLow); tap2High = tap2High.addingProduct(input2, gradHigh) }
                            }
                        }
                    }
                    let base = dw + (ky * taps + j) * cout + g
                    add(tap0Low, base); if wide { add(tap0High, base + 8) }
                    if rows > 1 { add(tap1Low, base + cout); if wide { add(tap1High, base + cout + 8) } }
                    if rows > 2 { add(tap2Low, base + 2 * cout); if wide { add(tap2High, base + 2 * cout + 8) } }
                    if rows > 3 { add(tap3Low, base + 3 * cout); if wide { add(tap3High, base + 3 * cout + 8) } }
                    j += rows
                }
            }
            g += wide ? 16 : 8
        }
        rowStart = rowEnd
        }
    }
}
