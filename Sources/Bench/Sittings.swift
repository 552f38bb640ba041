import Foundation
import Datasets
import Tensors
import Training

/// The parts of `sslbench bench`, and how a sitting runs them: each figure is recorded (printed
/// and appended to the CSV by the caller) the moment it is measured.
public enum BenchPart: String, CaseIterable {
    case sgemm, step, train, cell, layers, pipeline, loss
}

extension Bench {
    /// The step shapes of a sitting: the `cpu` scale's (width 8), width 16 and width 64 (not when `quick`).
    public static func shapes(quick: Bool) -> [BenchShape] { quick ? [.cpuScale, .width16] : [.cpuScale, .width16, .width64] }

    /// The parts in `parts` at the shapes of the sitting: sgemm, the step at `Parallel.threads`
    /// threads and at one, `sslbench train` against the step, a whole `cell` (when given)
    /// against its steps, the layer profile, the data pipeline and the Barlow Twins loss.
    public static func sitting(parts: Set<BenchPart>, quick: Bool, rounds: Int?, cell: CellConfiguration? = nil,
                               record: (BenchMeasurement) throws -> Void, log: (String) -> Void) throws {
        let threads = Parallel.threads
        let shapes = shapes(quick: quick)
        // the step's fraction of the sgemm rate needs the sgemm rate
        let sgemm = parts.contains(.sgemm) || parts.contains(.step) ? Bench.sgemm() : nil
        if let sgemm = sgemm { try record(sgemm) }
        for shape in shapes where parts.contains(.step) {
            guard let sgemm = sgemm else { break }
            let repetitions = shape.width >= 64 ? 3 : 7
            try record(Bench.trainingStep(shape, repetitions: repetitions, sgemmRate: sgemm.rate))
            if threads > 1 {
                Parallel.configure(threads: 1, partitions: 1)   // the serial step, the yardstick of the speed-up
                try record(Bench.trainingStep(shape, repetitions: repetitions, sgemmRate: sgemm.rate))
                Parallel.configure(threads: threads)
            }
        }
        if parts.contains(.train) {
            try trainAgainstStep(rounds: quick ? 1 : rounds ?? 3, record: record, log: log)
        }
        if parts.contains(.cell), let cell = cell {
            let data = try CIFAR.loadCIFAR10(folder: try CIFAR.locateCIFAR10())
            for m in try Bench.wholeCell(cell, train: data.train, test: data.test, log: log) { try record(m) }
        }
        for shape in shapes where parts.contains(.layers) {
            for m in Bench.layerProfile(shape, steps: shape.width >= 64 ? 1 : 3) {
                log(String(format: "  %6.1f ms  %5.1f%%  %@%@", 1000 * m.medianSeconds, 100 * m.rate, m.detail as NSString,
                           m.gigaflopsPerSecond.isNaN ? "" : String(format: "  (%.1f GFLOP/s)", m.gigaflopsPerSecond)))
                try record(m)
            }
        }
        if parts.contains(.pipeline) {
            try record(Bench.dataPipeline(images: benchImages(count: 256).train))
        }
        for d in quick ? [2048] : [2048, 16384] where parts.contains(.loss) {
            let pair = Bench.barlowTwinsLoss(d: d, repetitions: d > 4096 ? 3 : 9)
            for m in pair { try record(m) }
            try record(BenchMeasurement(benchmark: "barlow-twins-loss-speedup", detail: "dense time / Gram time, N 256, D \(d)", threads: threads,
                                        repetitions: pair[0].repetitions, medianSeconds: .nan, rate: pair[1].medianSeconds / pair[0].medianSeconds, unit: "x"))
        }
    }

    /// CIFAR-10 when it can be found (the first `count` training images and 256 test images),
    /// else random images of the same shape.
    static func benchImages(count: Int) -> (train: LabeledImages, test: LabeledImages) {
        if let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) {
            return (data.train.prefix(count), data.test)
        }
        var rng = RandomGenerator(seed: 1)
        let images = LabeledImages(pixels: (0 ..< count * 3072).map { _ in UInt8(rng.int(below: 256)) },
                                   labels: (0 ..< count).map { Int32($0 % 10) }, classCount: 10)
        return (images, images.prefix(256))
    }

    /// `sslbench train` (the train function, CIFAR-10 images augmented inside the loop, LARS)
    /// against the bench's step at width 16, alternated round by round because the machine's
    /// speed wanders; the medians of both and their ratio.
    static func trainAgainstStep(rounds: Int, record: (BenchMeasurement) throws -> Void, log: (String) -> Void) throws {
        let (train, test) = benchImages(count: 2048)
        var steps: [BenchMeasurement] = [], ends: [BenchMeasurement] = []
        for round in 1 ... max(rounds, 1) {
            let m = Bench.trainingStep(.width16, repetitions: 5, sgemmRate: .nan)
            let e = try Bench.endToEnd(width: 16, steps: 6, images: train, test: test)
            steps.append(m); ends.append(e)
            log(String(format: "  width 16 round %d: bench step %.1f images/s, sslbench train %.1f images/s", round, m.rate, e.rate))
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
        try record(BenchMeasurement(benchmark: "ratio-train-to-step", detail: "sslbench train rate / bench step rate, width 16",
                                    threads: Parallel.threads, repetitions: steps.count, medianSeconds: .nan,
                                    rate: end.rate / step.rate, unit: "x"))
    }

    /// Our step against PyTorch's (`Benchmarks/torch_step.py`) at each shape, `rounds` rounds
    /// alternating ours, PyTorch's and sgemm (the machine's speed wanders within minutes): the
    /// medians of both, and their ratio.
    public static func pytorchSitting(peer: PyTorchPeer, shapes: [BenchShape], rounds: Int, record: (BenchMeasurement) throws -> Void,
                                      log: (String) -> Void) throws {
        let threads = Parallel.threads
        for shape in shapes {
            let width = shape.width, steps = width >= 64 ? 2 : 5
            var ours: [BenchMeasurement] = [], theirs: [Double] = [], sgemmRates: [Double] = [], description = ""
            for round in 1 ... max(rounds, 1) {
                let g = Bench.sgemm(repetitions: 5).rate
                let m = Bench.trainingStep(shape, repetitions: steps, sgemmRate: g)
                let t = try peer.imagesPerSecond(shape, threads: threads, steps: steps)
                ours.append(m); theirs.append(t.rate); sgemmRates.append(g); description = t.description
                log(String(format: "  %@ round %d: sgemm %.1f GFLOP/s, ours %.1f images/s, PyTorch %.1f images/s",
                           shape.description, round, g, m.rate, t.rate))
            }
            let sgemmRate = Bench.median(of: sgemmRates)
            var mine = ours[0]
            mine.rate = Bench.median(of: ours.map(\.rate)); mine.medianSeconds = Double(shape.batch) / mine.rate
            mine.gigaflopsPerSecond = Bench.median(of: ours.map(\.gigaflopsPerSecond)); mine.fractionOfSGEMM = mine.gigaflopsPerSecond / sgemmRate
            mine.repetitions = rounds
            mine.detail += String(format: ", median of %d rounds alternating with PyTorch and sgemm (median %.1f GFLOP/s)", rounds, sgemmRate)
            try record(mine)
            let torchRate = Bench.median(of: theirs)
            var torch = BenchMeasurement(benchmark: "training-step-pytorch", detail: "Benchmarks/torch_step.py, \(shape), channels-last; \(description)",
                                         threads: threads, repetitions: rounds, medianSeconds: Double(shape.batch) / torchRate, rate: torchRate, unit: "images/s")
            torch.gigaflopsPerSecond = mine.gigaflopsPerSecond / mine.rate * torchRate
            torch.fractionOfSGEMM = torch.gigaflopsPerSecond / sgemmRate
            try record(torch)
            try record(BenchMeasurement(benchmark: "ratio-ours-to-pytorch", detail: "training step, \(shape)", threads: threads,
                                        repetitions: rounds, medianSeconds: .nan, rate: mine.rate / torchRate, unit: "x"))
        }
    }
}
