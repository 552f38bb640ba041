import XCTest
@testable import Training
import Datasets
import Methods
import NN
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
        var barlowTwins = BarlowTwinsConfiguration()
        barlowTwins.projectorDimensions = [16, 16]
        var c = CellConfiguration(method: barlowTwins)
        c.backboneWidth = 2
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

    /// The partition count changes the order of sums only, through the optimiser too, at the `cpu`
    /// scale's shapes (width 8, batch 128, heads 1024 → 128): the second step's loss, after one
    /// LARS step from the same start, agrees at 1 and 2 partitions to 1e-5 of itself for Barlow
    /// Twins and SimCLR. (Later steps drift apart: training amplifies a last-bit difference by
    /// about ten to a hundred times a step here, which is why a partition count acts as another seed.)
    func testOneOptimiserStepDoesNotDependOnThePartitionCount() throws {
        let images = syntheticImages(256, seed: 11)
        for method in [BarlowTwinsConfiguration() as any MethodConfiguration, SimCLRConfiguration()] {
            var c = CellConfiguration(method: method)
            c.backboneWidth = 8; c.trainImages = 256; c.testImages = 64; c.epochs = 1; c.batchSize = 128
            c.method.setHeadWidths(hidden: 1024, projection: 128)
            c.evaluateAtInitialisation = false; c.linearProbe = false; c.knnNeighbours = 5
            var losses: [[Float]] = []
            for partitions in [1, 2] {
                Parallel.configure(threads: partitions, partitions: partitions)
                losses.append(try train(c, train: images, test: images).losses)
            }
            XCTAssertEqual(losses[0].count, 2); XCTAssertEqual(losses[1].count, 2)
            XCTAssertEqual(losses[0][1], losses[1][1], accuracy: 1e-5 * abs(losses[1][1]), method.name)
        }
    }

    /// The arithmetic depends on the partition count, not on the thread count: one thread working
    /// through two partitions gives two threads' losses and kNN bit for bit, at the `cpu` scale's
    /// shapes, for Barlow Twins and SimCLR.
    func testOneThreadOverTwoPartitionsComputesWhatTwoThreadsDo() throws {
        let images = syntheticImages(256, seed: 11)
        defer { Parallel.configure(threads: 2) }
        for method in [BarlowTwinsConfiguration() as any MethodConfiguration, SimCLRConfiguration()] {
            var c = CellConfiguration(method: method)
            c.backboneWidth = 8; c.trainImages = 256; c.testImages = 64; c.epochs = 2; c.batchSize = 128
            c.method.setHeadWidths(hidden: 1024, projection: 128)
            c.evaluateAtInitialisation = false; c.linearProbe = false; c.knnNeighbours = 5
            Parallel.configure(threads: 2, partitions: 2)
            let two = try train(c, train: images, test: images)
            Parallel.configure(threads: 1, partitions: 2)
            let one = try train(c, train: images, test: images)
            XCTAssertEqual(two.losses.count, 4)
            XCTAssertEqual(one.losses, two.losses, method.name)
            XCTAssertEqual(one.knnTop1, two.knnTop1, method.name)
            Parallel.configure(threads: 1, partitions: 1)
            XCTAssertNotEqual(try train(c, train: images, test: images).losses, two.losses, "\(method.name): one partition sums in another order")
        }
    }

    /// Mid-training too: after 20 LARS steps of Barlow Twins at the cpu scale's shapes on CIFAR-10,
    /// one step's gradients from the same state agree at 1 and 2 partitions to 1e-4 of each
    /// parameter's largest entry (and repeat exactly at one partition), so no buffer kept across
    /// steps depends on the partition count.
    func testGradientsMidTrainingDoNotDependOnThePartitionCount() throws {
        guard let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) else {
            throw XCTSkip("CIFAR-10 is not next to the project")
        }
        var c = CellConfiguration(method: BarlowTwinsConfiguration())
        c.backboneWidth = 8; c.batchSize = 128
        c.method.setHeadWidths(hidden: 1024, projection: 128)
        var rng = RandomGenerator(seed: 0)
        let model = c.method.makeMethod(backboneWidth: 8, rng: &rng)
        let parameters = model.parameters
        let optimizer = LARS(momentum: c.momentum, weightDecay: c.weightDecay, trustCoefficient: c.trustCoefficient,
                             clipTrustRatio: c.clipTrustRatio)
        let views = Tensor(shape: [256, 32, 32, 3])
        for step in 0 ... 20 {
            let indices = step * 128 ..< (step + 1) * 128
            augmentBatch(data.train, indices: Array(indices)[...], recipe: c.augmentationA, seed: 0, step: step, view: 0, into: views, offset: 0)
            augmentBatch(data.train, indices: Array(indices)[...], recipe: c.augmentationB, seed: 0, step: step, view: 1, into: views, offset: 128)
            let context = StepContext(step: step, totalSteps: 512, epoch: 0, stepsPerEpoch: 64, seed: 0)
            if step == 20 {
                var gradients: [[[Float]]] = []
                for partitions in [1, 2, 1] {
                    Parallel.configure(threads: partitions, partitions: partitions)
                    _ = model.trainingStep(views: views, smallCrops: nil, context: context)
                    gradients.append(parameters.map { $0.grad.array })
                }
                for (i, (one, two)) in zip(gradients[0], gradients[1]).enumerated() {
                    let scale = max(one.map(abs).max() ?? 0, 1e-12)
                    XCTAssertLessThan(zip(one, two).map { abs($0 - $1) }.max()! / scale, 1e-4, "\(parameters[i].name) \(i)")
                }
                XCTAssertEqual(gradients[0], gradients[2])
                return
            }
            Parallel.configure(threads: 2)
            _ = model.trainingStep(views: views, smallCrops: nil, context: context)
            optimizer.step(parameters, learningRate: c.learningRate * Float(step + 1) / 64)
        }
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
        XCTAssertEqual(message { $0.ifMethod(BarlowTwinsConfiguration.self) { $0.offDiagonalWeight = -0.1 } }, "invalid lambda -0.1: must be 0 or more")
        XCTAssertEqual(message { $0.ifMethod(BarlowTwinsConfiguration.self) { $0.projectorDimensions = [16, 0] } },
                       "invalid projector [16, 0]: every layer width must be a positive integer")
        XCTAssertEqual(message { $0.method = SDMPConfiguration(); $0.ifMethod(SDMPConfiguration.self) { $0.mixing.strategies = [] } },
                       "invalid mixing none: sdmp needs at least one strategy (moco-v3 is SDMP without mixing)")
        XCTAssertEqual(message { $0.method = SwAVConfiguration(); $0.ifMethod(SwAVConfiguration.self) { $0.queueLength = -1 } },
                       "invalid queue length -1: must be 0 or more")
        XCTAssertEqual(message { $0.epochs = 0 }, "invalid epochs 0: must be a positive integer")
        XCTAssertEqual(message { _ in }, "accepted")
        XCTAssertThrowsError(try MethodCatalog.named("barlow")) {
            XCTAssertEqual("\($0)", "invalid method 'barlow': unknown; known: barlow-twins, byol, simclr, swav, moco-v3, sdmp")
        }
        XCTAssertTrue(try MethodCatalog.named("moco-v3") is MoCoV3Configuration)
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

    func testTheAugmentationRecipeFollowsTheMethodAndIsRecordedInTheRow() {
        XCTAssertEqual(CellConfiguration(method: SwAVConfiguration()).augmentation, .simclr)
        XCTAssertEqual(CellConfiguration(method: SimCLRConfiguration()).augmentation, .simclr)
        XCTAssertEqual(CellConfiguration(method: BYOLConfiguration()).augmentation, .barlowTwins)
        var c = CellConfiguration(method: SwAVConfiguration())
        XCTAssertEqual(c.augmentationA.blurProbability, 0.5)
        XCTAssertEqual(c.augmentationB.solarizeProbability, 0)
        c.augmentation = .barlowTwins
        XCTAssertEqual(c.augmentationA.blurProbability, 0)
        XCTAssertEqual(c.augmentationA.solarizeProbability, 0)
        XCTAssertEqual(c.augmentationB.solarizeProbability, 0.2)
        XCTAssertNotEqual(c.trainingFingerprint, CellConfiguration(method: SwAVConfiguration()).trainingFingerprint)
    }

    func testEveryMethodStartsFromItsOwnRecipe() {
        let expected: [(String, Float, Float, Bool, AugmentationPreset)] = [
            ("barlow-twins", 0.3, 1e-4, true, .barlowTwins), ("byol", 1.0, 1e-5, true, .barlowTwins), ("simclr", 0.4, 1e-4, true, .simclr),
            ("swav", 0.6, 1e-6, true, .simclr), ("moco-v3", 0.3, 1e-6, true, .barlowTwins), ("sdmp", 0.3, 1e-6, true, .barlowTwins)]
        XCTAssertEqual(MethodCatalog.names, expected.map(\.0))
        for (name, lr, wd, clip, augmentation) in expected {
            let c = CellConfiguration(method: try! MethodCatalog.named(name))
            XCTAssertEqual(c.baseLearningRate, lr, name); XCTAssertEqual(c.weightDecay, wd, name)
            XCTAssertEqual(c.clipTrustRatio, clip, name); XCTAssertEqual(c.augmentation, augmentation, name)
        }
        XCTAssertEqual(CellConfiguration(), CellConfiguration(method: BarlowTwinsConfiguration()))
        XCTAssertNotEqual(CellConfiguration(method: MoCoV3Configuration()), CellConfiguration(method: SDMPConfiguration()))
    }

    func testAConfigurationTooLargeForMemoryIsRefusedBeforeTraining() {
        var c = tinyConfiguration()
        c.method.setProjectorWidth(16384)
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
        let model = c.method.makeMethod(backboneWidth: c.backboneWidth, rng: &rng)
        let parameterFloats = model.parameters.reduce(0) { $0 + $1.value.count }
        let estimate = MemoryEstimate(c, trainImages: 20000, testImages: 10000)
        XCTAssertGreaterThanOrEqual(estimate.parameterBytes, 3 * 4 * parameterFloats)
        XCTAssertLessThan(estimate.parameterBytes, 4 * 4 * parameterFloats)
    }

    func testEveryMethodTrainsEndToEnd() throws {
        for method in MethodCatalog.all {
            var c = CellConfiguration(method: method)
            c.backboneWidth = 2; c.batchSize = 8; c.epochs = 1; c.trainImages = 16; c.knnNeighbours = 5
            c.method.setHeadWidths(hidden: 16, projection: 8)
            c.ifMethod(BarlowTwinsConfiguration.self) { $0.projectorDimensions = [16, 16] }
            c.ifMethod(SwAVConfiguration.self) { $0.prototypeCount = 12; $0.smallCrops = .init(count: 2, size: 16) }
            let r = try Training.train(c, train: syntheticImages(16, seed: 3), test: syntheticImages(8, seed: 4))
            XCTAssertEqual(r.status, .ok, method.name)
            XCTAssertEqual(r.losses.count, 2, method.name)
            XCTAssertFalse(r.knnTop1.isNaN, method.name)
            XCTAssertFalse(r.linearTop1.isNaN, method.name)
        }
    }
}

final class InitialEvaluationTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    /// The linear probe at initialisation draws from its own generator: a cell takes the same
    /// steps and ends with the same numbers with it or without it (`--no-linear-probe`).
    func testTheLinearProbeAtInitialisationLeavesTheTrainingAsItWas() throws {
        var rng = RandomGenerator(seed: 5)
        func images(_ n: Int) -> LabeledImages {
            LabeledImages(pixels: (0 ..< n * 3072).map { _ in UInt8(rng.int(below: 256)) }, labels: (0 ..< n).map { Int32($0 % 10) }, classCount: 10)
        }
        let train = images(32), test = images(16)
        for method in [BarlowTwinsConfiguration(), BYOLConfiguration()] as [any MethodConfiguration] {
            var c = CellConfiguration(method: method)
            c.backboneWidth = 2; c.batchSize = 8; c.epochs = 2; c.trainImages = 32; c.knnNeighbours = 5
            c.method.setHeadWidths(hidden: 16, projection: 8)
            c.ifMethod(BarlowTwinsConfiguration.self) { $0.projectorDimensions = [16, 16] }
            let probed = try Training.train(c, train: train, test: test)
            c.linearProbe = false
            let plain = try Training.train(c, train: train, test: test)
            XCTAssertFalse(probed.linearTop1AtInitialisation.isNaN, method.name)
            XCTAssertTrue(plain.linearTop1AtInitialisation.isNaN, method.name)
            XCTAssertEqual(probed.losses, plain.losses, method.name)
            XCTAssertEqual(probed.knnTop1AtInitialisation, plain.knnTop1AtInitialisation, method.name)
            XCTAssertEqual(probed.knnTop1, plain.knnTop1, method.name)
        }
    }
}

final class CheckpointTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func images(_ n: Int, seed: UInt64) -> LabeledImages {
        var rng = RandomGenerator(seed: seed)
        return LabeledImages(pixels: (0 ..< n * 3072).map { _ in UInt8(rng.int(below: 256)) }, labels: (0 ..< n).map { Int32($0 % 10) }, classCount: 10)
    }

    /// Barlow Twins at width 2 with a 16-16 projector, batch 8, 2 epochs on 32 images.
    func tinyBarlowTwinsCell() -> CellConfiguration {
        var barlowTwins = BarlowTwinsConfiguration()
        barlowTwins.projectorDimensions = [16, 16]
        var c = CellConfiguration(method: barlowTwins)
        c.backboneWidth = 2; c.batchSize = 8; c.epochs = 2; c.trainImages = 32; c.knnNeighbours = 5
        return c
    }

    /// Killed after epoch 1 of 3 and started again, every method ends with the numbers of an
    /// uninterrupted run with the same seed: the same loss at every step and the same accuracy.
    func testAKilledCellResumesToTheSameNumbers() throws {
        let train = images(32, seed: 1), test = images(16, seed: 2)
        let methods: [any MethodConfiguration] = [BarlowTwinsConfiguration(), BYOLConfiguration(), SwAVConfiguration(), SDMPConfiguration()]
        for method in methods {
            var c = CellConfiguration(method: method)
            c.backboneWidth = 2; c.batchSize = 8; c.epochs = 3; c.trainImages = 32; c.knnNeighbours = 5
            c.method.setHeadWidths(hidden: 16, projection: 8)
            c.ifMethod(BarlowTwinsConfiguration.self) { $0.projectorDimensions = [16, 16] }
            c.ifMethod(SwAVConfiguration.self) { $0.prototypeCount = 12; $0.queueLength = 16; $0.queueStartEpoch = 0 }
            c.optimizer = method is BYOLConfiguration ? .adamw : .lars
            let whole = try Training.train(c, train: train, test: test)
            let path = NSTemporaryDirectory() + "sslbench-\(UUID().uuidString).ckpt"
            c.checkpointPath = path
            let first = try Training.train(c, train: train, test: test, stopAfterEpoch: { $0 == 1 })
            XCTAssertEqual(first.status, .interrupted(afterEpoch: 1))
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
            var resumedAt = -1
            let second = try Training.train(c, train: train, test: test, progress: { if case .resumed(let e, _) = $0 { resumedAt = e } })
            XCTAssertEqual(resumedAt, 1, method.name)
            XCTAssertEqual(second.losses, whole.losses, method.name)
            XCTAssertEqual(second.knnTop1, whole.knnTop1, method.name)
            XCTAssertEqual(second.linearTop1, whole.linearTop1, method.name)
            XCTAssertFalse(whole.linearTop1AtInitialisation.isNaN, method.name)
            XCTAssertEqual(second.knnTop1AtInitialisation, whole.knnTop1AtInitialisation, method.name)
            XCTAssertEqual(second.linearTop1AtInitialisation, whole.linearTop1AtInitialisation, method.name)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the checkpoint is removed when the cell ends")
        }
    }

    /// A checkpoint of the first format (no linear top-1 at initialisation) still resumes, to the
    /// same numbers, with that top-1 unknown.
    func testACheckpointOfTheFirstFormatResumesWithoutTheLinearTop1AtInitialisation() throws {
        let train = images(32, seed: 1), test = images(16, seed: 2)
        var c = tinyBarlowTwinsCell()
        let whole = try Training.train(c, train: train, test: test)
        let path = NSTemporaryDirectory() + "sslbench-\(UUID().uuidString).ckpt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        c.checkpointPath = path
        _ = try Training.train(c, train: train, test: test, stopAfterEpoch: { _ in true })
        // format 2 → format 1: the first magic, and the linear top-1's 8 bytes after the kNN's taken out
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(bytes.prefix(Checkpoint.magic.count)), Checkpoint.magic)
        let fingerprintLength = bytes[Checkpoint.magic.count ..< Checkpoint.magic.count + 8].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
        let linear = Checkpoint.magic.count + 8 + Int(fingerprintLength) + 4 * 8
        XCTAssertEqual(bytes[linear ..< linear + 8].withUnsafeBytes { $0.loadUnaligned(as: Double.self) }, whole.linearTop1AtInitialisation)
        bytes.removeSubrange(linear ..< linear + 8)
        bytes.replaceSubrange(0 ..< Checkpoint.magic.count, with: Checkpoint.magicOfFormat1)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let resumed = try Training.train(c, train: train, test: test)
        XCTAssertEqual(resumed.losses, whole.losses)
        XCTAssertEqual(resumed.knnTop1, whole.knnTop1)
        XCTAssertEqual(resumed.knnTop1AtInitialisation, whole.knnTop1AtInitialisation)
        XCTAssertTrue(resumed.linearTop1AtInitialisation.isNaN)
    }

    func testACheckpointOfAnotherConfigurationOrATruncatedOneIsRefused() throws {
        let train = images(32, seed: 1), test = images(16, seed: 2)
        var c = tinyBarlowTwinsCell()
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
        var c = CellConfiguration(method: BarlowTwinsConfiguration())
        c.backboneWidth = 16
        XCTAssertEqual(TimeEstimate(c, trainImages: 20000, testImages: 10000).trainingFLOPsPerImage / 1e9, 0.52, accuracy: 0.01)
        c.backboneWidth = 64
        XCTAssertEqual(TimeEstimate(c, trainImages: 20000, testImages: 10000).trainingFLOPsPerImage / 1e9, 6.8, accuracy: 0.1)
        // a momentum target adds a forward of both views: BYOL costs more than SimCLR at the same heads
        let byol = TimeEstimate(CellConfiguration(method: BYOLConfiguration()), trainImages: 20000, testImages: 10000)
        let simclr = TimeEstimate(CellConfiguration(method: SimCLRConfiguration()), trainImages: 20000, testImages: 10000)
        XCTAssertGreaterThan(byol.trainingFLOPs, 1.3 * simclr.trainingFLOPs)
    }
}
