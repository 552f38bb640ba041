import Foundation
import NN
import Bench
import Experiments
import Methods
import Options
import Report
import Tensors

/// `sslbench bench`: the speed figures, appended to Results/bench.csv.
enum BenchCommand {
    struct Settings {
        var out = "Results/bench.csv"
        var python: String?
        var threads: Int?
        var rounds: Int?
        var parts = Set(BenchPart.allCases)
        var pytorch = false
        var quick = false
    }

    static let options: [Option<Settings>] = [
        Option(switch: "quick", "the cpu scale's step (width 8) and width 16 only, one round") { $0.quick = true },
        Option("only", "PARTS", example: "step,loss",
               "only these parts: \(BenchPart.allCases.map(\.rawValue).joined(separator: ",")); train: `sslbench train`\nitself against the step at width 16, alternated; cell: the cpu scale's Barlow Twins cell,\nevaluation included, against its steps; layers: where the step's time goes") { s, v in
            s.parts = Set(try v.split(separator: ",").map { try Value.named(String($0), option: "only", as: BenchPart.self) })
        },
        SharedOptions.threads(\.threads),
        Option("rounds", "N", example: "3", "rounds of the alternated comparisons (3)") { s, v in s.rounds = try Value.int(v, option: "rounds", minimum: 1) },
        Option("out", "FILE", example: "/tmp/bench.csv", "the CSV the figures are appended to (Results/bench.csv)") { s, v in s.out = v },
        Option(switch: "pytorch", "instead: the step against Benchmarks/torch_step.py (PyTorch, channels-last), run\nalternately at the cpu scale's shape (width 8, batch 128, projector 1024) and at\nwidths 16 and 64: both rates and their ratio") { $0.pytorch = true },
        Option("python", "PY", example: "python3", "the Python with PyTorch for --pytorch ($PYTHON, else python3)") { s, v in s.python = v },
    ]

    static var command: Command {
        Command("bench", summary: "time the training step (the cpu scale's width 8, widths 16 and 64, at T threads and at 1),\na whole cpu-scale cell against its steps, the data pipeline, the Barlow Twins loss (Gram\nand dense, D 2048 and 16384) and sgemm; medians after a warm-up, appended to Results/bench.csv",
                options: options, run: run)
    }

    static func run(_ parsed: ParsedOptions) throws {
        var s = Settings()
        try parsed.apply(options, to: &s)
        SharedOptions.configureThreads(s.threads)
        // a timing takes one chunk per thread, so that the 1-thread step is the serial one
        // (SSLBENCH_PARTITIONS, when set, still decides)
        if ProcessInfo.processInfo.environment["SSLBENCH_PARTITIONS"] == nil {
            Parallel.configure(threads: Parallel.threads, partitions: Parallel.threads)
        }
        // check the peer before spending minutes on our side
        let peer = s.pytorch ? try PyTorchPeer(python: s.python ?? ProcessInfo.processInfo.environment["PYTHON"] ?? "python3") : nil
        let coretype = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { " (OPENBLAS_CORETYPE=\($0))" } ?? ""
        print("sslbench bench: \(MachineInfo.cpuModel), \(Parallel.threadsDescription) threads, OpenBLAS kernel \(blasCoreName)\(coretype), \(Conv2d.directKernelVectorWidth)-float convolution vectors, commit \(MachineInfo.commit)")
        print("every figure is the median of its repetitions after a warm-up; rows appended to \(s.out)")
        fflush(stdout)
        let out = s.out
        func record(_ m: BenchMeasurement) throws {
            print(m.line); fflush(stdout)
            try CSV.appendRow(m.fields, header: BenchMeasurement.header, to: out)
        }
        func log(_ line: String) { print(line); fflush(stdout) }
        if let peer = peer {
            try Bench.pytorchSitting(peer: peer, shapes: Bench.shapes(quick: s.quick), rounds: s.rounds ?? 3, record: record, log: log)
        } else {
            // the whole cell is the `cpu` scale's Barlow Twins cell of the methods table, seed 0
            let cell = try Tables.methods.cells(scale: .cpu).first { $0.configuration.method is BarlowTwinsConfiguration }?.configuration
            try Bench.sitting(parts: s.parts, quick: s.quick, rounds: s.rounds, cell: cell, record: record, log: log)
        }
    }
}
