import Methods
import Training

/// The recipes `sslbench regress` can run: the `methods` table's cells at a scale, with a recipe
/// of their own for the methods that do not learn there (README, "Accuracy regression").
public enum RegressionRecipe: String, CaseIterable, Sendable {
    /// What `make regress` runs: the `ci` scale (4096 training and 2048 test images, 6 epochs,
    /// batch 64), BYOL and SwAV on their own recipe. About 9 minutes on 2 cores.
    case ci
    /// A candidate for a steadier check (`--recipe cpu`), its baseline in Results/regression/cpu:
    /// the `cpu` scale (8192 training and all 10000 test images, 8 epochs, batch 128), BYOL and
    /// SwAV on their recipe, as at `ci`. The `methods` table's cpu cells take 2 to 3 minutes each
    /// on 2 cores.
    case cpu
    /// The `methods` table's smoke cells as declared, two looks: the check's plumbing in seconds
    /// (its numbers guard nothing; the tests run it).
    case smoke

    /// How a new run is judged against this recipe's baseline. `ci`: below the baseline's mean
    /// by more than three sds of its seeds (at least one point) fails; its baseline holds four
    /// seeds, at which an unchanged cell falls that low about once in 27 runs of a method
    /// (`RegressionRule.falseAlarmRate`). `cpu`: two looks at a false alarm in 1 run in 100 over
    /// the six methods.
    public var rule: RegressionRule {
        switch self {
        case .ci: return .spreads(multiplier: 3, floor: 1)
        case .cpu, .smoke: return .twoLooks(methods: 6, runsPerFalseAlarm: 100)
        }
    }

    /// How a new run of the method named is judged: a method whose cells spread more than the
    /// others may look at more seeds (a larger `RegressionRule.firstSeeds`) without the others
    /// paying for them. `ci` and `cpu`: the recipe's `rule` for every method; `smoke` looks at
    /// SimCLR's mean of two seeds, so that the tests run that plumbing too.
    public func rule(for method: String) -> RegressionRule {
        if self == .smoke && method == SimCLRConfiguration().name {
            return .twoLooks(methods: 6, runsPerFalseAlarm: 100, firstSeeds: 2, retrySeeds: 3)
        }
        return rule
    }

    /// What the rule compares (`--statistic` chooses another).
    public var statistic: RegressionStatistic { .knn }

    /// The scale of the `methods` table's cells this recipe starts from.
    public var scale: Scale {
        switch self {
        case .ci: return .ci
        case .cpu: return .cpu
        case .smoke: return .smoke
        }
    }

    /// The cell this recipe runs for one cell of the `methods` table at `scale`. Barlow Twins,
    /// SimCLR, MoCo v3 and SDMP run the table's cell as declared. BYOL and SwAV end below their
    /// kNN at initialisation there (README, "Accuracy regression"), and a check cannot guard a
    /// method that does not learn, so each gets the smallest recipe measured to learn on every
    /// seed, still width 8 with the same heads:
    /// - BYOL: batch 32 (four times the optimiser steps of batch 64 on twice the images at `ci`);
    ///   8192 training images, 8 epochs.
    /// - SwAV: the milder BYOL / Barlow Twins augmentation (the strong one stalls SwAV at short
    ///   schedules, in PyTorch too), batch 128, 3000 prototypes (100 stay at ln K), 8 epochs,
    ///   20000 training images (on 8192 it barely learns, at `ci` and at `cpu`).
    public func cell(_ cell: TableCell) -> TableCell {
        var c = cell.configuration
        if self == .smoke { return cell }
        if c.method is BYOLConfiguration {
            c.batchSize = 32; c.trainImages = 8192; c.epochs = 8
        } else if c.method is SwAVConfiguration {
            c.augmentation = .barlowTwins; c.batchSize = 128; c.epochs = 8
            c.trainImages = 20000
            c.ifMethod(SwAVConfiguration.self) { $0.prototypeCount = 3000 }
        } else {
            return cell
        }
        return cell.withConfiguration(c)
    }
}
