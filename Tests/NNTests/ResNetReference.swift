@testable import NN
import Tensors

/// ResNet-18's forward pass in training mode written out directly in double precision, from the
/// layers' settings and parameter values (`values`, in `net.parameters` order, so that a test
/// can move one entry by a step far below float32's resolution):
///   conv:  y[n, oy, ox, co] = Σ x[n, oy·s − p + ky, ox·s − p + kx, ci] · w[ky, kx, ci, co]
///   BN:    y = γ·(x − mean)/√(var + ε) + β per channel and row group (biased variance), ReLU if fused
///   block: ReLU(BN(conv(ReLU(BN(conv_s(x))))) + shortcut(x)) (the output ReLU if `outputReLU`)
///   net:   stem conv, stem BN + ReLU, eight blocks, average over the pixels.
/// With double-precision central differences of step 1e-6, a ReLU within the step of its kink
/// is a rare event (the float32 network needs steps of 1e-3 or more to resolve a difference at
/// all, and then crosses kinks in nearly every direction).
final class ResNetReference {
    struct Map { var n, h, w, c: Int; var v: [Double] }
    let net: ResNet18
    var values: [[Double]]
    private let index: [ObjectIdentifier: Int]

    init(_ net: ResNet18) {
        self.net = net
        values = net.parameters.map { $0.value.array.map(Double.init) }
        var index: [ObjectIdentifier: Int] = [:]
        for (k, p) in net.parameters.enumerated() { index[ObjectIdentifier(p)] = k }
        self.index = index
    }

    private func value(_ p: Parameter) -> [Double] { values[index[ObjectIdentifier(p)]!] }

    func convolution(_ x: Map, _ layer: Conv2d) -> Map {
        let k = layer.kernelSize, s = layer.stride, p = layer.padding, ci = layer.inputChannels, co = layer.outputChannels
        precondition(x.c == ci)
        let w = value(layer.weight), oh = layer.outputSize(x.h), ow = layer.outputSize(x.w)
        var y = Map(n: x.n, h: oh, w: ow, c: co, v: [Double](repeating: 0, count: x.n * oh * ow * co))
        for n in 0 ..< x.n { for oy in 0 ..< oh { for ox in 0 ..< ow {
            let out = ((n * oh + oy) * ow + ox) * co
            for ky in 0 ..< k { for kx in 0 ..< k {
                let iy = oy * s - p + ky, ix = ox * s - p + kx
                if iy < 0 || iy >= x.h || ix < 0 || ix >= x.w { continue }
                let input = ((n * x.h + iy) * x.w + ix) * ci
                for i in 0 ..< ci {
                    let xv = x.v[input + i], row = ((ky * k + kx) * ci + i) * co
                    for o in 0 ..< co { y.v[out + o] += xv * w[row + o] }
                }
            } }
        } } }
        return y
    }

    func batchNorm(_ x: Map, _ layer: BatchNorm) -> Map {
        let c = x.c, rows = x.n * x.h * x.w, groupRows = rows / layer.groups
        let gamma = layer.gamma.map(value), beta = layer.beta.map(value)
        var y = x
        for g in 0 ..< layer.groups { for j in 0 ..< c {
            let range = g * groupRows ..< (g + 1) * groupRows
            let mean = range.map { x.v[$0 * c + j] }.reduce(0, +) / Double(groupRows)
            let variance = range.map { (x.v[$0 * c + j] - mean) * (x.v[$0 * c + j] - mean) }.reduce(0, +) / Double(groupRows)
            let rstd = 1 / (variance + Double(layer.epsilon)).squareRoot()
            for r in range {
                let v = (gamma?[j] ?? 1) * (x.v[r * c + j] - mean) * rstd + (beta?[j] ?? 0)
                y.v[r * c + j] = layer.fusedReLU ? max(v, 0) : v
            }
        } }
        return y
    }

    func block(_ x: Map, _ b: BasicBlock) -> Map {
        let main = batchNorm(convolution(batchNorm(convolution(x, b.conv1), b.bn1), b.conv2), b.bn2)
        let skip = b.shortcutConv.map { batchNorm(convolution(x, $0), b.shortcutBN!) } ?? x
        var y = main
        for i in y.v.indices { y.v[i] = b.outputReLU ? max(main.v[i] + skip.v[i], 0) : main.v[i] + skip.v[i] }
        return y
    }

    /// The pooled features [N, 8·width], row-major.
    func forward(_ x: Tensor) -> [Double] {
        var h = batchNorm(convolution(Map(n: x.shape[0], h: x.shape[1], w: x.shape[2], c: x.shape[3], v: x.array.map(Double.init)),
                                      net.stem), net.stemBN)
        for b in net.residualBlocks { h = block(h, b) }
        var y = [Double](repeating: 0, count: h.n * h.c)
        for n in 0 ..< h.n { for p in 0 ..< h.h * h.w { for j in 0 ..< h.c { y[n * h.c + j] += h.v[(n * h.h * h.w + p) * h.c + j] } } }
        return y.map { $0 / Double(h.h * h.w) }
    }
}
