import XCTest
@testable import Commands
import Datasets
import Experiments
import Runner
import Tensors

/// `--jobs N` of `sslbench run` and `sslbench regress`: the cells run as one-thread worker processes.
final class WorkerProcessTests: XCTestCase {
    var directory: String!
    override func setUpWithError() throws {
        Parallel.configure(threads: 2)
        directory = NSTemporaryDirectory() + "sslbench-workers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func prerequisites() throws -> (binary: String, folder: String, train: LabeledImages, test: LabeledImages) { try ReleaseBinary.prerequisites() }

    func run(_ binary: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try ReleaseBinary.run(binary, arguments, environment: environment)
    }

    /// `sslbench run --jobs 2`: the workers' rows are the rows this process computes at two
    /// threads, bit for bit (one thread works over two partitions), each cell once, and their
    /// folders are gone afterwards.
    func testOneThreadTableWorkersGiveTheRowsOfTwoThreadsHere() throws {
        let p = try prerequisites()
        let workers = try run(p.binary, ["run", "lambda", "--scale", "smoke", "--seeds", "1", "--jobs", "2",
                                         "--results", directory + "/workers-run", "--data", p.folder])
        XCTAssertEqual(workers.status, 0, workers.output)
        XCTAssertTrue(workers.output.contains("3 cell(s) on 2 one-thread workers"), workers.output)
        var here = TableRunner()
        here.resultsDirectory = directory + "/here"
        try here.run(Tables.lambda, scale: .smoke, train: p.train, test: p.test) { _ in }
        let expected = try readResults(here.csvPath(Tables.lambda))
        let rows = try readResults(directory + "/workers-run/lambda.csv")
        XCTAssertEqual(rows.count, expected.count)
        for row in expected {
            let theirs = try XCTUnwrap(rows.first { TableRow.key(row: $0) == TableRow.key(row: row) }, row["value"] ?? "")
            XCTAssertEqual(theirs["knn_top1"], row["knn_top1"], row["value"] ?? "")
            XCTAssertEqual(theirs["knn_top1_init"], row["knn_top1_init"], row["value"] ?? "")
            XCTAssertEqual(theirs["threads"], "1 (2 partitions)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/workers-run/workers/lambda"), "the workers' folders are removed")
    }

    /// `sslbench regress --jobs 2`: the workers give the rows this process gives at two threads,
    /// so the check of unchanged code against a baseline made here at two threads passes with
    /// each first look equal to the baseline's: Barlow Twins' seed 0, and the mean of SimCLR's
    /// seeds 0 and 1 (the smoke recipe's SimCLR looks at two seeds, the others at one).
    func testOneThreadRegressionWorkersGiveTheRowsOfTwoThreadsHere() throws {
        let p = try prerequisites()
        var update = RegressionRun()
        update.recipe = .smoke; update.baselineDirectory = directory; update.methods = ["barlow-twins", "simclr"]
        update.update = true; update.seeds = 3
        _ = try update.run(train: p.train, test: p.test) { _ in }
        let baseline = try readResults(update.baselinePath)
        let check = try run(p.binary, ["regress", "--recipe", "smoke", "--directory", directory, "--methods", "barlow-twins,simclr",
                                       "--jobs", "2", "--data", p.folder])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains("3 cell(s) on 2 one-thread workers"), check.output)
        XCTAssertTrue(check.output.contains("seeds: barlow-twins 1, simclr 2"), check.output)
        let rows = try readResults(directory + "/latest/methods.csv")
        XCTAssertEqual(rows.map { "\($0["method"]!) \($0["seed"]!)" }.sorted(), ["barlow-twins 0", "simclr 0", "simclr 1"])
        for row in rows {
            let same = try XCTUnwrap(baseline.first { $0["method"] == row["method"] && $0["seed"] == row["seed"] })
            XCTAssertEqual(row["knn_top1"], same["knn_top1"], row["method"]!)
            XCTAssertEqual(row["threads"], "1 (2 partitions)")
        }
        let simclr = baseline.filter { $0["method"] == "simclr" && ["0", "1"].contains($0["seed"]!) }.map { Double($0["knn_top1"]!)! }
        let mean = String(format: "%.2f (mean of seeds %.2f, %.2f)", (simclr[0] + simclr[1]) / 2, simclr[0], simclr[1])
        XCTAssertTrue(check.output.contains("simclr: kNN top-1 \(mean)"), check.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/latest/workers/methods"), "the workers' folders are removed")

        // a fault planted in SimCLR only, first look only: Barlow Twins trains as before, SimCLR
        // otherwise, and no retry seed runs whatever the verdict
        let sabotaged = try run(p.binary, ["regress", "--recipe", "smoke", "--directory", directory, "--methods", "barlow-twins,simclr",
                                           "--jobs", "2", "--data", p.folder, "--sabotage", "simclr=negate-gradients", "--first-look"])
        let faulty = try readResults(directory + "/latest/methods.csv")
        XCTAssertEqual(faulty.map { "\($0["method"]!) \($0["seed"]!)" }.sorted(), ["barlow-twins 0", "simclr 0", "simclr 1"], sabotaged.output)
        for row in faulty {
            let same = try XCTUnwrap(baseline.first { $0["method"] == row["method"] && $0["seed"] == row["seed"] })
            if row["method"] == "simclr" {
                XCTAssertNotEqual(row["knn_top1"], same["knn_top1"], "seed \(row["seed"]!)")
            } else {
                XCTAssertEqual(row["knn_top1"], same["knn_top1"])
            }
        }
        XCTAssertFalse(sabotaged.output.contains("more seed(s) decide"), sabotaged.output)
    }

    /// A row that a worker finished after its parent was killed is not lost: the next run adds it
    /// to the table's CSV (once: a cell the CSV has already is skipped) and removes the folder.
    func testRowsThatFinishedWorkersLeftAreCollected() throws {
        func row(_ value: String, seed: Int) -> [String: String] {
            ["table": "lambda", "variant": "", "method": "barlow-twins", "value": value, "scale": "smoke", "seed": "\(seed)", "knn_top1": "12.5"]
        }
        let csv = directory + "/lambda.csv", workers = CellWorkers.folder(of: csv)
        try writeResults([row("0.001", seed: 0)], to: csv)
        for (name, r) in [("a-seed0", row("0.001", seed: 0)), ("b-seed0", row("0.05", seed: 0))] {
            try FileManager.default.createDirectory(atPath: "\(workers)/\(name)", withIntermediateDirectories: true)
            try writeResults([r], to: "\(workers)/\(name)/lambda.csv")
        }
        try FileManager.default.createDirectory(atPath: "\(workers)/c-seed1", withIntermediateDirectories: true)   // a worker killed mid-cell: no row
        XCTAssertEqual(try CellWorkers.collectLeftRows(folder: workers, rowsFile: "lambda.csv", into: csv), 1)
        XCTAssertEqual(try readResults(csv).map { $0["value"]! }, ["0.001", "0.05"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: workers))
        XCTAssertEqual(try CellWorkers.collectLeftRows(folder: workers, rowsFile: "lambda.csv", into: csv), 0)
    }

    /// Each table's workers have a folder of their own: collecting one table's leftovers leaves
    /// another's folder, and its live workers, alone.
    func testEachTableHasItsOwnWorkersFolder() throws {
        XCTAssertEqual(CellWorkers.folder(of: "/r/lambda.csv"), "/r/workers/lambda")
        XCTAssertEqual(CellWorkers.lockPath(of: "/r/lambda.csv"), "/r/workers/lambda.lock")
        let other = CellWorkers.folder(of: directory + "/asymmetry.csv") + "/Barlow_Twins_variant_baseline-seed0"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try writeResults([["table": "asymmetry", "seed": "0", "knn_top1": "12.5"]], to: other + "/asymmetry.csv")
        let lambda = directory + "/lambda.csv"
        XCTAssertEqual(try CellWorkers.collectLeftRows(folder: CellWorkers.folder(of: lambda), rowsFile: "lambda.csv", into: lambda), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: other + "/asymmetry.csv"))
    }

    /// While one run of a table holds its lock, a second run of that table into that folder is
    /// refused (exit 2) and leaves the first one's worker folders alone; a dry run reads only and
    /// is allowed; once the lock is released the next run may take it.
    func testASecondRunOfATableIsRefusedWhileTheFirstRuns() throws {
        let csv = directory + "/lambda.csv", workers = CellWorkers.folder(of: csv)
        let live = workers + "/Barlow_Twins_lambda_0.05-seed0"
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        try writeResults([["table": "lambda", "variant": "", "method": "barlow-twins", "value": "0.05", "scale": "smoke",
                           "seed": "0", "knn_top1": "12.5"]], to: live + "/lambda.csv")
        let first = try RunLock.acquire(CellWorkers.lockPath(of: csv))
        XCTAssertEqual(RunLock.holder(first.path), ProcessInfo.processInfo.processIdentifier)
        XCTAssertThrowsError(try RunLock.acquire(first.path)) { error in
            XCTAssertEqual((error as? RunLock.Held)?.holder, ProcessInfo.processInfo.processIdentifier, "\(error)")
        }
        XCTAssertEqual(Commands.main(["run", "lambda", "--scale", "smoke", "--seeds", "1", "--results", directory]), 2)
        XCTAssertEqual(Commands.main(["run", "lambda", "--scale", "smoke", "--seeds", "1", "--jobs", "2", "--results", directory]), 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: live + "/lambda.csv"), "a refused run removed a live worker's folder")
        XCTAssertFalse(FileManager.default.fileExists(atPath: csv), "a refused run wrote the table's CSV")
        let p = try prerequisites()
        XCTAssertEqual(Commands.main(["run", "lambda", "--scale", "smoke", "--seeds", "1", "--dry-run", "--results", directory,
                                      "--data", p.folder]), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: live + "/lambda.csv"), "a dry run removed a live worker's folder")
        first.release()
        let second = try RunLock.acquire(first.path)
        second.release()
    }

    func testWorkerOptionsAreChecked() {
        XCTAssertEqual(Commands.main(["run", "lambda", "--jobs", "2", "--shard", "1/2"]), 2)
        XCTAssertEqual(Commands.main(["run", "lambda", "--cell", "0:0"]), 2)                // no --cell-directory
        XCTAssertEqual(Commands.main(["run", "lambda", "--cell", "99:0", "--cell-directory", directory]), 2)   // 3 cells at smoke
        XCTAssertEqual(Commands.main(["run", "lambda", "--cell", "a:0", "--cell-directory", directory]), 2)
        XCTAssertEqual(Commands.main(["run", "lambda", "--jobs", "0"]), 2)
    }

    /// A worker's rows name its parent's commit: `SSLBENCH_COMMIT` sets a process's commit, and a
    /// worker's environment carries this process's.
    func testWorkersNameTheirParentsCommit() throws {
        XCTAssertEqual(CellWorkers.workerEnvironment()[MachineInfo.commitVariable], MachineInfo.commit)
        XCTAssertEqual(CellWorkers.workerEnvironment()["PATH"], ProcessInfo.processInfo.environment["PATH"])
        let p = try prerequisites()
        let info = try run(p.binary, ["info"], environment: [MachineInfo.commitVariable: "0123456789"])
        XCTAssertEqual(info.status, 0, info.output)
        XCTAssertTrue(info.output.contains("commit: 0123456789\n"), info.output)
    }

    func testAWorkerNameIsAFolderName() {
        XCTAssertEqual(CellWorkers.fileName("Barlow Twins  lambda 0.0051"), "Barlow_Twins__lambda_0.0051")
        XCTAssertEqual(CellWorkers.fileName("SimCLR l2/0.1"), "SimCLR_l2_0.1")
    }
}
