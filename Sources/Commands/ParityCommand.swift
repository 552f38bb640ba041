import Foundation
import Datasets
import Methods
import Options
import Tensors
import Training

/// `sslbench parity-export`: the first steps of a short cell, written for
/// `Benchmarks/parity.py` to replay in PyTorch (`make parity`).
enum ParityCommand {
    struct Settings {
        var train = TrainCommand.Settings()
        var steps = 5
        var folder: String?
    }

    /// Train's options that make sense here: not the ones that set the budget, the output or
    /// the evaluation, which the command fixes.
    static let trainOptionNames: Set<String> = ["method", "width", "projector", "batch-size", "seed", "lr", "weight-decay", "lars-clip",
                                                "optimizer", "heads", "augmentation", "threads", "data"]

    static let options: [Option<Settings>] = [
        Option("trace", "DIR", example: "runs/parity/byol", "write trace.json and tensors.bin into DIR (required)") { s, v in s.folder = v },
        Option("steps", "K", example: "5", "training steps to record (5)") { s, v in s.steps = try Value.int(v, option: "steps", minimum: 1) },
    ] + TrainCommand.options.filter { trainOptionNames.contains($0.name) }.map { $0.lifted { s, apply in try apply(&s.train) } }

    static var command: Command {
        Command("parity-export", summary: "record the first steps of a short cell (weights, augmented views, losses, gradients,\nupdated weights and target) for Benchmarks/parity.py to replay in PyTorch",
                options: options, alsoKnown: TrainCommand.everyMethodOption, notes: """
                    The cell: the first B training images (one step per epoch, each a new augmentation of
                    them), K epochs, no learning-rate warm-up (a step at rate 0 would compare nothing), the
                    method's recipe otherwise; defaults --width 8 --batch-size 32 --heads 256,64. The method's
                    own options (see `sslbench train --help`) are taken as in train. `make parity` runs this
                    for every method and variant, then Benchmarks/parity.py.

                    """ + TrainCommand.methodOptionsUsage, run: run)
    }

    static func settings(_ parsed: ParsedOptions) throws -> Settings {
        var s = Settings()
        s.train.cell.backboneWidth = 8; s.train.cell.batchSize = 32
        // the method option first: it resets the cell, so the defaults above are set again after it
        if let name = parsed.values["method"] {
            do { s.train.cell = CellConfiguration(method: try MethodCatalog.named(name)) } catch { throw OptionError("--method: \(error)") }
            s.train.cell.backboneWidth = 8; s.train.cell.batchSize = 32
        }
        s.train.cell.method.setHeadWidths(hidden: 256, projection: 64)
        try parsed.apply(options.filter { $0.name != "method" }, to: &s)
        try TrainCommand.applyMethodOptions(parsed, to: &s.train.cell, common: Set(options.map(\.name)))
        guard s.folder != nil else { throw OptionError("parity-export needs --trace DIR") }
        s.train.cell.trainImages = s.train.cell.batchSize
        s.train.cell.testImages = s.train.cell.batchSize
        s.train.cell.epochs = s.steps
        s.train.cell.warmupEpochs = 0
        s.train.cell.evaluateAtInitialisation = false
        s.train.cell.linearProbe = false
        return s
    }

    static func run(_ parsed: ParsedOptions) throws {
        let s = try settings(parsed)
        SharedOptions.configureThreads(s.train.threads)
        let c = s.train.cell
        try c.validate()
        let folder = try CIFAR.locateCIFAR10(explicit: s.train.data)
        let data = try CIFAR.loadCIFAR10(folder: folder)
        let trace = try traceSteps(c, train: data.train, test: data.test)
        try trace.write(to: s.folder!)
        let losses = trace.steps.map { String(format: "%.6f", $0.loss) }.joined(separator: " ")
        print("\(c.method.name): \(trace.steps.count) steps, width \(c.backboneWidth), batch \(c.batchSize), "
            + "projector \(c.method.projectorDescription); losses \(losses) -> \(s.folder!)")
    }
}
