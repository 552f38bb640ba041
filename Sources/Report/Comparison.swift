import Foundation
import Experiments

/// A run of a table on the user's machine beside the committed reference (Results/) and the
/// paper: per cell the two means with their spread and whether they agree, and the paper's
/// claims judged on each.
///
/// Agreement uses the claims' rule (`ClaimRule`): d = this run's mean − the reference's, its
/// standard error sd·√(1/n₁ + 1/n₂) from the seed-to-seed spread pooled over the cells of both
/// runs, and the critical value c of that spread's degrees of freedom. |d| ≤ c·SE reads "within
/// the spread" (no difference the seeds can detect, which is not a proof of equality); beyond it,
/// "differs". c is the claims' critical value, the error split over 6 looks: for one look per cell
/// that is stricter than needed, and it keeps false "differs" rare over a table's many cells. The
/// pooled spread assumes both machines' seeds scatter alike. The kernel is deterministic per
/// machine and thread count, not across them: on another CPU the same seed gives other numbers,
/// which should lie within the spread.
public enum TableComparison {
    public struct CellAgreement {
        public let mine: CellSummary, reference: CellSummary
        public let difference: Double, band: Double
        /// nil when either side has no seed of the cell or no spread is known.
        public var agrees: Bool? { difference.isNaN || band.isNaN ? nil : abs(difference) <= band }
    }

    /// Every cell of `table` at `scale`, this run's rows against the reference's.
    public static func agreements(_ table: AblationTable, scale: Scale, mine: [[String: String]],
                                  reference: [[String: String]]) throws -> [CellAgreement] {
        let a = try ResultsReport.summarize(table, scale: scale, rows: mine)
        let b = try ResultsReport.summarize(table, scale: scale, rows: reference)
        let pooled = ResultsReport.pooledSpread(a + b)
        let critical = pooled.map { ClaimRule.criticalValue(degrees: Double($0.degrees)) } ?? .nan
        return zip(a, b).map { m, r in
            guard m.seeds > 0, r.seeds > 0, let p = pooled else {
                return CellAgreement(mine: m, reference: r, difference: .nan, band: .nan)
            }
            let se = p.sd * (1 / Double(m.seeds) + 1 / Double(r.seeds)).squareRoot()
            return CellAgreement(mine: m, reference: r, difference: m.mean - r.mean, band: critical * se)
        }
    }

    /// The columns of comparison.csv: one row per cell.
    public static let csvHeader = ["table", "entry", "axis", "value", "scale", "run_mean", "run_sd", "run_seeds",
                                   "reference_mean", "reference_sd", "reference_seeds", "difference", "band", "agreement", "paper_top1"]

    /// comparison.csv: a row per cell, numbers unrounded beyond 4 decimals, empty where unknown;
    /// agreement is "within", "differs" or empty.
    public static func csv(_ table: AblationTable, scale: Scale, mine: [[String: String]], reference: [[String: String]]) throws -> String {
        func n(_ x: Double) -> String { x.isNaN ? "" : String(format: "%.4f", x) }
        var text = CSV.line(csvHeader)
        for c in try agreements(table, scale: scale, mine: mine, reference: reference) {
            text += CSV.line([table.name, c.mine.label, table.axisName, c.mine.value.description, scale.rawValue,
                              n(c.mine.mean), n(c.mine.standardDeviation), "\(c.mine.seeds)",
                              n(c.reference.mean), n(c.reference.standardDeviation), "\(c.reference.seeds)",
                              n(c.difference), n(c.band), c.agrees.map { $0 ? "within" : "differs" } ?? "",
                              c.mine.paper.map { String($0.top1) } ?? ""])
        }
        return text
    }

    /// The comparison as markdown: who ran what, the cells, the claims.
    public static func markdown(_ table: AblationTable, scale: Scale, mine: [[String: String]], minePath: String,
                                reference: [[String: String]], referencePath: String) throws -> String {
        let f = ResultsReport.f
        func provenance(_ rows: [[String: String]]) -> String {
            let used = rows.filter { $0["scale"] == scale.rawValue }
            func distinct(_ c: String) -> String {
                let v = ResultsReport.distinctValues(used, c).filter { !$0.isEmpty }
                return v.isEmpty ? "—" : v.joined(separator: ", ")
            }
            return "\(used.count) rows, CPU \(distinct("cpu")), \(distinct("threads")) threads, commit \(distinct("commit"))"
        }
        let cells = try agreements(table, scale: scale, mine: mine, reference: reference)
        var s = "# \(table.name) at the `\(scale.rawValue)` scale: this run, the reference and the paper\n\n"
        s += "This run: `\(minePath)` (\(provenance(mine))). Reference: `\(referencePath)` (\(provenance(reference))). "
        s += "Paper: \(table.title), \(table.paperSetting).\n\n"
        let decided = cells.compactMap(\.agrees)
        s += "\(decided.filter { $0 }.count) of \(decided.count) cells with both runs agree within the seed spread "
        s += "(|this run − reference| ≤ c·SE, the claims' rule: no difference these seeds can detect, not a proof of "
        s += "equality; \(cells.count - decided.count) cells lack a run or a spread).\n\n"
        s += "| entry | \(table.axisName) | this run (mean ± sd, seeds) | reference (mean ± sd, seeds) | difference (± c·SE) | agreement | paper top-1 |\n"
        s += "| --- | --- | --- | --- | --- | --- | --- |\n"
        func cell(_ c: CellSummary) -> String {
            c.seeds == 0 ? "—" : c.seeds == 1 ? "\(f(c.mean, 2)) (1)" : "\(f(c.mean, 2)) ± \(f(c.standardDeviation, 2)) (\(c.seeds))"
        }
        for c in cells {
            let verdict = c.agrees.map { $0 ? "within the spread" : "**differs**" } ?? "—"
            let difference = c.difference.isNaN ? "—" : "\(f(c.difference, 2)) (± \(f(c.band, 2)))"
            s += "| \(c.mine.label) | \(c.mine.value) | \(cell(c.mine)) | \(cell(c.reference)) | \(difference) | \(verdict) "
                + "| \(c.mine.paper.map { f($0.top1, 1) } ?? "—") |\n"
        }
        if !table.claims.isEmpty {
            let mineCells = cells.map(\.mine), referenceCells = cells.map(\.reference)
            s += "\n| the paper's claim | this run: S (± c·SE), verdict | reference: S (± c·SE), verdict | S, paper |\n"
            s += "| --- | --- | --- | --- |\n"
            for claim in table.claims {
                func judged(_ summaries: [CellSummary]) -> String {
                    let o = ResultsReport.evaluate(claim, cells: summaries)
                    let sum = o.sum.isNaN ? "—" : o.halfWidth.isNaN ? f(o.sum, 2) : "\(f(o.sum, 2)) (± \(f(o.halfWidth, 2)))"
                    return "\(sum), **\(o.verdict.rawValue)**"
                }
                let paper = ResultsReport.evaluate(claim, cells: mineCells).paperSum ?? ResultsReport.evaluate(claim, cells: referenceCells).paperSum
                s += "| \(claim.statement) | \(judged(mineCells)) | \(judged(referenceCells)) | \(paper.map { f($0, 1) } ?? "—") |\n"
            }
        }
        return s + "\n"
    }
}
