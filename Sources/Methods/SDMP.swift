import NN
import Options
import Tensors

/// SDMP (Ren et al., CVPR 2022) on MoCo v3: on the query side one of the two views (drawn per
/// batch) is mixed within the batch (Mixup, CutMix or ResizeMix, one strategy per batch) and
/// learns both the source loss (soft labels λ, 1 − λ on the two source keys of the other view)
/// and the mixing loss (soft labels over the keys of the other view mixed with the same λ); the
/// kept view learns the plain MoCo v3 term. Each mixed loss is the soft-label cross-entropy
/// −Σⱼ tⱼ·log pⱼ, the λ-weighted sum of InfoNCE terms of the authors' README ("plug-in example");
/// their `moco/builder.py` takes −log Σⱼ tⱼ·pⱼ instead (docs/PAPERS.md). The network, loss and recipe are MoCo v3's (`MoCoV3Configuration`); the
/// mixing is `MixingConfiguration`.
public struct SDMPConfiguration: Equatable {
    public var moco = MoCoV3Configuration()
    public var mixing = MixingConfiguration()
    public init() {}

    /// The same networks and recipe without the mixing: the baseline SDMP is compared with.
    public var withoutMixing: MoCoV3Configuration { var m = moco; m.mixing = nil; return m }
    /// MoCo v3 with this mixing, which is what trains.
    var mixed: MoCoV3Configuration { var m = moco; m.mixing = mixing; return m }
}

extension SDMPConfiguration: MethodConfiguration {
    public var name: String { "sdmp" }
    public var recipe: TrainingRecipe { moco.recipe }
    public var projectorDescription: String { moco.projectorDescription }
    public var projectorWidth: Int { moco.projectorWidth }
    public mutating func setProjectorWidth(_ width: Int) { moco.setProjectorWidth(width) }
    public mutating func setHeadWidths(hidden: Int, projection: Int) { moco.setHeadWidths(hidden: hidden, projection: projection) }
    public func validate() throws { try mixed.validate() }
    public var referenceSettings: [String: Any] { mixed.referenceSettings }
    public func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod {
        MoCoV3(configuration: mixed, backboneWidth: backboneWidth, rng: &rng)
    }
    public func cost(featureDimensions: Int) -> HeadCost { mixed.cost(featureDimensions: featureDimensions) }
    public static let options: [Option<Self>] =
        MoCoV3Configuration.options.map { $0.lifted { sdmp, apply in try apply(&sdmp.moco) } } + [
            Option("mixing", "LIST", example: "mixup,cutmix", "strategies to draw from, one per batch: mixup, cutmix, resizemix (all three)") { c, v in
                var strategies: [MixStrategy] = []
                for name in v.split(separator: ",") where name != "none" {
                    strategies.append(try Value.named(String(name), option: "mixing", as: MixStrategy.self))
                }
                c.mixing.strategies = strategies
            },
            Option("mixed-view", "WHICH", example: "first",
                   "random (one of the two views per batch, the official code) or first (always view A) (random)") { c, v in
                c.mixing.mixedView = try Value.named(v, option: "mixed-view", as: MixedView.self)
            },
            Option("key-boxes", "HOW", example: "shared",
                   "fresh (the mixed keys' boxes drawn anew, the same λ: the official code) or shared\n(the queries' boxes) (fresh)") { c, v in
                c.mixing.keyBoxes = try Value.named(v, option: "key-boxes", as: KeyBoxes.self)
            },
            Option(switch: "lambda-per-batch", "one λ (and box size) for the whole batch instead of one per sample") {
                $0.mixing.lambdaPerBatch = true
            },
            Option(switch: "equal-source-labels", "the source loss's labels ½ and ½ instead of λ and 1 − λ") {
                $0.mixing.equalSourceLabels = true
            },
            Option(switch: "equal-mixing-labels", "the mixing loss's labels ½ and ½ (λc held at 1) instead of 1/(1 + λc), λc/(1 + λc)") {
                $0.mixing.equalMixingLabels = true
            },
        ]
}
