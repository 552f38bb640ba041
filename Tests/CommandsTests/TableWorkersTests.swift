import XCTest
@testable import Commands
import Datasets
import Experiments
import Runner
import Tensors

/// `sslbench run TABLE --jobs N`: the cells run as one-thread worker processes.
final class TableWorkersTests: XCTestCase {
    var directory: String!
    override func setUpWithError() throws {
        Parallel.configure(threads: 2)
        directory = NSTemporaryDirectory() + "sslbench-workers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// The workers' rows are the rows this process computes at two threads, bit for bit (one
    /// thread works over two partitions), each cell once, and their folders are gone afterwards.
    func testOneThreadWorkersGiveTheRowsOfTwoThreadsHere() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = root.appendingPathComponent(".build/release/sslbench").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("no release build of sslbench at \(binary)") }
        guard let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) else {
            throw XCTSkip("CIFAR-10 is not next to the project")
        }
        var here = TableRunner()
        here.resultsDirectory = directory + "/here"
        try here.run(Tables.lambda, scale: .smoke, train: data.train, test: data.test) { _ in }
        let expected = try readResults(here.csvPath(Tables.lambda))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "lambda", "--scale", "smoke", "--seeds", "1", "--jobs", "2", "--results", directory + "/workers-run",
                             "--data", folder]
        let pipe = Pipe()
        process.standardOutput = pipe; process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("3 cell(s) on 2 one-thread workers"), output)
        let rows = try readResults(directory + "/workers-run/lambda.csv")
        XCTAssertEqual(rows.count, expected.count)
        for row in expected {
            let theirs = try XCTUnwrap(rows.first { TableRow.key(row: $0) == TableRow.key(row: row) }, row["value"] ?? "")
            XCTAssertEqual(theirs["knn_top1"], row["knn_top1"], row["value"] ?? "")
            XCTAssertEqual(theirs["knn_top1_init"], row["knn_top1_init"], row["value"] ?? "")
            XCTAssertEqual(theirs["threads"], "1 (2 partitions)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/workers-run/workers"), "the workers' folders are removed")
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

    func testWorkerOptionsAreChecked() {
        XCTAssertEqual(Commands.main(["run", "lambda", "--jobs", "2", "--shard", "1/2"]), 2)
        XCTAssertEqual(Commands.main(["run", "lambda", "--cell", "0:0"]), 2)                // no --cell-directory
        XCTAssertEqual(Commands.main(["run", "lambda", "--cell", "99:0", "--cell-directory", directory]), 2)   // 3 cells at smoke
        XCTAssertEqual(Commands.main(["run", "lambda", "--cell", "a:0", "--cell-directory", directory]), 2)
        XCTAssertEqual(Commands.main(["run", "lambda", "--jobs", "0"]), 2)
    }

    func testAWorkerNameIsAFolderName() {
        XCTAssertEqual(CellWorkers.fileName("Barlow Twins  lambda 0.0051"), "Barlow_Twins__lambda_0.0051")
        XCTAssertEqual(CellWorkers.fileName("SimCLR l2/0.1"), "SimCLR_l2_0.1")
    }
}
