import XCTest
@testable import Report
import Experiments

final class ResultsReportTests: XCTestCase {
    func rows(_ values: [(String, String, [Double])]) -> [[String: String]] {
        values.flatMap { label, value, knn in
            knn.enumerated().map { seed, v in
                ["variant": label, "value": value, "knn_top1": "\(v)", "seed": "\(seed)", "scale": "smoke", "status": "ok"]
            }
        }
    }

    /// The rule on known numbers: pooled sd 1 over cells of two seeds gives SE √(1/2+1/2) = 1
    /// for a difference of two cells, so a difference must exceed 2 to hold.
    func testClaimsHoldFailOrStayUnresolvedByTwoStandardErrors() throws {
        let table = Tables.lambda
        // smoke points 0.001, 0.0051, 0.05; every cell's two seeds differ by √2 (sd 1)
        let r = 2.0.squareRoot() / 2
        func cells(_ a: Double, _ b: Double, _ c: Double) throws -> [CellSummary] {
            try ResultsReport.summarize(table, scale: .smoke, rows: rows([
                ("Barlow Twins", "0.001", [a - r, a + r]), ("Barlow Twins", "0.0051", [b - r, b + r]), ("Barlow Twins", "0.05", [c - r, c + r])]))
        }
        let summaries = try cells(40, 43, 39)
        XCTAssertEqual(ResultsReport.pooledStandardDeviation(summaries)!, 1, accuracy: 1e-9)
        let better = Claim.better("b", ("Barlow Twins", .number(0.0051)), than: ("Barlow Twins", .number(0.001)))
        var o = ResultsReport.evaluate(better, cells: summaries)
        XCTAssertEqual(o.sum, 3, accuracy: 1e-9); XCTAssertEqual(o.standardError, 1, accuracy: 1e-9)
        XCTAssertEqual(o.verdict, .holds)
        XCTAssertEqual(ResultsReport.evaluate(better, cells: try cells(40, 41.5, 39)).verdict, .notResolved)
        XCTAssertEqual(ResultsReport.evaluate(better, cells: try cells(40, 37.5, 39)).verdict, .doesNotHold)
        let similar = Claim.similar("s", ("Barlow Twins", .number(0.05)), ("Barlow Twins", .number(0.001)), margin: 3.5)
        XCTAssertEqual(ResultsReport.evaluate(similar, cells: try cells(40, 0, 39.5)).verdict, .holds)      // 0.5 + 2 ≤ 3.5
        XCTAssertEqual(ResultsReport.evaluate(similar, cells: try cells(40, 0, 38)).verdict, .notResolved)  // 2 + 2 > 3.5 > 2 − 2
        XCTAssertEqual(ResultsReport.evaluate(similar, cells: try cells(40, 0, 34)).verdict, .doesNotHold)  // 6 − 2 > 3.5
        // a cell the scale does not have: not testable
        let missing = Claim.better("m", ("Barlow Twins", .number(0.002)), than: ("Barlow Twins", .number(0.001)))
        o = ResultsReport.evaluate(missing, cells: summaries)
        XCTAssertEqual(o.verdict, .notTestable)
        // one seed per cell: the spread is unknown, nothing is decided
        let single = try ResultsReport.summarize(table, scale: .smoke, rows: rows([("Barlow Twins", "0.001", [30]), ("Barlow Twins", "0.0051", [50])]))
        XCTAssertEqual(ResultsReport.evaluate(better, cells: single).verdict, .notResolved)
    }

    func testTheSectionListsOursBesideThePapersAndEveryClaim() throws {
        let table = Tables.asymmetry
        let data = rows(try table.cells(scale: .smoke).enumerated().map { i, c in ("Barlow Twins", c.point.value.description, [40 + Double(i), 41 + Double(i)]) })
        let text = try ResultsReport.section(table, scale: .smoke, rows: data, csvName: "asymmetry.csv")
        XCTAssertTrue(text.contains("| Barlow Twins | predictor-stop-gradient | predictor-stop-gradient | 2 | 43.50 ± 0.71 |"), text)
        XCTAssertTrue(text.contains("61.3"), text)
        for claim in table.claims { XCTAssertTrue(text.contains(claim.statement), claim.statement) }
        XCTAssertTrue(text.contains("**does not hold**"), text)   // our cells rise where the paper's fall
    }
}
