import XCTest
@testable import Runner
import Datasets
import Methods
import Experiments
import Report
import Tensors
import Training

final class RunnerTests: XCTestCase {
    var directory: String!
    override func setUpWithError() throws {
        Parallel.configure(threads: 2)
        directory = NSTemporaryDirectory() + "sslbench-runner-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// The smoke scale's 512 + 512 images: real CIFAR-10 when it is next to the project,
    /// random images otherwise.
    lazy var data: (train: LabeledImages, test: LabeledImages) = {
        if let folder = try? CIFAR.locateCIFAR10(), let d = try? CIFAR.loadCIFAR10(folder: folder) {
            return (d.train.prefix(512), d.test.prefix(512))
        }
        var rng = RandomGenerator(seed: 1)
        func images(_ n: Int) -> LabeledImages {
            LabeledImages(pixels: (0 ..< n * 3072).map { _ in UInt8(rng.int(below: 256)) }, labels: (0 ..< n).map { Int32($0 % 10) }, classCount: 10)
        }
        return (images(512), images(512))
    }()

    func runner(shard: String? = nil) throws -> TableRunner {
        var r = TableRunner()
        r.resultsDirectory = directory
        if let s = shard { r.shard = try Shard(parsing: s) }
        return r
    }

    /// `--until-resolved` adds a seed only to the cells of the claims still open: with the
    /// asymmetry table's four cells at three seeds, the baseline and the predictor 1 point apart
    /// (open), everything else 20 points apart (decided), round 4 runs seed 3 of those two cells.
    func testUntilResolvedAddsSeedsOnlyWhereAClaimIsOpen() throws {
        let table = Tables.asymmetry
        let means = ["baseline": 60.0, "stop-gradient": 40, "predictor": 59, "predictor-stop-gradient": 20]
        var rows: [[String: String]] = []
        for cell in try table.cells(scale: .smoke) {
            for seed in 0 ..< 3 {
                rows.append(["table": table.name, "variant": cell.entry.label, "method": cell.configuration.method.name,
                             "value": cell.point.value.description, "scale": "smoke", "seed": "\(seed)", "status": "ok",
                             "knn_top1": "\(means[cell.point.value.description]! + [-1.0, 0, 1][seed])"])
            }
        }
        let next = try runner().nextRound(table, scale: .smoke, rows: rows, round: 3)
        XCTAssertEqual(next.open.map(\.statement), table.claims.filter { $0.statement.contains("beats a predictor") }.map(\.statement))
        XCTAssertEqual(Set(next.cells.map(\.cell.point.value.description)), ["baseline", "predictor"])
        XCTAssertTrue(next.cells.allSatisfy { $0.seed == 3 && $0.cell.configuration.seed == 3 })
        // once those rows are there, nothing more for that round
        for (cell, _) in next.cells {
            rows.append(["table": table.name, "variant": cell.entry.label, "method": cell.configuration.method.name,
                         "value": cell.point.value.description, "scale": "smoke", "seed": "3", "status": "ok", "knn_top1": "59.5"])
        }
        XCTAssertTrue(try runner().nextRound(table, scale: .smoke, rows: rows, round: 3).cells.isEmpty)
        // a plan may not look more often than the rule's
        XCTAssertThrowsError(try SeedPlan(base: 2, cap: 8).validate())
        XCTAssertThrowsError(try SeedPlan(base: 3, cap: 9).validate())
        XCTAssertNoThrow(try SeedPlan(base: 4, cap: 6).validate())
    }

    /// `--dry-run --until-resolved` on a table whose base seeds are in prints the next round's
    /// cells and time and runs nothing; with base seeds still to run it says rounds follow.
    func testADryRunShowsTheNextRoundAndRunsNothing() throws {
        let table = Tables.asymmetry
        let means = ["baseline": 60.0, "stop-gradient": 40, "predictor": 59, "predictor-stop-gradient": 20]
        var r = try runner()
        r.seeds = 3; r.untilResolved = SeedPlan(base: 3, cap: 8)
        r.dryRun = true
        var log: [String] = []
        try r.run(table, scale: .smoke, train: data.train, test: data.test) { log.append($0) }
        XCTAssertTrue(log.contains { $0.contains("then rounds of --until-resolved up to 8 seeds") }, "\(log)")
        var rows: [[String: String]] = []
        for cell in try table.cells(scale: .smoke) {
            for seed in 0 ..< 3 {
                var row = TableRow.planned(cell.withSeed(UInt64(seed)), table: table, trainImages: data.train.count, testImages: data.test.count)
                row["seed"] = "\(seed)"; row["status"] = "ok"; row["knn_top1"] = "\(means[cell.point.value.description]! + [-1.0, 0, 1][seed])"
                rows.append(row)
            }
        }
        try writeResults(rows, to: r.csvPath(table))
        let before = try String(contentsOfFile: r.csvPath(table), encoding: .utf8)
        log = []
        try r.run(table, scale: .smoke, train: data.train, test: data.test) { log.append($0) }
        XCTAssertTrue(log.contains { $0.hasPrefix("next: round 4 of at most 8 seeds, 1 claim open") && $0.contains("2 cells to run (seed 3)") }, "\(log)")
        XCTAssertEqual(log.filter { $0.contains("seed 3  (about") }.count, 2, "\(log)")
        XCTAssertEqual(try String(contentsOfFile: r.csvPath(table), encoding: .utf8), before)
    }

    /// A claim that the cap's seeds could not decide gets no more: the baseline and the predictor
    /// with equal means (sd 1, 3 seeds: still in reach, it gets seed 3; at 6 seeds |S| + 2·SE is
    /// below the band the cap of 8 would give, so round 7 adds nothing).
    func testAClaimOutOfReachWithinTheCapGetsNoMoreSeeds() throws {
        let table = Tables.asymmetry
        let means = ["baseline": 60.0, "stop-gradient": 40, "predictor": 60, "predictor-stop-gradient": 20]
        func rows(seeds: Int) throws -> [[String: String]] {
            try table.cells(scale: .smoke).flatMap { cell in
                (0 ..< seeds).map { seed in
                    ["table": table.name, "variant": cell.entry.label, "method": cell.configuration.method.name,
                     "value": cell.point.value.description, "scale": "smoke", "seed": "\(seed)", "status": "ok",
                     "knn_top1": "\(means[cell.point.value.description]! + [-1.0, 0, 1][seed % 3])"]
                }
            }
        }
        XCTAssertEqual(try runner().nextRound(table, scale: .smoke, rows: try rows(seeds: 3), round: 3).cells.count, 2)
        let late = try runner().nextRound(table, scale: .smoke, rows: try rows(seeds: 6), round: 6)
        XCTAssertTrue(late.open.isEmpty && late.cells.isEmpty, "\(late.open.map(\.statement))")
        let report = try ResultsReport.section(table, scale: .smoke, rows: try rows(seeds: 6), csvName: "asymmetry.csv")
        XCTAssertTrue(report.contains("out of reach within 8 seeds"), report)
        // the rule itself: a wide band at the cap puts a small |S| out of reach, a narrow one does not
        XCTAssertFalse(ClaimRule.decidable(.positive, sum: 0.1, standardError: 0.5, spread: 1, weights: [1, -1], seedsAtCap: [8, 8]))
        XCTAssertTrue(ClaimRule.decidable(.positive, sum: 0.1, standardError: 0.5, spread: 0.2, weights: [1, -1], seedsAtCap: [8, 8]))
        XCTAssertFalse(ClaimRule.decidable(.withinMargin(1.5), sum: 0.3, standardError: 0.8, spread: 2, weights: [1, -1], seedsAtCap: [8, 8]))
        XCTAssertTrue(ClaimRule.decidable(.withinMargin(1.5), sum: 0.3, standardError: 0.2, spread: 0.4, weights: [1, -1], seedsAtCap: [8, 8]))
        XCTAssertTrue(ClaimRule.decidable(.withinMargin(1.5), sum: 6, standardError: 0.8, spread: 2, weights: [1, -1], seedsAtCap: [8, 8]))
        // a cell that already has more seeds than the cap counts with its own
        XCTAssertTrue(ClaimRule.decidable(.positive, sum: 0.1, standardError: 0.5, spread: 1, weights: [1, -1], seedsAtCap: [400, 400]))
    }

    /// The short scales freeze SwAV's prototypes for 1 epoch and keep no queue; the paper scale
    /// keeps solo-learn's 2 epochs and its queue from epoch 50.
    func testShortScalesShortenSwAVsFreezeAndDropItsQueue() {
        for scale in [Scale.smoke, .ci, .cpu, .paper] {
            let c = Scales.base(scale, method: SwAVConfiguration())
            guard let swav = c.method as? SwAVConfiguration else { return XCTFail("not SwAV") }
            let short = scale != .paper
            XCTAssertEqual(swav.freezePrototypesEpochs, short ? 1 : 2, "\(scale)")
            XCTAssertEqual(swav.queueLength, short ? 0 : 3840, "\(scale)")
        }
    }

    /// Every table at the smoke scale: a CSV that parses with one ok row per cell, and a PNG
    /// that libpng reads back.
    func testEveryTableRunsAtSmokeScale() throws {
        for table in Tables.all {
            let r = try runner()
            try r.run(table, scale: .smoke, train: data.train, test: data.test) { _ in }
            let rows = try readResults(r.csvPath(table))
            XCTAssertEqual(rows.count, try table.cells(scale: .smoke).count, table.name)
            XCTAssertTrue(rows.allSatisfy { $0["status"] == "ok" }, "\(table.name): \(rows.map { $0["status"] ?? "" })")
            XCTAssertTrue(rows.allSatisfy { Double($0["knn_top1"] ?? "") != nil }, table.name)
            let png = try PNGFile.read(r.csvPath(table).replacingOccurrences(of: ".csv", with: ".png"))
            XCTAssertGreaterThan(png.width, 100, table.name)
        }
    }

    func testARerunSkipsFinishedCellsAndDuplicatesNone() throws {
        let table = Tables.lambda, r = try runner()
        // as if a run had been killed after its first cell: keep only the first row
        try r.run(table, scale: .smoke, train: data.train, test: data.test) { _ in }
        let full = try String(contentsOfFile: r.csvPath(table), encoding: .utf8)
        let lines = full.split(separator: "\n", omittingEmptySubsequences: false)
        try (lines.prefix(2).joined(separator: "\n") + "\n").write(toFile: r.csvPath(table), atomically: true, encoding: .utf8)
        var log: [String] = []
        try r.run(table, scale: .smoke, train: data.train, test: data.test) { log.append($0) }
        XCTAssertTrue(log[0].contains("1 already in"), log[0])
        let rows = try readResults(r.csvPath(table))
        XCTAssertEqual(rows.map { $0["value"]! }, ["0.001", "0.0051", "0.05"])
        // same configuration and seed: the same numbers as the uninterrupted run
        let before = try CSV.parse(full).dropFirst().map { Array($0.prefix(25)) }
        let after = try CSV.parse(String(contentsOfFile: r.csvPath(table), encoding: .utf8)).dropFirst().map { Array($0.prefix(25)) }
        XCTAssertEqual(before, after)
    }

    func testTwoShardsAndAMergeGiveTheRowsOfOneProcess() throws {
        let table = Tables.asymmetry
        var whole = try runner()
        whole.resultsDirectory = directory + "/whole"
        try whole.run(table, scale: .smoke, train: data.train, test: data.test) { _ in }
        for s in ["1/2", "2/2"] { try runner(shard: s).run(table, scale: .smoke, train: data.train, test: data.test) { _ in } }
        let merged = try runner().csvPath(table)
        let count = try mergeResults([try runner(shard: "1/2").csvPath(table), try runner(shard: "2/2").csvPath(table)], into: merged)
        XCTAssertEqual(count, 4)
        // a shard run again, or a split into three, repeats none of the cells the merged CSV holds
        var logged: [String] = []
        for s in ["2/2", "3/3"] { try runner(shard: s).run(table, scale: .smoke, train: data.train, test: data.test) { logged.append($0) } }
        let plans = logged.filter { $0.contains(" to run") }
        XCTAssertEqual(plans.count, 2, "\(logged)")
        XCTAssertTrue(plans.allSatisfy { $0.hasSuffix(", 0 to run") }, "\(plans)")
        XCTAssertEqual(try readResults(try runner(shard: "3/3").csvPath(table)).count, 0)
        func keyed(_ path: String) throws -> [String: [String]] {
            var d: [String: [String]] = [:]
            for row in try readResults(path) { d[row["value"]!] = ["knn_top1", "linear_top1", "final_loss", "seed"].map { row[$0]! } }
            return d
        }
        XCTAssertEqual(try keyed(merged), try keyed(whole.csvPath(table)))
    }

    func testABadShardAnUnknownTableAndAnUndeclaredScale() {
        XCTAssertThrowsError(try Shard(parsing: "3/2")) { XCTAssertTrue("\($0)".contains("3/2")) }
        XCTAssertThrowsError(try Shard(parsing: "0/2"))
        XCTAssertThrowsError(try Tables.named("batch")) { XCTAssertTrue("\($0)".contains("batchsize")) }
        XCTAssertThrowsError(try Tables.batchSize.cells(scale: .ci)) { XCTAssertTrue("\($0)".contains("no 'ci' scale")) }
    }

    /// A checkpoint of this cell left by a build whose configuration reads otherwise is moved
    /// aside and the cell starts afresh, instead of failing it for good.
    func testACheckpointOfAnotherConfigurationIsMovedAsideAndTheCellRuns() throws {
        let table = Tables.lambda, r = try runner()
        let first = try table.cells(scale: .smoke)[0]
        let folder = directory + "/.checkpoints"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = "\(folder)/\(table.name)-\(fnv1a(TableRow.key(first.withSeed(0), seed: 0))).ckpt"
        var stale = Data("SSLBENCH-CHECKPOINT-1\n".utf8)
        withUnsafeBytes(of: Int64(5)) { stale.append(contentsOf: $0) }
        stale.append(contentsOf: Array("other".utf8))
        try stale.write(to: URL(fileURLWithPath: path))
        var log: [String] = []
        try r.run(table, scale: .smoke, train: data.train, test: data.test) { log.append($0) }
        let rows = try readResults(r.csvPath(table))
        XCTAssertEqual(rows.map { $0["status"]! }, ["ok", "ok", "ok"], "\(log)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + ".other-configuration"))
        XCTAssertTrue(log.contains { $0.contains("another configuration") }, "\(log)")
    }

    /// A row kept for a cell must be of the cell as declared: one whose batch size differs (the
    /// table changed since it ran) stops the run with the file, the cell and the column named,
    /// and nothing is trained or written.
    func testAKeptRowOfAnotherConfigurationIsRefused() throws {
        let r = try runner(), table = Tables.lambda
        let cell = try table.cells(scale: .smoke)[0]
        var row = TableRow.planned(cell, table: table, trainImages: data.train.count, testImages: data.test.count)
        row["seed"] = "0"; row["status"] = "ok"; row["knn_top1"] = "40"
        try writeResults([row], to: r.csvPath(table))
        XCTAssertNil(TableRow.configurationDifference(row, planned: row))
        row["batch_size"] = "999"
        try writeResults([row], to: r.csvPath(table))
        let before = try String(contentsOfFile: r.csvPath(table), encoding: .utf8)
        XCTAssertThrowsError(try r.run(table, scale: .smoke, train: data.train, test: data.test) { _ in }) {
            XCTAssertTrue("\($0)".contains("batch_size 999 where the table declares 64"), "\($0)")
            XCTAssertTrue("\($0)".contains("seed 0"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOfFile: r.csvPath(table), encoding: .utf8), before)
    }

    func testAHandEditedResultsFileIsRefusedAndLeftAlone() throws {
        let r = try runner(), table = Tables.lambda
        let broken = "table,variant\nlambda,\"unterminated\n"
        try broken.write(toFile: r.csvPath(table), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try r.run(table, scale: .smoke, train: data.train, test: data.test) { _ in }) {
            XCTAssertTrue("\($0)".contains("nothing was changed"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOfFile: r.csvPath(table), encoding: .utf8), broken)
    }
}
