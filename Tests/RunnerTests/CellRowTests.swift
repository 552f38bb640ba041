import XCTest
@testable import Runner
import Datasets
import Methods
import Report
import Tensors
import Training

final class CellRowTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    func images(_ n: Int, seed: UInt64) -> LabeledImages {
        var rng = RandomGenerator(seed: seed)
        return LabeledImages(pixels: (0 ..< n * 3072).map { _ in UInt8(rng.int(below: 256)) }, labels: (0 ..< n).map { Int32($0 % 10) }, classCount: 10)
    }

    func tinyConfiguration() -> CellConfiguration {
        var barlowTwins = BarlowTwinsConfiguration()
        barlowTwins.projectorDimensions = [16, 16]
        var c = CellConfiguration(method: barlowTwins)
        c.backboneWidth = 2; c.batchSize = 8; c.epochs = 2; c.trainImages = 32; c.knnNeighbours = 5
        return c
    }

    func testCSVRowIsWrittenAtomicallyAndParses() throws {
        let path = NSTemporaryDirectory() + "sslbench-row-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = tinyConfiguration()
        let r = try Training.train(c, train: images(32, seed: 1), test: images(16, seed: 2))
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

    /// A file written before the last columns were added takes the new header on the next append,
    /// its rows with those columns empty; a table's results read the same way before any append.
    /// Only the headers the harness wrote before are taken so: a header cut shorter is refused.
    func testAFileOfAnEarlierHeaderIsUpgradedWithEmptyNewColumns() throws {
        let path = NSTemporaryDirectory() + "sslbench-earlier-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(TableRow.earlierHeaders, [Array(TableRow.header.dropLast())])
        XCTAssertEqual(CellRow.earlierHeaders, [Array(CellRow.header.dropLast())])
        let earlier = Array(TableRow.header.dropLast())
        let old = Array(repeating: "x", count: earlier.count)
        try (CSV.line(earlier) + CSV.line(old)).write(toFile: path, atomically: true, encoding: .utf8)
        let read = try readResults(path)
        XCTAssertEqual(read.count, 1)
        XCTAssertEqual(read[0][TableRow.header.last!], "")
        XCTAssertEqual(read[0]["method"], "x")
        let new = Array(repeating: "y", count: TableRow.header.count)
        try CSV.appendRow(new, header: TableRow.header, earlierHeaders: TableRow.earlierHeaders, to: path)
        let rows = try CSV.parse(String(contentsOfFile: path, encoding: .utf8))
        XCTAssertEqual(rows, [TableRow.header, old + [""], new])
        // a row of the wrong length under the earlier header is refused, the file left as it was
        let bad = CSV.line(earlier) + CSV.line(["x"])
        try bad.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CSV.appendRow(new, header: TableRow.header, earlierHeaders: TableRow.earlierHeaders, to: path))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), bad)
        // a header cut shorter than any the harness wrote is refused, for reading and appending
        let cut = CSV.line(Array(TableRow.header.prefix(10))) + CSV.line(Array(repeating: "x", count: 10))
        try cut.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try readResults(path))
        XCTAssertThrowsError(try CSV.appendRow(new, header: TableRow.header, earlierHeaders: TableRow.earlierHeaders, to: path))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), cut)
        XCTAssertFalse(CSV.isEarlierVersion(Array(TableRow.header.dropFirst()), of: TableRow.header))
        XCTAssertFalse(CSV.isEarlierVersion([], of: TableRow.header))
    }

    /// The row names the method, its projector and its own settings; λ and the loss scale are
    /// Barlow Twins' and stay empty for the other methods.
    func testTheRowRecordsTheMethodsOwnSettings() {
        func row(_ c: CellConfiguration) -> [String: String] { Dictionary(uniqueKeysWithValues: zip(CellRow.header, CellRow.fields(c, CellResult()))) }
        var barlowTwins = CellConfiguration(method: BarlowTwinsConfiguration())
        barlowTwins.ifMethod(BarlowTwinsConfiguration.self) { $0.offDiagonalWeight = 0.02 }
        let bt = row(barlowTwins)
        XCTAssertEqual([bt["method"], bt["projector"], bt["projector_width"], bt["lambda"], bt["loss_scale"], bt["augmentation"]],
                       ["barlow-twins", "2048-2048-2048", "2048", "0.02", "0.1", "barlow-twins"])
        let byol = row(CellConfiguration(method: BYOLConfiguration()))
        XCTAssertEqual([byol["method"], byol["projector"], byol["projector_width"], byol["lambda"], byol["loss_scale"], byol["learning_rate"]],
                       ["byol", "4096-256", "256", "", "", "1.0"])
        var swav = CellConfiguration(method: SwAVConfiguration())
        swav.augmentation = .barlowTwins
        XCTAssertEqual(row(swav)["augmentation"], "barlow-twins")
        XCTAssertEqual(row(CellConfiguration(method: SDMPConfiguration()))["method"], "sdmp")
    }
}
