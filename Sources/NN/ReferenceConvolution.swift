/// The convolutions of `DirectConvolution` written as their definitions, one output value at a
/// time with a Double sum, to test the register-tiled kernels against. One unpadded NHWC image
/// x [h, w, Cin], weights w [k, k, Cin, Cout], stride s, padding p; taps that fall outside the
/// image read zeros, so x̃ of `DirectConvolution` is x padded by p.
enum ReferenceConvolution {
    static func outputSize(_ size: Int, kernelSize k: Int, stride s: Int, padding p: Int) -> Int { (size + 2 * p - k) / s + 1 }

    /// y [oh, ow, Cout]: y[oy, ox, co] = Σ_{ky, kx, ci} x[s·oy − p + ky, s·ox − p + kx, ci] · w[ky, kx, ci, co].
    static func forward(_ x: [Float], height h: Int, width w: Int, channels cin: Int, weights: [Float], outputChannels cout: Int,
                        kernelSize k: Int, stride s: Int, padding p: Int) -> [Float] {
        let oh = outputSize(h, kernelSize: k, stride: s, padding: p), ow = outputSize(w, kernelSize: k, stride: s, padding: p)
        var y = [Float](repeating: 0, count: oh * ow * cout)
        for oy in 0 ..< oh { for ox in 0 ..< ow { for co in 0 ..< cout {
            var sum = 0.0
            for ky in 0 ..< k { for kx in 0 ..< k {
                let iy = s * oy - p + ky, ix = s * ox - p + kx
                guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                for ci in 0 ..< cin { sum += Double(x[(iy * w + ix) * cin + ci]) * Double(weights[((ky * k + kx) * cin + ci) * cout + co]) }
            } }
            y[(oy * ow + ox) * cout + co] = Float(sum)
        } } }
        return y
    }

    /// ∂L/∂w [k, k, Cin, Cout] of `forward` for ∂L/∂y `dy` [oh, ow, Cout]:
    /// ∂L/∂w[ky, kx, ci, co] = Σ_{oy, ox} x[s·oy − p + ky, s·ox − p + kx, ci] · ∂L/∂y[oy, ox, co].
    static func weightGradient(_ x: [Float], height h: Int, width w: Int, channels cin: Int, gradOutput dy: [Float],
                               outputChannels cout: Int, kernelSize k: Int, stride s: Int, padding p: Int) -> [Float] {
        let oh = outputSize(h, kernelSize: k, stride: s, padding: p), ow = outputSize(w, kernelSize: k, stride: s, padding: p)
        var dw = [Float](repeating: 0, count: k * k * cin * cout)
        for ky in 0 ..< k { for kx in 0 ..< k { for ci in 0 ..< cin { for co in 0 ..< cout {
            var sum = 0.0
            for oy in 0 ..< oh { for ox in 0 ..< ow {
                let iy = s * oy - p + ky, ix = s * ox - p + kx
                guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                sum += Double(x[(iy * w + ix) * cin + ci]) * Double(dy[(oy * ow + ox) * cout + co])
            } }
            dw[((ky * k + kx) * cin + ci) * cout + co] = Float(sum)
        } } } }
        return dw
    }

    /// ∂L/∂x [h, w, Cin] of `forward` for ∂L/∂y `dy` [oh, ow, Cout]: every output pixel whose
    /// window holds (iy, ix) at tap (ky, kx), that is s·oy = iy + p − ky and s·ox = ix + p − kx:
    ///   ∂L/∂x[iy, ix, ci] = Σ_{ky, kx, co} w[ky, kx, ci, co] · ∂L/∂y[(iy + p − ky)/s, (ix + p − kx)/s, co].
    /// With stride 1 and p = (k − 1)/2 this is the convolution of ∂L/∂y padded by p with the
    /// flipped weights `DirectConvolution.flip(w)`, which is how `Conv2d` computes it.
    static func inputGradient(gradOutput dy: [Float], height h: Int, width w: Int, channels cin: Int, weights: [Float],
                              outputChannels cout: Int, kernelSize k: Int, stride s: Int, padding p: Int) -> [Float] {
        let oh = outputSize(h, kernelSize: k, stride: s, padding: p), ow = outputSize(w, kernelSize: k, stride: s, padding: p)
        var dx = [Float](repeating: 0, count: h * w * cin)
        for iy in 0 ..< h { for ix in 0 ..< w { for ci in 0 ..< cin {
            var sum = 0.0
            for ky in 0 ..< k { for kx in 0 ..< k {
                let ty = iy + p - ky, tx = ix + p - kx
                guard ty >= 0 && tx >= 0 && ty % s == 0 && tx % s == 0 && ty / s < oh && tx / s < ow else { continue }
                let oy = ty / s, ox = tx / s
                for co in 0 ..< cout { sum += Double(weights[((ky * k + kx) * cin + ci) * cout + co]) * Double(dy[(oy * ow + ox) * cout + co]) }
            } }
            dx[(iy * w + ix) * cin + ci] = Float(sum)
        } } }
        return dx
    }
}
