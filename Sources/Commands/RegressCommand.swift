import Foundation
import Datasets
import Experiments
import Options
import Runner
import Tensors

/// `sslbench regress`: the accuracy regression, or the update of its baseline.
enum RegressCommand {
    struct Settings {
        var run = RegressionRun()
        var data: String?
        var threads: Int?
        var boundsOnly = false
        var designsOnly = false
        var jobs = 1
        /// A worker of `--jobs`: the cell (method, seed) it runs and the folder of its row.
        var cell: (method: String, seed: Int)? = nil
        var cellDirectory: String? = nil
        /// `--methods` was given (else a fault for every method runs only the methods it concerns).
        var methodsGiven = false
        /// `--sabotage` as given, passed on to workers.
        var sabotage: String? = nil
    }

    static let options: [Option<Settings>] = [
        Option(switch: "update", "rerun the baseline of the methods (all by default; N seeds, 4 by default) and\nkeep the other methods' rows") {
            $0.run.update = true
        },
        Option(switch: "bounds", "print what the check accepts of each method (its baseline, bounds, false alarm\nrate, detectable drop) and stop; trains nothing") { $0.boundsOnly = true },
        Option(switch: "designs", "print, for two-look rules of a few shapes (baseline seeds n, seeds of the first\nlook j, retry seeds k) at 1 false alarm in 100 runs over six methods, the drop each\ndetects 4 times in 5 in units of the cells' sd, and the sd at which that is 2.5 points;\ntrains nothing") { $0.designsOnly = true },
        Option("methods", "LIST", example: "byol,swav", "only these methods (\(Regression.guardedMethods.joined(separator: ",")))") { s, v in
            let names = v.split(separator: ",").map(String.init)
            guard !names.isEmpty else { throw OptionError("--methods: no method given") }
            for name in names where !Regression.guardedMethods.contains(name) {
                throw OptionError("--methods: unknown method '\(name)'; known: \(Regression.guardedMethods.joined(separator: ", "))")
            }
            s.run.methods = names
            s.methodsGiven = true
        },
        Option("seeds", "N", example: "8", "with --update: the baseline's seeds per method (4, at least \(Regression.minimumBaselineSeeds)); a check\nruns the seeds its recipe's rule looks at") { s, v in
            s.run.seeds = try Value.int(v, option: "seeds", minimum: 1)
        },
        Option("sabotage", "FAULT", example: "negate-gradients",
               "plant a bug in every method it concerns (without --methods, the others are left\nout), or METHOD=FAULT[,METHOD=FAULT…] one per method, to see the check fail:\n"
               + Fault.catalogue.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")) { s, v in
            func parse(_ name: Substring) throws -> Fault {
                guard let fault = Fault(parsing: String(name)) else {
                    throw OptionError("--sabotage: unknown fault '\(name)'; known: \(Fault.names.joined(separator: ", "))")
                }
                return fault
            }
            if v.contains("=") {
                for item in v.split(separator: ",") {
                    let parts = item.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, Regression.guardedMethods.contains(String(parts[0])) else {
                        throw OptionError("--sabotage: expected FAULT or METHOD=FAULT[,METHOD=FAULT…] with METHOD one of "
                                          + "\(Regression.guardedMethods.joined(separator: ", ")), got '\(item)'")
                    }
                    s.run.faults[String(parts[0])] = try parse(parts[1])
                }
            } else {
                s.run.fault = try parse(Substring(v))
            }
            s.sabotage = v
        },
        Option(switch: "first-look", "run only each method's first look and report the methods below its bound,\nwithout the retry seeds that would decide (to measure a fault, not to judge)") {
            $0.run.firstLookOnly = true
        },
        Option("recipe", "NAME", example: "cpu", "the cells to run: \(RegressionRecipe.allCases.map(\.rawValue).joined(separator: " or ")) (ci: a cell per method that\nlearns on every seed, what make regress runs; cpu: the methods table's cpu cells, a\ncandidate measured against it; smoke: its smoke cells, the check's plumbing in seconds)") { s, v in
            guard let recipe = RegressionRecipe(rawValue: v) else {
                throw OptionError("--recipe: unknown recipe '\(v)'; known: \(RegressionRecipe.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.run.recipe = recipe
        },
        Option("statistic", "NAME", example: "knn-linear", "what the rule compares: \(RegressionStatistic.allCases.map(\.rawValue).joined(separator: " or ")) (knn-linear:\nthe mean of the kNN and linear probe top-1, the ci recipe's; knn: the kNN top-1,\nthe cpu and smoke recipes')") { s, v in
            guard let statistic = RegressionStatistic(rawValue: v) else {
                throw OptionError("--statistic: unknown statistic '\(v)'; known: \(RegressionStatistic.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.run.statistic = statistic
        },
        Option("rows-from", "CSV[,CSV…]", example: "Results/methods.csv", "with --update: take the seeds' rows from these CSVs (a table's, or sslbench train\n--out rows: runs of the very cells the recipe runs, every configuration column\nequal) instead of training them") { s, v in
            s.run.rowsFrom = v.split(separator: ",").map(String.init)
            if s.run.rowsFrom.isEmpty { throw OptionError("--rows-from expects one or more CSV paths, got '\(v)'") }
        },
        Option("jobs", "N", example: "2", "run the cells as N one-thread worker processes side by side, the longest\nfirst (1: in this process; on 2 cores, 2 finish sooner)") { s, v in
            s.jobs = try Value.int(v, option: "jobs", minimum: 1)
        },
        Option("cell", "METHOD:SEED", example: "byol:0", "(a worker of --jobs) run this one cell of the recipe into --cell-directory and stop") { s, v in
            let parts = v.split(separator: ":").map(String.init)
            guard parts.count == 2, Regression.guardedMethods.contains(parts[0]), let seed = Int(parts[1]), seed >= 0 else {
                throw OptionError("--cell: expected METHOD:SEED with METHOD one of \(Regression.guardedMethods.joined(separator: ", ")), got '\(v)'")
            }
            s.cell = (parts[0], seed)
        },
        Option("cell-directory", "DIR", example: "/tmp/cell", "(a worker of --jobs) the folder of the cell's row") { s, v in s.cellDirectory = v },
        Option("directory", "DIR", example: "/tmp/regression", "the folder of baseline.csv (Results/regression; Results/regression/RECIPE for\nanother recipe)") { s, v in s.run.baselineDirectory = v },
        SharedOptions.data(\.data),
        SharedOptions.threads(\.threads),
    ]

    static var command: Command {
        Command("regress", summary: "the accuracy regression: every method's ci regression cell (README, \"Accuracy regression\"), seed 0,\nagainst Results/regression/baseline.csv; exits 1 when a method fails its recipe's rule",
                options: options, run: run)
    }

    static func run(_ parsed: ParsedOptions) throws {
        var s = Settings()
        try parsed.apply(options, to: &s)
        if !s.run.rowsFrom.isEmpty && !s.run.update { throw OptionError("--rows-from goes with --update") }
        if s.run.seeds != nil && !s.run.update {
            let rule = s.run.recipe.rule
            throw OptionError("--seeds goes with --update: a check runs the seeds its recipe's rule looks at (\(rule.firstSeeds)"
                              + (rule.retrySeeds > 0 ? ", then \(rule.retrySeeds) more below its bound)" : ")"))
        }
        if s.run.update && s.run.firstLookOnly { throw OptionError("--first-look goes with a check, not with --update") }
        if s.run.update && s.sabotage != nil { throw OptionError("--sabotage plants a fault to check; it does not go with --update") }
        if s.run.update, let seeds = s.run.seeds, seeds < Regression.minimumBaselineSeeds {
            throw OptionError("--seeds must be at least \(Regression.minimumBaselineSeeds) for an update, got \(seeds)")
        }
        if s.designsOnly {
            print("n  j  k   c1     c2     detects (sd)  sd for a 2.5-point drop  seeds per unchanged run")
            for n in [8, 12, 16, 24] {
                for (j, k) in [(1, 3), (1, 6), (2, 3), (2, 4), (2, 6), (3, 3), (3, 6), (4, 4), (4, 8)] {
                    let rule = RegressionRule.twoLooks(methods: 6, runsPerFalseAlarm: 100, firstSeeds: j, retrySeeds: k)
                    let m = rule.multipliers(seeds: n)
                    // an unchanged cell's first look falls below its bound with probability α₁ = 0.05
                    print(String(format: "%-2d %-2d %-2d  %.3f  %.3f  %.2f          %.2f                     %.2f",
                                 n, j, k, m.first, m.retry ?? .nan, m.detectableDrop, 2.5 / m.detectableDrop, Double(j) + 0.05 * Double(k)))
                }
            }
            return
        }
        if s.boundsOnly {
            for check in try s.run.bounds() { print(check.bounds) }
            return
        }
        if let fault = s.run.fault, !s.methodsGiven, s.cell == nil {
            let concerned = try s.run.methodsConcerned(by: fault)
            let left = s.run.methods.filter { !concerned.contains($0) }
            if concerned.isEmpty { throw OptionError("--sabotage \(fault) changes none of the \(s.run.recipe.rawValue) recipe's cells") }
            if !left.isEmpty { print("sabotage \(fault): \(left.joined(separator: ", ")) left out (the fault does not concern their cells)") }
            s.run.methods = concerned
        }
        SharedOptions.configureThreads(s.threads)
        let folder = try CIFAR.locateCIFAR10(explicit: s.data)
        let data = try CIFAR.loadCIFAR10(folder: folder)
        if let cell = s.cell {
            guard let directory = s.cellDirectory else { throw OptionError("--cell needs --cell-directory") }
            var run = s.run
            run.methods = [cell.method]
            try run.runCell(seed: cell.seed, directory: directory, train: data.train, test: data.test) { print($0); fflush(stdout) }
            return
        }
        if s.jobs > 1 {
            var arguments = ["--recipe", s.run.recipe.rawValue, "--directory", s.run.directory, "--data", folder]
            if let sabotage = s.sabotage { arguments += ["--sabotage", sabotage] }
            s.run.cellExecutor = CellWorkers(jobs: s.jobs, rowsFile: "methods.csv", name: { $0.configuration.method.name }) { cell, seed, directory in
                ["regress", "--cell", "\(cell.configuration.method.name):\(seed)", "--cell-directory", directory, "--threads", "1"] + arguments
            }.run
        }
        let checks = try s.run.run(train: data.train, test: data.test) { print($0); fflush(stdout) }
        for check in checks { print(check) }
        if s.run.update { return }
        let failed = checks.filter { !$0.passed }
        if s.run.firstLookOnly && !failed.isEmpty {
            print("regression, first look only: \(failed.map(\.method).joined(separator: ", ")) below the first bound; the retry seeds would decide")
            exit(1)
        }
        if failed.isEmpty {
            print("regression: every method within its tolerance of \(s.run.baselinePath)")
        } else {
            print("regression FAILED: \(failed.map(\.method).joined(separator: ", ")) below the baseline by more than the tolerance")
            exit(1)
        }
    }
}
