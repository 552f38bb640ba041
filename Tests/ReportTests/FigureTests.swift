import XCTest
@testable import Report
import Experiments

final class FigureTests: XCTestCase {
    var path: String!
    override func setUp() { path = NSTemporaryDirectory() + "sslbench-figure-\(UUID().uuidString).png" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: path) }

    func testPNGRoundTripThroughLibpng() throws {
        var canvas = Canvas(width: 40, height: 20)
        canvas.fillRect(x: 5, y: 5, width: 10, height: 4, Canvas.Color(200, 10, 30))
        canvas.text("Ab1", x: 20, y: 6)
        try PNGFile.write(canvas, to: path)
        let back = try PNGFile.read(path)
        XCTAssertEqual(back.width, 40); XCTAssertEqual(back.height, 20)
        XCTAssertEqual(back.pixels, canvas.pixels)
        XCTAssertEqual(back.color(at: 6, 6), Canvas.Color(200, 10, 30))
    }

    /// Text and rectangles that run past any edge are clipped, not a crash.
    func testDrawingPastTheEdgesIsClipped() {
        var canvas = Canvas(width: 30, height: 12)
        canvas.text("a title far too long for this canvas", x: 2, y: 2)
        canvas.text("below", x: 2, y: 40)
        canvas.fillRect(x: -10, y: -10, width: 5, height: 5, Canvas.Color(1, 2, 3))
        canvas.fillRect(x: 25, y: 8, width: 50, height: 50, Canvas.Color(1, 2, 3))
        XCTAssertEqual(canvas.color(at: 29, 11), Canvas.Color(1, 2, 3))
        XCTAssertEqual(canvas.color(at: 0, 0), canvas.color(at: 0, 11))
    }

    func testAFileThatIsNotAPNGIsReportedByName() throws {
        try "not an image".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PNGFile.read(path)) { error in
            XCTAssertTrue("\(error)".contains(self.path), "\(error)")
            XCTAssertTrue("\(error)".contains("not a readable PNG"), "\(error)")
        }
    }

    func testGlyphsAreSevenRowsOfFive() {
        for (c, rows) in BitmapFont.glyphs {
            XCTAssertEqual(rows.count, 7, "\(c)")
            XCTAssertTrue(rows.allSatisfy { $0.count == 5 }, "\(c)")
        }
        XCTAssertTrue(BitmapFont.pixel("1", 2, 0))
        XCTAssertFalse(BitmapFont.pixel(" ", 2, 3))
    }

    func testLineChartDrawsBothPanelsAndItsLines() throws {
        let ours = ChartPanel(title: "ours: CIFAR-10, 10 epochs", xLabel: "batch size", yLabel: "kNN top-1 (%)", logX: true, series: [
            ChartSeries(name: "Barlow Twins", points: [(64, 40, 1), (128, 44, 0.5), (256, 45, 0)]),
            ChartSeries(name: "SimCLR", points: [(64, 35, 0), (128, 38, 0), (256, 41, 0)]),
        ])
        let paper = ChartPanel(title: "paper: ImageNet, 300 epochs", xLabel: "batch size", yLabel: "linear top-1 (%)", logX: true, series: [
            ChartSeries(name: "Barlow Twins (approx.)", points: [(256, 70.7, 0), (1024, 71.7, 0), (4096, 70.7, 0)], dashed: true),
        ])
        let canvas = ChartRenderer.render(title: "Barlow Twins Fig. 2", panels: [ours, paper])
        XCTAssertEqual(canvas.width, 1040)
        try PNGFile.write(canvas, to: path)
        if let keep = ProcessInfo.processInfo.environment["SSLBENCH_KEEP_FIGURE"] { try PNGFile.write(canvas, to: keep) }
        let back = try PNGFile.read(path)
        // the first palette colour appears in both panels; the second only in the left one
        func count(_ c: Canvas.Color, _ xs: Range<Int>) -> Int {
            var n = 0
            for y in 0 ..< back.height { for x in xs where back.color(at: x, y) == c { n += 1 } }
            return n
        }
        XCTAssertGreaterThan(count(Canvas.Color.palette[0], 0 ..< 520), 100)
        XCTAssertGreaterThan(count(Canvas.Color.palette[0], 520 ..< 1040), 100)
        XCTAssertGreaterThan(count(Canvas.Color.palette[1], 0 ..< 520), 100)
        XCTAssertEqual(count(Canvas.Color.palette[1], 520 ..< 1040), 0)
    }

    /// A cell whose every seed diverged has no bar; the panel's note names it, and only it.
    func testACellWithNoFinishedSeedIsNamedUnderThePanel() throws {
        let table = Tables.lossNormalization
        let cells = try table.cells(scale: .smoke)
        var rows: [[String: String]] = []
        for (i, cell) in cells.enumerated() {
            for seed in 0 ..< 2 {
                // the second cell: one seed diverged, one ok (it keeps its bar); the third: both diverged
                let status = i == 2 || (i == 1 && seed == 0) ? "diverged at step 5" : "ok"
                rows.append(["variant": cell.entry.rowLabel, "value": cell.point.value.description, "scale": "smoke",
                             "seed": "\(seed)", "status": status, "knn_top1": status == "ok" ? "20" : "nan"])
            }
        }
        XCTAssertEqual(TableFigure.failedCells(table, rows: rows, scale: .smoke), "diverged for \(cells[2].point.value.description)")
        XCTAssertNil(TableFigure.failedCells(table, rows: rows.filter { $0["status"] == "ok" }, scale: .smoke))
    }

    func testTicks() {
        XCTAssertEqual(niceTicks(0, 10, count: 5), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(niceTicks(36.2, 45.9, count: 5), [38, 40, 42, 44])
        XCTAssertEqual(tickLabel(4096), "4096"); XCTAssertEqual(tickLabel(0.0051), "0.0051"); XCTAssertEqual(tickLabel(1e-4), "1e-4")
    }
}
