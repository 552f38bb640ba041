import XCTest
@testable import Report
import Experiments
import Foundation
import Tensors

final class ResultsReportTests: XCTestCase {
    func rows(_ values: [(String, String, [Double])]) -> [[String: String]] {
        values.flatMap { label, value, knn in
            knn.enumerated().map { seed, v in
                ["variant": label, "value": value, "knn_top1": "\(v)", "seed": "\(seed)", "scale": "smoke", "status": "ok"]
            }
        }
    }

    /// The rule on known numbers: pooled sd 1 over three cells of two seeds (3 degrees of
    /// freedom) gives SE √(1/2+1/2) = 1 for a difference of two cells, so a difference must
    /// exceed the critical value c of t with 3 degrees of freedom at the split error.
    func testClaimsHoldFailOrStayOpenByTheCriticalValue() throws {
        let table = Tables.lambda
        // smoke points 0.001, 0.0051 (the paper's 0.005), 0.05; every cell's two seeds differ by √2 (sd 1)
        let r = 2.0.squareRoot() / 2
        func cells(_ a: Double, _ b: Double, _ c: Double) throws -> [CellSummary] {
            try ResultsReport.summarize(table, scale: .smoke, rows: rows([
                ("Barlow Twins", "0.001", [a - r, a + r]), ("Barlow Twins", "0.0051", [b - r, b + r]), ("Barlow Twins", "0.05", [c - r, c + r])]))
        }
        let c = ClaimRule.criticalValue(degrees: 3)
        XCTAssertGreaterThan(c, 4)   // t₃ far in the tail: few degrees of freedom cost a lot
        let summaries = try cells(40, 40 + c + 0.1, 39)
        XCTAssertEqual(ResultsReport.pooledSpread(summaries)!.sd, 1, accuracy: 1e-9)
        XCTAssertEqual(ResultsReport.pooledSpread(summaries)!.degrees, 3)
        let better = Claim.better("b", ("Barlow Twins", .number(0.005)), than: ("Barlow Twins", .number(0.001)))
        var o = ResultsReport.evaluate(better, cells: summaries)
        XCTAssertEqual(o.sum, c + 0.1, accuracy: 1e-9); XCTAssertEqual(o.standardError, 1, accuracy: 1e-9)
        XCTAssertEqual(o.critical, c, accuracy: 1e-12)
        XCTAssertEqual(o.verdict, .holds)
        XCTAssertEqual(ResultsReport.evaluate(better, cells: try cells(40, 40 + c - 0.1, 39)).verdict, .notResolved)
        XCTAssertEqual(ResultsReport.evaluate(better, cells: try cells(40, 40 - c - 0.1, 39)).verdict, .doesNotHold)
        // a single planned look holds the difference to a smaller c
        XCTAssertEqual(ResultsReport.evaluate(better, cells: try cells(40, 40 + c - 0.1, 39), looks: 1).verdict, .holds)
        let margin = c + 1.5
        let similar = Claim.similar("s", ("Barlow Twins", .number(0.05)), ("Barlow Twins", .number(0.001)), margin: margin)
        XCTAssertEqual(ResultsReport.evaluate(similar, cells: try cells(40, 0, 39.5)).verdict, .holds)                // 0.5 + c ≤ m
        XCTAssertEqual(ResultsReport.evaluate(similar, cells: try cells(40, 0, 38)).verdict, .notResolved)            // 2 + c > m > 2 − c
        XCTAssertEqual(ResultsReport.evaluate(similar, cells: try cells(40, 0, 40 - 2 * c - 2)).verdict, .doesNotHold) // 2c + 2 − c > m
        // a cell the scale does not have: not testable
        let missing = Claim.better("m", ("Barlow Twins", .number(0.002)), than: ("Barlow Twins", .number(0.001)))
        o = ResultsReport.evaluate(missing, cells: summaries)
        XCTAssertEqual(o.verdict, .notTestable)
        XCTAssertEqual(o.note, "Barlow Twins at the paper's 0.002: not a cell at this scale")
        // a cell of the scale without rows yet (a table run in part): not run yet
        let partial = try ResultsReport.summarize(table, scale: .smoke, rows: rows([("Barlow Twins", "0.001", [39, 40]), ("Barlow Twins", "0.05", [38, 39])]))
        XCTAssertEqual(ResultsReport.evaluate(better, cells: partial).verdict, .notRun)
        XCTAssertEqual(ResultsReport.evaluate(better, cells: partial).note, "Barlow Twins at 0.0051: no rows yet")
        // a cell whose every run diverged: not testable, and the note says how its runs ended
        var diverged = rows([("Barlow Twins", "0.001", [39, 40]), ("Barlow Twins", "0.05", [38, 39])])
        diverged.append(["variant": "Barlow Twins", "value": "0.0051", "knn_top1": "", "seed": "0", "scale": "smoke", "status": "diverged at step 47"])
        let none = ResultsReport.evaluate(better, cells: try ResultsReport.summarize(table, scale: .smoke, rows: diverged))
        XCTAssertEqual(none.verdict, .notTestable)
        XCTAssertEqual(none.note, "Barlow Twins at 0.0051: no run ended with a result (1: diverged at step 47)")
        // one seed per cell: the spread is unknown, nothing is decided
        let single = try ResultsReport.summarize(table, scale: .smoke, rows: rows([("Barlow Twins", "0.001", [30]), ("Barlow Twins", "0.0051", [50])]))
        XCTAssertEqual(ResultsReport.evaluate(better, cells: single).verdict, .notResolved)
    }

    /// The power statement: the half-width is c·SE, and the seeds that would resolve the paper's
    /// S with 80% probability follow n = ((c + 0.8416)·sd/δ)²·Σw².
    func testAnOpenClaimSaysHowFarItIsFromAVerdict() throws {
        let (half, seeds) = ClaimRule.power(.positive, weights: [1, -1], spread: 2, critical: 3, standardError: 1.5, paperSum: 1.0)
        XCTAssertEqual(half, 4.5, accuracy: 1e-12)
        XCTAssertEqual(seeds, Int((pow((3 + 0.841621) * 2 / 1.0, 2) * 2).rounded(.up)))
        XCTAssertNil(ClaimRule.power(.withinMargin(1), weights: [1, -1], spread: 2, critical: 3, standardError: 1, paperSum: 1.5).seedsForPaper)
        XCTAssertNil(ClaimRule.power(.positive, weights: [1, -1], spread: 2, critical: 3, standardError: 1, paperSum: nil).seedsForPaper)
    }

    /// The opening summary counts the verdicts per table, and among the open claims those that
    /// eight seeds per cell could not decide at the table's spread.
    func testTheSummaryCountsVerdictsAndOpenClaimsOutOfReach() throws {
        let table = Tables.asymmetry
        let cells = try table.cells(scale: .cpu)
        // the baseline 10 points above three equal variants, 8 seeds each: its two claims hold; the
        // two claims between the variants (difference 0.01, sd 1) stay open, and out of reach
        let noise = [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0]
        let rows: [[String: String]] = cells.flatMap { cell in
            noise.enumerated().map { seed, e -> [String: String] in
                let level = cell.point.value.description == "baseline" ? 35.0 : 25.0
                let offsets: [String: Double] = ["stop-gradient": 0.01, "predictor": 0.02]
                let offset = offsets[cell.point.value.description] ?? 0
                return ["variant": cell.entry.rowLabel, "value": cell.point.value.description, "scale": "cpu", "status": "ok",
                        "seed": "\(seed)", "knn_top1": "\(level + offset + e)", "seconds": "60", "commit": "abc", "cpu": "test"]
            }
        }
        let text = try ResultsReport.summary(tables: [table], scale: .cpu) { _, _ in rows }
        XCTAssertTrue(text.contains("| asymmetry | 2 | 0 | 2 (2) |"), text)
        XCTAssertTrue(text.contains("In all: 2 claims hold, 0 do not, 2 open"), text)
        XCTAssertTrue(text.contains("2 of the open ones are out of reach"), text)
    }

    /// The sequential rule on simulated tables whose cells all have the same true mean: three
    /// seeds per cell, then a seed at a time for the claim's two cells while it stays open, up to
    /// eight; a verdict either way is a false alarm. Over 4000 tables the false alarms stay
    /// within the nominal error (plus three binomial sd). The same procedure holding each look
    /// to the single-look critical value (no split) exceeds the nominal error: the test can fail.
    func testTheSequentialRuleKeepsItsErrorWhenCellsAreEqual() {
        var rng = RandomGenerator(seed: 2026)
        let plan = SeedPlan.standard
        let claim = Claim.better("a beats b", ("a", .number(1)), than: ("b", .number(1)))
        func alarms(looks: Int, runs: Int) -> Double {
            var count = 0
            for _ in 0 ..< runs {
                var knn = [[Double]](repeating: [], count: 4)
                func draw(_ cell: Int) { knn[cell].append(30 + 2 * Double(rng.normal())) }
                for cell in 0 ..< 4 { for _ in 0 ..< plan.base { draw(cell) } }
                while true {
                    let cells = (0 ..< 4).map { i in
                        CellSummary(label: ["a", "b", "c", "d"][i], value: .number(1), paperValue: .number(1), knn: knn[i],
                                    linear: [], embeddingStd: [], rankMe: [], paper: nil)
                    }
                    if ResultsReport.evaluate(claim, cells: cells, looks: looks).verdict != .notResolved { count += 1; break }
                    if knn[0].count == plan.cap { break }
                    draw(0); draw(1)
                }
            }
            return Double(count) / Double(runs)
        }
        let alpha = ClaimRule.error, runs = 4000
        let split = alarms(looks: plan.looks, runs: runs)
        XCTAssertLessThanOrEqual(split, alpha + 3 * (alpha * (1 - alpha) / Double(runs)).squareRoot(), "false alarms \(split)")
        let unsplit = alarms(looks: 1, runs: runs)
        XCTAssertGreaterThan(unsplit, alpha + 3 * (alpha * (1 - alpha) / Double(runs)).squareRoot(), "false alarms without the split \(unsplit)")
    }

    /// Student's t and the normal against tabulated values; the rule's single look at infinite
    /// degrees of freedom is the old 2-SE rule.
    func testDistributionsMatchTheirTables() {
        XCTAssertEqual(Distributions.studentQuantile(upperTail: 0.025, degrees: 10), 2.228, accuracy: 1e-3)
        XCTAssertEqual(Distributions.studentQuantile(upperTail: 0.025, degrees: 3), 3.182, accuracy: 1e-3)
        XCTAssertEqual(Distributions.studentQuantile(upperTail: 0.005, degrees: 5), 4.032, accuracy: 1e-3)
        XCTAssertEqual(Distributions.studentQuantile(upperTail: 0.05, degrees: 1), 6.314, accuracy: 1e-3)
        XCTAssertEqual(Distributions.studentQuantile(upperTail: 0.025, degrees: .infinity), 1.960, accuracy: 1e-3)
        XCTAssertEqual(Distributions.studentCDF(0, degrees: 7), 0.5, accuracy: 1e-12)
        XCTAssertEqual(Distributions.regularizedIncompleteBeta(0.5, a: 2, b: 3), 0.6875, accuracy: 1e-12)
        XCTAssertEqual(ClaimRule.criticalValue(degrees: .infinity, looks: 1), 2, accuracy: 1e-6)
        XCTAssertGreaterThan(ClaimRule.criticalValue(degrees: 20), ClaimRule.criticalValue(degrees: 20, looks: 1))
    }

    /// Kendall's τ-b with its permutation p: the same order gives τ 1 and p 1/n!, the reverse
    /// τ −1 and p 1, and a tie in the paper's numbers lowers the attainable τ.
    func testRankAgreement() {
        let same = RankAgreement(paper: [1, 2, 3, 4], ours: [10, 20, 30, 40])!
        XCTAssertEqual(same.tau, 1, accuracy: 1e-12); XCTAssertEqual(same.pValue, 1.0 / 24, accuracy: 1e-12)
        let reversed = RankAgreement(paper: [1, 2, 3, 4], ours: [40, 30, 20, 10])!
        XCTAssertEqual(reversed.tau, -1, accuracy: 1e-12); XCTAssertEqual(reversed.pValue, 1, accuracy: 1e-12)
        // one swapped pair of five: 9 concordant, 1 discordant of 10
        XCTAssertEqual(RankAgreement(paper: [1, 2, 3, 4, 5], ours: [1, 2, 3, 5, 4])!.tau, 0.8, accuracy: 1e-12)
        // ties in x: τ-b = (C − D)/√((P − Tx)(P − Ty)) = 5/√(5·6)
        XCTAssertEqual(RankAgreement(paper: [1, 1, 2, 3], ours: [1, 2, 3, 4])!.tau, 5 / 30.0.squareRoot(), accuracy: 1e-12)
        XCTAssertNil(RankAgreement(paper: [1, 2], ours: [1, 2]))
        XCTAssertNil(RankAgreement(paper: [1, 1, 1], ours: [1, 2, 3]))
        // ten cells: sampled permutations, the same p every time
        let a = RankAgreement(paper: (0 ..< 10).map(Double.init), ours: [0, 2, 1, 3, 5, 4, 6, 7, 9, 8])!
        XCTAssertEqual(a.pValue, RankAgreement(paper: (0 ..< 10).map(Double.init), ours: [0, 2, 1, 3, 5, 4, 6, 7, 9, 8])!.pValue)
        XCTAssertLessThan(a.pValue, 0.001)
    }

    func testTheSectionListsOursBesideThePapersAndEveryClaim() throws {
        let table = Tables.asymmetry
        let data = rows(try table.cells(scale: .smoke).enumerated().map { i, c in ("Barlow Twins", c.point.value.description, [40 + 6 * Double(i), 41 + 6 * Double(i)]) })
        let text = try ResultsReport.section(table, scale: .smoke, rows: data, csvName: "asymmetry.csv")
        XCTAssertTrue(text.contains("| Barlow Twins | predictor-stop-gradient | predictor-stop-gradient | 2 | 58.50 ± 0.71 |"), text)
        // the paper's four cells fall where ours rise: the shape disagrees
        XCTAssertTrue(text.contains("Kendall τ -1.00 over 4 cells"), text)
        XCTAssertTrue(text.contains("61.3"), text)
        for claim in table.claims { XCTAssertTrue(text.contains(claim.statement), claim.statement) }
        XCTAssertTrue(text.contains("**does not hold**"), text)   // our cells rise where the paper's fall
    }
}
