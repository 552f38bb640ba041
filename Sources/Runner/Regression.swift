import Foundation
import Experiments
import Report
import Training

/// The accuracy regression of `make regress`: the `methods` table at the `ci` scale (BYOL and
/// SwAV with their own recipe, `regressionCell`), one seed, against
/// `Results/regression/baseline.csv`, which holds the same cells at several seeds.
///
/// The rule: a method fails when its kNN top-1 is below the baseline's mean by more than its
/// tolerance, `spreadMultiplier` times the sample standard deviation of the baseline's seeds
/// and at least `minimumTolerance` points. Three standard deviations of seed-to-seed noise
/// are what a different seed or a different CPU (another BLAS kernel rounds differently, which
/// acts like another seed) can cost by chance; a broken method falls much further.
public enum Regression {
    /// The methods the regression guards: every method of the `methods` table, in its order.
    public static var guardedMethods: [MethodName] { Tables.methods.entries.map(\.method) }

    /// The cell `make regress` runs for one cell of the `methods` table at the `ci` scale.
    /// Barlow Twins, SimCLR, MoCo v3 and SDMP run the table's
    /// cell as declared. BYOL and SwAV end below their kNN at initialisation there (README,
    /// "Accuracy regression"), and a check cannot guard a method that does not learn, so each
    /// gets the smallest recipe measured to learn on every seed, still width 8 with the same heads:
    /// - BYOL: batch 32 (four times the optimiser steps of batch 64 on twice the images), 8192
    ///   training images, 8 epochs.
    /// - SwAV: the milder BYOL / Barlow Twins augmentation (the strong one stalls SwAV at short
    ///   schedules, in PyTorch too), batch 128, 3000 prototypes (100 stay at ln K), 20000
    ///   training images, 8 epochs.
    public static func regressionCell(_ cell: TableCell) -> TableCell {
        var c = cell.configuration
        switch c.method {
        case .byol:
            c.batchSize = 32; c.trainImages = 8192; c.epochs = 8
        case .swav:
            c.augmentation = .barlowTwins; c.batchSize = 128; c.swav.prototypeCount = 3000
            c.trainImages = 20000; c.epochs = 8
        default:
            return cell
        }
        return cell.withConfiguration(c)
    }

    /// The columns of a row that name its configuration: a baseline row and a new row of the
    /// same method must agree on all of them, or the comparison would measure the recipe change.
    public static let configurationColumns = ["method", "scale", "backbone_width", "projector", "projector_width", "batch_size",
                                              "epochs", "train_images", "test_images", "learning_rate", "lambda", "loss_scale",
                                              "augmentation"]

    public static let spreadMultiplier = 3.0
    public static let minimumTolerance = 1.0
    public static let minimumBaselineSeeds = 3

    /// One method's verdict.
    public struct Check: CustomStringConvertible {
        public let method: String
        public let knnTop1: Double?          // nil when the cell did not finish
        public let status: String
        public let baseline: [Double]
        /// The new run's kNN top-1 at random initialisation, when it was measured.
        public var atInitialisation: Double? = nil
        public var baselineMean: Double { baseline.reduce(0, +) / Double(baseline.count) }
        public var baselineSpread: Double {
            let m = baselineMean
            return (baseline.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(baseline.count - 1, 1))).squareRoot()
        }
        public var tolerance: Double { max(Regression.spreadMultiplier * baselineSpread, Regression.minimumTolerance) }
        public var passed: Bool {
            guard status == "ok", let v = knnTop1 else { return false }
            return v >= baselineMean - tolerance
        }
        public var description: String {
            var measured = knnTop1.map { String(format: "%.2f", $0) } ?? "none (\(status))"
            if let initial = atInitialisation { measured += String(format: " (%.2f at initialisation)", initial) }
            let seeds = baseline.map { String(format: "%.2f", $0) }.joined(separator: ", ")
            return String(format: "%@ %@: kNN top-1 %@, baseline %.2f (seeds %@; sd %.2f), tolerance %.2f, lowest accepted %.2f",
                          passed ? "ok  " : "FAIL", method, measured, baselineMean, seeds, baselineSpread, tolerance,
                          baselineMean - tolerance)
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case noBaseline(path: String)
        case methodMissing(method: String, path: String)
        case tooFewSeeds(method: String, seeds: Int, path: String)
        case configurationChanged(method: String, column: String, baseline: String, new: String, path: String)
        public var description: String {
            switch self {
            case .noBaseline(let path): return "no regression baseline at \(path): run `make regress-update` and commit it"
            case .methodMissing(let method, let path): return "\(path) has no ok row for \(method): run `make regress-update METHODS=\(method)` and commit it"
            case .tooFewSeeds(let method, let seeds, let path):
                return "\(path) has \(seeds) seed(s) of \(method); the tolerance needs at least \(Regression.minimumBaselineSeeds): "
                    + "run `make regress-update METHODS=\(method)`"
            case .configurationChanged(let method, let column, let baseline, let new, let path):
                return "\(path) holds \(method) with \(column) \(baseline), this run has \(new): the baseline is of another recipe; "
                    + "run `make regress-update METHODS=\(method)` and commit it"
            }
        }
    }

    /// The baseline after `make regress-update METHODS=…`: the old rows of the other methods
    /// kept, every old row of the updated methods replaced by the new ones; ordered by seed,
    /// then in the table's order of methods.
    public static func mergedBaseline(old: [[String: String]], new: [[String: String]], updated: Set<String>) -> [[String: String]] {
        let order = Dictionary(uniqueKeysWithValues: guardedMethods.enumerated().map { ($1.rawValue, $0) })
        let rows = old.filter { !updated.contains($0["method"] ?? "") } + new
        return rows.enumerated().sorted { a, b in
            let sa = Int(a.element["seed"] ?? "") ?? 0, sb = Int(b.element["seed"] ?? "") ?? 0
            if sa != sb { return sa < sb }
            let ma = order[a.element["method"] ?? ""] ?? order.count, mb = order[b.element["method"] ?? ""] ?? order.count
            return ma != mb ? ma < mb : a.offset < b.offset
        }.map(\.element)
    }

    /// Compares the rows of a new run with the baseline's, method by method (in the new run's order).
    public static func compare(new: [[String: String]], baseline: [[String: String]], baselinePath: String) throws -> [Check] {
        guard !baseline.isEmpty else { throw Failure.noBaseline(path: baselinePath) }
        return try new.map { row in
            let method = row["method"] ?? ""
            let rows = baseline.filter { $0["method"] == method && $0["status"] == "ok" }
            let values = rows.compactMap { Double($0["knn_top1"] ?? "") }
            if values.isEmpty { throw Failure.methodMissing(method: method, path: baselinePath) }
            for b in rows {
                for column in configurationColumns where row[column] != nil && b[column] != row[column] {
                    throw Failure.configurationChanged(method: method, column: column, baseline: b[column] ?? "none",
                                                       new: row[column] ?? "", path: baselinePath)
                }
            }
            if values.count < minimumBaselineSeeds { throw Failure.tooFewSeeds(method: method, seeds: values.count, path: baselinePath) }
            return Check(method: method, knnTop1: Double(row["knn_top1"] ?? ""), status: row["status"] ?? "", baseline: values,
                         atInitialisation: Double(row["knn_top1_init"] ?? ""))
        }
    }
}
