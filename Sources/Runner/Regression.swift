import Foundation
import Datasets
import Experiments
import Methods
import Report
import Training

/// The accuracy regression of `make regress`: the `methods` table at the `ci` scale (BYOL and
/// SwAV with their own recipe, `RegressionRecipe.cell`), one seed, against
/// `Results/regression/baseline.csv`, which holds the same cells at several seeds.
///
/// The rule: a method fails when its kNN top-1 is below the baseline's mean by more than its
/// tolerance, `spreadMultiplier` times the sample standard deviation of the baseline's seeds
/// and at least `minimumTolerance` points. Three standard deviations of seed-to-seed noise
/// are what a different seed or a different CPU (another BLAS kernel rounds differently, which
/// acts like another seed) can cost by chance; a broken method falls much further.
public enum Regression {
    /// The methods the regression guards, by name: every method of the `methods` table, in its order.
    public static var guardedMethods: [String] { Tables.methods.entries.map(\.method.name) }

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
        public var baselineMean: Double { Distributions.mean(baseline) }
        /// The sample sd of the baseline's seeds (0 for a single one).
        public var baselineSpread: Double { baseline.count > 1 ? Distributions.sampleStandardDeviation(baseline) : 0 }
        public var tolerance: Double { max(Regression.spreadMultiplier * baselineSpread, Regression.minimumTolerance) }
        /// The drop from the baseline's mean that one new seed falls past the tolerance 4 times in
        /// 5: the tolerance plus 0.84 standard deviations of (new value − baseline mean), sd·√(1 + 1/n)
        /// for n baseline seeds (the new value scatters as a seed does, the mean by sd/√n).
        public var detectableDrop: Double {
            tolerance + 0.8416 * baselineSpread * (1 + 1 / Double(max(baseline.count, 1))).squareRoot()
        }
        public var passed: Bool {
            guard status == "ok", let v = knnTop1 else { return false }
            return v >= baselineMean - tolerance
        }
        public var description: String {
            var measured = knnTop1.map { String(format: "%.2f", $0) } ?? "none (\(status))"
            if let initial = atInitialisation { measured += String(format: " (%.2f at initialisation)", initial) }
            let seeds = baseline.map { String(format: "%.2f", $0) }.joined(separator: ", ")
            return String(format: "%@ %@: kNN top-1 %@, baseline %.2f (seeds %@; sd %.2f), tolerance %.2f, lowest accepted %.2f; "
                          + "detects a drop of %.2f points 4 times in 5",
                          passed ? "ok  " : "FAIL", method, measured, baselineMean, seeds, baselineSpread, tolerance,
                          baselineMean - tolerance, detectableDrop)
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
        let order = Dictionary(uniqueKeysWithValues: guardedMethods.enumerated().map { ($1, $0) })
        let rows = old.filter { !updated.contains($0["method"] ?? "") } + new
        return rows.enumerated().sorted { a, b in
            let sa = Int(a.element["seed"] ?? "") ?? 0, sb = Int(b.element["seed"] ?? "") ?? 0
            if sa != sb { return sa < sb }
            let ma = order[a.element["method"] ?? ""] ?? order.count, mb = order[b.element["method"] ?? ""] ?? order.count
            return ma != mb ? ma < mb : a.offset < b.offset
        }.map(\.element)
    }

    /// Compares the rows of a new run with the baseline's, method by method (in the new run's order).
    /// Both rows must name the same configuration, but for the columns in `ignoring` (those a
    /// planted recipe fault changes on purpose, `Fault.changedColumns`).
    public static func compare(new: [[String: String]], baseline: [[String: String]], baselinePath: String,
                               ignoring: Set<String> = []) throws -> [Check] {
        guard !baseline.isEmpty else { throw Failure.noBaseline(path: baselinePath) }
        return try new.map { row in
            let method = row["method"] ?? ""
            let rows = baseline.filter { $0["method"] == method && $0["status"] == "ok" }
            let values = rows.compactMap { Double($0["knn_top1"] ?? "") }
            if values.isEmpty { throw Failure.methodMissing(method: method, path: baselinePath) }
            for b in rows {
                for column in configurationColumns where !ignoring.contains(column) && row[column] != nil && b[column] != row[column] {
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

/// One run of the regression as `sslbench regress` asks for it: the check (seed 0 of each
/// method against the baseline), or the baseline's update (`update`: `seeds` seeds of the
/// methods named, merged with the other methods' rows).
public struct RegressionRun {
    /// The folder of baseline.csv (nil: `defaultDirectory` of the recipe).
    public var baselineDirectory: String? = nil
    public var update = false
    /// The cells to run (`ci`: what `make regress` runs).
    public var recipe = RegressionRecipe.ci
    /// The methods to run, by name.
    public var methods: [String] = Regression.guardedMethods
    /// Seeds per method (nil: 1 for a check, 4 for an update).
    public var seeds: Int? = nil
    /// A fault planted in every method, to see the check fail.
    public var fault: Fault? = nil
    public init() {}

    /// Results/regression for `ci`, Results/regression/RECIPE for another recipe.
    public var directory: String { baselineDirectory ?? (recipe == .ci ? "Results/regression" : "Results/regression/\(recipe.rawValue)") }
    public var baselinePath: String { "\(directory)/baseline.csv" }

    /// Runs the cells and returns the checks: the new run against the baseline, or, for an
    /// update, the tolerances the merged baseline gives (its seed 0 against all its seeds).
    public func run(train: LabeledImages, test: LabeledImages, log: (String) -> Void) throws -> [Regression.Check] {
        var runner = TableRunner()
        runner.seeds = seeds ?? (update ? 4 : 1)
        runner.wrapMethod = fault.map { fault in { fault.plant(in: $0) } }
        let table = Tables.methods
        let selected = Set(methods)
        let fault = self.fault, recipe = self.recipe
        runner.cellSelection = { declared in
            guard selected.contains(declared.configuration.method.name) else { return nil }
            let cell = recipe.cell(declared)
            guard let fault else { return cell }
            var c = cell.configuration
            fault.configure(&c)
            return cell.withConfiguration(c)
        }
        runner.resultsDirectory = update ? "\(directory)/update" : "\(directory)/latest"
        let oldBaseline = try readResults(baselinePath)
        if !update && oldBaseline.isEmpty { throw Regression.Failure.noBaseline(path: baselinePath) }
        if !update { try? FileManager.default.removeItem(atPath: runner.csvPath(table)) }   // a fresh run of this code
        log("regression\(update ? " baseline update" : ""): \(methods.joined(separator: ", ")), the methods table's \(recipe.scale.rawValue) cells "
            + "(BYOL and SwAV on their own recipe, RegressionRecipe.cell), \(runner.seeds) seed(s)")
        try runner.run(table, scale: recipe.scale, train: train, test: test, log: log)
        let newRows = try readResults(runner.csvPath(table))
        guard update else {
            return try Regression.compare(new: newRows, baseline: oldBaseline, baselinePath: baselinePath, ignoring: fault?.changedColumns ?? [])
        }
        // the new seeds of these methods replace theirs; the other methods' rows stay as they were
        let merged = Regression.mergedBaseline(old: oldBaseline, new: newRows.filter { selected.contains($0["method"] ?? "") }, updated: selected)
        try writeResults(merged, to: runner.csvPath(table))
        try runner.drawFigure(table, scale: recipe.scale)
        for ext in ["csv", "png"] {
            let from = runner.csvPath(table).replacingOccurrences(of: ".csv", with: ".\(ext)")
            let to = baselinePath.replacingOccurrences(of: ".csv", with: ".\(ext)")
            try? FileManager.default.removeItem(atPath: to)
            try FileManager.default.moveItem(atPath: from, toPath: to)
        }
        try? FileManager.default.removeItem(atPath: runner.resultsDirectory)
        log("baseline written to \(baselinePath) (\(methods.joined(separator: ", ")) rerun); the tolerances it gives:")
        return try Regression.compare(new: merged.filter { $0["seed"] == "0" }, baseline: merged, baselinePath: baselinePath)
    }
}
