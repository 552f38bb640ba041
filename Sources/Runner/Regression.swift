import Foundation
import Datasets
import Experiments
import Methods
import Report
import Training

/// The accuracy regression of `make regress`: a recipe's cell of each method of the `methods`
/// table (`RegressionRecipe`: `ci` is what CI runs), one seed, against the recipe's baseline
/// (`Results/regression/baseline.csv` for `ci`), which holds the same cells at several seeds.
///
/// The recipe's `RegressionRule` decides, on the recipe's `RegressionStatistic`: two looks, a
/// first seed (or the mean of several: `RegressionRule.firstSeeds`) and, when it falls below its
/// bound, more seeds whose mean decides, at a false alarm rate of 1 run in 100 over the six
/// methods. A different
/// seed or CPU (another BLAS kernel rounds differently, which acts like another seed) moves a
/// cell by its seed-to-seed spread; a broken method falls further.
public enum Regression {
    /// The methods the regression guards, by name: every method of the `methods` table, in its order.
    public static var guardedMethods: [String] { Tables.methods.entries.map(\.method.name) }

    /// A row's place in the methods table's order of methods (rows of other methods after them).
    static func methodRank(_ row: [String: String]) -> Int {
        guardedMethods.firstIndex(of: row["method"] ?? "") ?? guardedMethods.count
    }

    /// The columns of a row that name its configuration: a baseline row and a new row of the
    /// same method must agree on all of them, or the comparison would measure the recipe change.
    public static var configurationColumns: [String] { TableRow.configurationColumns }

    public static let minimumBaselineSeeds = 3

    /// One method's verdict.
    public struct Check: CustomStringConvertible {
        public let method: String
        public let rule: RegressionRule
        /// What the rule compares (the recipe's `RegressionStatistic`).
        public let statistic: RegressionStatistic
        /// The first look's value of the statistic: the first seed's, or the mean of the rule's
        /// `firstSeeds`; nil when a cell of it did not finish.
        public let value: Double?
        /// "ok", or the status of the first cell of the first look that did not finish.
        public let status: String
        /// Each seed's value of the first look, when it has more than one seed.
        public var firstValues: [Double?] = []
        public let baseline: [Double]
        /// The statistic on the new run's encoder at random initialisation (the mean over the first
        /// look's seeds), when it was measured.
        public var atInitialisation: Double? = nil
        /// The retry seeds' kNN top-1 (nil inside for a seed that did not finish); nil when none ran.
        public var retries: [Double?]? = nil
        /// The rule's multipliers for this baseline's number of seeds, worked out when the check is made.
        public let multipliers: RegressionRule.Multipliers
        public let baselineMean: Double
        /// The sample sd of the baseline's seeds (0 for a single one).
        public let baselineSpread: Double

        public init(method: String, rule: RegressionRule, statistic: RegressionStatistic, value: Double?, status: String, baseline: [Double],
                    atInitialisation: Double? = nil, retries: [Double?]? = nil) {
            self.method = method
            self.rule = rule
            self.statistic = statistic
            self.value = value
            self.status = status
            self.baseline = baseline
            self.atInitialisation = atInitialisation
            self.retries = retries
            baselineMean = Distributions.mean(baseline)
            baselineSpread = baseline.count > 1 ? Distributions.sampleStandardDeviation(baseline) : 0
            multipliers = rule.multipliers(seeds: baseline.count)
        }

        /// m − c₁·s, or m − max(c·s, floor) for one look.
        public var lowestAccepted: Double { rule.lowestAccepted(mean: baselineMean, sd: baselineSpread, seeds: baseline.count) }
        /// How far below the baseline's mean the first look may fall.
        public var tolerance: Double { baselineMean - lowestAccepted }
        /// The lowest mean the retry seeds may have, m − c₂·s (two looks).
        public var lowestRetryMean: Double? { multipliers.retry.map { baselineMean - $0 * baselineSpread } }
        /// The drop from the baseline's mean the rule catches 4 times in 5: the rule's drop in
        /// units of the cells' sd (taken over the baseline's draw, `RegressionRule.detectableDrop`)
        /// times the baseline's sd.
        public var detectableDrop: Double { multipliers.detectableDrop * baselineSpread }
        /// The mean of the retry seeds, when every one finished.
        public var retryMean: Double? {
            guard let retries, !retries.isEmpty, !retries.contains(where: { $0 == nil }) else { return nil }
            return Distributions.mean(retries.compactMap { $0 })
        }
        /// The first look passed.
        public var firstPassed: Bool {
            guard status == "ok", let v = value else { return false }
            return v >= lowestAccepted
        }
        /// The first look fell below its bound and the rule asks for more seeds that have not run.
        public var needsRetry: Bool { !firstPassed && rule.retrySeeds > 0 && retries == nil }
        public var passed: Bool {
            if firstPassed { return true }
            guard let mean = retryMean, let bound = lowestRetryMean else { return false }
            return mean >= bound
        }
        public var description: String {
            var measured = value.map { String(format: "%.2f", $0) } ?? "none (\(status))"
            if firstValues.count > 1 {
                measured += " (mean of seeds " + firstValues.map { $0.map { String(format: "%.2f", $0) } ?? "none" }.joined(separator: ", ") + ")"
            }
            if let initial = atInitialisation { measured += String(format: " (%.2f at initialisation)", initial) }
            let seeds = baseline.map { String(format: "%.2f", $0) }.joined(separator: ", ")
            var text = String(format: "%@ %@: %@ %@, baseline %.2f (%d seeds: %@; sd %.2f), lowest accepted %.2f",
                              passed ? "ok  " : needsRetry ? "LOW " : "FAIL", method, statistic.name, measured, baselineMean, baseline.count, seeds, baselineSpread, lowestAccepted)
            if let v = value { text += String(format: " (margin %+.2f)", v - lowestAccepted) }
            if let bound = lowestRetryMean {
                text += String(format: "; below it, %d more seeds must average at least %.2f", rule.retrySeeds, bound)
                if let retries {
                    let values = retries.map { $0.map { String(format: "%.2f", $0) } ?? "none" }.joined(separator: ", ")
                    text += " (they gave " + values + (retryMean.map { String(format: ", mean %.2f)", $0) } ?? ")")
                } else if needsRetry {
                    text += " (not run: first look only)"
                }
            }
            return text + String(format: "; false alarm in %@ runs of this method; detects a drop of %.2f points 4 times in 5",
                                 Self.rate(multipliers.falseAlarmRate), detectableDrop)
        }

        /// What the check accepts, before any run: the baseline, its bounds and what they cost.
        public var bounds: String {
            var text = String(format: "%@: baseline %@ %.2f ± %.2f (%d seeds), lowest accepted %.2f", method, statistic.name, baselineMean,
                              baselineSpread, baseline.count, lowestAccepted)
            if let initial = atInitialisation {
                let gap = lowestAccepted - initial
                text += String(format: " (%.2f %@ its value at initialisation, %.2f)", abs(gap), gap >= 0 ? "above" : "below", initial)
            }
            if let bound = lowestRetryMean { text += String(format: ", then %d more seeds averaging at least %.2f", rule.retrySeeds, bound) }
            return text + String(format: "; false alarm in %@ runs; detects a drop of %.2f points 4 times in 5",
                                 Self.rate(multipliers.falseAlarmRate), detectableDrop)
        }

        /// A probability as "1 of N" (N rounded).
        static func rate(_ p: Double) -> String { p > 0 ? String(format: "1 of %.0f", 1 / p) : "none of its" }
    }

    public enum Failure: Error, CustomStringConvertible {
        case noBaseline(path: String)
        case methodMissing(method: String, path: String)
        case tooFewSeeds(method: String, seeds: Int, path: String)
        case configurationChanged(method: String, column: String, baseline: String, new: String, path: String)
        case rowMissing(method: String, seed: Int, path: String, differs: String?)
        public var description: String {
            switch self {
            case .noBaseline(let path): return "no regression baseline at \(path): run `make regress-update` and commit it"
            case .methodMissing(let method, let path): return "\(path) has no ok row for \(method): run `make regress-update METHODS=\(method)` and commit it"
            case .tooFewSeeds(let method, let seeds, let path):
                return "\(path) has \(seeds) seed(s) of \(method); the tolerance needs at least \(Regression.minimumBaselineSeeds): "
                    + "run `make regress-update METHODS=\(method)`"
            case .rowMissing(let method, let seed, let path, let differs):
                return "\(path) has no row of \(method) seed \(seed) in the recipe's configuration"
                    + (differs.map { " (its row has \($0))" } ?? "") + ": run those seeds without --rows-from"
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
        let rows = old.filter { !updated.contains($0["method"] ?? "") } + new
        return rows.enumerated().sorted { a, b in
            let sa = Int(a.element["seed"] ?? "") ?? 0, sb = Int(b.element["seed"] ?? "") ?? 0
            if sa != sb { return sa < sb }
            let ma = methodRank(a.element), mb = methodRank(b.element)
            return ma != mb ? ma < mb : a.offset < b.offset
        }.map(\.element)
    }

    /// Compares the rows of a new run with the baseline's, method by method (in the order the
    /// new run first names them): a method's new rows are its first look, one seed or the mean of
    /// several (`RegressionRule.firstSeeds`). Both sides must name the same configuration, but for
    /// the columns in `ignoring` (those a planted recipe fault changes on purpose,
    /// `Fault.changedColumns`).
    public static func compare(new: [[String: String]], baseline: [[String: String]], baselinePath: String,
                               rule: RegressionRule, statistic: RegressionStatistic = .knn, ignoring: Set<String> = []) throws -> [Check] {
        try compare(new: new, baseline: baseline, baselinePath: baselinePath, rules: { _ in rule }, statistic: statistic, ignoring: ignoring)
    }

    /// `compare` with each method judged by its own rule (`RegressionRecipe.rule(for:)`).
    public static func compare(new: [[String: String]], baseline: [[String: String]], baselinePath: String,
                               rules: (String) -> RegressionRule, statistic: RegressionStatistic = .knn,
                               ignoring: Set<String> = []) throws -> [Check] {
        guard !baseline.isEmpty else { throw Failure.noBaseline(path: baselinePath) }
        var methods: [String] = []
        for row in new where !methods.contains(row["method"] ?? "") { methods.append(row["method"] ?? "") }
        return try methods.map { method in
            let newRows = new.filter { ($0["method"] ?? "") == method }
            let rows = baseline.filter { $0["method"] == method && $0["status"] == "ok" }
            let values = rows.compactMap { statistic.value($0) }
            if values.isEmpty { throw Failure.methodMissing(method: method, path: baselinePath) }
            for b in rows {
                for row in newRows {
                    for column in configurationColumns where !ignoring.contains(column) && row[column] != nil && b[column] != row[column] {
                        throw Failure.configurationChanged(method: method, column: column, baseline: b[column] ?? "none",
                                                           new: row[column] ?? "", path: baselinePath)
                    }
                }
            }
            if values.count < minimumBaselineSeeds { throw Failure.tooFewSeeds(method: method, seeds: values.count, path: baselinePath) }
            let firstValues = newRows.map { $0["status"] == "ok" ? statistic.value($0) : nil }
            let unfinished = newRows.first { $0["status"] != "ok" }
            let value = firstValues.contains { $0 == nil } ? nil : Distributions.mean(firstValues.compactMap { $0 })
            let initial = newRows.compactMap { statistic.valueAtInitialisation($0) }
            var check = Check(method: method, rule: rules(method), statistic: statistic, value: value, status: unfinished?["status"] ?? "ok",
                              baseline: values, atInitialisation: initial.isEmpty ? nil : Distributions.mean(initial))
            if newRows.count > 1 { check.firstValues = firstValues }
            return check
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
    /// What the rule compares (nil: the recipe's).
    public var statistic: RegressionStatistic? = nil
    /// Seeds per method (nil: the rule's first look for a check, 4 for an update).
    public var seeds: Int? = nil
    /// A fault planted in every method, to see the check fail (`faults` names one per method).
    public var fault: Fault? = nil
    /// Faults planted in the methods named, each in its own (before `fault`).
    public var faults: [String: Fault] = [:]
    /// Only the first look: a method below its first bound is reported as such and no retry
    /// seeds run (to measure what a fault does, not to decide).
    public var firstLookOnly = false

    /// The methods among `methods` whose recipe cell `fault` changes (`Fault.concerns`): a
    /// method it does not concern would train as it is.
    public func methodsConcerned(by fault: Fault) throws -> [String] {
        let cells = try Tables.methods.cells(scale: recipe.scale)
        return methods.filter { name in
            cells.contains { $0.configuration.method.name == name && fault.concerns(recipe.cell($0).configuration) }
        }
    }

    /// The fault planted in `method`'s cells, if any.
    public func fault(for method: String) -> Fault? { faults[method] ?? fault }
    /// An update that takes its rows from these results CSVs (a table run of the very cells the
    /// recipe runs, e.g. Results/methods.csv for the cpu recipe's four methods that run the
    /// table's cells as declared, or the rows `sslbench train --out` wrote for those cells)
    /// instead of training them; every configuration column must match.
    public var rowsFrom: [String] = []
    /// Runs the cells in place of this process (`sslbench regress --jobs`; `TableRunner.cellExecutor`).
    public var cellExecutor: ((_ todo: [(cell: TableCell, seed: UInt64, seconds: Double)], _ csvPath: String,
                               _ log: (String) -> Void) throws -> Void)? = nil
    public init() {}

    /// Results/regression for `ci`, Results/regression/RECIPE for another recipe.
    public var directory: String { baselineDirectory ?? (recipe == .ci ? "Results/regression" : "Results/regression/\(recipe.rawValue)") }
    public var baselinePath: String { "\(directory)/baseline.csv" }

    /// The rows of `sources` for every (cell, seed) the runner plans, matched on method and seed and
    /// required to agree on every configuration column with the cell as this code declares it.
    /// A row of `sslbench train` has no table columns (table, variant, scale, …): it matches on
    /// the others and takes the table's from the plan. (`trainImages`, `testImages`: the data's
    /// sizes, which a cell's own counts are capped at.)
    func importedRows(from sources: [String], runner: TableRunner, trainImages: Int, testImages: Int) throws -> [[String: String]] {
        let rows = try sources.flatMap { try readResultsOrTrainRows($0) }
        let sourceText = sources.joined(separator: ", ")
        return try runner.plan(Tables.methods, scale: recipe.scale).map { cell, seed in
            let expected = TableRow.planned(cell, table: Tables.methods, trainImages: trainImages, testImages: testImages)
            let method = cell.configuration.method.name
            // a train row's scale: none (no such column, or an empty one in a file that mixes both kinds)
            func scale(_ r: [String: String]) -> String { r["scale"].flatMap { $0.isEmpty ? nil : $0 } ?? recipe.scale.rawValue }
            let candidates = rows.filter { $0["method"] == method && $0["seed"] == "\(seed)" && scale($0) == recipe.scale.rawValue }
            func differing(_ r: [String: String]) -> String? {
                Regression.configurationColumns.first { column in column == "scale" ? false : r[column] != expected[column] }
            }
            guard let row = candidates.first(where: { differing($0) == nil }) else {
                let column = candidates.first.flatMap(differing)
                throw Regression.Failure.rowMissing(method: method, seed: Int(seed), path: sourceText,
                                                    differs: column.map { "\($0) \(candidates.first![$0] ?? "none") where the recipe has \(expected[$0] ?? "")" })
            }
            var merged = row
            for column in TableRow.header where !CellRow.header.contains(column) && (row[column] ?? "").isEmpty { merged[column] = expected[column] }
            return merged
        }
    }

    /// A runner of this run's cells: the recipe's cell of each method named, its fault planted.
    func cellRunner() -> TableRunner {
        var runner = TableRunner()
        let run = self
        if fault != nil || !faults.isEmpty {
            runner.wrapMethod = { cell, method in run.fault(for: cell.configuration.method.name)?.plant(in: method) ?? method }
        }
        let selected = Set(methods)
        let recipe = self.recipe
        runner.cellSelection = { declared in
            guard selected.contains(declared.configuration.method.name) else { return nil }
            let cell = recipe.cell(declared)
            guard let fault = run.fault(for: declared.configuration.method.name) else { return cell }
            var c = cell.configuration
            fault.configure(&c)
            return cell.withConfiguration(c)
        }
        return runner
    }

    /// One worker of `--jobs`: seed `seed` of this run's one method, its row in `directory`/methods.csv.
    public func runCell(seed: Int, directory: String, train: LabeledImages, test: LabeledImages, log: (String) -> Void) throws {
        precondition(methods.count == 1, "a worker runs one method")
        var runner = cellRunner()
        runner.seedList = [seed]
        runner.resultsDirectory = directory
        try runner.run(Tables.methods, scale: recipe.scale, train: train, test: test, log: log)
    }

    /// The checks the baseline sets up, without a run: each method's seed-0 row stands for the
    /// new run (for its kNN at initialisation); read `Check.bounds`.
    public func bounds() throws -> [Regression.Check] {
        let rows = try readResults(baselinePath)
        if rows.isEmpty { throw Regression.Failure.noBaseline(path: baselinePath) }
        let firsts = methods.compactMap { m in rows.first { $0["method"] == m && $0["seed"] == "0" } ?? rows.first { $0["method"] == m } }
        return try Regression.compare(new: firsts, baseline: rows, baselinePath: baselinePath, rules: recipe.rule(for:),
                                      statistic: statistic ?? recipe.statistic)
    }

    /// "N seed(s)", or each method's first look when they differ.
    func seedText(_ runner: TableRunner) -> String {
        let counts = methods.map { recipe.rule(for: $0).firstSeeds }
        guard runner.seedCount != nil, Set(counts).count > 1 else { return "\(runner.seeds) seed(s)" }
        return "seeds: " + zip(methods, counts).map { "\($0) \($1)" }.joined(separator: ", ")
    }

    /// Runs the cells and returns the checks: the new run against the baseline, or, for an
    /// update, the tolerances the merged baseline gives (its seed 0 against all its seeds).
    public func run(train: LabeledImages, test: LabeledImages, log: (String) -> Void) throws -> [Regression.Check] {
        var runner = cellRunner()
        let recipe = self.recipe
        if let seeds {
            runner.seeds = seeds
        } else if update {
            runner.seeds = 4
        } else {
            // each method's first look: its own rule's seeds
            runner.seeds = methods.map { recipe.rule(for: $0).firstSeeds }.max() ?? 1
            runner.seedCount = { recipe.rule(for: $0.configuration.method.name).firstSeeds }
        }
        runner.cellExecutor = cellExecutor
        runner.resultsDirectory = update ? "\(directory)/update" : "\(directory)/latest"
        let table = Tables.methods
        let selected = Set(methods)
        let oldBaseline = try readResults(baselinePath)
        if !update && oldBaseline.isEmpty { throw Regression.Failure.noBaseline(path: baselinePath) }
        if !update { try? FileManager.default.removeItem(atPath: runner.csvPath(table)) }   // a fresh run of this code
        log("regression\(update ? " baseline update" : ""): \(methods.joined(separator: ", ")), the \(recipe.rawValue) recipe's cells "
            + "(RegressionRecipe.cell), \((statistic ?? recipe.statistic).name), \(seedText(runner))")
        if update, !rowsFrom.isEmpty {
            let rows = try importedRows(from: rowsFrom, runner: runner, trainImages: train.count, testImages: test.count)
            try FileManager.default.createDirectory(atPath: runner.resultsDirectory, withIntermediateDirectories: true)
            try writeResults(rows, to: runner.csvPath(table))
            log("\(rows.count) rows taken from \(rowsFrom.joined(separator: ", ")), none trained")
        } else {
            try runner.run(table, scale: recipe.scale, train: train, test: test, log: log)
        }
        // the table's order of methods, whatever order workers finished in
        let newRows = try readResults(runner.csvPath(table)).enumerated().sorted {
            (Regression.methodRank($0.element), $0.offset) < (Regression.methodRank($1.element), $1.offset)
        }.map(\.element)
        guard update else {
            var checks = try Regression.compare(new: newRows, baseline: oldBaseline, baselinePath: baselinePath, rules: recipe.rule(for:),
                                                statistic: statistic ?? recipe.statistic,
                                                ignoring: methods.reduce(into: Set<String>()) { $0.formUnion(fault(for: $1)?.changedColumns ?? []) })
            let retried = Set(checks.filter(\.needsRetry).map(\.method))
            guard !retried.isEmpty, !firstLookOnly else { return checks }
            // the second look: seeds j…j+k−1 of the methods whose first look fell below its bound
            // (j and k of each method's rule)
            func looks(_ method: String) -> (j: Int, k: Int) {
                let rule = recipe.rule(for: method)
                return (seeds ?? rule.firstSeeds, rule.retrySeeds)
            }
            for method in retried.sorted() {
                log("\(method): the first look fell below its bound; \(looks(method).k) more seed(s) decide")
            }
            var again = runner
            again.seeds = retried.map { looks($0).j + looks($0).k }.max() ?? 0
            again.seedCount = { looks($0.configuration.method.name).j + looks($0.configuration.method.name).k }
            let firstSelection = runner.cellSelection
            again.cellSelection = { declared in retried.contains(declared.configuration.method.name) ? firstSelection?(declared) ?? declared : nil }
            try again.run(table, scale: recipe.scale, train: train, test: test, log: log)
            let rows = try readResults(again.csvPath(table))
            for i in checks.indices where retried.contains(checks[i].method) {
                let (j, k) = looks(checks[i].method)
                checks[i].retries = (j ..< j + k).map { seed in
                    let row = rows.first { $0["method"] == checks[i].method && $0["seed"] == "\(seed)" }
                    return row?["status"] == "ok" ? row.flatMap((statistic ?? recipe.statistic).value) : nil
                }
            }
            return checks
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
        log("baseline written to \(baselinePath) (\(methods.joined(separator: ", ")) updated); the tolerances it gives:")
        return try Regression.compare(new: merged.filter { $0["seed"] == "0" }, baseline: merged, baselinePath: baselinePath,
                                      rules: recipe.rule(for:), statistic: statistic ?? recipe.statistic)
    }
}
