import Foundation
import Report
import Runner
import Experiments
import Tensors

/// The worker processes of `--jobs N` (`sslbench run` and `sslbench regress`): each (cell, seed)
/// runs as its own one-thread `sslbench` process, at most N at a time, the longest (by the
/// runner's estimate) first, so that a long cell does not start last and run alone. Two
/// one-thread processes got more cells an hour out of 2 cores than one two-thread process (README,
/// "Committed at this scale"), and at one thread a cell computes what it computes at two
/// (`Parallel.defaultPartitions`). A worker writes its row to its own folder,
/// `workers/TABLE/NAME-seedS` beside the run's CSV, with its log; the row is appended to the run's CSV
/// when the worker exits, and the folder removed. Each table's workers have their own folder,
/// `workers/TABLE/`, so that a run of one table never touches another's.
struct CellWorkers {
    let jobs: Int
    /// The CSV a worker writes in its folder (`methods.csv`: the regression runs the methods table).
    let rowsFile: String
    /// A worker's name in its folder and in the log (the method, or the table's entry and point).
    let name: (TableCell) -> String
    /// The worker's command line after the executable: it must run the one (cell, seed) at one
    /// thread and write its row to `rowsFile` in the folder given.
    let arguments: (_ cell: TableCell, _ seed: UInt64, _ directory: String) -> [String]

    /// A worker's environment: this process's, with this process's commit (`MachineInfo.commit`),
    /// which the rows of its workers name: the run's own rows, appended to a tracked CSV as
    /// workers finish, would otherwise make the tree dirty for every worker after the first.
    static func workerEnvironment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment[MachineInfo.commitVariable] = MachineInfo.commit
        return environment
    }

    /// The folder of the workers of a run whose CSV is `csvPath`: `workers/TABLE` beside it, TABLE
    /// the CSV's name without `.csv`.
    static func folder(of csvPath: String) -> String {
        let name = ((csvPath as NSString).lastPathComponent as NSString).deletingPathExtension
        return (csvPath as NSString).deletingLastPathComponent + "/workers/" + name
    }

    /// The lock a run of the table whose CSV is `csvPath` holds while it runs: `workers/TABLE.lock`.
    static func lockPath(of csvPath: String) -> String { folder(of: csvPath) + ".lock" }

    func run(_ todo: [(cell: TableCell, seed: UInt64, seconds: Double)], csvPath: String, log: (String) -> Void) throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let folder = Self.folder(of: csvPath)
        var pending = todo.sorted { $0.seconds > $1.seconds }[...]
        var running: [(process: Process, name: String, seed: UInt64, seconds: Double, directory: String, started: Date)] = []
        let total = todo.count, clock = Date()
        var finished = 0, estimatedDone = 0.0, estimatedLeft = todo.map(\.seconds).reduce(0, +)
        log("\(total) cell(s) on \(jobs) one-thread workers, the longest first; their logs in \(folder)")
        while !pending.isEmpty || !running.isEmpty {
            while running.count < jobs, let next = pending.popFirst() {
                let name = self.name(next.cell)
                let directory = "\(folder)/\(Self.fileName(name))-seed\(next.seed)"
                try? FileManager.default.removeItem(atPath: directory)
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let logPath = "\(directory)/worker.log"
                _ = FileManager.default.createFile(atPath: logPath, contents: nil)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments(next.cell, next.seed, directory)
                process.environment = Self.workerEnvironment()
                let output = FileHandle(forWritingAtPath: logPath)
                process.standardOutput = output
                process.standardError = output
                try process.run()
                running.append((process, name, next.seed, next.seconds, directory, Date()))
                log("  started \(name) seed \(next.seed)")
            }
            Thread.sleep(forTimeInterval: 0.2)
            for (i, worker) in running.enumerated().reversed() where !worker.process.isRunning {
                running.remove(at: i)
                let rows = (try? readResults("\(worker.directory)/\(rowsFile)")) ?? []
                guard worker.process.terminationStatus == 0, !rows.isEmpty else {
                    for other in running { other.process.terminate() }
                    throw WorkerFailure(description: "the worker of \(worker.name) seed \(worker.seed) exited with status "
                                        + "\(worker.process.terminationStatus) without its row; see \(worker.directory)/worker.log")
                }
                for row in rows { try CSV.appendRow(TableRow.header.map { row[$0] ?? "" }, header: TableRow.header, earlierHeaders: TableRow.earlierHeaders, to: csvPath) }
                try? FileManager.default.removeItem(atPath: worker.directory)
                finished += 1
                estimatedDone += worker.seconds; estimatedLeft -= worker.seconds
                // the time so far scaled by the estimated work left over the work done, the cells
                // still running counted as half done (else the first cells, which ran beside others,
                // would make the ETA about N times too long)
                let halfRunning = running.map(\.seconds).reduce(0, +) / 2
                let eta = Date().timeIntervalSince(clock) / max(estimatedDone + halfRunning, 1e-9) * max(estimatedLeft - halfRunning, 0)
                let knn = rows.first?["knn_top1"].flatMap { $0.isEmpty ? nil : $0 } ?? "none"
                log(String(format: "  [%d/%d] %@ seed %llu: kNN top-1 %@, status %@, %.0f s; ETA %@", finished, total, worker.name, worker.seed,
                           knn, rows.first?["status"] ?? "", Date().timeIntervalSince(worker.started),
                           finished == total ? "0s" : formatDuration(eta)))
            }
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Rows that finished workers left in `folder` (their parent killed before it collected them),
    /// appended to `csvPath` unless it has the cell already; the folder is removed. Returns how
    /// many were added.
    static func collectLeftRows(folder: String, rowsFile: String, into csvPath: String) throws -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return 0 }
        var have = Set(try readResults(csvPath).map(TableRow.key(row:))), added = 0
        for name in names.sorted() {
            for row in (try? readResults("\(folder)/\(name)/\(rowsFile)")) ?? [] where have.insert(TableRow.key(row: row)).inserted {
                try CSV.appendRow(TableRow.header.map { row[$0] ?? "" }, header: TableRow.header, earlierHeaders: TableRow.earlierHeaders, to: csvPath)
                added += 1
            }
        }
        try? FileManager.default.removeItem(atPath: folder)
        return added
    }

    /// A name as a folder name: letters, digits, '.', '-' and '_' kept, anything else '_'.
    static func fileName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" })
    }

    struct WorkerFailure: Error, CustomStringConvertible { let description: String }
}
