import Foundation
import Report
import Runner
import Experiments

/// The worker processes of `sslbench regress --jobs N`: each (method, seed) cell runs as its own
/// `sslbench regress --cell METHOD:SEED --threads 1` process, at most N at a time, the longest
/// (by the runner's estimate) first, so that a long cell does not start last and run alone. Two
/// one-thread processes got more cells an hour out of 2 cores than one two-thread process (README,
/// "Committed at this scale"). A worker writes its row to its own folder, `workers/METHOD-seedS`
/// beside the run's CSV, with its log; the row is appended to the run's CSV when it exits.
struct RegressionWorkers {
    let jobs: Int
    /// The options every worker gets besides `--cell`, `--cell-directory` and `--threads`:
    /// the recipe, the baseline's folder, the fault, the data.
    let arguments: [String]

    func run(_ todo: [(cell: TableCell, seed: UInt64, seconds: Double)], csvPath: String, log: (String) -> Void) throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let folder = (csvPath as NSString).deletingLastPathComponent + "/workers"
        var pending = todo.sorted { $0.seconds > $1.seconds }[...]
        var running: [(process: Process, method: String, seed: UInt64, directory: String, started: Date)] = []
        let total = todo.count
        var finished = 0
        log("\(total) cell(s) on \(jobs) one-thread workers, the longest first; their logs in \(folder)")
        while !pending.isEmpty || !running.isEmpty {
            while running.count < jobs, let next = pending.popFirst() {
                let method = next.cell.configuration.method.name
                let directory = "\(folder)/\(method)-seed\(next.seed)"
                try? FileManager.default.removeItem(atPath: directory)
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let logPath = "\(directory)/worker.log"
                FileManager.default.createFile(atPath: logPath, contents: nil)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = ["regress", "--cell", "\(method):\(next.seed)", "--cell-directory", directory, "--threads", "1"] + arguments
                let output = FileHandle(forWritingAtPath: logPath)
                process.standardOutput = output
                process.standardError = output
                try process.run()
                running.append((process, method, next.seed, directory, Date()))
                log("  started \(method) seed \(next.seed)")
            }
            Thread.sleep(forTimeInterval: 0.2)
            for (i, worker) in running.enumerated().reversed() where !worker.process.isRunning {
                running.remove(at: i)
                let rows = (try? readResults("\(worker.directory)/methods.csv")) ?? []
                guard worker.process.terminationStatus == 0, !rows.isEmpty else {
                    for other in running { other.process.terminate() }
                    throw WorkerFailure(description: "the worker of \(worker.method) seed \(worker.seed) exited with status "
                                        + "\(worker.process.terminationStatus) without its row; see \(worker.directory)/worker.log")
                }
                for row in rows { try CSV.appendRow(TableRow.header.map { row[$0] ?? "" }, header: TableRow.header, to: csvPath) }
                finished += 1
                let knn = rows.first?["knn_top1"].flatMap { $0.isEmpty ? nil : $0 } ?? "none"
                log(String(format: "  [%d/%d] %@ seed %llu: kNN top-1 %@, status %@, %.0f s", finished, total, worker.method, worker.seed,
                           knn, rows.first?["status"] ?? "", Date().timeIntervalSince(worker.started)))
            }
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    struct WorkerFailure: Error, CustomStringConvertible { let description: String }
}
