import XCTest
@testable import Runner
import Datasets
import Experiments
import Methods
import Report
import Tensors
import Training

struct MissingCell: Error, CustomStringConvertible { let description: String }

final class RegressionTests: XCTestCase {
    var directory: String!
    override func setUpWithError() throws {
        Parallel.configure(threads: 2)
        directory = NSTemporaryDirectory() + "sslbench-regress-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func row(_ method: String, _ knn: Double?, seed: Int = 0, status: String = "ok") -> [String: String] {
        ["method": method, "knn_top1": knn.map { String($0) } ?? "", "seed": "\(seed)", "status": status]
    }

    /// The tolerance is three sample standard deviations of the baseline's seeds, at least one
    /// point; a value just inside passes, just outside fails.
    func testTheToleranceIsThreeStandardDeviationsOfTheSeeds() throws {
        let baseline = [row("byol", 40, seed: 0), row("byol", 41, seed: 1), row("byol", 42, seed: 2), row("byol", 41, seed: 3),
                        row("simclr", 50, seed: 0), row("simclr", 50.1, seed: 1), row("simclr", 50.2, seed: 2)]
        let sd = (2.0 / 3.0).squareRoot()   // byol: mean 41, squared deviations 1+0+1+0 over 3
        var checks = try Regression.compare(new: [row("byol", 41 - 3 * sd + 0.01), row("simclr", 49.05)], baseline: baseline, baselinePath: "b.csv")
        XCTAssertEqual(checks[0].tolerance, 3 * sd, accuracy: 1e-9)
        XCTAssertTrue(checks[0].passed, "\(checks[0])")
        XCTAssertEqual(checks[1].tolerance, 1.0, accuracy: 1e-12)   // sd 0.1: the one-point floor
        XCTAssertFalse(checks[1].passed, "\(checks[1])")
        checks = try Regression.compare(new: [row("byol", 41 - 3 * sd - 0.01)], baseline: baseline, baselinePath: "b.csv")
        XCTAssertFalse(checks[0].passed)
        XCTAssertTrue("\(checks[0])".contains("FAIL byol"), "\(checks[0])")
        // a cell that diverged fails whatever the baseline
        checks = try Regression.compare(new: [row("byol", nil, status: "diverged at step 3")], baseline: baseline, baselinePath: "b.csv")
        XCTAssertFalse(checks[0].passed)
        XCTAssertTrue("\(checks[0])".contains("diverged"), "\(checks[0])")
    }

    func testAMissingOrThinBaselineIsAnErrorThatSaysWhatToRun() {
        XCTAssertThrowsError(try Regression.compare(new: [row("byol", 40)], baseline: [], baselinePath: "b.csv")) {
            XCTAssertTrue("\($0)".contains("make regress-update"), "\($0)")
        }
        XCTAssertThrowsError(try Regression.compare(new: [row("swav", 40)], baseline: [row("byol", 40)], baselinePath: "b.csv")) {
            XCTAssertTrue("\($0)".contains("swav"), "\($0)")
        }
        XCTAssertThrowsError(try Regression.compare(new: [row("byol", 40)], baseline: [row("byol", 40), row("byol", 41, seed: 1)],
                                                    baselinePath: "b.csv")) {
            XCTAssertTrue("\($0)".contains("at least 3"), "\($0)")
        }
    }

    /// A baseline made with another recipe (here another batch size) is refused, with the
    /// command that remakes it; a row without the configuration columns is not compared.
    func testABaselineOfAnotherRecipeIsRefused() throws {
        var baseline = [row("byol", 40, seed: 0), row("byol", 41, seed: 1), row("byol", 42, seed: 2)]
        for i in baseline.indices { baseline[i]["batch_size"] = "64"; baseline[i]["epochs"] = "6" }
        var new = row("byol", 41)
        new["batch_size"] = "32"; new["epochs"] = "6"
        XCTAssertThrowsError(try Regression.compare(new: [new], baseline: baseline, baselinePath: "b.csv")) {
            XCTAssertTrue("\($0)".contains("batch_size 64"), "\($0)")
            XCTAssertTrue("\($0)".contains("make regress-update METHODS=byol"), "\($0)")
        }
        new["batch_size"] = "64"
        XCTAssertTrue(try Regression.compare(new: [new], baseline: baseline, baselinePath: "b.csv")[0].passed)
    }

    /// Every method of the `methods` table is guarded; four run the table's `ci` cell as
    /// declared, BYOL and SwAV their own recipe, and the runner's plan carries it.
    func testTheRegressionRunsEveryMethodWithBYOLAndSwAVOnTheirRecipe() throws {
        let declared = try Tables.methods.cells(scale: .ci)
        XCTAssertEqual(Set(declared.map(\.configuration.method.name)), Set(MethodCatalog.names))
        XCTAssertEqual(Set(Regression.guardedMethods), Set(MethodCatalog.names))
        var r = TableRunner()
        r.cellSelection = { RegressionRecipe.ci.cell($0) }
        let plan = try r.plan(Tables.methods, scale: .ci)
        XCTAssertEqual(plan.map(\.cell.configuration.method.name), declared.map(\.configuration.method.name))
        for (cell, (planned, _)) in zip(declared, plan) {
            assertRegressionCell(planned.configuration, declared: cell.configuration, swavImages: 20000)
        }
        // a selection that drops a method drops its cells
        r.cellSelection = { $0.configuration.method is BYOLConfiguration ? nil : $0 }
        XCTAssertEqual(try r.plan(Tables.methods, scale: .ci).count, declared.count - 1)
    }

    /// A regression cell against the table's: BYOL at batch 32 (its LARS rate scaled with it) on
    /// 8192 images for 8 epochs, SwAV on the milder augmentation with 3000 prototypes, batch 128,
    /// `swavImages` images, 8 epochs; the other methods as declared; width and test images kept.
    func assertRegressionCell(_ b: CellConfiguration, declared a: CellConfiguration, swavImages: Int, line: UInt = #line) {
        switch a.method.name {
        case "byol":
            XCTAssertEqual([b.batchSize, b.trainImages, b.epochs], [32, 8192, 8], line: line)
            XCTAssertEqual(b.learningRate, a.learningRate * 32 / Float(a.batchSize), accuracy: 1e-7, line: line)   // LARS rate scaled by batch/256
        case "swav":
            XCTAssertEqual([b.batchSize, b.trainImages, b.epochs, (b.method as? SwAVConfiguration)?.prototypeCount],
                           [128, swavImages, 8, 3000], line: line)
            XCTAssertEqual(b.augmentation, .barlowTwins, line: line)
        default:
            XCTAssertEqual(a, b, a.method.name, line: line)
        }
        XCTAssertEqual([b.backboneWidth, b.testImages], [a.backboneWidth, a.testImages], line: line)
    }

    /// The candidate `cpu` recipe: the methods table's cpu cells, BYOL at batch 32 and SwAV on
    /// the milder augmentation with 3000 prototypes at the scale's 8192 images; its baseline
    /// lives apart from the ci one.
    func testTheCPURecipeRunsTheCPUCellsWithBYOLAndSwAVOnTheirRecipe() throws {
        let declared = try Tables.methods.cells(scale: .cpu)
        for cell in declared {
            assertRegressionCell(RegressionRecipe.cpu.cell(cell).configuration, declared: cell.configuration, swavImages: 8192)
        }
        var run = RegressionRun()
        XCTAssertEqual(run.baselinePath, "Results/regression/baseline.csv")
        run.recipe = .cpu
        XCTAssertEqual(run.baselinePath, "Results/regression/cpu/baseline.csv")
        run.baselineDirectory = "/tmp/x"
        XCTAssertEqual(run.baselinePath, "/tmp/x/baseline.csv")
    }

    /// `make regress-update METHODS=byol`: BYOL's rows are replaced, every other row is kept,
    /// the result in seed order, then the table's method order.
    func testUpdatingOneMethodKeepsTheOthersRows() {
        let old = [row("barlow-twins", 31, seed: 0), row("byol", 20, seed: 0), row("simclr", 30, seed: 0),
                   row("barlow-twins", 32, seed: 1), row("byol", 21, seed: 1), row("simclr", 29, seed: 1)]
        let new = [row("byol", 30, seed: 0), row("byol", 31, seed: 1), row("byol", 32, seed: 2)]
        let merged = Regression.mergedBaseline(old: old, new: new, updated: ["byol"])
        XCTAssertEqual(merged.map { "\($0["method"]!)/\($0["seed"]!)/\($0["knn_top1"]!)" },
                       ["barlow-twins/0/31.0", "byol/0/30.0", "simclr/0/30.0", "barlow-twins/1/32.0", "byol/1/31.0", "simclr/1/29.0",
                        "byol/2/32.0"])
    }

    /// The committed baseline, next to this file's package.
    var committedBaseline: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Results/regression/baseline.csv").path
    }

    /// Runs the regression's cell of `method` with `fault` planted and checks it against the
    /// committed baseline.
    func sabotagedCheck(_ method: String, _ fault: Fault) throws -> Regression.Check {
        guard let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) else {
            throw XCTSkip("CIFAR-10 is not next to the project")
        }
        let baseline = try readResults(committedBaseline)
        guard !baseline.isEmpty else {
            throw XCTSkip("no baseline at \(committedBaseline) yet: `make regress-update` writes it")
        }
        guard let declared = try Tables.methods.cells(scale: .ci).first(where: { $0.configuration.method.name == method }) else {
            throw MissingCell(description: "the methods table has no \(method) cell at the ci scale")   // a thrown error fails the test
        }
        let cell = RegressionRecipe.ci.cell(declared)
        var configuration = cell.configuration
        fault.configure(&configuration)
        configuration.linearProbe = false   // the check reads the kNN only
        let result = try train(configuration, train: data.train, test: data.test, wrapMethod: fault.plant(in:))
        let newRow = Dictionary(uniqueKeysWithValues: zip(TableRow.header, TableRow.fields(cell.withConfiguration(configuration),
                                                                                           table: Tables.methods, result: result)))
        return try Regression.compare(new: [newRow], baseline: baseline, baselinePath: committedBaseline, ignoring: fault.changedColumns)[0]
    }

    /// The sabotage: the Barlow Twins cell of `make regress` with every gradient's sign flipped
    /// (a sign error in the loss gradient) trains away from its objective, and the regression
    /// check against the committed baseline fails for it. `make regress SABOTAGE=negate-gradients`
    /// does the same for every method (README, "Accuracy regression": it catches five of six).
    func testASignFlippedGradientFailsTheRegression() throws {
        let check = try sabotagedCheck("barlow-twins", .negatedGradients)
        XCTAssertFalse(check.passed, "the sabotaged run passed: \(check)")
        print("sabotaged: \(check)")
    }

    /// The issue's own example: BYOL's target network receiving gradients (the stop-gradient
    /// removed) collapses, and the check fails for BYOL.
    func testBYOLWithoutItsStopGradientFailsTheRegression() throws {
        let check = try sabotagedCheck("byol", .targetReceivesGradients)
        XCTAssertFalse(check.passed, "the sabotaged run passed: \(check)")
        print("sabotaged: \(check)")
    }

    /// The few-point faults change the recipe as they say, only for the methods they concern, and
    /// parse from their names; the others change no configuration.
    func testRecipeFaultsChangeWhatTheySay() throws {
        func faulty(_ fault: Fault, _ method: any MethodConfiguration) -> (CellConfiguration, Bool) {
            var c = Scales.base(.ci, method: method)
            let changed = fault.configure(&c)
            return (c, changed)
        }
        for name in Fault.names where !name.contains("STEP") { XCTAssertEqual(Fault(parsing: name)?.description, name) }
        let jitter = faulty(.noColourJitter, SimCLRConfiguration())
        XCTAssertTrue(jitter.1); XCTAssertEqual(jitter.0.augmentationA.jitterProbability, 0); XCTAssertEqual(jitter.0.augmentationB.jitterProbability, 0)
        XCTAssertEqual((faulty(.heldMomentum, BYOLConfiguration()).0.method as? BYOLConfiguration)?.momentumSchedule, .constant)
        XCTAssertEqual((faulty(.heldMomentum, SDMPConfiguration()).0.method as? SDMPConfiguration)?.moco.momentumSchedule, .constant)
        XCTAssertFalse(faulty(.heldMomentum, SimCLRConfiguration()).1)
        XCTAssertEqual((faulty(.doubledTemperature, MoCoV3Configuration()).0.method as? MoCoV3Configuration)?.temperature, 0.4)
        XCTAssertEqual((faulty(.doubledTemperature, SwAVConfiguration()).0.method as? SwAVConfiguration)?.temperature, 0.2)
        XCTAssertFalse(faulty(.doubledTemperature, BarlowTwinsConfiguration()).1)
        XCTAssertEqual((faulty(.tenfoldLambda, BarlowTwinsConfiguration()).0.method as? BarlowTwinsConfiguration)?.offDiagonalWeight ?? 0,
                       0.051, accuracy: 1e-7)
        XCTAssertEqual(faulty(.noWarmup, BYOLConfiguration()).0.warmupEpochs, 0)
        XCTAssertFalse(faulty(.negatedGradients, BYOLConfiguration()).1)
        XCTAssertFalse(faulty(.batchNormTrainModeAtEvaluation, SimCLRConfiguration()).1)
        // the batch-norm fault changes no configuration; it leaves every backbone norm in training mode
        var seedRNG = RandomGenerator(seed: 2)
        var small = SimCLRConfiguration(); small.projectorHiddenDimensions = 8; small.projectionDimensions = 4
        let simclr = SimCLR(configuration: small, backboneWidth: 2, rng: &seedRNG)
        XCTAssertFalse(simclr.encoder.batchNorms.contains { $0.normalisesWithBatchStatisticsInEvaluation })
        let planted = Fault.batchNormTrainModeAtEvaluation.plant(in: simclr)
        XCTAssertTrue(planted.encoder.batchNorms.allSatisfy { $0.normalisesWithBatchStatisticsInEvaluation })
        XCTAssertFalse(planted.encoder.batchNorms.isEmpty)
        // a held momentum really holds in the method built from the faulty configuration
        var rng = RandomGenerator(seed: 1)
        var moco = MoCoV3Configuration(); moco.momentumSchedule = .constant
        moco.projectorHiddenDimensions = 8; moco.projectionDimensions = 4; moco.predictorHiddenDimensions = 8
        let built = MoCoV3(configuration: moco, backboneWidth: 2, rng: &rng)
        let before = built.keyParameters[0].value.array, online = built.encoder.parameters[0]
        for i in 0 ..< online.value.count { online.value[i] += 1 }
        built.afterOptimizerStep(context: StepContext(step: 9, totalSteps: 10, epoch: 0, stepsPerEpoch: 10, seed: 0))
        XCTAssertEqual(built.keyParameters[0].value[0], 0.99 * before[0] + 0.01 * online.value[0], accuracy: 1e-6)
    }

    /// Same configuration, seed and threads: the same CSV row in every column but the timings.
    func testTheSameCellTwiceGivesTheSameRowButForTheTimings() throws {
        guard let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) else {
            throw XCTSkip("CIFAR-10 is not next to the project")
        }
        let train = data.train.prefix(512), test = data.test.prefix(512)
        var rows: [[String: String]] = []
        for run in 0 ..< 2 {
            var r = TableRunner(); r.resultsDirectory = directory + "/run\(run)"
            try r.run(Tables.asymmetry, scale: .smoke, train: train, test: test) { _ in }
            rows += try readResults(r.csvPath(Tables.asymmetry))
        }
        let cells = try Tables.asymmetry.cells(scale: .smoke).count
        XCTAssertEqual(rows.count, 2 * cells)
        let timings: Set<String> = ["training_seconds", "images_per_second", "seconds"]
        for (a, b) in zip(rows.prefix(cells), rows.suffix(cells)) {
            for column in TableRow.header where !timings.contains(column) {
                XCTAssertEqual(a[column], b[column], column)
            }
            XCTAssertNotEqual(a["knn_top1"], "")
        }
    }

    /// A loss that turns NaN mid-cell: the row says `diverged at step N`, and the table goes on
    /// to its next cells.
    func testADivergingCellIsRecordedAndTheTableContinues() throws {
        guard let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) else {
            throw XCTSkip("CIFAR-10 is not next to the project")
        }
        var r = TableRunner(); r.resultsDirectory = directory
        r.wrapMethod = Fault.nanLossFromStep(3).plant(in:)
        var log: [String] = []
        try r.run(Tables.lambda, scale: .smoke, train: data.train.prefix(512), test: data.test.prefix(512)) { log.append($0) }
        let rows = try readResults(r.csvPath(Tables.lambda))
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows.map { $0["status"]! }, Array(repeating: "diverged at step 3", count: 3))
        XCTAssertTrue(rows.allSatisfy { $0["knn_top1"] == "" && $0["final_loss"] == "nan" }, "\(rows.map { $0["final_loss"] ?? "" })")
        XCTAssertTrue(log.contains { $0.contains("[3/3]") })
    }
}
