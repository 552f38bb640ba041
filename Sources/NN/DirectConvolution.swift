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
///
/// `weightGradient` is the adjoint for w, ∂L/∂w[ky, kx, ci, co] += Σ_{oy, ox} x̃[oy + ky, ox + kx, ci]·∂L/∂y[oy, ox, co],
/// with a tile of 6 weight rows × 16 output channels in registers over all pixels (4 rows for
/// the remainder and for 8-channel groups).
/// The input gradient of such a convolution is the same convolution of the padded ∂L/∂y with
/// the flipped, channel-transposed weights (`Conv2d`), so `forward` serves it too.
enum DirectConvolution {
    typealias V = SIMD8<Float>

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

    /// y [oh, ow, cout] = the convolution with stride s of the padded image x̃ [·, pw, cin] with
    /// w [k, k, cin, cout]; cout must be a multiple of 8. Overwrites y.
    static func forward(padded x: UnsafePointer<Float>, paddedWidth pw: Int, channels cin: Int, stride s: Int,
                        weights w: UnsafePointer<Float>, outputChannels cout: Int, kernelSize k: Int, outHeight oh: Int, outWidth ow: Int,
                        output y: UnsafeMutablePointer<Float>) {
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
                        var a0 = V(), a1 = V(), b0 = V(), b1 = V(), c0 = V(), c1 = V()
                        var d0 = V(), d1 = V(), e0 = V(), e1 = V(), f0 = V(), f1 = V()
                        let s2 = 2 * step, s3 = 3 * step, s4 = 4 * step, s5 = 5 * step
                        for ky in 0 ..< k {
                            // one pointer into the six windows and one into the weights, bumped per tap
                            var xp = x + ((s * oy + ky) * pw + s * ox) * cin, wp = w + ky * taps * cout + g
                            for _ in 0 ..< taps {
                                let w0 = load(wp), w1 = load(wp + 8)
                                var xv = V(repeating: xp[0])
                                a0 = a0.addingProduct(xv, w0); a1 = a1.addingProduct(xv, w1)
                                xv = V(repeating: xp[step])
                                b0 = b0.addingProduct(xv, w0); b1 = b1.addingProduct(xv, w1)
                                xv = V(repeating: xp[s2])
                                c0 = c0.addingProduct(xv, w0); c1 = c1.addingProduct(xv, w1)
                                xv = V(repeating: xp[s3])
                                d0 = d0.addingProduct(xv, w0); d1 = d1.addingProduct(xv, w1)
                                xv = V(repeating: xp[s4])
                                e0 = e0.addingProduct(xv, w0); e1 = e1.addingProduct(xv, w1)
                                xv = V(repeating: xp[s5])
                                f0 = f0.addingProduct(xv, w0); f1 = f1.addingProduct(xv, w1)
                                xp += 1; wp += cout
                            }
                        }
                        let yr = y + (oy * ow + ox) * cout + g
                        store(a0, yr); store(a1, yr + 8)
                        store(b0, yr + cout); store(b1, yr + cout + 8)
                        store(c0, yr + 2 * cout); store(c1, yr + 2 * cout + 8)
                        store(d0, yr + 3 * cout); store(d1, yr + 3 * cout + 8)
                        store(e0, yr + 4 * cout); store(e1, yr + 4 * cout + 8)
                        store(f0, yr + 5 * cout); store(f1, yr + 5 * cout + 8)
                        ox += 6
                    }
                    while ox + 4 <= ow {
                        var a0 = V(), a1 = V(), b0 = V(), b1 = V(), c0 = V(), c1 = V(), d0 = V(), d1 = V()
                        for ky in 0 ..< k {
                            let xr = x + ((s * oy + ky) * pw + s * ox) * cin, wr = w + ky * taps * cout + g
                            for j in 0 ..< taps {
                                let w0 = load(wr + j * cout), w1 = load(wr + j * cout + 8)
                                let xa = V(repeating: xr[j]), xb = V(repeating: xr[step + j])
                                let xc = V(repeating: xr[2 * step + j]), xd = V(repeating: xr[3 * step + j])
                                a0 = a0.addingProduct(xa, w0); a1 = a1.addingProduct(xa, w1)
                                b0 = b0.addingProduct(xb, w0); b1 = b1.addingProduct(xb, w1)
                                c0 = c0.addingProduct(xc, w0); c1 = c1.addingProduct(xc, w1)
                                d0 = d0.addingProduct(xd, w0); d1 = d1.addingProduct(xd, w1)
                            }
                        }
                        let yr = y + (oy * ow + ox) * cout + g
                        store(a0, yr); store(a1, yr + 8)
                        store(b0, yr + cout); store(b1, yr + cout + 8)
                        store(c0, yr + 2 * cout); store(c1, yr + 2 * cout + 8)
                        store(d0, yr + 3 * cout); store(d1, yr + 3 * cout + 8)
                        ox += 4
                    }
                    while ox < ow {
                        var a0 = V(), a1 = V()
                        for ky in 0 ..< k {
                            let xr = x + ((s * oy + ky) * pw + s * ox) * cin, wr = w + ky * taps * cout + g
                            for j in 0 ..< taps {
                                let xa = V(repeating: xr[j])
                                a0 = a0.addingProduct(xa, load(wr + j * cout)); a1 = a1.addingProduct(xa, load(wr + j * cout + 8))
                            }
                        }
                        let yr = y + (oy * ow + ox) * cout + g
                        store(a0, yr); store(a1, yr + 8)
                        ox += 1
                    }
                }
                g += 16
            } else {
                for oy in 0 ..< oh {
                    var ox = 0
                    while ox + 8 <= ow {
                        var a = V(), b = V(), c = V(), d = V(), e = V(), f = V(), gg = V(), h = V()
                        for ky in 0 ..< k {
                            let xr = x + ((s * oy + ky) * pw + s * ox) * cin, wr = w + ky * taps * cout + g
                            for j in 0 ..< taps {
                                let w0 = load(wr + j * cout)
                                a = a.addingProduct(V(repeating: xr[j]), w0)
                                b = b.addingProduct(V(repeating: xr[step + j]), w0)
                                c = c.addingProduct(V(repeating: xr[2 * step + j]), w0)
                                d = d.addingProduct(V(repeating: xr[3 * step + j]), w0)
                                e = e.addingProduct(V(repeating: xr[4 * step + j]), w0)
                                f = f.addingProduct(V(repeating: xr[5 * step + j]), w0)
                                gg = gg.addingProduct(V(repeating: xr[6 * step + j]), w0)
                                h = h.addingProduct(V(repeating: xr[7 * step + j]), w0)
                            }
                        }
                        let yr = y + (oy * ow + ox) * cout + g
                        store(a, yr); store(b, yr + cout); store(c, yr + 2 * cout); store(d, yr + 3 * cout)
                        store(e, yr + 4 * cout); store(f, yr + 5 * cout); store(gg, yr + 6 * cout); store(h, yr + 7 * cout)
                        ox += 8
                    }
                    while ox < ow {
                        var a = V()
                        for ky in 0 ..< k {
                            let xr = x + ((s * oy + ky) * pw + s * ox) * cin, wr = w + ky * taps * cout + g
                            for j in 0 ..< taps { a = a.addingProduct(V(repeating: xr[j]), load(wr + j * cout)) }
                        }
                        store(a, y + (oy * ow + ox) * cout + g)
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
        let taps = k * cin, step = s * cin
        // Output rows in blocks whose ∂L/∂y and input rows stay in L1 (about 16 KB) while every
        // weight row passes over them; a pass over the whole image would stream both from L2.
        let rowsPerBlock = max(1, (1 << 14) / (4 * (ow * cout + s * pw * cin)))
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
                    var a0 = V(), a1 = V(), b0 = V(), b1 = V(), c0 = V(), c1 = V()
                    var d0 = V(), d1 = V(), e0 = V(), e1 = V(), f0 = V(), f1 = V()
                    for oy in rowStart ..< rowEnd {
                        let xr = x + (s * oy + ky) * pw * cin + j, dr = dy + oy * ow * cout + g
                        for ox in 0 ..< ow {
                            let g0 = load(dr + ox * cout), g1 = load(dr + ox * cout + 8), xp = xr + ox * step
                            let xa = V(repeating: xp[0]), xb = V(repeating: xp[1]), xc = V(repeating: xp[2])
                            a0 = a0.addingProduct(xa, g0); a1 = a1.addingProduct(xa, g1)
                            b0 = b0.addingProduct(xb, g0); b1 = b1.addingProduct(xb, g1)
                            c0 = c0.addingProduct(xc, g0); c1 = c1.addingProduct(xc, g1)
                            let xd = V(repeating: xp[3]), xe = V(repeating: xp[4]), xf = V(repeating: xp[5])
                            d0 = d0.addingProduct(xd, g0); d1 = d1.addingProduct(xd, g1)
                            e0 = e0.addingProduct(xe, g0); e1 = e1.addingProduct(xe, g1)
                            f0 = f0.addingProduct(xf, g0); f1 = f1.addingProduct(xf, g1)
                        }
                    }
                    let base = dw + (ky * taps + j) * cout + g
                    add(a0, base); add(a1, base + 8)
                    add(b0, base + cout); add(b1, base + cout + 8)
                    add(c0, base + 2 * cout); add(c1, base + 2 * cout + 8)
                    add(d0, base + 3 * cout); add(d1, base + 3 * cout + 8)
                    add(e0, base + 4 * cout); add(e1, base + 4 * cout + 8)
                    add(f0, base + 5 * cout); add(f1, base + 5 * cout + 8)
                    j += 6
                }
                // the rest, and 8-channel groups: four weight rows j … j+3 at a time
                while j < taps {
                    let rows = min(4, taps - j)
                    var a0 = V(), a1 = V(), b0 = V(), b1 = V(), c0 = V(), c1 = V(), d0 = V(), d1 = V()
                    for oy in rowStart ..< rowEnd {
                        let xr = x + (s * oy + ky) * pw * cin + j, dr = dy + oy * ow * cout + g
                        if wide && rows == 4 {
                            for ox in 0 ..< ow {
                                let e0 = load(dr + ox * cout), e1 = load(dr + ox * cout + 8), xp = xr + ox * step
                                let xa = V(repeating: xp[0]), xb = V(repeating: xp[1]), xc = V(repeating: xp[2]), xd = V(repeating: xp[3])
                                a0 = a0.addingProduct(xa, e0); a1 = a1.addingProduct(xa, e1)
                                b0 = b0.addingProduct(xb, e0); b1 = b1.addingProduct(xb, e1)
                                c0 = c0.addingProduct(xc, e0); c1 = c1.addingProduct(xc, e1)
                                d0 = d0.addingProduct(xd, e0); d1 = d1.addingProduct(xd, e1)
                            }
                        } else if rows == 4 {
                            for ox in 0 ..< ow {
                                let e0 = load(dr + ox * cout), xp = xr + ox * step
                                a0 = a0.addingProduct(V(repeating: xp[0]), e0); b0 = b0.addingProduct(V(repeating: xp[1]), e0)
                                c0 = c0.addingProduct(V(repeating: xp[2]), e0); d0 = d0.addingProduct(V(repeating: xp[3]), e0)
                            }
                        } else {
                            for ox in 0 ..< ow {
                                let e0 = load(dr + ox * cout), e1 = wide ? load(dr + ox * cout + 8) : V(), xp = xr + ox * step
                                let xa = V(repeating: xp[0])
                                a0 = a0.addingProduct(xa, e0); a1 = a1.addingProduct(xa, e1)
                                if rows > 1 { let xb = V(repeating: xp[1]); b0 = b0.addingProduct(xb, e0); b1 = b1.addingProduct(xb, e1) }
                                if rows > 2 { let xc = V(repeating: xp[2]); c0 = c0.addingProduct(xc, e0); c1 = c1.addingProduct(xc, e1) }
                            }
                        }
                    }
                    let base = dw + (ky * taps + j) * cout + g
                    add(a0, base); if wide { add(a1, base + 8) }
                    if rows > 1 { add(b0, base + cout); if wide { add(b1, base + cout + 8) } }
                    if rows > 2 { add(c0, base + 2 * cout); if wide { add(c1, base + 2 * cout + 8) } }
                    if rows > 3 { add(d0, base + 3 * cout); if wide { add(d1, base + 3 * cout + 8) } }
                    j += rows
                }
            }
            g += wide ? 16 : 8
        }
        rowStart = rowEnd
        }
    }
}
