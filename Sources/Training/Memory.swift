import Foundation
import Methods

/// How much memory a cell needs, worked out from the architecture before anything is
/// allocated, so that a configuration too large for the machine is refused with the figure
/// instead of dying halfway. Counted: parameters with their gradients and optimiser state (and
/// a momentum target where the method has one), every layer's output and input-gradient
/// buffers for the two stacked views, the projector and loss buffers, the dense D×D matrix
/// where the loss forms it, and the images. Not counted: small per-thread scratch.
public struct MemoryEstimate: CustomStringConvertible {
    public var parameterBytes = 0, activationBytes = 0, lossBytes = 0, dataBytes = 0
    public var totalBytes: Int { parameterBytes + activationBytes + lossBytes + dataBytes }

    public init(_ c: CellConfiguration, trainImages: Int, testImages: Int) {
        let w = c.backboneWidth, rows = 2 * c.batchSize, f = 4
        // ResNet-18 (CIFAR stem): parameters and per-image activation floats
        var params = 27 * w + 2 * w, activations = 3 * 1024 * w
        var side = 32, channels = w
        for (stage, stride) in [1, 2, 2, 2].enumerated() {
            let out = w << stage
            for block in 0 ..< 2 {
                let s = block == 0 ? stride : 1, cin = block == 0 ? channels : out
                let outSide = side / s, inArea = side * side, area = outSide * outSide
                params += 9 * cin * out + 9 * out * out + 4 * out
                activations += inArea * cin + 8 * area * out + area * out + inArea * cin   // convs, BNs, sum, gradients
                if s != 1 || cin != out { params += cin * out + 2 * out; activations += 3 * area * out + inArea * cin }
                side = outSide
            }
            channels = out
        }
        // the heads: (input, output) widths of every linear layer, and whether a target copies them
        let feature = 8 * w
        let cost = c.method.cost(featureDimensions: feature)
        let heads = cost.onlineLayers
        let targetParams = cost.targetLayers.map { layers in params + layers.reduce(0) { $0 + $1.inputs * $1.outputs } } ?? 0
        var headParams = 0, headActivations = 0, widest = 0
        for (i, o) in heads {
            headParams += i * o + 3 * o
            headActivations += rows * (i + 3 * o)        // linear output and input gradient, BN output and gradient
            widest = max(widest, o)
        }
        let stateCopies = c.optimizer == .adamw ? 4 : 3  // value, gradient, and one or two state buffers
        parameterBytes = f * ((params + headParams) * stateCopies + targetParams * 2)
        activationBytes = f * (rows * activations * (targetParams > 0 ? 2 : 1) + headActivations)
        // loss buffers: about twelve [N, D] copies, two N×N Gram matrices, the D×D matrix when dense
        let d = widest, n = c.batchSize
        var loss = 12 * n * d + 2 * n * n
        if cost.formsSquareMatrix { loss += d * d }
        lossBytes = f * loss
        dataBytes = (trainImages + testImages) * 3072 + f * (trainImages + testImages) * feature * 3
    }

    public var description: String {
        func gib(_ b: Int) -> String { String(format: "%.2f GiB", Double(b) / 1_073_741_824) }
        return "\(gib(totalBytes)) (parameters and optimiser state \(gib(parameterBytes)), activations \(gib(activationBytes)), "
            + "loss \(gib(lossBytes)), images and features \(gib(dataBytes)))"
    }

    /// MemAvailable from /proc/meminfo, or nil where it cannot be read.
    public static var availableBytes: Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kib = Int(parts[1]) { return kib * 1024 }
        }
        return nil
    }
}

/// A configuration that needs more memory than the machine has.
public struct InsufficientMemoryError: Error, CustomStringConvertible {
    public let estimate: MemoryEstimate, availableBytes: Int
    public var description: String {
        String(format: "this configuration needs about %@, but only %.2f GiB are available; "
            + "lower the projector width, the batch size or the backbone width", estimate.description, Double(availableBytes) / 1_073_741_824)
    }
}
