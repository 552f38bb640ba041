import Foundation
import Datasets
import Experiments
import Options
import Report
import Runner
import Tensors

/// The commands that run, draw, list, report and merge the ablation tables.
enum TableCommands {
    struct Settings {
        var scale = "smoke"
        var seeds: Int?
        var shard: Shard?
        var results: String?
        var data: String?
        var threads: Int?
        var dryRun = false
        var untilResolved = false
        var maxSeeds: Int?
        var jobs = 1
        /// A worker of `--jobs`: the cell (its index in the table's cells at the scale, and the
        /// seed) it runs, the folder of its row, and the folder of the checkpoints.
        var cell: (index: Int, seed: Int)? = nil
        var cellDirectory: String? = nil
        var checkpoints: String? = nil

        /// The runner these settings ask for: its rows in --results, else in runs/TABLE/.
        func runner(_ table: AblationTable) -> TableRunner {
            var runner = TableRunner()
            runner.resultsDirectory = results ?? "runs/\(table.name)"
            if let s = seeds { runner.seeds = s }
            runner.shard = shard
            runner.dryRun = dryRun
            if untilResolved {
                let base = seeds ?? SeedPlan.standard.base
                runner.seeds = base
                runner.untilResolved = SeedPlan(base: base, cap: maxSeeds ?? SeedPlan.standard.cap)
            }
            return runner
        }
        func parsedScale() throws -> Scale {
            guard let s = Scale(rawValue: scale) else {
                throw UsageError(description: "unknown scale '\(scale)'; known: \(Scale.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return s
        }
    }

    static let results = Option<Settings>("results", "DIR", example: "Results",
                                          "the folder of the table's CSV and figure (runs/TABLE; Results is the\ncommitted reference: give it to add rows there)") { s, v in s.results = v }

    static let runOptions: [Option<Settings>] = [
        SharedOptions.scale(\.scale, default: "smoke"),
        Option("seeds", "N", example: "2", "seeds per cell, 0 … N−1 (1)") { s, v in s.seeds = try Value.int(v, option: "seeds", minimum: 1) },
        Option("shard", "I/N", example: "1/2", "run only cells I−1, I−1+N, … of the list (a cluster's array task)") { s, v in
            s.shard = try Shard(parsing: v)
        },
        results,
        SharedOptions.data(\.data),
        SharedOptions.threads(\.threads),
        Option(switch: "dry-run", "print the cells and the estimated time, run nothing") { $0.dryRun = true },
        Option(switch: "until-resolved", "after the base seeds (--seeds, 3 by default here), add a seed at a time to the\ncells of the claims still open until each is decided or has --max-seeds") { $0.untilResolved = true },
        Option("max-seeds", "N", example: "6", "the cap of --until-resolved (8, the most the claim rule allows)") { s, v in
            s.maxSeeds = try Value.int(v, option: "max-seeds", minimum: 1)
        },
        Option("jobs", "N", example: "2", "run the cells, the rounds of --until-resolved too, as N one-thread worker\nprocesses side by side, the longest first (1: in this process; on 2 cores, 2 finish\nsooner, and one thread computes what two do)") { s, v in
            s.jobs = try Value.int(v, option: "jobs", minimum: 1)
        },
        Option("cell", "INDEX:SEED", example: "3:0", "(a worker of --jobs) run the table's cell INDEX (from 0, in --dry-run's order\nof seed 0) with seed SEED into --cell-directory and stop") { s, v in
            let parts = v.split(separator: ":").map(String.init)
            guard parts.count == 2, let index = Int(parts[0]), index >= 0, let seed = Int(parts[1]), seed >= 0 else {
                throw OptionError("--cell: expected INDEX:SEED, two whole numbers from 0, got '\(v)'")
            }
            s.cell = (index, seed)
        },
        Option("cell-directory", "DIR", example: "/tmp/cell", "(a worker of --jobs) the folder of the cell's row") { s, v in s.cellDirectory = v },
        Option("checkpoints", "DIR", example: "Results/.checkpoints", "(a worker of --jobs) the folder of the cells' checkpoints (.checkpoints in the\nresults folder)") { s, v in
            s.checkpoints = v
        },
    ]

    static var run: Command {
        Command("run", arguments: "TABLE", positionalLimit: 1,
                summary: "run a table's cells that its CSV lacks, appending each row as it finishes, and redraw\nits figure; it prints the cells and an estimated time first",
                options: runOptions) { parsed in
            let table = try tableNamed(parsed)
            var s = Settings()
            try parsed.apply(runOptions, to: &s)
            SharedOptions.configureThreads(s.threads)
            let scale = try s.parsedScale()
            if s.maxSeeds != nil && !s.untilResolved { throw UsageError(description: "--max-seeds goes with --until-resolved") }
            if s.untilResolved {
                if s.shard != nil { throw UsageError(description: "--until-resolved decides which cells to add from the whole table; it does not run a --shard") }
                try s.runner(table).untilResolved?.validate()
            }
            if s.jobs > 1 && s.shard != nil { throw UsageError(description: "--jobs runs the whole table over worker processes; it does not go with --shard") }
            let cells = try table.cells(scale: scale)   // an undeclared scale fails before the data is read
            if let cell = s.cell {
                guard let directory = s.cellDirectory else { throw UsageError(description: "--cell needs --cell-directory") }
                guard cell.index < cells.count else {
                    throw UsageError(description: "--cell \(cell.index):\(cell.seed): \(table.name) has \(cells.count) cells at the \(scale.rawValue) scale (0 … \(cells.count - 1))")
                }
                let data = try CIFAR.loadCIFAR10(folder: try CIFAR.locateCIFAR10(explicit: s.data))
                try workerRunner(table, cell: cells[cell.index], seed: cell.seed, directory: directory, checkpoints: s.checkpoints)
                    .run(table, scale: scale, train: data.train, test: data.test) { print($0); fflush(stdout) }
                return
            }
            var runner = s.runner(table)
            // One run of a table into a folder at a time: a second one would take the live workers'
            // folders for an earlier run's leftovers. A dry run reads only: it takes no lock and collects nothing.
            var lock: RunLock? = nil
            defer { lock?.release() }
            if s.shard == nil && !s.dryRun {
                do {
                    lock = try RunLock.acquire(CellWorkers.lockPath(of: runner.csvPath(table)))
                } catch let held as RunLock.Held {
                    throw UsageError(description: "\(held): another `sslbench run \(table.name)` is writing \(runner.csvPath(table)); "
                                     + "wait for it to end, or stop it and run again (rows its workers finished are then collected)")
                }
                let collected = try CellWorkers.collectLeftRows(folder: CellWorkers.folder(of: runner.csvPath(table)),
                                                                rowsFile: "\(table.name).csv", into: runner.csvPath(table))
                if collected > 0 { print("\(collected) row(s) that workers of an earlier run finished added to \(runner.csvPath(table))") }
            }
            let folder = try CIFAR.locateCIFAR10(explicit: s.data)
            let data = try CIFAR.loadCIFAR10(folder: folder)
            if s.jobs > 1 {
                // a cell's index among the table's cells, by its key at seed 0
                let indices = Dictionary(cells.enumerated().map { (TableRow.key($0.element, seed: 0), $0.offset) }, uniquingKeysWith: { a, _ in a })
                let checkpoints = URL(fileURLWithPath: runner.checkpointFolder).standardizedFileURL.path
                runner.cellExecutor = CellWorkers(jobs: s.jobs, rowsFile: "\(table.name).csv",
                                                  name: { [$0.entry.label, $0.entry.variant, table.axisName, $0.point.value.description].filter { !$0.isEmpty }.joined(separator: " ") }) { cell, seed, directory in
                    ["run", table.name, "--scale", scale.rawValue, "--cell", "\(indices[TableRow.key(cell, seed: 0)]!):\(seed)",
                     "--cell-directory", directory, "--checkpoints", checkpoints, "--data", folder, "--threads", "1"]
                }.run
            }
            try runner.run(table, scale: scale, train: data.train, test: data.test) { print($0); fflush(stdout) }
            guard !s.dryRun, s.shard == nil else { return }
            try printComparison(table, scale: scale, runner: runner)
        }
    }

    /// A worker of `--jobs`: runs `cell` with `seed` alone into `directory`, its checkpoint in `checkpoints`.
    static func workerRunner(_ table: AblationTable, cell: TableCell, seed: Int, directory: String, checkpoints: String?) -> TableRunner {
        var runner = TableRunner()
        runner.resultsDirectory = directory
        runner.seedList = [seed]
        runner.checkpointDirectory = checkpoints
        let key = TableRow.key(cell, seed: 0)
        runner.cellSelection = { TableRow.key($0, seed: 0) == key ? $0 : nil }
        return runner
    }

    /// After a run into a folder other than the reference's: the comparison with the committed
    /// reference and the paper (`TableRunner.compare`), printed and written beside the CSV.
    static func printComparison(_ table: AblationTable, scale: Scale, runner: TableRunner) throws {
        let reference = TableRunner.referenceDirectory(scale: scale)
        // rows written into the committed reference (Results/ or a folder in it) are the reference: nothing to compare
        let out = URL(fileURLWithPath: runner.resultsDirectory).standardizedFileURL.path
        let root = URL(fileURLWithPath: "Results").standardizedFileURL.path
        if out == root || out.hasPrefix(root + "/") { return }
        guard let text = try runner.compare(table, scale: scale, referenceDirectory: reference) else {
            print("no committed reference for \(table.name) at the \(scale.rawValue) scale (\(reference)/\(table.name).csv): nothing to compare with")
            return
        }
        print("\n" + text, terminator: "")
        let folder = runner.resultsDirectory
        print("comparison written to \(folder)/COMPARISON.md, \(folder)/comparison.csv and \(folder)/\(table.name)-comparison.png")
    }

    static let plotOptions: [Option<Settings>] = [SharedOptions.scale(\.scale, default: "smoke"), results]

    static var plot: Command {
        Command("plot", arguments: "TABLE", positionalLimit: 1, summary: "redraw the table's figure from its CSV", options: plotOptions) { parsed in
            let table = try tableNamed(parsed)
            var s = Settings()
            try parsed.apply(plotOptions, to: &s)
            let runner = s.runner(table)
            try runner.drawFigure(table, scale: try s.parsedScale())
            print("redrew \(runner.csvPath(table).replacingOccurrences(of: ".csv", with: ".png"))")
        }
    }

    static var list: Command {
        Command("list", summary: "the ablation tables, their axes and scales", options: [Option<Settings>]()) { _ in
            for t in Tables.all {
                let scales = Scale.allCases.filter { t.points[$0] != nil }.map(\.rawValue).joined(separator: ", ")
                print("\(t.name): \(t.title); axis \(t.axisName); \(t.entries.map(\.label).joined(separator: ", ")); scales \(scales)")
            }
        }
    }

    static let reportOptions: [Option<Settings>] = [SharedOptions.scale(\.scale, default: "cpu"), results]

    static var report: Command {
        Command("report", summary: "regenerate Results/README.md from the CSVs: each table beside the paper's, and\nwhich of its claims hold",
                options: reportOptions) { parsed in
            var s = Settings(scale: "cpu")
            try parsed.apply(reportOptions, to: &s)
            let directory = s.results ?? "Results"
            let text = try ResultsReport.markdown(tables: Tables.all, scale: try s.parsedScale()) { _, csv in
                try readResults("\(directory)/\(csv)")
            }
            try text.write(toFile: "\(directory)/README.md", atomically: true, encoding: .utf8)
            print("wrote \(directory)/README.md")
        }
    }

    static var merge: Command {
        Command("merge", arguments: "OUT.csv IN.csv...", positionalLimit: Int.max, summary: "join shard CSVs into OUT.csv (each cell once)",
                options: [Option<Settings>]()) { parsed in
            let files = parsed.positional
            guard files.count >= 2 else { throw UsageError(description: "sslbench merge OUT.csv IN.csv...") }
            let count = try mergeResults(Array(files.dropFirst()), into: files[0])
            print("\(count) rows in \(files[0])")
        }
    }

    static func tableNamed(_ parsed: ParsedOptions) throws -> AblationTable {
        guard let name = parsed.positional.first else { throw UsageError(description: "which table? (sslbench list)") }
        return try Tables.named(name)
    }
}
