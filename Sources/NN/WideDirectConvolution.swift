import Tensors

/// The kernels of `DirectConvolution` with 16-float vectors, for CPUs with AVX-512 (32 vector
/// registers of 16 floats), used when `DirectConvolution.vectorWidth` is 16 and Cout is a
/// multiple of 16. The same sums as the 8-float kernels, term for term:
///
///   y[oy, ox, co] = Σ_{ky, kx, ci} x̃[s·oy + ky, s·ox + kx, ci] · w[ky, kx, ci, co]
///   ∂L/∂w[ky, kx, ci, co] += Σ_{oy, ox} x̃[s·oy + ky, s·ox + kx, ci] · ∂L/∂y[oy, ox, co]
///
/// Each output lane accumulates its terms in the same order with the same fused multiply-adds
/// (taps j = kx·Cin + ci in order within each ky for y; pixels in order within the same row
/// blocks for ∂L/∂w), so the two widths give identical floats; only the tiles differ. A tile
/// here is 12 pixels (or 12 weight rows) × 16 output channels, one vector accumulator per
/// pixel: `pixelN` holds channels g … g+15 of the tile's N-th pixel, `tapN` channels g … g+15
/// of weight row j + N of this ky. Remainders run 4 and then 1 at a time.
///
/// Built for a CPU without AVX-512 (`-march=native`), a 16-float vector is two 8-float halves:
/// the kernels still compute the same sums, which is how the tests check them on any machine.
enum WideDirectConvolution {
    typealias V = SIMD16<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
    @inline(__always) static func add(_ v: V, _ p: UnsafeMutablePointer<Float>) { store(load(p) + v, p) }

    /// y [oh, ow, cout] from the padded image x̃ [·, pw, cin] and w [k, k, cin, cout], stride s;
    /// cout a multiple of 16. Overwrites y.
    static func forward(padded x: UnsafePointer<Float>, paddedWidth pw: Int, channels cin: Int, stride s: Int,
                        weights w: UnsafePointer<Float>, outputChannels cout: Int, kernelSize k: Int, outHeight oh: Int, outWidth ow: Int,
                        output y: UnsafeMutablePointer<Float>) {
        precondition(cout % 16 == 0)
        let taps = k * cin, step = s * cin
        for g in stride(from: 0, to: cout, by: 16) {
            for oy in 0 ..< oh {
                var ox = 0
                while ox + 12 <= ow {
                    var pixel0 = V(), pixel1 = V(), pixel2 = V(), pixel3 = V(), pixel4 = V(), pixel5 = V()
                    var pixel6 = V(), pixel7 = V(), pixel8 = V(), pixel9 = V(), pixel10 = V(), pixel11 = V()
                    for ky in 0 ..< k {
                        var xp = x + ((s * oy + ky) * pw + s * ox) * cin, wp = w + ky * taps * cout + g
                        for _ in 0 ..< taps {
                            let weights = load(wp)
                            pixel0 = pixel0.addingProduct(V(repeating: xp[0]), weights)
                            pixel1 = pixel1.addingProduct(V(repeating: xp[step]), weights)
                            pixel2 = pixel2.addingProduct(V(repeating: xp[2 * step]), weights)
                            pixel3 = pixel3.addingProduct(V(repeating: xp[3 * step]), weights)
                            pixel4 = pixel4.addingProduct(V(repeating: xp[4 * step]), weights)
                            pixel5 = pixel5.addingProduct(V(repeating: xp[5 * step]), weights)
                            pixel6 = pixel6.addingProduct(V(repeating: xp[6 * step]), weights)
                            pixel7 = pixel7.addingProduct(V(repeating: xp[7 * step]), weights)
                            pixel8 = pixel8.addingProduct(V(repeating: xp[8 * step]), weights)
                            pixel9 = pixel9.addingProduct(V(repeating: xp[9 * step]), weights)
                            pixel10 = pixel10.addingProduct(V(repeating: xp[10 * step]), weights)
                            pixel11 = pixel11.addingProduct(V(repeating: xp[11 * step]), weights)
                            xp += 1; wp += cout
                        }
                    }
                    let yr = y + (oy * ow + ox) * cout + g
                    store(pixel0, yr); store(pixel1, yr + cout); store(pixel2, yr + 2 * cout); store(pixel3, yr + 3 * cout)
                    store(pixel4, yr + 4 * cout); store(pixel5, yr + 5 * cout); store(pixel6, yr + 6 * cout); store(pixel7, yr + 7 * cout)
                    store(pixel8, yr + 8 * cout); store(pixel9, yr + 9 * cout); store(pixel10, yr + 10 * cout); store(pixel11, yr + 11 * cout)
                    ox += 12
                }
                while ox + 4 <= ow {
                    var pixel0 = V(), pixel1 = V(), pixel2 = V(), pixel3 = V()
                    for ky in 0 ..< k {
                        var xp = x + ((s * oy + ky) * pw + s * ox) * cin, wp = w + ky * taps * cout + g
                        for _ in 0 ..< taps {
                            let weights = load(wp)
                            pixel0 = pixel0.addingProduct(V(repeating: xp[0]), weights)
                            pixel1 = pixel1.addingProduct(V(repeating: xp[step]), weights)
                            pixel2 = pixel2.addingProduct(V(repeating: xp[2 * step]), weights)
                            pixel3 = pixel3.addingProduct(V(repeating: xp[3 * step]), weights)
                            xp += 1; wp += cout
                        }
                    }
                    let yr = y + (oy * ow + ox) * cout + g
                    store(pixel0, yr); store(pixel1, yr + cout); store(pixel2, yr + 2 * cout); store(pixel3, yr + 3 * cout)
                    ox += 4
                }
                while ox < ow {
                    var pixel = V()
                    for ky in 0 ..< k {
                        var xp = x + ((s * oy + ky) * pw + s * ox) * cin, wp = w + ky * taps * cout + g
                        for _ in 0 ..< taps { pixel = pixel.addingProduct(V(repeating: xp[0]), load(wp)); xp += 1; wp += cout }
                    }
                    store(pixel, y + (oy * ow + ox) * cout + g)
                    ox += 1
                }
            }
        }
    }

    /// dw [k, k, cin, cout] += Σ_{oy, ox} x̃[s·oy + ky, s·ox + kx, ci] · dy[oy, ox, co] for one
    /// padded image x̃ [·, pw, cin] and its dy [oh, ow, cout]; cout a multiple of 16. The row
    /// blocks are those of `DirectConvolution.weightGradient`.
    static func weightGradient(padded x: UnsafePointer<Float>, paddedWidth pw: Int, channels cin: Int, stride s: Int,
                               gradOutput dy: UnsafePointer<Float>, outputChannels cout: Int, kernelSize k: Int,
                               outHeight oh: Int, outWidth ow: Int, weightGradient dw: UnsafeMutablePointer<Float>) {
        precondition(cout % 16 == 0)
        let taps = k * cin, step = s * cin
        let rowsPerBlock = DirectConvolution.weightGradientRowsPerBlock(paddedWidth: pw, channels: cin, stride: s,
                                                                        outputChannels: cout, outWidth: ow)
        var rowStart = 0
        while rowStart < oh {
            let rowEnd = min(rowStart + rowsPerBlock, oh)
            for g in stride(from: 0, to: cout, by: 16) {
                for ky in 0 ..< k {
                    var j = 0
                    while taps - j >= 12 {
                        var tap0 = V(), tap1 = V(), tap2 = V(), tap3 = V(), tap4 = V(), tap5 = V()
                        var tap6 = V(), tap7 = V(), tap8 = V(), tap9 = V(), tap10 = V(), tap11 = V()
                        for oy in rowStart ..< rowEnd {
                            let xr = x + (s * oy + ky) * pw * cin + j, dr = dy + oy * ow * cout + g
                            for ox in 0 ..< ow {
                                let grad = load(dr + ox * cout), xp = xr + ox * step
                                tap0 = tap0.addingProduct(V(repeating: xp[0]), grad); tap1 = tap1.addingProduct(V(repeating: xp[1]), grad)
                                tap2 = tap2.addingProduct(V(repeating: xp[2]), grad); tap3 = tap3.addingProduct(V(repeating: xp[3]), grad)
                                tap4 = tap4.addingProduct(V(repeating: xp[4]), grad); tap5 = tap5.addingProduct(V(repeating: xp[5]), grad)
                                tap6 = tap6.addingProduct(V(repeating: xp[6]), grad); tap7 = tap7.addingProduct(V(repeating: xp[7]), grad)
                                tap8 = tap8.addingProduct(V(repeating: xp[8]), grad); tap9 = tap9.addingProduct(V(repeating: xp[9]), grad)
                                tap10 = tap10.addingProduct(V(repeating: xp[10]), grad); tap11 = tap11.addingProduct(V(repeating: xp[11]), grad)
                            }
                        }
                        let base = dw + (ky * taps + j) * cout + g
                        add(tap0, base); add(tap1, base + cout); add(tap2, base + 2 * cout); add(tap3, base + 3 * cout)
                        add(tap4, base + 4 * cout); add(tap5, base + 5 * cout); add(tap6, base + 6 * cout); add(tap7, base + 7 * cout)
                        add(tap8, base + 8 * cout); add(tap9, base + 9 * cout); add(tap10, base + 10 * cout); add(tap11, base + 11 * cout)
                        j += 12
                    }
                    while taps - j >= 4 {
                        var tap0 = V(), tap1 = V(), tap2 = V(), tap3 = V()
                        for oy in rowStart ..< rowEnd {
                            let xr = x + (s * oy + ky) * pw * cin + j, dr = dy + oy * ow * cout + g
                            for ox in 0 ..< ow {
                                let grad = load(dr + ox * cout), xp = xr + ox * step
                                tap0 = tap0.addingProduct(V(repeating: xp[0]), grad); tap1 = tap1.addingProduct(V(repeating: xp[1]), grad)
                                tap2 = tap2.addingProduct(V(repeating: xp[2]), grad); tap3 = tap3.addingProduct(V(repeating: xp[3]), grad)
                            }
                        }
                        let base = dw + (ky * taps + j) * cout + g
                        add(tap0, base); add(tap1, base + cout); add(tap2, base + 2 * cout); add(tap3, base + 3 * cout)
                        j += 4
                    }
                    while j < taps {
                        var tap = V()
                        for oy in rowStart ..< rowEnd {
                            let xr = x + (s * oy + ky) * pw * cin + j, dr = dy + oy * ow * cout + g
                            for ox in 0 ..< ow { tap = tap.addingProduct(V(repeating: xr[ox * step]), load(dr + ox * cout)) }
                        }
                        add(tap, dw + (ky * taps + j) * cout + g)
                        j += 1
                    }
                }
            }
            rowStart = rowEnd
        }
    }
}
