import XCTest
@testable import Bench
import Tensors
import Datasets
import Methods
import Training

/// The bench's pieces on small sizes: that they run, report positive rates and agree on values.
/// No assertion is about speed (timings belong in `make bench`, not in tests).
final class BenchTests: XCTestCase {
    func testTheGramAndDenseLossesAgreeAndEveryFigureIsPositive() {
        Parallel.configure(threads: 2)
        let pair = Bench.barlowTwinsLoss(n: 32, d: 64, repetitions: 1)
        XCTAssertEqual(pair.count, 2)
        XCTAssertTrue(pair.allSatisfy { $0.rate > 0 && $0.medianSeconds > 0 })
        XCTAssertTrue(pair[0].detail.contains("gram") && pair[1].detail.contains("dense"))
        let relative = pair[0].detail.components(separatedBy: "Gram vs dense ").last!.split(separator: " ").first!
        XCTAssertLessThan(Double(relative)!, 1e-5, pair[0].detail)
        let step = Bench.trainingStep(BenchShape(width: 4, batch: 8, projector: 32), repetitions: 1, sgemmRate: 100)
        XCTAssertGreaterThan(step.rate, 0)
        XCTAssertEqual(step.fields.count, BenchMeasurement.header.count)
    }

    func testTheEndToEndRunTrainsOnImagesAndReportsTheStepsAfterTheFirst() throws {
        Parallel.configure(threads: 2)
        var rng = RandomGenerator(seed: 3)
        let images = LabeledImages(pixels: (0 ..< 64 * 3072).map { _ in UInt8(rng.int(below: 256)) },
                                   labels: (0 ..< 64).map { Int32($0 % 10) }, classCount: 10)
        let m = try Bench.endToEnd(width: 4, batch: 8, projector: 32, steps: 4, images: images, test: images.prefix(16))
        XCTAssertEqual(m.repetitions, 3)   // steps 2, 3 and 4
        XCTAssertGreaterThan(m.rate, 0)
        XCTAssertEqual(m.rate * m.medianSeconds, 8, accuracy: 1e-6)
        XCTAssertEqual(m.fields.count, BenchMeasurement.header.count)
    }

    /// The whole-cell figures: the cell's rate over every step it took, the evaluation's share
    /// of its seconds, the step at its shape and the ratio of the two.
    func testAWholeCellIsSetAgainstItsSteps() throws {
        Parallel.configure(threads: 2)
        var rng = RandomGenerator(seed: 3)
        let images = LabeledImages(pixels: (0 ..< 64 * 3072).map { _ in UInt8(rng.int(below: 256)) },
                                   labels: (0 ..< 64).map { Int32($0 % 10) }, classCount: 10)
        var barlowTwins = BarlowTwinsConfiguration()
        barlowTwins.setProjectorWidth(32)
        var cell = CellConfiguration(method: barlowTwins)
        cell.backboneWidth = 4; cell.batchSize = 8; cell.epochs = 2; cell.trainImages = 32; cell.testImages = 16; cell.knnNeighbours = 5
        let rows = try Bench.wholeCell(cell, train: images, test: images, log: { _ in })
        XCTAssertEqual(rows.map(\.benchmark), ["cell-whole", "cell-evaluation-share", "training-step", "cell-step", "training-step",
                                                "ratio-cell-step-to-bench-step", "ratio-cell-to-steps"])
        XCTAssertEqual(rows[0].rate * rows[0].medianSeconds, 8 * 8, accuracy: 1e-6)   // 2 epochs of 4 steps of 8 images
        XCTAssertTrue(rows[1].rate > 0 && rows[1].rate < 1, "\(rows[1].rate)")
        XCTAssertTrue(rows[2].detail.contains("width 4, batch 8, projector 32"), rows[2].detail)
        XCTAssertEqual(rows[3].repetitions, 7)   // the steps after the first
        let bench = (rows[2].medianSeconds + rows[4].medianSeconds) / 2
        XCTAssertEqual(rows[5].rate, rows[3].medianSeconds / bench, accuracy: 1e-9)
        XCTAssertEqual(rows[6].rate, rows[0].medianSeconds / (8 * bench), accuracy: 1e-9)
        cell.method = SimCLRConfiguration()
        XCTAssertThrowsError(try Bench.wholeCell(cell, train: images, test: images, log: { _ in }))
    }

    func testTheMedianIsTheMiddleTiming() {
        var calls = 0
        _ = Bench.median(warmup: 2, repetitions: 3) { calls += 1 }
        XCTAssertEqual(calls, 5)
    }

    func testAMissingPythonOrTorchSaysHowToInstallIt() {
        XCTAssertThrowsError(try PyTorchPeer(python: "/nonexistent/python3", script: #filePath)) {
            XCTAssertTrue("\($0)".contains("pip install torch"), "\($0)")
        }
    }
}
