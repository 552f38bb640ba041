import Methods
import Training

/// The recipes `sslbench regress` can run: the `methods` table's cells at a scale, with a recipe
/// of their own for the methods that do not learn there (README, "Accuracy regression").
public enum RegressionRecipe: String, CaseIterable, Sendable {
    /// What `make regress` runs: a cell per method that learns clearly on every seed at about
    /// the `ci` scale's cost (`cell(_:)`), judged on the mean of the kNN and linear top-1.
    case ci
    /// A candidate for a steadier check (`--recipe cpu`), its baseline in Results/regression/cpu:
    /// the `cpu` scale (8192 training and all 10000 test images, 8 epochs, batch 128), BYOL and
    /// SwAV on their recipe, as at `ci`. The `methods` table's cpu cells take 2 to 3 minutes each
    /// on 2 cores.
    case cpu
    /// The `methods` table's smoke cells as declared, two looks: the check's plumbing in seconds
    /// (its numbers guard nothing; the tests run it).
    case smoke

    /// How a new run is judged against this recipe's baseline: two looks at a false alarm in 1
    /// run in 100 over the six methods (`RegressionRule.twoLooks`), the first look one seed.
    public var rule: RegressionRule { .twoLooks(methods: 6, runsPerFalseAlarm: 100) }

    /// How a new run of the method named is judged: a method whose cells spread more than the
    /// others may look at more seeds (a larger `RegressionRule.firstSeeds`) without the others
    /// paying for them. `ci`: BYOL's first look is the mean of 2 seeds, its retry 4 more (its
    /// seeds spread more than the others': sd 0.88 over 12, against 0.63 to 0.75, where one seed
    /// would detect only 2.56 points), every other method the recipe's `rule`; `cpu`: the recipe's
    /// `rule` for every method; `smoke` looks at SimCLR's mean of two seeds, so that the tests run
    /// that plumbing too.
    public func rule(for method: String) -> RegressionRule {
        if self == .smoke && method == SimCLRConfiguration().name {
            return .twoLooks(methods: 6, runsPerFalseAlarm: 100, firstSeeds: 2, retrySeeds: 3)
        }
        if self == .ci && method == BYOLConfiguration().name {
            return .twoLooks(methods: 6, runsPerFalseAlarm: 100, firstSeeds: 2, retrySeeds: 4)
        }
        return rule
    }

    /// What the rule compares (`--statistic` chooses another): at `ci` the mean of the kNN and
    /// linear-probe top-1, whose seed-to-seed sd is below the kNN's in every cell measured
    /// (README, "Accuracy regression"); elsewhere the kNN top-1.
    public var statistic: RegressionStatistic { self == .ci ? .knnAndLinear : .knn }

    /// The scale of the `methods` table's cells this recipe starts from.
    public var scale: Scale {
        switch self {
        case .ci: return .ci
        case .cpu: return .cpu
        case .smoke: return .smoke
        }
    }

    /// The cell this recipe runs for one cell of the `methods` table at `scale`.
    ///
    /// `ci`: a cell per method measured to gain at least 5 points over its initialisation on
    /// every baseline seed, with a small seed-to-seed sd (README, "Accuracy regression"), all
    /// at width 8 with heads 1024 → 128 and evaluated on every test image (10000: the kNN's
    /// test-set noise on 2048 is about 1 point). Barlow Twins, SimCLR, MoCo v3 and SDMP start
    /// from the table's `ci` cell (4096 images, 6 epochs, batch 64):
    /// - Barlow Twins: LARS's rate unclipped (clipped, it gains under 1 point in 384 steps).
    /// - SimCLR: unclipped, on the milder BYOL / Barlow Twins augmentation (its strong colour
    ///   jitter, 0.8, leaves it 4 points lower at this budget).
    /// - MoCo v3: 8 epochs.
    /// - SDMP: unclipped, 8 epochs.
    /// - BYOL: batch 16 on 20000 images for 4 epochs (5000 steps: on the ci cell's 384 it does
    ///   not learn at any rate or target momentum tried, and at batch 32 on 8192 images for 8
    ///   epochs, 2048 steps, seed 0 gains under 3 points), its target momentum held at τ_base
    ///   (0.99) instead of rising to 1 by cosine: with the rise, about one seed in five ends in a
    ///   partial collapse (README, "Accuracy regression").
    /// - SwAV: the milder augmentation (the strong one stalls SwAV at short schedules, in
    ///   PyTorch too), batch 128, 3000 prototypes, `swavEpochs` epochs on 20000 images, at
    ///   temperature `swavTemperature` (0.2 where the recipe has 0.1: at 0.1 it gains 3.4 to 5.6
    ///   points in these 4 epochs, at 0.2 7.1 to 10.9).
    ///
    /// `cpu`: the table's cpu cells, BYOL and SwAV on the recipe they learn on (BYOL batch 32 on
    /// 8192 images, 8 epochs; SwAV as above on 8 epochs at the recipe's temperature), test images
    /// as declared.
    /// `smoke`: the table's cells as declared.
    public func cell(_ cell: TableCell) -> TableCell {
        if self == .smoke { return cell }
        var c = cell.configuration
        let method = c.method
        if method is BYOLConfiguration {
            if self == .ci {
                c.batchSize = 16; c.trainImages = 20000; c.epochs = 4
                c.ifMethod(BYOLConfiguration.self) { $0.momentumSchedule = Self.byolMomentumSchedule }
            } else {
                c.batchSize = 32; c.trainImages = 8192; c.epochs = 8
            }
        } else if method is SwAVConfiguration {
            c.augmentation = .barlowTwins; c.batchSize = 128; c.trainImages = 20000
            c.epochs = self == .ci ? Self.swavEpochs : 8
            c.ifMethod(SwAVConfiguration.self) { $0.prototypeCount = 3000 }
            if self == .ci { c.ifMethod(SwAVConfiguration.self) { $0.temperature = Self.swavTemperature } }
        } else if self == .ci {
            if method is BarlowTwinsConfiguration {
                c.clipTrustRatio = false
            } else if method is SimCLRConfiguration {
                c.clipTrustRatio = false; c.augmentation = .barlowTwins
            } else if method is MoCoV3Configuration {
                c.epochs = 8
            } else if method is SDMPConfiguration {
                c.clipTrustRatio = false; c.epochs = 8
            }
        }
        if self == .ci { c.testImages = nil }
        return cell.withConfiguration(c)
    }

    /// SwAV's epochs in the `ci` recipe.
    public static let swavEpochs = 4
    /// BYOL's target momentum schedule in the `ci` recipe (the recipe's rises by cosine).
    public static let byolMomentumSchedule = MomentumSchedule.constant
    /// SwAV's softmax temperature in the `ci` recipe (the recipe's is 0.1).
    public static let swavTemperature: Float = 0.2
}
