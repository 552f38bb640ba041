import Foundation
import NN
import Datasets
import Methods
import Options
import Report
import Runner
import Tensors
import Training

/// `sslbench train`: one cell, from the command line to its kNN top-1.
enum TrainCommand {
    struct Settings {
        var cell = CellConfiguration()
        var threads: Int?
        var data: String?
        var out: String?
        var lossCurve: String?
    }

    /// The options every method takes, applied in this order (`--method` first); each method's
    /// own options follow (`MethodConfiguration.options`).
    static let options: [Option<Settings>] = [
        Option("method", "NAME", example: "byol", "\(MethodCatalog.names.joined(separator: ", ")) (barlow-twins)") { s, v in
            do { s.cell = CellConfiguration(method: try MethodCatalog.named(v)) } catch { throw OptionError("--method: \(error)") }
        },
        Option("width", "W", example: "8", "ResNet-18 width multiplier, 64 = standard (16)") { s, v in
            s.cell.backboneWidth = try Value.int(v, option: "width")
        },
        Option("projector", "D[,D,..]", example: "512",
               "projector output width D (every layer of Barlow Twins', the output of the others');\nBarlow Twins also takes every layer: D1,D2,D3 (the method's: "
                + MethodCatalog.all.map { "\($0.name) \($0.projectorDescription)" }.joined(separator: ", ") + ")") { s, v in
            try s.cell.method.setProjector(try Value.ints(v, option: "projector", counts: 1 ... 16, form: "D or D,D,D"))
        },
        Option("batch-size", "B", example: "64", "images per step, two views each (256)") { s, v in
            s.cell.batchSize = try Value.int(v, option: "batch-size")
        },
        Option("epochs", "E", example: "2", "(10)") { s, v in s.cell.epochs = try Value.int(v, option: "epochs") },
        Option("train-images", "N", example: "4096", "the first N training images (20000)") { s, v in
            s.cell.trainImages = try Value.int(v, option: "train-images")
        },
        Option("test-images", "N", example: "1000", "the first N test images (all: 10000)") { s, v in
            s.cell.testImages = try Value.int(v, option: "test-images")
        },
        Option("seed", "S", example: "3", "(0)") { s, v in s.cell.seed = UInt64(try Value.int(v, option: "seed", minimum: 0)) },
        Option("lr", "X", example: "0.5", "learning rate at batch 256, scaled by B/256 (the method's: "
                + MethodCatalog.all.map { "\($0.name) \($0.recipe.baseLearningRate)" }.joined(separator: ", ") + ")") { s, v in
            s.cell.baseLearningRate = try Value.float(v, option: "lr")
        },
        Option("weight-decay", "X", example: "1e-5", "(the method's: "
                + MethodCatalog.all.map { "\($0.name) \($0.recipe.weightDecay)" }.joined(separator: ", ") + ")") { s, v in
            s.cell.weightDecay = try Value.float(v, option: "weight-decay")
        },
        Option("lars-clip", "on|off", example: "off",
               "clip LARS's adaptive rate at the global one, min(η‖p‖/(‖g‖ + wd‖p‖), lr), as solo-learn's recipes do (on); "
                + "off: lr·η‖p‖/(‖g‖ + wd‖p‖), the official Barlow Twins code's unclipped rate") { s, v in
            switch v {
            case "on": s.cell.clipTrustRatio = true
            case "off": s.cell.clipTrustRatio = false
            default: throw OptionError("--lars-clip expects on or off, got '\(v)'")
            }
        },
        Option("warmup-epochs", "E", example: "0", "linear warm-up of the learning rate (1)") { s, v in
            s.cell.warmupEpochs = try Value.int(v, option: "warmup-epochs")
        },
        Option("optimizer", "NAME", example: "sgd", "lars, sgd or adamw (lars)") { s, v in
            s.cell.optimizer = try Value.named(v, option: "optimizer", as: OptimizerName.self)
        },
        Option("heads", "H,D", example: "256,64", "every head's hidden width H and output D (the small scales' narrow heads)") { s, v in
            let parts = try Value.ints(v, option: "heads", counts: 2 ... 2, form: "HIDDEN,OUTPUT")
            guard parts.allSatisfy({ $0 > 0 }) else { throw OptionError("--heads expects HIDDEN,OUTPUT, got '\(v)'") }
            s.cell.method.setHeadWidths(hidden: parts[0], projection: parts[1])
        },
        Option("augmentation", "NAME", example: "simclr",
               "the two views' recipe: barlow-twins (solo-learn's BYOL / Barlow Twins: jitter 0.4,\nsolarisation on view 2) or simclr (its SimCLR / SwAV: jitter 0.8, blur p 0.5)\n(the method's: "
                + MethodCatalog.all.map { "\($0.name) \($0.recipe.augmentation.rawValue)" }.joined(separator: ", ") + ")") { s, v in
            s.cell.augmentation = try Value.named(v, option: "augmentation", as: AugmentationPreset.self)
        },
        Option("remove-augmentation", "LIST", example: "colour-jitter,grayscale",
               "parts never applied to either view: " + AugmentationPart.allCases.map(\.rawValue).joined(separator: ", ")
                + "\n(none; the crop always stays)") { s, v in
            var parts: [AugmentationPart] = []
            for name in v.split(separator: ",") {
                let part = try Value.named(String(name), option: "remove-augmentation", as: AugmentationPart.self)
                if !parts.contains(part) { parts.append(part) }
            }
            s.cell.removedAugmentations = parts
        },
        SharedOptions.threads(\.threads),
        Option(switch: "no-initial-eval", "skip the evaluation before training (kNN, and the linear probe when it runs)") { $0.cell.evaluateAtInitialisation = false },
        Option(switch: "no-linear-probe", "skip the linear probe (before and after training)") { $0.cell.linearProbe = false },
        SharedOptions.data(\.data),
        Option("out", "FILE", example: "/tmp/cells.csv", "also append the cell's row to this CSV file") { s, v in s.out = v },
        Option("loss-curve", "FILE", example: "/tmp/loss.csv", "write the loss of every step to FILE (step,epoch,loss)") { s, v in s.lossCurve = v },
        Option("checkpoint", "FILE", example: "/tmp/cell.ckpt",
               "keep the cell's state in FILE after every epoch; a killed run started again\nwith the same options resumes from it (removed at the end)") { s, v in
            s.cell.checkpointPath = v
        },
    ]

    static var command: Command {
        // every method's options are known to the parser; `settings` refuses those of another method
        let methodOptions = everyMethodOption
        var notes = methodOptionsUsage
        notes += """


            The last line is knn_top1=<percent> (weighted kNN, k 200, T 0.1, cosine, on frozen backbone
            features, training images as memory bank, test images as queries); before it, linear_top1
            (logistic regression on the standardised frozen features, 100 epochs), knn_top1_init and
            linear_top1_init (the same two on the encoder at initialisation).
            Environment: SSLBENCH_DIRECT_CONV=0 runs every convolution on im2col + sgemm instead of the
            direct kernels of the small-channel ones (same results up to rounding, slower; for comparing).
            Every sum over the threads is split into P chunks, P the thread count but at least 2, so
            --threads 1 computes what 2 threads compute, bit for bit; SSLBENCH_PARTITIONS=P sets P.
            """
        return Command("train", summary: "train one cell and print its kNN top-1 (defaults: the method's solo-learn CIFAR recipe, scaled down)",
                       options: options, alsoKnown: methodOptions, notes: notes, run: run)
    }

    /// The settings a command line gives: the common options, then the chosen method's own.
    static func settings(_ parsed: ParsedOptions) throws -> Settings {
        var s = Settings()
        try parsed.apply(options, to: &s)
        try applyMethodOptions(parsed, to: &s.cell, common: Set(options.map(\.name)))
        return s
    }

    /// Applies the options of the cell's method found in `parsed`; any other option that is not
    /// in `common` belongs to another method and is refused, naming the methods it belongs to.
    static func applyMethodOptions(_ parsed: ParsedOptions, to cell: inout CellConfiguration, common: Set<String>) throws {
        let own = Set(cell.method.optionSummaries.map(\.name))
        for name in parsed.values.keys.sorted() where !common.contains(name) && !own.contains(name) {
            let owners = MethodCatalog.all.filter { $0.optionSummaries.contains { $0.name == name } }.map(\.name)
            throw OptionError("--\(name) is an option of \(owners.joined(separator: ", ")), not of \(cell.method.name)")
        }
        try cell.method.apply(parsed)
    }

    /// The usage text of every method's options, method by method.
    static var methodOptionsUsage: String {
        MethodCatalog.all.map { method in
            "Options of --method \(method.name):\n" + OptionSummary.usage(method.optionSummaries)
        }.joined(separator: "\n")
    }

    /// Every method's options, by name (→ whether it takes a value): the parser knows them all.
    static var everyMethodOption: [String: Bool] {
        var known: [String: Bool] = [:]
        for method in MethodCatalog.all { for o in method.optionSummaries { known[o.name] = o.valueName != nil } }
        return known
    }

    static func run(_ parsed: ParsedOptions) throws {
        let s = try settings(parsed)
        let c = s.cell
        SharedOptions.configureThreads(s.threads)
        try c.validate()
        let folder = try CIFAR.locateCIFAR10(explicit: s.data)
        let data = try CIFAR.loadCIFAR10(folder: folder)
        try c.validate(availableTrainImages: data.train.count)
        let used = min(c.trainImages ?? data.train.count, data.train.count)
        print("sslbench train: \(c.method.name), ResNet-18 width \(c.backboneWidth), projector \(c.method.projectorDescription), "
            + "batch \(c.batchSize), \(c.epochs) epochs on \(used) images of \(folder), seed \(c.seed)")
        print("machine: \(MachineInfo.cpuModel), threads \(Parallel.threadsDescription), OpenBLAS kernel \(blasCoreName), \(Conv2d.directKernelVectorWidth)-float convolution vectors")
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
            case .linearProbe(let stage, let top1, let seconds):
                print(String(format: "linear probe top-1 at %@: %.2f%% (%.0f s)", stage, top1, seconds))
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
        if let path = s.lossCurve {
            let stepsPerEpoch = max(1, result.trainImages / c.batchSize)
            var text = "step,epoch,loss\n"
            for (i, loss) in result.losses.enumerated() { text += "\(i),\(i / stepsPerEpoch + 1),\(loss)\n" }
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) }
            catch { throw UsageError(description: "cannot write the loss curve to \(path): \(error.localizedDescription)") }
            print("loss curve written to \(path)")
        }
        if let out = s.out {
            try CSV.appendRow(CellRow.fields(c, result), header: CellRow.header, earlierHeaders: CellRow.earlierHeaders, to: out)
            print("row appended to \(out)")
        }
        if !result.linearTop1.isNaN { print(String(format: "linear_top1=%.2f", result.linearTop1)) }
        print(String(format: "knn_top1_init=%.2f", result.knnTop1AtInitialisation))
        if !result.linearTop1AtInitialisation.isNaN { print(String(format: "linear_top1_init=%.2f", result.linearTop1AtInitialisation)) }
        print(String(format: "embedding_std=%.5f", result.health.embeddingStandardDeviation))
        print(String(format: "rankme=%.2f", result.health.rankMe))
        print(String(format: "knn_top1=%.2f", result.knnTop1))
        if case .diverged = result.status { exit(3) }
    }
}
