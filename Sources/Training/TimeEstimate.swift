import Foundation
import Methods

/// How long a cell will take, from its arithmetic: multiply-adds of the backbone (ResNet-18
/// with the CIFAR stem) and the heads per image and view, times the passes a method makes
/// (forward + backward is three forwards; a momentum target adds one forward per view; SDMP
/// adds the keys of a mixed view; SwAV's small crops add their own, smaller passes), plus two
/// evaluations. Divided by a sustained rate, this gives the estimate a runner prints before it
/// starts; the runner then rescales it by the rate it measures.
public struct TimeEstimate {
    /// Floating-point operations of training and of the evaluations.
    public var trainingFLOPs = 0.0, evaluationFLOPs = 0.0
    /// Training FLOPs per image (both views, forward and backward).
    public var trainingFLOPsPerImage = 0.0

    /// The sustained rate of the training step on 2 Zen 3 cores (width 16, Barlow Twins:
    /// 178 images/s × 0.52 GFLOP, README "The reference run"); per thread, half of it.
    public static let referenceFLOPsPerSecondPerThread = 46e9

    /// Multiply-adds of one forward pass of the backbone on an s×s image.
    public static func backboneMultiplyAdds(width w: Int, imageSize s: Int = 32) -> Double {
        var macs = Double(s * s * 27 * w)          // the 3×3 stem
        var side = s, channels = w
        for (stage, stride) in [1, 2, 2, 2].enumerated() {
            let out = w << stage
            for block in 0 ..< 2 {
                let st = block == 0 ? stride : 1, cin = block == 0 ? channels : out
                let outSide = max(side / st, 1), area = Double(outSide * outSide)
                macs += area * Double(9 * cin * out + 9 * out * out)
                if st != 1 || cin != out { macs += area * Double(cin * out) }
                side = outSide
            }
            channels = out
        }
        return macs
    }

    public init(_ c: CellConfiguration, trainImages: Int, testImages: Int) {
        backboneWidth = c.backboneWidth
        let feature = 8 * c.backboneWidth
        let backbone = Self.backboneMultiplyAdds(width: c.backboneWidth)
        let cost = c.method.cost(featureDimensions: feature)
        func multiplyAdds(_ layers: [(inputs: Int, outputs: Int)]) -> Double { layers.reduce(0) { $0 + Double($1.inputs * $1.outputs) } }
        let online = backbone + multiplyAdds(cost.onlineLayers)
        let target = cost.targetLayers.map { backbone + multiplyAdds($0) } ?? 0
        // small crops: forward and backward (three forwards) through the backbone at their size and the head
        let crop = Self.backboneMultiplyAdds(width: c.backboneWidth, imageSize: cost.smallCrops.size) + multiplyAdds(cost.onlineLayers)
        let extraViews = 3 * Double(cost.smallCrops.count) * crop + Double(cost.extraTargetForwards) * target
        let perImage = 2 * (2 * 3 * online + 2 * target + extraViews)   // FLOPs = 2 × multiply-adds
        let steps = Double(trainImages / max(c.batchSize, 1) * c.epochs * c.batchSize)
        trainingFLOPs = steps * perImage; trainingFLOPsPerImage = perImage
        let evaluations = c.evaluateAtInitialisation ? 2.0 : 1.0
        evaluationFLOPs = evaluations * Double(trainImages + testImages) * 2 * backbone
    }

    public let backboneWidth: Int

    /// Seconds at the reference rate with `threads` threads. Narrower networks run their
    /// arithmetic less efficiently (smaller matrix products, more memory-bound passes): below
    /// width 16 the rate is scaled by (width/16)^0.4, 0.76 at width 8, which matches the rate of
    /// the `cpu` scale's Barlow Twins cells on the direct convolution kernels (README, "The cpu scale").
    public func seconds(threads: Int) -> Double {
        let efficiency = min(1, pow(Double(backboneWidth) / 16, 0.4))
        return (trainingFLOPs + evaluationFLOPs) / (Self.referenceFLOPsPerSecondPerThread * efficiency * Double(max(threads, 1)))
    }
}
