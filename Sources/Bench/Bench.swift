import Foundation
import Datasets
import Methods
import NN
import Tensors
import Training

/// One measured figure of `sslbench bench`: the median of several timed repetitions after a
/// warm-up, as a rate and, where the arithmetic is known, as GFLOP/s and a fraction of the
/// sgemm rate measured in the same run.
public struct BenchMeasurement {
    public var benchmark: String, detail: String
    public var threads: Int, repetitions: Int
    public var medianSeconds: Double
    /// Work units per second (images for the step and the pipeline, evaluations for the loss).
    public var rate: Double, unit: String
    public var gigaflopsPerSecond: Double = .nan
    public var fractionOfSGEMM: Double = .nan

    public init(benchmark: String, detail: String, threads: Int, repetitions: Int, medianSeconds: Double, rate: Double, unit: String,
                gigaflopsPerSecond: Double = .nan, fractionOfSGEMM: Double = .nan) {
        self.benchmark = benchmark; self.detail = detail; self.threads = threads; self.repetitions = repetitions
        self.medianSeconds = medianSeconds; self.rate = rate; self.unit = unit
        self.gigaflopsPerSecond = gigaflopsPerSecond; self.fractionOfSGEMM = fractionOfSGEMM
    }

    public static let header = ["date", "commit", "cpu", "blas_core", "threads", "benchmark", "detail", "repetitions",
                                "median_seconds", "rate", "unit", "gflops_per_second", "fraction_of_sgemm"]
    public var fields: [String] {
        let date = ISO8601DateFormatter().string(from: Date())
        func f(_ x: Double, _ digits: Int) -> String { x.isNaN ? "" : String(format: "%.\(digits)f", x) }
        return [date, MachineInfo.commit, MachineInfo.cpuModel, blasCoreName, "\(threads)", benchmark, detail, "\(repetitions)",
                f(medianSeconds, 5), f(rate, 2), unit, f(gigaflopsPerSecond, 1), f(fractionOfSGEMM, 3)]
    }
    public var line: String {
        var s = String(format: "%-22@ %-44@ %d thr  median %9.4f s  %10.2f %@", benchmark as NSString, detail as NSString,
                       threads, medianSeconds, rate, unit)
        if !gigaflopsPerSecond.isNaN { s += String(format: "  %6.1f GFLOP/s", gigaflopsPerSecond) }
        if !fractionOfSGEMM.isNaN { s += String(format: "  %4.0f%% of sgemm", 100 * fractionOfSGEMM) }
        return s
    }
}

public struct BenchError: Error, CustomStringConvertible { public let description: String }

/// The shape of a benchmarked Barlow Twins step: backbone width, images per view and projector
/// width (every layer).
public struct BenchShape: Equatable, CustomStringConvertible {
    public var width: Int, batch: Int, projector: Int
    public init(width: Int, batch: Int = 256, projector: Int = 2048) { self.width = width; self.batch = batch; self.projector = projector }
    /// The step of every `cpu`-scale table cell: width 8, batch 128, heads 1024.
    public static let cpuScale = BenchShape(width: 8, batch: 128, projector: 1024)
    public static let width16 = BenchShape(width: 16)
    public static let width64 = BenchShape(width: 64)
    public var description: String { "width \(width), batch \(batch), projector \(projector)" }
}

public enum Bench {
    /// The median wall time of `repetitions` calls of `body` after `warmup` untimed ones.
    public static func median(warmup: Int = 1, repetitions: Int, _ body: () -> Void) -> Double {
        for _ in 0 ..< warmup { body() }
        let clock = ContinuousClock()
        var times: [Double] = []
        for _ in 0 ..< max(repetitions, 1) {
            let t0 = clock.now
            body()
            let d = (clock.now - t0).components
            times.append(Double(d.seconds) + Double(d.attoseconds) * 1e-18)
        }
        return median(of: times)
    }

    /// The median of `values` (the mean of the middle two for an even count; NaN when empty).
    public static func median(of values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted(), half = s.count / 2
        return s.count % 2 == 1 ? s[half] : (s[half - 1] + s[half]) / 2
    }

    /// C = A·B with M = N = K = `size`, split over the threads the way the step splits its products.
    public static func sgemm(size n: Int = 1024, repetitions: Int = 9) -> BenchMeasurement {
        var rng = RandomGenerator(seed: 1)
        let a = Tensor(shape: [n, n], values: (0 ..< n * n).map { _ in rng.normal() })
        let b = Tensor(shape: [n, n], values: (0 ..< n * n).map { _ in rng.normal() })
        let c = Tensor(shape: [n, n])
        let seconds = median(warmup: 2, repetitions: repetitions) {
            parallelGemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
        }
        let gflops = 2 * Double(n * n * n) / seconds / 1e9
        return BenchMeasurement(benchmark: "sgemm", detail: "M=N=K=\(n), row blocks per thread", threads: Parallel.threads,
                                repetitions: repetitions, medianSeconds: seconds, rate: gflops, unit: "GFLOP/s",
                                gigaflopsPerSecond: gflops, fractionOfSGEMM: 1)
    }

    /// The model, data and optimiser that `trainingStep` times and `layerProfile` takes apart:
    /// Barlow Twins at `width` with a `projector`-wide three-layer projector, two views of `batch`
    /// random images, SGD with momentum; `step(k)` runs training step k.
    static func benchStep(width: Int, batch: Int, projector: Int) -> (configuration: BarlowTwinsConfiguration, step: (Int) -> Void) {
        var rng = RandomGenerator(seed: 7)
        var configuration = BarlowTwinsConfiguration()
        configuration.projectorDimensions = [projector, projector, projector]
        let model = BarlowTwins(configuration: configuration, backboneWidth: width, rng: &rng)
        let optimizer = SGD(momentum: 0.9, weightDecay: 1e-4)
        let views = Tensor(shape: [2 * batch, 32, 32, 3], values: (0 ..< 2 * batch * 3072).map { _ in rng.normal() })
        let parameters = model.parameters
        return (configuration, { k in
            let context = StepContext(step: k, totalSteps: 1000, epoch: 0, stepsPerEpoch: 1000, seed: 0)
            _ = model.trainingStep(views: views, smallCrops: nil, context: context)
            optimizer.step(parameters, learningRate: 0.01)
        })
    }

    /// The benchmarked training step: two views of `batch` random images through ResNet-18
    /// (CIFAR stem) at the shape's width, its projector in three layers, Barlow Twins loss (Gram form), backward,
    /// SGD with momentum. No allocation happens inside the timed steps after the warm-up.
    public static func trainingStep(_ shape: BenchShape, repetitions: Int, sgemmRate: Double) -> BenchMeasurement {
        let width = shape.width, batch = shape.batch, projector = shape.projector
        let (configuration, step) = benchStep(width: width, batch: batch, projector: projector)
        var k = 0
        let seconds = median(warmup: 1, repetitions: repetitions) { step(k); k += 1 }
        var cell = CellConfiguration(method: configuration)
        cell.backboneWidth = width; cell.batchSize = batch
        let flopsPerImage = TimeEstimate(cell, trainImages: batch, testImages: 0).trainingFLOPsPerImage
        let rate = Double(batch) / seconds
        let gflops = rate * flopsPerImage / 1e9
        return BenchMeasurement(benchmark: "training-step", detail: "Barlow Twins, width \(width), batch \(batch), projector \(projector)",
                                threads: Parallel.threads, repetitions: repetitions, medianSeconds: seconds, rate: rate,
                                unit: "images/s", gigaflopsPerSecond: gflops, fractionOfSGEMM: gflops / sgemmRate)
    }

    /// `sslbench train` itself at the configuration of `trainingStep`: the `train` function (Barlow
    /// Twins, ResNet-18 at `width`, projector 2048-2048-2048, batch `batch`, its default LARS
    /// optimiser) on `images`, two augmented views per image made inside the step loop, for one
    /// epoch of `steps` steps. The figure is the median seconds of steps 2…`steps` (the first is
    /// the warm-up, as in `trainingStep`), each step timed by `train` from augmentation to the
    /// optimiser's update; the kNN evaluation at the end is not part of it.
    public static func endToEnd(width: Int, batch: Int = 256, projector: Int = 2048, steps: Int, images: LabeledImages, test: LabeledImages) throws -> BenchMeasurement {
        var barlowTwins = BarlowTwinsConfiguration()
        barlowTwins.setProjectorWidth(projector)
        var cell = CellConfiguration(method: barlowTwins)
        cell.backboneWidth = width; cell.batchSize = batch; cell.epochs = 1
        cell.trainImages = batch * max(steps, 2); cell.testImages = min(test.count, batch)
        cell.evaluateAtInitialisation = false; cell.linearProbe = false
        var cumulative: [Double] = []
        let result = try train(cell, train: images, test: test, progress: { event in
            if case .step(_, _, let step, _, _, let rate, _) = event { cumulative.append(Double(step * batch) / rate) }
        })
        guard result.status == .ok, cumulative.count >= 2 else {
            throw BenchError(description: "the end-to-end training run did not finish its \(steps) steps (\(result.status))")
        }
        let perStep = zip(cumulative.dropFirst(), cumulative).map { $0 - $1 }
        let seconds = median(of: perStep)
        let flopsPerImage = TimeEstimate(cell, trainImages: batch, testImages: 0).trainingFLOPsPerImage
        let rate = Double(batch) / seconds
        return BenchMeasurement(benchmark: "train-end-to-end", detail: "sslbench train: Barlow Twins, width \(width), batch \(batch), projector \(projector), LARS, images augmented in the loop",
                                threads: Parallel.threads, repetitions: perStep.count, medianSeconds: seconds, rate: rate,
                                unit: "images/s", gigaflopsPerSecond: rate * flopsPerImage / 1e9)
    }

    /// A whole cell through `train` (augmentation in the loop, the evaluations at initialisation
    /// and at the end, the linear probe) against the bench's step at the cell's shape, timed just
    /// before and just after the cell (the machine's speed wanders): the cell's seconds; the share
    /// of them spent evaluating; the median step as `train` timed it (augmentation and optimiser
    /// included) against the bench's; and the cell's seconds over (steps × the bench step, the
    /// mean of the two medians). `configuration` must be a Barlow Twins cell with equal projector
    /// layers (the bench step is Barlow Twins').
    public static func wholeCell(_ configuration: CellConfiguration, train trainSet: LabeledImages, test: LabeledImages,
                                 log: (String) -> Void) throws -> [BenchMeasurement] {
        guard let barlowTwins = configuration.method as? BarlowTwinsConfiguration, let projector = barlowTwins.projectorDimensions.last,
              barlowTwins.projectorDimensions.allSatisfy({ $0 == projector }) else {
            throw BenchError(description: "the whole-cell benchmark needs a Barlow Twins cell with equal projector layers")
        }
        let shape = BenchShape(width: configuration.backboneWidth, batch: configuration.batchSize, projector: projector)
        let before = trainingStep(shape, repetitions: 5, sgemmRate: .nan)
        var evaluationSeconds = 0.0, cumulative: [Double] = []
        let result = try train(configuration, train: trainSet, test: test, progress: { event in
            switch event {
            case .evaluated(_, _, _, let seconds), .linearProbe(_, _, let seconds): evaluationSeconds += seconds
            case .step(_, _, _, _, _, let rate, _): cumulative.append(Double((cumulative.count + 1) * shape.batch) / rate)
            case .epochFinished(let epoch, let epochs, _, let rate, _): log(String(format: "  cell epoch %d/%d  %.1f images/s", epoch, epochs, rate))
            default: break
            }
        })
        guard result.status == .ok, cumulative.count >= 2 else { throw BenchError(description: "the benchmarked cell did not finish (\(result.status))") }
        let after = trainingStep(shape, repetitions: 5, sgemmRate: .nan)
        let steps = result.losses.count
        let cellStep = median(of: zip(cumulative.dropFirst(), cumulative).map { $0 - $1 })
        let benchStep = (before.medianSeconds + after.medianSeconds) / 2
        let images = Double(steps * shape.batch)
        let detail = "sslbench train: Barlow Twins \(shape), \(configuration.epochs) epochs of \(result.trainImages) images, "
            + "\(result.testImages) test images, kNN at start and end, linear probe"
        var stepInCell = BenchMeasurement(benchmark: "cell-step", detail: "median step inside the cell (augmentation and LARS included), \(shape)",
                                          threads: Parallel.threads, repetitions: steps - 1, medianSeconds: cellStep,
                                          rate: Double(shape.batch) / cellStep, unit: "images/s")
        stepInCell.detail += String(format: "; bench step %.4f s before, %.4f s after the cell", before.medianSeconds, after.medianSeconds)
        return [
            BenchMeasurement(benchmark: "cell-whole", detail: detail, threads: Parallel.threads, repetitions: 1,
                             medianSeconds: result.totalSeconds, rate: images / result.totalSeconds, unit: "images/s"),
            BenchMeasurement(benchmark: "cell-evaluation-share", detail: "kNN, health figures and linear probe / whole cell",
                             threads: Parallel.threads, repetitions: 1, medianSeconds: evaluationSeconds,
                             rate: evaluationSeconds / result.totalSeconds, unit: "share"),
            before, stepInCell, after,
            BenchMeasurement(benchmark: "ratio-cell-step-to-bench-step", detail: "median step inside the cell / bench step (mean of before and after), \(shape)",
                             threads: Parallel.threads, repetitions: 1, medianSeconds: .nan, rate: cellStep / benchStep, unit: "x"),
            BenchMeasurement(benchmark: "ratio-cell-to-steps", detail: "whole cell seconds / (\(steps) steps × bench step, mean of before and after), \(shape)",
                             threads: Parallel.threads, repetitions: 1, medianSeconds: .nan,
                             rate: result.totalSeconds / (Double(steps) * benchStep), unit: "x"),
        ]
    }

    /// The step of `trainingStep`, taken apart: `steps` steps after a warm-up with `StepProfile`
    /// on, and for each layer kind and shape its seconds per step, share of the step and GFLOP/s.
    /// "other" is what no layer claims (the loss, pooling, the optimiser).
    public static func layerProfile(_ shape: BenchShape, steps: Int = 3) -> [BenchMeasurement] {
        let width = shape.width, batch = shape.batch
        let step = benchStep(width: width, batch: batch, projector: shape.projector).step
        step(0)
        StepProfile.start()
        let clock = ContinuousClock(), t0 = clock.now
        for k in 1 ... steps { step(k) }
        let d = (clock.now - t0).components
        StepProfile.stop()
        let total = (Double(d.seconds) + Double(d.attoseconds) * 1e-18) / Double(steps)
        var rows = StepProfile.entries.map { (name: $0.key, seconds: $0.value.seconds / Double(steps), flops: $0.value.flops / Double(steps)) }
        rows.append((name: "other (loss, pooling, optimiser)", seconds: total - rows.map(\.seconds).reduce(0, +), flops: 0))
        rows.sort { $0.seconds > $1.seconds }
        let head = "width \(width), batch \(batch)"
        var result = [BenchMeasurement(benchmark: "layer-profile", detail: "\(head): whole step", threads: Parallel.threads, repetitions: steps,
                                       medianSeconds: total, rate: 1, unit: "share")]
        for r in rows {
            var m = BenchMeasurement(benchmark: "layer-profile", detail: "\(head): \(r.name)", threads: Parallel.threads, repetitions: steps,
                                     medianSeconds: r.seconds, rate: r.seconds / total, unit: "share")
            if r.flops > 0 { m.gigaflopsPerSecond = r.flops / r.seconds / 1e9 }
            result.append(m)
        }
        return result
    }

    /// The data pipeline alone: both augmented views of `batch` images (the Barlow Twins recipe).
    public static func dataPipeline(images: LabeledImages, batch: Int = 256, repetitions: Int = 9) -> BenchMeasurement {
        let views = Tensor(shape: [2 * batch, 32, 32, 3])
        let indices = Array(0 ..< min(batch, images.count))
        var step = 0
        let seconds = median(warmup: 1, repetitions: repetitions) {
            augmentBatch(images, indices: indices[...], recipe: .barlowTwinsCIFAR(view: 0), seed: 0, step: step, view: 0, into: views, offset: 0)
            augmentBatch(images, indices: indices[...], recipe: .barlowTwinsCIFAR(view: 1), seed: 0, step: step, view: 1, into: views, offset: batch)
            step += 1
        }
        return BenchMeasurement(benchmark: "data-pipeline", detail: "two Barlow Twins views of \(indices.count) images",
                                threads: Parallel.threads, repetitions: repetitions, medianSeconds: seconds,
                                rate: Double(indices.count) / seconds, unit: "images/s")
    }

    /// The Barlow Twins loss with its gradient at N × D, in the Gram and the dense form; the
    /// detail says how far apart their values are.
    public static func barlowTwinsLoss(n: Int = 256, d: Int, repetitions: Int) -> [BenchMeasurement] {
        var rng = RandomGenerator(seed: 3)
        let zA = Tensor(shape: [n, d], values: (0 ..< n * d).map { _ in rng.normal() })
        let zB = Tensor(shape: [n, d], values: (0 ..< n * d).map { i in 0.5 * zA.data[i] + rng.normal() })
        var values: [CrossCorrelationForm: Float] = [:]
        var results: [BenchMeasurement] = []
        for form in [CrossCorrelationForm.gram, .dense] {
            let loss = BarlowTwinsLoss(offDiagonalWeight: 0.0051, form: form)
            let gradA = Tensor(shape: [n, d]), gradB = Tensor(shape: [n, d])
            var value: Float = 0
            let seconds = median(warmup: 1, repetitions: repetitions) { value = loss.loss(zA, zB, gradA: gradA, gradB: gradB) }
            values[form] = value
            results.append(BenchMeasurement(benchmark: "barlow-twins-loss", detail: "\(form.rawValue), N \(n), D \(d), with gradient",
                                            threads: Parallel.threads, repetitions: repetitions, medianSeconds: seconds,
                                            rate: 1 / seconds, unit: "evaluations/s"))
        }
        let gram = Double(values[.gram]!), dense = Double(values[.dense]!)
        let relative = abs(gram - dense) / max(abs(dense), 1e-30)
        for i in results.indices { results[i].detail += String(format: "; loss %.6g, Gram vs dense %.1e relative", Double(values[CrossCorrelationForm.allCases[i]]!), relative) }
        return results
    }
}

/// The project's PyTorch version of the step (Benchmarks/torch_step.py), run as a child process.
public struct PyTorchPeer {
    public let python: String, script: String

    public enum Failure: Error, CustomStringConvertible {
        case noTorch(python: String, detail: String), noScript(String), failed(String)
        public var description: String {
            switch self {
            case .noTorch(let python, let detail):
                return "PyTorch is not importable by \(python) (\(detail)). Install it with\n"
                    + "  \(python) -m pip install torch --index-url https://download.pytorch.org/whl/cpu\n"
                    + "or point PYTHON=/path/to/python (make bench-pytorch) or --python at an interpreter that has it."
            case .noScript(let path): return "the PyTorch step script is missing: \(path)"
            case .failed(let why): return "the PyTorch step failed: \(why)"
            }
        }
    }

    static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [executable] + arguments
        let out = Pipe(); p.standardOutput = out; p.standardError = out
        do { try p.run() } catch { return (127, "\(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Checks that `python` imports torch and that the script is there.
    public init(python: String, script: String = "Benchmarks/torch_step.py") throws {
        guard FileManager.default.fileExists(atPath: script) else { throw Failure.noScript(script) }
        let check = Self.run(python, ["-c", "import torch; print(torch.__version__)"])
        guard check.status == 0 else {
            throw Failure.noTorch(python: python, detail: check.output.split(separator: "\n").last.map(String.init) ?? "exit \(check.status)")
        }
        self.python = python; self.script = script
    }

    /// Images per second of the PyTorch step (median of `steps` after a warm-up), channels-last.
    public func imagesPerSecond(_ shape: BenchShape, threads: Int, steps: Int) throws -> (rate: Double, description: String) {
        let r = Self.run(python, [script, "--width", "\(shape.width)", "--batch", "\(shape.batch)", "--projector", "\(shape.projector)",
                                  "--threads", "\(threads)", "--steps", "\(steps)"])
        guard r.status == 0 else { throw Failure.failed(r.output.suffix(400).description) }
        let lines = r.output.split(separator: "\n").map(String.init)
        guard let rateLine = lines.last(where: { $0.hasPrefix("images_per_second=") }),
              let rate = Double(rateLine.dropFirst("images_per_second=".count)) else { throw Failure.failed("no images_per_second line in: \(r.output.suffix(300))") }
        return (rate, lines.first(where: { $0.hasPrefix("torch=") }) ?? "")
    }
}
