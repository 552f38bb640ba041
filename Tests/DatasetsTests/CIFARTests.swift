import XCTest
@testable import Datasets
import Tensors

final class CIFARTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "sslbench-cifar-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    /// A CIFAR-10 record: label, then the red, green and blue planes; pixel p of plane c is
    /// (label + c·50 + p) mod 256, so that every byte is recognisable.
    func record(label: UInt8, labelBytes: [UInt8]? = nil) -> [UInt8] {
        var r = labelBytes ?? [label]
        for c in 0 ..< 3 { for p in 0 ..< 1024 { r.append(UInt8((Int(label) + c * 50 + p) % 256)) } }
        return r
    }

    func write(_ name: String, _ bytes: [UInt8]) { _ = FileManager.default.createFile(atPath: folder + "/" + name, contents: Data(bytes)) }

    func testDecodesPlanarRecordsIntoInterleavedPixels() throws {
        write("data_batch_1.bin", record(label: 3) + record(label: 7))
        write("data_batch_2.bin", record(label: 9))
        write("test_batch.bin", record(label: 0))
        let (train, test) = try CIFAR.loadCIFAR10(folder: folder)
        XCTAssertEqual(train.labels, [3, 7, 9])
        XCTAssertEqual(test.labels, [0])
        // image 1 (label 7), pixel 5: red 7+5, green 7+50+5, blue 7+100+5
        let base = 1 * LabeledImages.pixelsPerImage + 5 * 3
        XCTAssertEqual(Array(train.pixels[base ..< base + 3]), [12, 62, 112])
    }

    func testTruncatedFileIsNamedWithItsSize() {
        write("data_batch_1.bin", record(label: 1) + Array(record(label: 2).prefix(100)))
        write("test_batch.bin", record(label: 0))
        XCTAssertThrowsError(try CIFAR.loadCIFAR10(folder: folder)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("data_batch_1.bin"), text)
            XCTAssertTrue(text.contains("3173 bytes"), text)
            XCTAssertTrue(text.contains("3073-byte records"), text)
        }
    }

    func testLabelOutOfRange() {
        write("data_batch_1.bin", record(label: 1) + record(label: 12))
        write("test_batch.bin", record(label: 0))
        XCTAssertThrowsError(try CIFAR.loadCIFAR10(folder: folder)) { error in
            XCTAssertEqual(error as? DatasetError, .labelOutOfRange(file: self.folder + "/data_batch_1.bin", record: 1, label: 12, classCount: 10))
            XCTAssertTrue("\(error)".contains("record 1 has label 12"))
        }
    }

    func testMissingFolderSaysWhereItLooked() {
        XCTAssertThrowsError(try CIFAR.locateCIFAR10(explicit: folder + "/nowhere")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("nowhere"), text)
            XCTAssertTrue(text.contains("--data"), text)
            XCTAssertTrue(text.contains("SSLBENCH_CIFAR10"), text)
        }
    }

    func testMissingTestFileAndEmptyFolder() {
        XCTAssertThrowsError(try CIFAR.loadCIFAR10(folder: folder)) { XCTAssertTrue("\($0)".contains("no training files")) }
        write("data_batch_1.bin", record(label: 1))
        XCTAssertThrowsError(try CIFAR.loadCIFAR10(folder: folder)) { XCTAssertTrue("\($0)".contains("test_batch.bin")) }
    }

    func testCIFAR100FineAndCoarseLabels() throws {
        write("train.bin", record(label: 0, labelBytes: [4, 87]) + record(label: 0, labelBytes: [19, 99]))
        write("test.bin", record(label: 0, labelBytes: [2, 3]))
        let fine = try CIFAR.loadCIFAR100(folder: folder)
        XCTAssertEqual(fine.train.labels, [87, 99]); XCTAssertEqual(fine.train.classCount, 100)
        let coarse = try CIFAR.loadCIFAR100(folder: folder, fineLabels: false)
        XCTAssertEqual(coarse.train.labels, [4, 19]); XCTAssertEqual(coarse.test.labels, [2])
        write("train.bin", record(label: 0, labelBytes: [25, 1]))
        XCTAssertThrowsError(try CIFAR.loadCIFAR100(folder: folder, fineLabels: false))
    }

    func testSharedCopyOfCIFAR10() throws {
        guard let found = try? CIFAR.locateCIFAR10(), FileManager.default.fileExists(atPath: found + "/test_batch.bin") else {
            throw XCTSkip("no CIFAR-10 copy next to the project")
        }
        let (train, test) = try CIFAR.loadCIFAR10(folder: found)
        XCTAssertEqual(test.count, 10000)
        XCTAssertEqual(train.count % 10000, 0)
        var perClass = [Int](repeating: 0, count: 10)
        for l in test.labels { perClass[Int(l)] += 1 }
        XCTAssertEqual(perClass, [Int](repeating: 1000, count: 10))
    }
}
