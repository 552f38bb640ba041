import XCTest
@testable import Training
import Datasets
import Report
import Tensors

final class TrainingTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    /// Random images with labels: enough for the kernel to run end to end in a second.
    func syntheticImages(_ count: Int, seed: UInt64) -> LabeledImages {
        var rng = RandomGenerator(seed: seed)
        let pixels = (0 ..< count * LabeledImages.pixelsPerImage).map { _ in UInt8(rng.int(below: 256)) }
        return LabeledImages(pixels: pixels, labels: (0 ..< count).map { Int32($0 % 10) }, classCount: 10)
    }

    func tinyConfiguration() -> CellConfiguration {
        var c = CellConfiguration()
        c.backboneWidth = 2
        c.barlowTwins.projectorDimensions = [16, 16]
        c.batchSize = 8; c.epochs = 2; c.trainImages = 32; c.knnNeighbours = 5
        return c
    }

    func testSameSeedSameLossCurve() throws {
        let train = syntheticImages(32, seed: 1), test = syntheticImages(16, seed: 2)
        let a = try Training.train(tinyConfiguration(), train: train, test: test)
        let b = try Training.train(tinyConfiguration(), train: train, test: test)
        XCTAssertEqual(a.losses.count, 8)
        XCTAssertEqual(a.losses, b.losses)
        XCTAssertEqual(a.knnTop1, b.knnTop1)
        var other = tinyConfiguration(); other.seed = 1
        XCTAssertNotEqual(try Training.train(other, train: train, test: test).losses, a.losses)
    }

    func testInvalidValuesAreNamed() {
        func message(_ change: (inout CellConfiguration) -> Void, available: Int? = 100) -> String {
            var c = tinyConfiguration(); change(&c)
            do { try c.validate(availableTrainImages: available); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertEqual(message { $0.batchSize = 0 }, "invalid batch size 0: must be at least 2 (batch statistics need two images)")
        XCTAssertEqual(message { $0.batchSize = -5 }, "invalid batch size -5: must be at least 2 (batch statistics need two images)")
        XCTAssertEqual(message { $0.backboneWidth = 0 }, "invalid width 0: must be a positive integer")
        XCTAssertEqual(message { $0.backboneWidth = -16 }, "invalid width -16: must be a positive integer")
        XCTAssertEqual(message { $0.batchSize = 64 }, "invalid batch size 64: is larger than the 32 training images")
        XCTAssertEqual(message { $0.trainImages = 500 }, "invalid train images 500: only 100 training images are in the data folder")
        XCTAssertEqual(message { $0.barlowTwins.offDiagonalWeight = -0.1 }, "invalid lambda -0.1: must be 0 or more")
        XCTAssertEqual(message { $0.barlowTwins.projectorDimensions = [16, 0] }, "invalid projector [16, 0]: every layer width must be a positive integer")
        XCTAssertEqual(message { $0.epochs = 0 }, "invalid epochs 0: must be a positive integer")
        XCTAssertEqual(message { _ in }, "accepted")
        XCTAssertThrowsError(try MethodName(named: "barlow")) {
            XCTAssertEqual("\($0)", "invalid method 'barlow': unknown; known: barlow-twins, byol, simclr, swav, moco-v3, sdmp")
        }
        XCTAssertEqual(try MethodName(named: "moco-v3"), .mocoV3)
    }

    func testTrainRefusesABatchLargerThanTheData() {
        var c = tinyConfiguration(); c.batchSize = 40
        XCTAssertThrowsError(try Training.train(c, train: syntheticImages(32, seed: 1), test: syntheticImages(8, seed: 2))) {
            XCTAssertTrue("\($0)".contains("larger than the 32 training images"))
        }
    }

    func testADivergingRunIsReportedNotHidden() throws {
        var c = tinyConfiguration()
        c.optimizer = .sgd; c.baseLearningRate = 1e30; c.warmupEpochs = 0
        let r = try Training.train(c, train: syntheticImages(32, seed: 1), test: syntheticImages(16, seed: 2))
        guard case .diverged = r.status else { return XCTFail("a learning rate of 1e30 did not diverge: \(r.losses)") }
        XCTAssertTrue(r.knnTop1.isNaN)
    }

    func testCSVRowIsWrittenAtomicallyAndParses() throws {
        let path = NSTemporaryDirectory() + "sslbench-row-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = tinyConfiguration()
        let r = try Training.train(c, train: syntheticImages(32, seed: 1), test: syntheticImages(16, seed: 2))
        try CSV.appendRow(CellRow.fields(c, r), header: CellRow.header, to: path)
        try CSV.appendRow(CellRow.fields(c, r), header: CellRow.header, to: path)
        let rows = try CSV.parse(String(contentsOfFile: path, encoding: .utf8))
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0], CellRow.header)
        XCTAssertEqual(rows[1][0], "barlow-twins")
        XCTAssertEqual(rows[1].count, CellRow.header.count)
        // a file with another header is refused and left as it was
        try "a,b\n1,2\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CSV.appendRow(CellRow.fields(c, r), header: CellRow.header, to: path))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "a,b\n1,2\n")
    }

    func testTheAugmentationRecipeFollowsTheMethodAndIsRecordedInTheRow() {
        XCTAssertEqual(CellConfiguration(method: .swav).augmentation, .simclr)
        XCTAssertEqual(CellConfiguration(method: .simclr).augmentation, .simclr)
        XCTAssertEqual(CellConfiguration(method: .byol).augmentation, .barlowTwins)
        var c = CellConfiguration(method: .swav)
        XCTAssertEqual(c.augmentationA.blurProbability, 0.5)
        XCTAssertEqual(c.augmentationB.solarizeProbability, 0)
        c.augmentation = .barlowTwins
        XCTAssertEqual(c.augmentationA.blurProbability, 0)
        XCTAssertEqual(c.augmentationA.solarizeProbability, 0)
        XCTAssertEqual(c.augmentationB.solarizeProbability, 0.2)
        XCTAssertNotEqual(c.trainingFingerprint, CellConfiguration(method: .swav).trainingFingerprint)
        let row = CellRow.fields(c, CellResult())
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: zip(CellRow.header, row))["augmentation"], "barlow-twins")
    }

    func testAConfigurationTooLargeForMemoryIsRefusedBeforeTraining() {
        var c = tinyConfiguration()
        c.setProjectorWidth(16384)
        c.memoryLimitBytes = 1 << 30
        let estimate = MemoryEstimate(c, trainImages: 32, testImages: 16)
        // 3 × (128·16384 + 2·16384²)·4 bytes of projector state alone: over 6 GiB
        XCTAssertGreaterThan(estimate.totalBytes, 6 << 30)
        XCTAssertThrowsError(try Training.train(c, train: syntheticImages(32, seed: 1), test: syntheticImages(16, seed: 2))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("needs about"), text)
            XCTAssertTrue(text.contains("1.00 GiB are available"), text)
        }
    }

    func testMemoryEstimateIsNotBelowWhatTheModelAllocates() {
        // the parameters of the width-16 reference configuration, counted by the model itself
        var rng = RandomGenerator(seed: 1)
        let c = CellConfiguration()
        let model = makeMethod(c, rng: &rng)
        let parameterFloats = model.parameters.reduce(0) { $0 + $1.value.count }
        let estimate = MemoryEstimate(c, trainImages: 20000, testImages: 10000)
        XCTAssertGreaterThanOrEqual(estimate.parameterBytes, 3 * 4 * parameterFloats)
        XCTAssertLessThan(estimate.parameterBytes, 4 * 4 * parameterFloats)
    }

    func testEveryMethodTrainsEndToEnd() throws {
        for method in MethodName.allCases {
            var c = CellConfiguration(method: method)
            c.backboneWidth = 2; c.batchSize = 8; c.epochs = 1; c.trainImages = 16; c.knnNeighbours = 5
            c.barlowTwins.projectorDimensions = [16, 16]
            c.byol.projectorHiddenDimensions = 16; c.byol.predictorHiddenDimensions = 16; c.byol.projectionDimensions = 8
            c.simclr.projectorHiddenDimensions = 16; c.simclr.projectionDimensions = 8
            c.swav.projectorHiddenDimensions = 16; c.swav.projectionDimensions = 8; c.swav.prototypeCount = 12
            c.swav.smallCrops = .init(count: 2, size: 16)
            c.mocoV3.projectorHiddenDimensions = 16; c.mocoV3.predictorHiddenDimensions = 16; c.mocoV3.projectionDimensions = 8
            let r = try Training.train(c, train: syntheticImages(16, seed: 3), test: syntheticImages(8, seed: 4))
            XCTAssertEqual(r.status, .ok, "\(method)")
            XCTAssertEqual(r.losses.count, 2, "\(method)")
            XCTAssertFalse(r.knnTop1.isNaN, "\(method)")
            XCTAssertFalse(r.linearTop1.isNaN, "\(method)")
        }
    }

    func testCSVQuoting() throws {
        let line = CSV.line(["plain", "a,b", "say \"hi\"", "two\nlines"])
        XCTAssertEqual(line, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n")
        XCTAssertEqual(try CSV.parse(line), [["plain", "a,b", "say \"hi\"", "two\nlines"]])
        XCTAssertThrowsError(try CSV.parse("a,\"b\n"))
    }
}

final class CheckpointTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func images(_ n: Int, seed: UInt64) -> LabeledImages {
        var rng = RandomGenerator(seed: seed)
        return LabeledImages(pixels: (0 ..< n * 3072).map { _ in UInt8(rng.int(below: 256)) }, labels: (0 ..< n).map { Int32($0 % 10) }, classCount: 10)
    }

    /// Killed after epoch 1 of 3 and started again, every method ends with the numbers of an
    /// uninterrupted run with the same seed: the same loss at every step and the same accuracy.
    func testAKilledCellResumesToTheSameNumbers() throws {
        let train = images(32, seed: 1), test = images(16, seed: 2)
        for method in [MethodName.barlowTwins, .byol, .swav, .sdmp] {
            var c = CellConfiguration(method: method)
            c.backboneWidth = 2; c.batchSize = 8; c.epochs = 3; c.trainImages = 32; c.knnNeighbours = 5
            c.barlowTwins.projectorDimensions = [16, 16]
            c.byol.projectorHiddenDimensions = 16; c.byol.predictorHiddenDimensions = 16; c.byol.projectionDimensions = 8
            c.swav.projectorHiddenDimensions = 16; c.swav.projectionDimensions = 8; c.swav.prototypeCount = 12; c.swav.queueLength = 16
            c.mocoV3.projectorHiddenDimensions = 16; c.mocoV3.predictorHiddenDimensions = 16; c.mocoV3.projectionDimensions = 8
            c.optimizer = method == .byol ? .adamw : .lars
            let whole = try Training.train(c, train: train, test: test)
            let path = NSTemporaryDirectory() + "sslbench-\(UUID().uuidString).ckpt"
            c.checkpointPath = path
            let first = try Training.train(c, train: train, test: test, stopAfterEpoch: { $0 == 1 })
            XCTAssertEqual(first.status, .interrupted(afterEpoch: 1))
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
            var resumedAt = -1
            let second = try Training.train(c, train: train, test: test, progress: { if case .resumed(let e, _) = $0 { resumedAt = e } })
            XCTAssertEqual(resumedAt, 1, "\(method)")
            XCTAssertEqual(second.losses, whole.losses, "\(method)")
            XCTAssertEqual(second.knnTop1, whole.knnTop1, "\(method)")
            XCTAssertEqual(second.linearTop1, whole.linearTop1, "\(method)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the checkpoint is removed when the cell ends")
        }
    }

    func testACheckpointOfAnotherConfigurationOrATruncatedOneIsRefused() throws {
        let train = images(32, seed: 1), test = images(16, seed: 2)
        var c = CellConfiguration()
        c.backboneWidth = 2; c.batchSize = 8; c.epochs = 2; c.trainImages = 32; c.knnNeighbours = 5
        c.barlowTwins.projectorDimensions = [16, 16]
        let path = NSTemporaryDirectory() + "sslbench-\(UUID().uuidString).ckpt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        c.checkpointPath = path
        _ = try Training.train(c, train: train, test: test, stopAfterEpoch: { _ in true })
        var other = c; other.seed = 9
        XCTAssertThrowsError(try Training.train(other, train: train, test: test)) { XCTAssertTrue("\($0)".contains("another configuration")) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Training.train(c, train: train, test: test)) { XCTAssertTrue("\($0)".contains("truncated")) }
    }
}

final class TimeEstimateTests: XCTestCase {
    /// The benchmarked Barlow Twins step costs about 0.52 GFLOP per image at width 16 and 6.8 at
    /// width 64 (two views, forward and backward, projector 2048-2048-2048: the speed issue's figures).
    func testTheBarlowTwinsStepCostsWhatTheSpeedIssueStates() {
        var c = CellConfiguration(method: .barlowTwins)
        c.backboneWidth = 16
        XCTAssertEqual(TimeEstimate(c, trainImages: 20000, testImages: 10000).trainingFLOPsPerImage / 1e9, 0.52, accuracy: 0.01)
        c.backboneWidth = 64
        XCTAssertEqual(TimeEstimate(c, trainImages: 20000, testImages: 10000).trainingFLOPsPerImage / 1e9, 6.8, accuracy: 0.1)
        // a momentum target adds a forward of both views: BYOL costs more than SimCLR at the same heads
        let byol = TimeEstimate(CellConfiguration(method: .byol), trainImages: 20000, testImages: 10000)
        let simclr = TimeEstimate(CellConfiguration(method: .simclr), trainImages: 20000, testImages: 10000)
        XCTAssertGreaterThan(byol.trainingFLOPs, 1.3 * simclr.trainingFLOPs)
    }
}
