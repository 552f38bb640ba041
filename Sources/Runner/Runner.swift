import Foundation
import Datasets
import Experiments
import Methods
import Report
import Tensors
import Training

/// The row of a table cell: which table, variant and axis point it is, the paper's number
/// beside it, then everything `CellRow` records (method, budget, accuracies, protocol, machine).
public enum TableRow {
    public static let header = ["table", "variant", "axis", "value", "paper_value_of_axis", "scale", "paper_top1", "paper_source"]
        + CellRow.header
    /// `CellRow.earlierHeaders` behind the table's own columns.
    public static let earlierHeaders = CellRow.earlierHeaders.map { Array(header.prefix(header.count - CellRow.header.count)) + $0 }

    public static func fields(_ cell: TableCell, table: AblationTable, result: CellResult) -> [String] {
        [cell.table, cell.entry.rowLabel, table.axisName, cell.point.value.description,
         cell.point.paperValue?.description ?? "", cell.scale.rawValue,
         cell.paper.map { String($0.top1) } ?? "", cell.paper?.sourceText ?? ""]
            + CellRow.fields(cell.configuration, result)
    }

    /// The columns that name a cell's configuration: a row kept for a cell must agree with the
    /// cell as the code declares it on each of them (its key does not hold them).
    public static let configurationColumns = ["method", "scale", "backbone_width", "projector", "projector_width", "batch_size",
                                              "epochs", "train_images", "test_images", "learning_rate", "lambda", "loss_scale",
                                              "augmentation"]

    /// The row `cell` would have before it trains, on data of these sizes (a cell's own image
    /// counts are capped at them): its configuration columns as a run of it would write them.
    static func planned(_ cell: TableCell, table: AblationTable, trainImages: Int, testImages: Int) -> [String: String] {
        var result = CellResult()
        result.trainImages = min(cell.configuration.trainImages ?? trainImages, trainImages)
        result.testImages = min(cell.configuration.testImages ?? testImages, testImages)
        return Dictionary(uniqueKeysWithValues: zip(header, fields(cell, table: table, result: result)))
    }

    /// The first configuration column in which `row` differs from `planned`, as
    /// "batch_size 128 where the table declares 32"; nil when they agree (a column the row leaves
    /// empty is not compared: rows written by hand or by older versions may lack it).
    static func configurationDifference(_ row: [String: String], planned: [String: String]) -> String? {
        configurationColumns.first { column in !(row[column] ?? "").isEmpty && row[column] != planned[column] }
            .map { "\($0) \(row[$0] ?? "") where the table declares \(planned[$0] ?? "")" }
    }

    /// What identifies a cell in a CSV: a re-run skips the rows whose key is already there.
    static func key(table: String, label: String, method: String, value: String, scale: String, seed: String) -> String {
        [table, label, method, value, scale, seed].joined(separator: "\u{1F}")
    }
    /// A (cell, seed)'s identity in a results CSV: table, row label, method, axis value, scale, seed.
    public static func key(_ cell: TableCell, seed: UInt64) -> String {
        key(table: cell.table, label: cell.entry.rowLabel,
            method: cell.configuration.method.name, value: cell.point.value.description, scale: cell.scale.rawValue, seed: "\(seed)")
    }
    /// The identity of a results row, as `key(_:seed:)` gives it for its cell.
    public static func key(row: [String: String]) -> String {
        key(table: row["table"] ?? "", label: row["variant"] ?? "", method: row["method"] ?? "", value: row["value"] ?? "",
            scale: row["scale"] ?? "", seed: row["seed"] ?? "")
    }
}

public enum RunnerError: Error, CustomStringConvertible {
    case invalidResults(path: String, reason: String)
    case badShard(String)
    case staleRow(path: String, cell: String, difference: String)
    public var description: String {
        switch self {
        case .invalidResults(let path, let reason): return "\(path): \(reason); fix or move the file (nothing was changed)"
        case .badShard(let s): return "invalid shard \(s): expected I/N with 1 ≤ I ≤ N"
        case .staleRow(let path, let cell, let difference):
            return "\(path) holds \(cell) run with \(difference): the table changed since; move the file aside "
                + "(or delete its rows of the changed cells) and run again"
        }
    }
}

/// A shard I/N of a table: cells I−1, I−1+N, I−1+2N, … of its list.
public struct Shard: Equatable {
    public let index: Int, count: Int
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 1, i <= n else { throw RunnerError.badShard(text) }
        index = i; count = n
    }
}

/// Reads a results CSV into rows keyed by column name; checks its header.
public func readResults(_ path: String) throws -> [[String: String]] {
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) }
    catch { throw RunnerError.invalidResults(path: path, reason: "cannot read it (\(error.localizedDescription))") }
    let rows: [[String]]
    do { rows = try CSV.parse(text) } catch { throw RunnerError.invalidResults(path: path, reason: "\(error)") }
    guard let header = rows.first else { return [] }
    // a file written before the last columns were added reads with those columns empty
    guard header == TableRow.header || TableRow.earlierHeaders.contains(header) else {
        throw RunnerError.invalidResults(path: path, reason: "its header is not the harness's (\(header.prefix(4).joined(separator: ","))…)")
    }
    return try rows.dropFirst().enumerated().map { i, row in
        guard row.count == header.count else {
            throw RunnerError.invalidResults(path: path, reason: "row \(i + 2) has \(row.count) fields, the header \(header.count)")
        }
        return Dictionary(uniqueKeysWithValues: zip(TableRow.header, row + Array(repeating: "", count: TableRow.header.count - header.count)))
    }
}

/// The rows of a results CSV of either kind: a table's (`readResults`) or the rows `sslbench
/// train --out` writes (`CellRow.header`, or an earlier version of it), whose table columns
/// (table, variant, scale, …) are absent from the dictionaries.
public func readResultsOrTrainRows(_ path: String) throws -> [[String: String]] {
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) }
    catch { throw RunnerError.invalidResults(path: path, reason: "cannot read it (\(error.localizedDescription))") }
    let rows: [[String]]
    do { rows = try CSV.parse(text) } catch { throw RunnerError.invalidResults(path: path, reason: "\(error)") }
    guard let header = rows.first else { return [] }
    guard header == CellRow.header || CellRow.earlierHeaders.contains(header) else { return try readResults(path) }
    return try rows.dropFirst().enumerated().map { i, row in
        guard row.count == header.count else {
            throw RunnerError.invalidResults(path: path, reason: "row \(i + 2) has \(row.count) fields, the header \(header.count)")
        }
        return Dictionary(uniqueKeysWithValues: zip(CellRow.header, row + Array(repeating: "", count: CellRow.header.count - header.count)))
    }
}

/// Expands a table into cells, runs the ones its CSV lacks through the shared kernel, appends
/// each row the moment it is done, and redraws the figure.
public struct TableRunner {
    public var resultsDirectory = "Results"
    public var seeds = 1
    public var shard: Shard? = nil
    /// Wraps each cell's method before it trains (the regression's planted faults, `Fault`);
    /// nil: each method trains as built.
    public var wrapMethod: ((TableCell, SelfSupervisedMethod) -> SelfSupervisedMethod)? = nil
    /// Print the plan and the estimated time, run nothing.
    public var dryRun = false
    /// Each cell as this returns it, and only those it returns (all, unchanged, when nil): the
    /// regression runs a subset of `methods`, two of them with their own recipe.
    public var cellSelection: ((TableCell) -> TableCell?)? = nil
    /// `--until-resolved`: after `seeds` (the plan's base) seeds per cell, add a seed at a time to
    /// the cells of the claims still open, up to the plan's cap (nil: the base seeds only). The
    /// claims are judged as the report judges them, with the looks of `SeedPlan.standard`, so a
    /// plan must not look more often: base at least 3 and cap at most 8 (`SeedPlan.validate`).
    public var untilResolved: SeedPlan? = nil
    /// The seeds to run (nil: 0 ..< `seeds`): one worker of `sslbench regress --jobs` runs one seed.
    public var seedList: [Int]? = nil
    /// How many seeds (0 ..< n) a cell runs, when cells differ (nil: every cell runs every seed
    /// of the plan): the regression's first look at each method is its own rule's seeds.
    public var seedCount: ((TableCell) -> Int)? = nil
    /// Runs the (cell, seed) pairs in place of this process when set (`sslbench regress --jobs`
    /// hands them to worker processes): given them with their estimated seconds and the CSV,
    /// it appends one row a pair to that CSV before it returns.
    public var cellExecutor: ((_ todo: [(cell: TableCell, seed: UInt64, seconds: Double)], _ csvPath: String,
                               _ log: (String) -> Void) throws -> Void)? = nil
    /// Where each cell keeps its checkpoint after every epoch (nil: `.checkpoints` in
    /// `resultsDirectory`); a worker of `sslbench run --jobs` keeps its parent's, so that a killed
    /// run resumes mid-cell whichever worker ran the cell.
    public var checkpointDirectory: String? = nil
    public init() {}

    /// The folder of the cells' checkpoints.
    public var checkpointFolder: String { checkpointDirectory ?? "\(resultsDirectory)/.checkpoints" }

    public func csvPath(_ table: AblationTable) -> String {
        let suffix = shard.map { ".shard-\($0.index)-of-\($0.count)" } ?? ""
        return "\(resultsDirectory)/\(table.name)\(suffix).csv"
    }

    /// The table's own CSV, where shards are merged (`csvPath` without a shard).
    func mergedCSVPath(_ table: AblationTable) -> String { "\(resultsDirectory)/\(table.name).csv" }

    /// The (cell, seed) pairs of this table at `scale` that this shard owns, in order.
    public func plan(_ table: AblationTable, scale: Scale) throws -> [(cell: TableCell, seed: UInt64)] {
        var all: [(TableCell, UInt64)] = []
        for seed in seedList ?? Array(0 ..< max(seeds, 1)) {
            for declared in try table.cells(scale: scale) {
                guard let cell = cellSelection == nil ? declared : cellSelection!(declared) else { continue }
                if let seedCount, seed >= seedCount(cell) { continue }
                all.append((cell.withSeed(UInt64(seed)), UInt64(seed)))
            }
        }
        guard let s = shard else { return all }
        return all.enumerated().filter { $0.offset % s.count == s.index - 1 }.map { $0.element }
    }

    public func run(_ table: AblationTable, scale: Scale, train: LabeledImages, test: LabeledImages,
                    log: (String) -> Void) throws {
        try FileManager.default.createDirectory(atPath: resultsDirectory, withIntermediateDirectories: true)
        let path = csvPath(table)
        let own = try readResults(path)
        // a shard also skips the cells that the table's own CSV already holds (merged shards of an
        // earlier run, or cells run without shards), so that a resumed or re-split run repeats none
        let merged = shard == nil ? [] : try readResults(mergedCSVPath(table))
        let existing = Set((own + merged).map(TableRow.key(row:)))
        let cells = try plan(table, scale: scale)
        // a kept row must be of the cell as now declared: a recipe change since it ran would
        // otherwise leave its old number standing for the new cell
        let kept = Dictionary((own + merged).map { (TableRow.key(row: $0), $0) }, uniquingKeysWith: { a, _ in a })
        for (cell, seed) in cells {
            guard let row = kept[TableRow.key(cell, seed: seed)] else { continue }
            let planned = TableRow.planned(cell, table: table, trainImages: train.count, testImages: test.count)
            if let difference = TableRow.configurationDifference(row, planned: planned) {
                throw RunnerError.staleRow(path: path, cell: "\(cell.entry.rowLabel) \(table.axisName) \(cell.point.value) seed \(seed)",
                                           difference: difference)
            }
        }
        let todo = cells.filter { !existing.contains(TableRow.key($0.cell, seed: $0.seed)) }
        log("\(table.title) — \(table.name) at scale \(scale.rawValue): \(cells.count) cells, \(cells.count - todo.count) already in \(path), \(todo.count) to run")
        try runCells(todo, table: table, scale: scale, train: train, test: test, log: log)
        // nothing to run (merged shards, a finished table): the figure is still drawn from the CSV
        if todo.isEmpty && !dryRun && !own.isEmpty { try drawFigure(table, scale: scale) }
        guard let plan = untilResolved else { return }
        if dryRun { try previewNextRound(table, scale: scale, plan: plan, baseSeedsToRun: todo.count, train: train, test: test, log: log); return }
        // a round at a time: seed `round` for the cells of every claim still open
        for round in max(seeds, plan.base) ..< plan.cap {
            let next = try nextRound(table, scale: scale, rows: try readResults(path), round: round)
            if next.open.isEmpty { log(try openClaimsText(table, scale: scale, rows: try readResults(path), seeds: round)); return }
            log("round \(round + 1) of at most \(plan.cap) seeds: \(next.open.count) claim\(next.open.count == 1 ? "" : "s") open, "
                + "\(next.cells.count) cell\(next.cells.count == 1 ? "" : "s") to run (seed \(round))")
            try runCells(next.cells, table: table, scale: scale, train: train, test: test, log: log)
        }
        log(try openClaimsText(table, scale: scale, rows: try readResults(path), seeds: plan.cap))
    }

    /// `--dry-run --until-resolved`: the next round of seeds the rows on disk call for, its cells
    /// and its time; only that one, since each later round follows from the numbers before it.
    /// While base seeds are still to run, the rounds cannot be planned yet.
    func previewNextRound(_ table: AblationTable, scale: Scale, plan: SeedPlan, baseSeedsToRun: Int,
                          train: LabeledImages, test: LabeledImages, log: (String) -> Void) throws {
        guard baseSeedsToRun == 0 else {
            log("then rounds of --until-resolved up to \(plan.cap) seeds, each planned from the numbers before it")
            return
        }
        let rows = try readResults(csvPath(table))
        for round in max(seeds, plan.base) ..< plan.cap {
            let next = try nextRound(table, scale: scale, rows: rows, round: round)
            if next.open.isEmpty { break }
            if next.cells.isEmpty { continue }
            log("next: round \(round + 1) of at most \(plan.cap) seeds, \(next.open.count) claim\(next.open.count == 1 ? "" : "s") open "
                + "(\(next.open.map(\.statement).joined(separator: "; "))), \(next.cells.count) cell\(next.cells.count == 1 ? "" : "s") to run "
                + "(seed \(round)); later rounds follow from its numbers")
            try runCells(next.cells, table: table, scale: scale, train: train, test: test, log: log)
            return
        }
        let most = try ResultsReport.summarize(table, scale: scale, rows: rows).map(\.seeds).max() ?? 0
        log("no round to run: " + (try openClaimsText(table, scale: scale, rows: rows, seeds: most)))
    }

    /// "after N seeds per cell: D claims decided, O open (U of them out of reach within the cap)".
    func openClaimsText(_ table: AblationTable, scale: Scale, rows: [[String: String]], seeds: Int) throws -> String {
        let summaries = try ResultsReport.summarize(table, scale: scale, rows: rows)
        let outcomes = table.claims.map { ResultsReport.evaluate($0, cells: summaries) }
        let open = outcomes.filter { $0.verdict == .notResolved }
        let cap = untilResolved?.cap ?? SeedPlan.standard.cap
        let outOfReach = open.filter { !ResultsReport.evaluate($0.claim, cells: summaries, cap: cap).decidableWithinCap }.count
        return "after \(seeds) seeds per cell: \(outcomes.count - open.count) claim(s) decided or not testable, \(open.count) open"
            + (open.isEmpty ? "" : " (\(outOfReach) of them out of reach within \(cap) seeds at this spread)")
    }

    /// One round of `--until-resolved`: the claims still open under the rule given `rows` that
    /// the cap's seeds could still decide, and seed `round` of every cell they name that `rows` lacks.
    public func nextRound(_ table: AblationTable, scale: Scale, rows: [[String: String]], round: Int) throws
        -> (open: [Claim], cells: [(cell: TableCell, seed: UInt64)]) {
        let summaries = try ResultsReport.summarize(table, scale: scale, rows: rows)
        // open claims that seeds up to the plan's cap could still decide (`ClaimRule.decidable`)
        let cap = untilResolved?.cap ?? SeedPlan.standard.cap
        let open = table.claims.filter {
            let o = ResultsReport.evaluate($0, cells: summaries, cap: cap)
            return o.verdict == .notResolved && o.decidableWithinCap
        }
        let wanted = Set(open.flatMap { $0.terms.map { "\($0.label)\u{1F}\($0.paperValue)" } })
        let have = Set(rows.map(TableRow.key(row:)))
        let cells = try table.cells(scale: scale).compactMap { declared -> (cell: TableCell, seed: UInt64)? in
            guard let cell = cellSelection == nil ? declared : cellSelection!(declared), let paperValue = cell.point.paperValue else { return nil }
            guard wanted.contains("\(cell.entry.rowLabel)\u{1F}\(paperValue)") else { return nil }
            let seeded = cell.withSeed(UInt64(round))
            return have.contains(TableRow.key(seeded, seed: UInt64(round))) ? nil : (seeded, UInt64(round))
        }
        return (open, cells)
    }

    /// Runs (cell, seed) pairs in order, each appended to the CSV as it finishes, with a
    /// running ETA; redraws the figure after each.
    func runCells(_ todo: [(cell: TableCell, seed: UInt64)], table: AblationTable, scale: Scale,
                  train: LabeledImages, test: LabeledImages, log: (String) -> Void) throws {
        let path = csvPath(table)
        let estimates = todo.map { estimatedSeconds($0.cell, train: train, test: test) }
        for ((cell, seed), estimate) in zip(todo, estimates) {
            log("  \(cell.entry.label) \(cell.entry.variant) \(table.axisName) \(cell.point.value) seed \(seed)  (about \(formatDuration(estimate)))")
        }
        log("estimated time: about \(formatDuration(estimates.reduce(0, +))) with \(Parallel.threads) threads, from the step's arithmetic "
            + String(format: "at the rate of the reference run (%.0f GFLOP/s per Zen 3 core); revised after every cell from the rate measured here",
                     TimeEstimate.referenceFLOPsPerSecondPerThread / 1e9))
        if dryRun { return }
        if let cellExecutor {
            try cellExecutor(zip(todo, estimates).map { ($0.0.cell, $0.0.seed, $0.1) }, path, log)
            if !todo.isEmpty { try drawFigure(table, scale: scale) }
            return
        }
        let clock = ContinuousClock(), started = clock.now
        var estimatedDone = 0.0
        for (k, item) in todo.enumerated() {
            let (cell, seed) = item
            let name = "\(cell.entry.label), \(table.axisName) \(cell.point.value), seed \(seed)"
            log("[\(k + 1)/\(todo.count)] \(name)")
            var result: CellResult
            // every cell keeps a checkpoint after each epoch: a killed table resumes mid-cell
            let checkpoints = checkpointFolder
            try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
            var configuration = cell.configuration
            configuration.checkpointPath = "\(checkpoints)/\(table.name)-\(fnv1a(TableRow.key(cell, seed: seed))).ckpt"
            func trainCell() throws -> CellResult {
                try Training.train(configuration, train: train, test: test, wrapMethod: { wrapMethod?(cell, $0) ?? $0 }, progress: { event in
                    if case .resumed(let epoch, _) = event { log("    resumed after epoch \(epoch)") }
                    if case .epochFinished(let epoch, let epochs, let loss, let rate, _) = event {
                        log(String(format: "    epoch %d/%d  loss %.4f  %.1f images/s", epoch, epochs, loss, rate))
                    }
                })
            }
            do {
                do { result = try trainCell() } catch CheckpointError.otherConfiguration(let path) {
                    // the runner's own checkpoint of this cell, left by a build whose configuration reads
                    // otherwise: kept aside, and the cell starts afresh
                    try? FileManager.default.removeItem(atPath: path + ".other-configuration")
                    try FileManager.default.moveItem(atPath: path, toPath: path + ".other-configuration")
                    log("    a checkpoint of another configuration was moved to \(path).other-configuration; starting afresh")
                    result = try trainCell()
                }
            } catch {
                log("    failed: \(error)")
                result = CellResult(); result.failure = "\(error)"
            }
            try CSV.appendRow(TableRow.fields(cell, table: table, result: result), header: TableRow.header, earlierHeaders: TableRow.earlierHeaders, to: path)
            let elapsed = Double((clock.now - started).components.seconds)
            estimatedDone += estimates[k]
            let eta = elapsed / max(estimatedDone, 1e-9) * estimates[(k + 1)...].reduce(0, +)
            let initial = result.knnTop1AtInitialisation.isNaN ? "" : String(format: " (at initialisation %.2f%%)", result.knnTop1AtInitialisation)
            log(String(format: "    kNN top-1 %.2f%%%@, linear %.2f%%, %@, status %@; table ETA %@",
                       result.knnTop1, initial, result.linearTop1, result.health.summary, CellRow.status(result), formatDuration(eta)))
            try drawFigure(table, scale: scale)
        }
    }

    /// The time estimate of one cell (see `TimeEstimate`) on this many threads.
    func estimatedSeconds(_ cell: TableCell, train: LabeledImages, test: LabeledImages) -> Double {
        let c = cell.configuration
        return TimeEstimate(c, trainImages: min(c.trainImages ?? train.count, train.count),
                            testImages: min(c.testImages ?? test.count, test.count)).seconds(threads: Parallel.threads)
    }

    /// Redraws Results/<table>.png from the CSV: ours (mean ± spread over seeds) beside the paper's.
    public func drawFigure(_ table: AblationTable, scale: Scale) throws {
        let canvas = try TableFigure.render(table, scale: scale, rows: try readResults(csvPath(table)))
        try PNGFile.write(canvas, to: csvPath(table).replacingOccurrences(of: ".csv", with: ".png"))
    }
}

/// "1h05m", "12m30s", "40s".
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}

/// A stable 64-bit FNV-1a hash, in hex: checkpoint file names from cell keys.
func fnv1a(_ s: String) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return String(h, radix: 16)
}

/// Joins shard CSVs into one: rows in the order of the files, a cell present twice kept once.
public func mergeResults(_ inputs: [String], into output: String) throws -> Int {
    var seen = Set<String>(), rows: [[String: String]] = []
    for path in inputs {
        for row in try readResults(path) where seen.insert(TableRow.key(row: row)).inserted { rows.append(row) }
    }
    for row in try readResults(output) where seen.insert(TableRow.key(row: row)).inserted { rows.insert(row, at: 0) }
    try writeResults(rows, to: output)
    return rows.count
}

/// Writes rows (keyed by the header's columns) as a results CSV, replacing `path` atomically.
public func writeResults(_ rows: [[String: String]], to path: String) throws {
    var text = CSV.line(TableRow.header)
    for row in rows { text += CSV.line(TableRow.header.map { row[$0] ?? "" }) }
    let tmp = path + ".tmp-\(getpid())"
    try text.write(toFile: tmp, atomically: false, encoding: .utf8)
    guard rename(tmp, path) == 0 else { throw CSVError.io("cannot replace \(path)") }
}

extension TableRunner {
    /// The folder of the committed reference rows at `scale`: Results/ for the `cpu` scale (what
    /// Results/README.md reports), Results/<scale>/ for the others.
    public static func referenceDirectory(scale: Scale, root: String = "Results") -> String {
        scale == .cpu ? root : "\(root)/\(scale.rawValue)"
    }

    /// This run's rows beside the reference's in `referenceDirectory` and the paper's numbers:
    /// writes COMPARISON.md, comparison.csv and TABLE-comparison.png next to the run's CSV and
    /// returns the markdown; nil when the reference has no CSV for the table.
    public func compare(_ table: AblationTable, scale: Scale, referenceDirectory: String) throws -> String? {
        let referencePath = "\(referenceDirectory)/\(table.name).csv"
        guard FileManager.default.fileExists(atPath: referencePath) else { return nil }
        let mine = try readResults(csvPath(table)), reference = try readResults(referencePath)
        let text = try TableComparison.markdown(table, scale: scale, mine: mine, minePath: csvPath(table),
                                                reference: reference, referencePath: referencePath)
        try text.write(toFile: "\(resultsDirectory)/COMPARISON.md", atomically: true, encoding: .utf8)
        try TableComparison.csv(table, scale: scale, mine: mine, reference: reference)
            .write(toFile: "\(resultsDirectory)/comparison.csv", atomically: true, encoding: .utf8)
        let canvas = try TableFigure.render(table, scale: scale, rows: mine, reference: reference)
        try PNGFile.write(canvas, to: "\(resultsDirectory)/\(table.name)-comparison.png")
        return text
    }
}
