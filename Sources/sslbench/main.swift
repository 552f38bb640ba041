import Foundation
import Datasets
import Report
import Tensors
import Training
import Methods
import Experiments
import Runner
import Bench

BLASKernel.ensureWidest()

let usage = """
sslbench: self-supervised learning ablations on CIFAR, on the CPU.

Usage:
  sslbench train [options]     train one cell and print its kNN top-1
  sslbench list                the ablation tables, their axes and scales
  sslbench run TABLE [--scale smoke|ci|cpu|paper] [--seeds N] [--shard I/N] [--results DIR] [--data DIR] [--threads T] [--dry-run]
                               run a table's cells that Results/TABLE.csv lacks, appending each row
                               as it finishes, and redraw Results/TABLE.png (default scale: smoke);
                               it prints the cells and an estimated time first (--dry-run: only that)
  sslbench plot TABLE [--scale S] [--results DIR]   redraw the figure from the CSV
  sslbench merge OUT.csv IN.csv...                  join shard CSVs (each cell once)
  sslbench report [--scale S] [--results DIR]       regenerate Results/README.md from the CSVs:
                               each table beside the paper's, and which of its claims hold (default scale: cpu)
  sslbench regress [--update] [--methods LIST] [--seeds N] [--sabotage FAULT] [--data DIR] [--threads T]
                               the accuracy regression: the `methods` table at the `ci` scale (BYOL
                               and SwAV with their own recipe, README "Accuracy regression"), seed 0,
                               against Results/regression/baseline.csv; exits 1 when a method falls
                               below its tolerance. --methods byol,swav: only those. --update reruns
                               the baseline of those methods (all by default; N seeds, 4 by default)
                               and keeps the other methods' rows. --sabotage FAULT plants a bug to
                               see the check fail: negate-gradients (every gradient's sign flipped),
                               target-receives-gradients (BYOL without its stop-gradient),
                               target-copies-online (BYOL / MoCo v3 target with τ = 0).
  sslbench bench [--quick] [--only PARTS] [--threads T] [--out FILE]
                               time the training step (widths 16 and 64, at T threads and at 1), the data
                               pipeline, the Barlow Twins loss (Gram and dense, D 2048 and 16384) and sgemm;
                               medians after a warm-up, appended to Results/bench.csv (--quick: width 16 only;
                               --only sgemm,step,train,layers,pipeline,loss: those parts;
                               train: `sslbench train` itself (CIFAR-10, augmentation in the loop)
                               against the step at width 16, alternated; layers: where the step's
                               time goes, layer by layer)
  sslbench bench --pytorch [--python PY]
                               the step against Benchmarks/torch_step.py (PyTorch, channels-last), run
                               alternately, widths 16 and 64: both rates and their ratio to Results/bench.csv
  sslbench info                the CPU, thread count and BLAS kernel in use
  sslbench help                this text

Options of `train` (defaults: the CIFAR Barlow Twins recipe of solo-learn, scaled down):
  --method NAME          barlow-twins, byol, simclr, swav, moco-v3 or sdmp
                         (sdmp: MoCo v3 with SDMP's intra-batch mixing)  (barlow-twins)
  --width W              ResNet-18 width multiplier, 64 = standard         (16)
  --projector D[,D,..]   projector output width D: D-D-D for Barlow Twins  (2048),
                         the projection of BYOL (4096-D, 256) and SimCLR (2048-D, 256);
                         Barlow Twins also takes every layer: D1,D2,D3
  --batch-size B         images per step (two views each)                 (256)
  --epochs E                                                               (10)
  --train-images N       the first N training images                    (20000)
  --test-images N        the first N test images              (all: 10000)
  --seed S                                                                  (0)
  --lr X                 LARS learning rate at batch 256, scaled by B/256
                         (0.3 Barlow Twins, 1.0 BYOL, 0.4 SimCLR, 0.6 SwAV, 0.3 MoCo v3 and SDMP)
  --weight-decay X       (1e-4 Barlow Twins, 1e-5 BYOL and SimCLR, 1e-6 SwAV, MoCo v3, SDMP)
  --temperature X        SimCLR 0.2, SwAV 0.1, MoCo v3 / SDMP 0.2
  --small-crops V        SwAV multi-crop: V extra 16×16 crops per image              (0)
  --augmentation NAME    the two views' recipe: barlow-twins (solo-learn's BYOL / Barlow Twins:
                         jitter 0.4, solarisation on view 2) or simclr (its SimCLR / SwAV: jitter
                         0.8, blur p 0.5)          (simclr for SimCLR and SwAV, else barlow-twins)
  --mixing LIST          SDMP strategies: mixup,cutmix,resizemix (all three)
  --lambda X             off-diagonal weight λ                         (0.0051)
  --variant NAME         a Barlow Twins ablation variant: \(BarlowTwinsVariant.allCases.map(\.rawValue).joined(separator: ", "))
                         (cross-entropy uses --temperature, 0.1 by default)
  --projector-depth L    Barlow Twins projector layers, 1–4, each of width D     (3)
  --loss-scale X                                                          (0.1)
  --loss-form gram|dense Barlow Twins loss without or with the D×D matrix (gram)
  --warmup-epochs E                                                         (1)
  --optimizer NAME       lars, sgd or adamw                                 (lars)
  --base-momentum X      BYOL / MoCo v3 target momentum at the start, rising to 1   (0.99)
  --prototypes K         SwAV prototypes                                        (3000)
  --queue L[,E]          SwAV: keep the last L embeddings for Sinkhorn, from epoch E   (none)
  --freeze-prototypes E  SwAV: epochs with the prototypes frozen                    (1)
  --heads H,D            every head's hidden width H and output D (the small scales' narrow heads)
  --threads T            worker threads                          (all cores)
  --no-initial-eval      skip the kNN evaluation before training
  --no-linear-probe      skip the linear probe after training
  --data DIR             CIFAR-10 binary folder (else $SSLBENCH_CIFAR10, then
                         data/cifar-10-batches-bin, then ../shared/data/cifar-10-batches-bin)
  --out FILE             also append the cell's row to this CSV file
  --loss-curve FILE      write the loss of every step to FILE (step,epoch,loss)
  --checkpoint FILE      keep the cell's state in FILE after every epoch; a killed run started
                         again with the same options resumes from it (removed at the end)

The last line of `train` is knn_top1=<percent> (weighted kNN, k 200, T 0.1, cosine, on
frozen backbone features, training images as memory bank, test images as queries); before
it, linear_top1 (logistic regression on the standardised frozen features, 100 epochs).

Environment: SSLBENCH_DIRECT_CONV=0 runs every convolution on im2col + sgemm instead of the
direct kernels of the small-channel ones (same results up to rounding, slower; for comparing).
"""

struct UsageError: Error, CustomStringConvertible { let description: String }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write("error: \(message)\n".data(using: .utf8)!)
    exit(2)
}

/// Parses `--flag value` pairs; every flag must be known, every value must parse.
struct Flags {
    var values: [String: String] = [:]
    var switches: Set<String> = []
    init(_ args: ArraySlice<String>, valued: Set<String>, switches known: Set<String>) throws {
        var it = args.makeIterator()
        while let arg = it.next() {
            guard arg.hasPrefix("--") else { throw UsageError(description: "unexpected argument '\(arg)' (see sslbench help)") }
            let name = String(arg.dropFirst(2))
            if known.contains(name) { switches.insert(name); continue }
            guard valued.contains(name) else { throw UsageError(description: "unknown option --\(name) (see sslbench help)") }
            guard let v = it.next() else { throw UsageError(description: "--\(name) needs a value") }
            values[name] = v
        }
    }
    func int(_ name: String) throws -> Int? {
        guard let v = values[name] else { return nil }
        guard let i = Int(v) else { throw UsageError(description: "--\(name) expects an integer, got '\(v)'") }
        return i
    }
    func float(_ name: String) throws -> Float? {
        guard let v = values[name] else { return nil }
        guard let f = Float(v), f.isFinite else { throw UsageError(description: "--\(name) expects a number, got '\(v)'") }
        return f
    }
}

func runTrain(_ args: ArraySlice<String>) throws {
    let flags = try Flags(args, valued: ["method", "width", "projector", "batch-size", "epochs", "train-images", "test-images",
                                         "seed", "lr", "weight-decay", "lambda", "loss-scale", "loss-form", "warmup-epochs",
                                         "threads", "data", "out", "temperature", "small-crops", "mixing", "variant", "projector-depth", "loss-curve", "checkpoint",
                                         "optimizer", "base-momentum", "prototypes", "heads", "queue", "freeze-prototypes", "augmentation"],
                          switches: ["no-initial-eval", "no-linear-probe"])
    var method = MethodName.barlowTwins
    if let m = flags.values["method"] { method = try MethodName(named: m) }
    var c = CellConfiguration(method: method)
    if let v = try flags.int("width") { c.backboneWidth = v }
    if let p = flags.values["projector"] {
        let parts = p.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { throw UsageError(description: "--projector expects D or D,D,D, got '\(p)'") }
        let dims = parts.map { $0! }
        if dims.count == 1 { c.setProjectorWidth(dims[0]) } else {
            guard c.method == .barlowTwins else { throw UsageError(description: "--projector takes one width D for \(c.method.rawValue)") }
            c.barlowTwins.projectorDimensions = dims
        }
    }
    if let v = try flags.int("batch-size") { c.batchSize = v }
    if let v = try flags.int("epochs") { c.epochs = v }
    if let v = try flags.int("train-images") { c.trainImages = v }
    if let v = try flags.int("test-images") { c.testImages = v }
    if let v = try flags.int("seed") {
        guard v >= 0 else { throw UsageError(description: "--seed must be 0 or more, got \(v)") }
        c.seed = UInt64(v)
    }
    if let v = try flags.float("lr") { c.baseLearningRate = v }
    if let v = try flags.float("weight-decay") { c.weightDecay = v }
    if let v = try flags.float("lambda") { c.barlowTwins.offDiagonalWeight = v }
    if let v = try flags.float("loss-scale") { c.barlowTwins.lossScale = v }
    if let v = flags.values["loss-form"] {
        guard let f = CrossCorrelationFormName(v) else { throw UsageError(description: "--loss-form expects gram or dense, got '\(v)'") }
        c.barlowTwins.form = f
    }
    if let v = try flags.int("warmup-epochs") { c.warmupEpochs = v }
    if let v = flags.values["optimizer"] {
        guard let o = OptimizerName(rawValue: v) else { throw UsageError(description: "--optimizer expects lars, sgd or adamw, got '\(v)'") }
        c.optimizer = o
    }
    if let v = try flags.float("base-momentum") {
        guard v >= 0 && v <= 1 else { throw UsageError(description: "--base-momentum must be in [0, 1], got \(v)") }
        c.byol.baseMomentum = v; c.mocoV3.baseMomentum = v
    }
    if let v = try flags.int("prototypes") {
        guard v > 0 else { throw UsageError(description: "--prototypes must be a positive integer, got \(v)") }
        c.swav.prototypeCount = v
    }
    if let v = flags.values["queue"] {
        let parts = v.split(separator: ",").map { Int($0) }
        guard (1 ... 2).contains(parts.count), parts.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw UsageError(description: "--queue expects LENGTH or LENGTH,START_EPOCH (0 or more), got '\(v)'")
        }
        c.swav.queueLength = parts[0]!; c.swav.queueStartEpoch = parts.count == 2 ? parts[1]! : 0
    }
    if let v = try flags.int("freeze-prototypes") {
        guard v >= 0 else { throw UsageError(description: "--freeze-prototypes must be 0 or more epochs, got \(v)") }
        c.swav.freezePrototypesEpochs = v
    }
    if let v = flags.values["heads"] {
        let parts = v.split(separator: ",").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else { throw UsageError(description: "--heads expects HIDDEN,OUTPUT, got '\(v)'") }
        c.setHeadWidths(hidden: parts[0], projection: parts[1])
    }
    if let depth = try flags.int("projector-depth") {
        guard (1 ... 4).contains(depth) else { throw UsageError(description: "--projector-depth must be 1 to 4, got \(depth)") }
        guard c.method == .barlowTwins else { throw UsageError(description: "--projector-depth is for barlow-twins") }
        c.barlowTwins.projectorDimensions = Array(repeating: c.barlowTwins.projectorDimensions.last!, count: depth)
    }
    if let name = flags.values["variant"] {
        guard let variant = BarlowTwinsVariant(rawValue: name) else {
            throw UsageError(description: "unknown variant '\(name)'; known: \(BarlowTwinsVariant.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard c.method == .barlowTwins else { throw UsageError(description: "--variant is for barlow-twins") }
        variant.apply(to: &c.barlowTwins, crossEntropyTemperature: (try flags.float("temperature")) ?? 0.1)
    }
    if let v = try flags.float("temperature") {
        c.simclr.temperature = v; c.swav.temperature = v; c.mocoV3.temperature = v
    }
    if let v = try flags.int("small-crops") { c.swav.smallCrops.count = v }
    if let v = flags.values["augmentation"] {
        guard let preset = AugmentationPreset(rawValue: v) else {
            throw UsageError(description: "--augmentation: unknown recipe '\(v)'; known: \(AugmentationPreset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        c.augmentation = preset
    }
    if let v = flags.values["mixing"] {
        var strategies: [MixStrategy] = []
        for name in v.split(separator: ",") where name != "none" {
            guard let s = MixStrategy(rawValue: String(name)) else {
                throw UsageError(description: "--mixing: unknown strategy '\(name)'; known: mixup, cutmix, resizemix")
            }
            strategies.append(s)
        }
        c.mixing.strategies = strategies
    }
    if flags.switches.contains("no-initial-eval") { c.evaluateAtInitialisation = false }
    if flags.switches.contains("no-linear-probe") { c.linearProbe = false }
    c.checkpointPath = flags.values["checkpoint"]
    if let t = try flags.int("threads") {
        guard t > 0 else { throw UsageError(description: "--threads must be a positive integer, got \(t)") }
        Parallel.configure(threads: t)
    }
    try c.validate()

    let folder = try CIFAR.locateCIFAR10(explicit: flags.values["data"])
    let data = try CIFAR.loadCIFAR10(folder: folder)
    try c.validate(availableTrainImages: data.train.count)
    let used = min(c.trainImages ?? data.train.count, data.train.count)
    print("sslbench train: \(c.method.rawValue), ResNet-18 width \(c.backboneWidth), projector \(c.projectorDescription), "
        + "batch \(c.batchSize), \(c.epochs) epochs on \(used) images of \(folder), seed \(c.seed)")
    print("machine: \(MachineInfo.cpuModel), \(Parallel.threads) threads, OpenBLAS kernel \(blasCoreName)")
    fflush(stdout)
    var lastPrint = Date.distantPast
    let result = try train(c, train: data.train, test: data.test, progress: { event in
        switch event {
        case .evaluated(let stage, let top1, let health, let seconds):
            print(String(format: "kNN top-1 at %@: %.2f%% (%.0f s); %@", stage, top1, seconds, health.summary))
        case .memory(let estimate):
            print("memory needed: \(estimate)")
        case .resumed(let epoch, let path):
            print("resumed from \(path) after epoch \(epoch)")
        case .linearProbe(let top1, let seconds):
            print(String(format: "linear probe top-1: %.2f%% (%.0f s)", top1, seconds))
        case .step(let epoch, let epochs, let step, let steps, let loss, let rate, let eta):
            if Date().timeIntervalSince(lastPrint) >= 10 && step < steps {
                lastPrint = Date()
                print(String(format: "epoch %d/%d  step %d/%d  loss %.4f  %.1f images/s  ETA %@", epoch, epochs, step, steps, loss, rate, formatDuration(eta)))
            }
        case .epochFinished(let epoch, let epochs, let loss, let rate, let eta):
            print(String(format: "epoch %d/%d done  loss %.4f  %.1f images/s  ETA %@", epoch, epochs, loss, rate, formatDuration(eta)))
        }
        fflush(stdout)
    })
    if case .diverged(let step) = result.status {
        print("diverged: the loss became \(result.finalLoss) at step \(step)")
    }
    print(String(format: "training: %.1f s, %.1f images/s; total %.1f s", result.trainingSeconds, result.imagesPerSecond, result.totalSeconds))
    if let path = flags.values["loss-curve"] {
        let stepsPerEpoch = max(1, result.trainImages / c.batchSize)
        var text = "step,epoch,loss\n"
        for (i, loss) in result.losses.enumerated() { text += "\(i),\(i / stepsPerEpoch + 1),\(loss)\n" }
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        catch { throw UsageError(description: "cannot write the loss curve to \(path): \(error.localizedDescription)") }
        print("loss curve written to \(path)")
    }
    if let out = flags.values["out"] {
        try CSV.appendRow(CellRow.fields(c, result), header: CellRow.header, to: out)
        print("row appended to \(out)")
    }
    if !result.linearTop1.isNaN { print(String(format: "linear_top1=%.2f", result.linearTop1)) }
    print(String(format: "knn_top1_init=%.2f", result.knnTop1AtInitialisation))
    print(String(format: "embedding_std=%.5f", result.health.embeddingStandardDeviation))
    print(String(format: "rankme=%.2f", result.health.rankMe))
    print(String(format: "knn_top1=%.2f", result.knnTop1))
    if case .diverged = result.status { exit(3) }
}

func CrossCorrelationFormName(_ s: String) -> CrossCorrelationForm? { CrossCorrelationForm(rawValue: s) }

func tableCommand(_ args: ArraySlice<String>, run: Bool) throws {
    guard let name = args.first, !name.hasPrefix("--") else { throw UsageError(description: "which table? (sslbench list)") }
    let table = try Tables.named(name)
    let flags = try Flags(args.dropFirst(), valued: ["scale", "seeds", "shard", "results", "data", "threads"], switches: ["dry-run"])
    let scaleName = flags.values["scale"] ?? "smoke"
    guard let scale = Scale(rawValue: scaleName) else {
        throw UsageError(description: "unknown scale '\(scaleName)'; known: \(Scale.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    var runner = TableRunner()
    if let r = flags.values["results"] { runner.resultsDirectory = r }
    if let s = try flags.int("seeds") {
        guard s >= 1 else { throw UsageError(description: "--seeds must be 1 or more, got \(s)") }
        runner.seeds = s
    }
    if let s = flags.values["shard"] { runner.shard = try Shard(parsing: s) }
    runner.dryRun = flags.switches.contains("dry-run")
    if let t = try flags.int("threads") {
        guard t > 0 else { throw UsageError(description: "--threads must be a positive integer, got \(t)") }
        Parallel.configure(threads: t)
    }
    guard run else { try runner.drawFigure(table, scale: scale); print("redrew \(runner.csvPath(table).replacingOccurrences(of: ".csv", with: ".png"))"); return }
    _ = try table.cells(scale: scale)   // an undeclared scale fails before the data is read
    let data = try CIFAR.loadCIFAR10(folder: try CIFAR.locateCIFAR10(explicit: flags.values["data"]))
    try runner.run(table, scale: scale, train: data.train, test: data.test) { print($0); fflush(stdout) }
}

func regressCommand(_ args: ArraySlice<String>) throws {
    let flags = try Flags(args, valued: ["seeds", "sabotage", "data", "threads", "directory", "methods"], switches: ["update"])
    let directory = flags.values["directory"] ?? "Results/regression"
    let baselinePath = "\(directory)/baseline.csv"
    let update = flags.switches.contains("update")
    var methods = Regression.guardedMethods
    if let list = flags.values["methods"] {
        methods = try list.split(separator: ",").map { try MethodName(named: String($0)) }
        guard !methods.isEmpty else { throw UsageError(description: "--methods: no method given") }
    }
    var runner = TableRunner()
    runner.seeds = update ? 4 : 1
    if let s = try flags.int("seeds") {
        guard s >= (update ? Regression.minimumBaselineSeeds : 1) else {
            throw UsageError(description: "--seeds must be at least \(update ? Regression.minimumBaselineSeeds : 1), got \(s)")
        }
        runner.seeds = s
    }
    if let f = flags.values["sabotage"] {
        guard let fault = FaultInjection(parsing: f) else {
            throw UsageError(description: "--sabotage: unknown fault '\(f)'; known: negate-gradients, target-copies-online, target-receives-gradients, nan-loss-at-STEP")
        }
        runner.faultInjection = fault
    }
    if let t = try flags.int("threads") {
        guard t > 0 else { throw UsageError(description: "--threads must be a positive integer, got \(t)") }
        Parallel.configure(threads: t)
    }
    let table = Tables.methods
    let selected = Set(methods)
    runner.cellSelection = { selected.contains($0.configuration.method) ? Regression.regressionCell($0) : nil }
    runner.resultsDirectory = update ? "\(directory)/update" : "\(directory)/latest"
    let oldBaseline = try readResults(baselinePath)
    if !update && oldBaseline.isEmpty { throw Regression.Failure.noBaseline(path: baselinePath) }
    if !update { try? FileManager.default.removeItem(atPath: runner.csvPath(table)) }   // a fresh run of this code
    let data = try CIFAR.loadCIFAR10(folder: try CIFAR.locateCIFAR10(explicit: flags.values["data"]))
    print("regression\(update ? " baseline update" : ""): \(methods.map(\.rawValue).joined(separator: ", ")), the methods table's ci cells "
          + "(BYOL and SwAV on their own recipe, Regression.regressionCell), \(runner.seeds) seed(s)")
    try runner.run(table, scale: .ci, train: data.train, test: data.test) { print($0); fflush(stdout) }
    let newRows = try readResults(runner.csvPath(table))
    if update {
        // the new seeds of these methods replace theirs; the other methods' rows stay as they were
        let names = Set(methods.map(\.rawValue))
        let merged = Regression.mergedBaseline(old: oldBaseline, new: newRows.filter { names.contains($0["method"] ?? "") }, updated: names)
        try writeResults(merged, to: runner.csvPath(table))
        try runner.drawFigure(table, scale: .ci)
        for ext in ["csv", "png"] {
            let from = runner.csvPath(table).replacingOccurrences(of: ".csv", with: ".\(ext)")
            let to = baselinePath.replacingOccurrences(of: ".csv", with: ".\(ext)")
            try? FileManager.default.removeItem(atPath: to)
            try FileManager.default.moveItem(atPath: from, toPath: to)
        }
        try? FileManager.default.removeItem(atPath: runner.resultsDirectory)
        print("baseline written to \(baselinePath) (\(methods.map(\.rawValue).joined(separator: ", ")) rerun); the tolerances it gives:")
        for check in try Regression.compare(new: merged.filter { $0["seed"] == "0" }, baseline: merged, baselinePath: baselinePath) {
            print(check)
        }
        return
    }
    let checks = try Regression.compare(new: newRows, baseline: oldBaseline, baselinePath: baselinePath)
    for check in checks { print(check) }
    let failed = checks.filter { !$0.passed }
    if failed.isEmpty {
        print("regression: every method within its tolerance of \(baselinePath)")
    } else {
        print("regression FAILED: \(failed.map(\.method).joined(separator: ", ")) below the baseline by more than the tolerance")
        exit(1)
    }
}

func benchCommand(_ args: ArraySlice<String>) throws {
    let flags = try Flags(args, valued: ["out", "python", "threads", "rounds", "only"], switches: ["pytorch", "quick"])
    let parts = ["sgemm", "step", "train", "layers", "pipeline", "loss"]
    var only = Set(parts)
    if let v = flags.values["only"] {
        only = Set(v.split(separator: ",").map(String.init))
        if let bad = only.first(where: { !parts.contains($0) }) {
            throw UsageError(description: "--only: unknown part '\(bad)'; the parts are \(parts.joined(separator: ", "))")
        }
    }
    if let t = try flags.int("threads") {
        guard t > 0 else { throw UsageError(description: "--threads must be a positive integer, got \(t)") }
        Parallel.configure(threads: t)
    }
    let threads = Parallel.threads
    let out = flags.values["out"] ?? "Results/bench.csv"
    let quick = flags.switches.contains("quick")
    let widths = quick ? [16] : [16, 64]
    // check the peer before spending minutes on our side
    let peer = flags.switches.contains("pytorch")
        ? try PyTorchPeer(python: flags.values["python"] ?? ProcessInfo.processInfo.environment["PYTHON"] ?? "python3") : nil
    let coretype = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { " (OPENBLAS_CORETYPE=\($0))" } ?? ""
    print("sslbench bench: \(MachineInfo.cpuModel), \(threads) threads, OpenBLAS kernel \(blasCoreName)\(coretype), commit \(MachineInfo.commit)")
    print("every figure is the median of its repetitions after a warm-up; rows appended to \(out)")
    fflush(stdout)
    func record(_ m: BenchMeasurement) throws {
        print(m.line); fflush(stdout)
        try CSV.appendRow(m.fields, header: BenchMeasurement.header, to: out)
    }
    if let peer = peer {
        // against PyTorch sgemm is timed in every round instead of once: the machine's speed wanders within minutes
        let rounds = try flags.int("rounds") ?? 3
        for width in widths {
            let steps = width >= 64 ? 2 : 5
            // sgemm is timed in every round too: the machine's speed wanders within minutes
            var ours: [BenchMeasurement] = [], theirs: [Double] = [], sgemmRates: [Double] = [], description = ""
            for round in 1 ... max(rounds, 1) {
                let g = Bench.sgemm(repetitions: 5).rate
                let m = Bench.trainingStep(width: width, repetitions: steps, sgemmRate: g)
                let t = try peer.imagesPerSecond(width: width, batch: 256, threads: threads, steps: steps)
                ours.append(m); theirs.append(t.rate); sgemmRates.append(g); description = t.description
                print(String(format: "  width %d round %d: sgemm %.1f GFLOP/s, ours %.1f images/s, PyTorch %.1f images/s",
                             width, round, g, m.rate, t.rate)); fflush(stdout)
            }
            let sgemmRate = Bench.median(of: sgemmRates)
            var mine = ours[0]
            mine.rate = Bench.median(of: ours.map(\.rate)); mine.medianSeconds = 256 / mine.rate
            mine.gigaflopsPerSecond = Bench.median(of: ours.map(\.gigaflopsPerSecond)); mine.fractionOfSGEMM = mine.gigaflopsPerSecond / sgemmRate
            mine.repetitions = rounds
            mine.detail += String(format: ", median of %d rounds alternating with PyTorch and sgemm (median %.1f GFLOP/s)", rounds, sgemmRate)
            try record(mine)
            let torchRate = Bench.median(of: theirs)
            var torch = BenchMeasurement(benchmark: "training-step-pytorch", detail: "Benchmarks/torch_step.py, width \(width), batch 256, channels-last; \(description)",
                                         threads: threads, repetitions: rounds, medianSeconds: 256 / torchRate, rate: torchRate, unit: "images/s")
            torch.gigaflopsPerSecond = mine.gigaflopsPerSecond / mine.rate * torchRate
            torch.fractionOfSGEMM = torch.gigaflopsPerSecond / sgemmRate
            try record(torch)
            try record(BenchMeasurement(benchmark: "ratio-ours-to-pytorch", detail: "training step, width \(width)", threads: threads,
                                        repetitions: rounds, medianSeconds: .nan, rate: mine.rate / torchRate, unit: "x"))
        }
        return
    }
    // the step's fraction of the sgemm rate needs the sgemm rate
    let sgemm = only.contains("sgemm") || only.contains("step") ? Bench.sgemm() : nil
    if let sgemm = sgemm { try record(sgemm) }
    for width in widths where only.contains("step") {
        guard let sgemm = sgemm else { break }
        let repetitions = width >= 64 ? 3 : 7
        try record(Bench.trainingStep(width: width, repetitions: repetitions, sgemmRate: sgemm.rate))
        if threads > 1 {
            Parallel.configure(threads: 1)
            try record(Bench.trainingStep(width: width, repetitions: repetitions, sgemmRate: sgemm.rate))
            Parallel.configure(threads: threads)
        }
    }
    if only.contains("train") {
        // `sslbench train` (the train function, CIFAR-10 images augmented inside the loop, LARS)
        // against the bench's step at width 16, alternated round by round: the machine's speed wanders
        var train: LabeledImages, test: LabeledImages
        if let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) { (train, test) = (data.train, data.test) }
        else {
            var rng = RandomGenerator(seed: 1)
            train = LabeledImages(pixels: (0 ..< 2048 * 3072).map { _ in UInt8(rng.int(below: 256)) },
                                  labels: (0 ..< 2048).map { Int32($0 % 10) }, classCount: 10)
            test = train.prefix(256)
        }
        let rounds = quick ? 1 : try flags.int("rounds") ?? 3
        var steps: [BenchMeasurement] = [], ends: [BenchMeasurement] = []
        for round in 1 ... max(rounds, 1) {
            let m = Bench.trainingStep(width: 16, repetitions: 5, sgemmRate: .nan)
            let e = try Bench.endToEnd(width: 16, steps: 6, images: train, test: test)
            steps.append(m); ends.append(e)
            print(String(format: "  width 16 round %d: bench step %.1f images/s, sslbench train %.1f images/s", round, m.rate, e.rate)); fflush(stdout)
        }
        func medianOf(_ v: [BenchMeasurement]) -> BenchMeasurement {
            var m = v.sorted { $0.rate < $1.rate }[v.count / 2]
            m.rate = Bench.median(of: v.map(\.rate))
            m.medianSeconds = 256 / m.rate
            m.gigaflopsPerSecond = Bench.median(of: v.map(\.gigaflopsPerSecond))
            m.detail += ", median of \(v.count) rounds alternating step and train"
            return m
        }
        let step = medianOf(steps), end = medianOf(ends)
        try record(step); try record(end)
        try record(BenchMeasurement(benchmark: "ratio-train-to-step", detail: "sslbench train rate / bench step rate, width 16", threads: threads,
                                    repetitions: steps.count, medianSeconds: .nan, rate: end.rate / step.rate, unit: "x"))
    }
    for width in widths where only.contains("layers") {
        for m in Bench.layerProfile(width: width, steps: width >= 64 ? 1 : 3) {
            print(String(format: "  %6.1f ms  %5.1f%%  %@%@", 1000 * m.medianSeconds, 100 * m.rate, m.detail as NSString,
                         m.gigaflopsPerSecond.isNaN ? "" : String(format: "  (%.1f GFLOP/s)", m.gigaflopsPerSecond)))
            try CSV.appendRow(m.fields, header: BenchMeasurement.header, to: out)
        }
        fflush(stdout)
    }
    if only.contains("pipeline") {
        let images: LabeledImages
        if let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) { images = data.train.prefix(256) }
        else {
            var rng = RandomGenerator(seed: 1)
            images = LabeledImages(pixels: (0 ..< 256 * 3072).map { _ in UInt8(rng.int(below: 256)) }, labels: Array(repeating: 0, count: 256), classCount: 10)
        }
        try record(Bench.dataPipeline(images: images))
    }
    for d in quick ? [2048] : [2048, 16384] where only.contains("loss") {
        let pair = Bench.barlowTwinsLoss(d: d, repetitions: d > 4096 ? 3 : 9)
        for m in pair { try record(m) }
        try record(BenchMeasurement(benchmark: "barlow-twins-loss-speedup", detail: "dense time / Gram time, N 256, D \(d)", threads: threads,
                                    repetitions: pair[0].repetitions, medianSeconds: .nan, rate: pair[1].medianSeconds / pair[0].medianSeconds, unit: "x"))
    }
}

Parallel.configure()
let arguments = CommandLine.arguments
do {
    switch arguments.count > 1 ? arguments[1] : "help" {
    case "train": try runTrain(arguments.dropFirst(2))
    case "run": try tableCommand(arguments.dropFirst(2), run: true)
    case "plot": try tableCommand(arguments.dropFirst(2), run: false)
    case "list":
        for t in Tables.all {
            let scales = Scale.allCases.filter { t.points[$0] != nil }.map(\.rawValue).joined(separator: ", ")
            print("\(t.name): \(t.title); axis \(t.axisName); \(t.entries.map(\.label).joined(separator: ", ")); scales \(scales)")
        }
    case "regress": try regressCommand(arguments.dropFirst(2))
    case "bench": try benchCommand(arguments.dropFirst(2))
    case "report":
        let flags = try Flags(arguments.dropFirst(2), valued: ["scale", "results"], switches: [])
        let scaleName = flags.values["scale"] ?? "cpu"
        guard let scale = Scale(rawValue: scaleName) else { throw UsageError(description: "unknown scale '\(scaleName)'") }
        let directory = flags.values["results"] ?? "Results"
        let text = try ResultsReport.markdown(tables: Tables.all, scale: scale, directory: directory)
        try text.write(toFile: "\(directory)/README.md", atomically: true, encoding: .utf8)
        print("wrote \(directory)/README.md")
    case "merge":
        let files = Array(arguments.dropFirst(2))
        guard files.count >= 2 else { throw UsageError(description: "sslbench merge OUT.csv IN.csv...") }
        let count = try mergeResults(Array(files.dropFirst()), into: files[0])
        print("\(count) rows in \(files[0])")
    case "info":
        print("cpu: \(MachineInfo.cpuModel)\nthreads: \(Parallel.threads)\nblas kernel: \(blasCoreName)")
    case "help", "--help", "-h": print(usage)
    case let other: fail("unknown command '\(other)'\n\n" + usage)
    }
} catch {
    fail("\(error)")
}
