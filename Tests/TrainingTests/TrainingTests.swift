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

    func testCSVQuoting() throws {
        let line = CSV.line(["plain", "a,b", "say \"hi\"", "two\nlines"])
        XCTAssertEqual(line, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n")
        XCTAssertEqual(try CSV.parse(line), [["plain", "a,b", "say \"hi\"", "two\nlines"]])
        XCTAssertThrowsError(try CSV.parse("a,\"b\n"))
    }
}
