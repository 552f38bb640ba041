import Foundation
import Experiments

/// One cell of a table at a scale, summarised over its seeds.
public struct CellSummary {
    public let label: String, value: AxisValue, paperValue: AxisValue?
    public let knn: [Double], linear: [Double], embeddingStd: [Double], rankMe: [Double]
    public let paper: PaperResult?
    public var seeds: Int { knn.count }
    public var mean: Double { Self.mean(knn) }
    public var standardDeviation: Double { Self.standardDeviation(knn) }
    static func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
    static func standardDeviation(_ v: [Double]) -> Double {
        guard v.count > 1 else { return .nan }
        let m = mean(v)
        return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
    }
}

/// How one claim fared: the verdict, the weighted sum of our cell means S, its standard
/// error, and the same sum over the paper's numbers.
public struct ClaimOutcome {
    public let claim: Claim
    public let verdict: Verdict
    public let sum: Double, standardError: Double, paperSum: Double?
}

public enum ResultsReport {
    /// The cells of `table` at `scale` with the ok rows of its CSV, in the table's order.
    public static func summarize(_ table: AblationTable, scale: Scale, rows: [[String: String]]) throws -> [CellSummary] {
        let ok = rows.filter { $0["scale"] == scale.rawValue && $0["status"] == "ok" }
        return try table.cells(scale: scale).map { cell in
            let label = cell.entry.variant.isEmpty ? cell.entry.label : cell.entry.variant
            let mine = ok.filter { $0["variant"] == label && $0["value"] == cell.point.value.description }
            func column(_ name: String) -> [Double] { mine.compactMap { Double($0[name] ?? "") } }
            return CellSummary(label: label, value: cell.point.value, paperValue: cell.point.paperValue,
                               knn: column("knn_top1"), linear: column("linear_top1"), embeddingStd: column("embedding_std"),
                               rankMe: column("rankme"), paper: cell.paper)
        }
    }

    /// The pooled seed-to-seed standard deviation of the table's cells (nil without a cell of two seeds).
    public static func pooledStandardDeviation(_ cells: [CellSummary]) -> Double? {
        var sum = 0.0, degrees = 0
        for c in cells where c.seeds > 1 {
            sum += c.standardDeviation * c.standardDeviation * Double(c.seeds - 1)
            degrees += c.seeds - 1
        }
        return degrees > 0 ? (sum / Double(degrees)).squareRoot() : nil
    }

    public static func evaluate(_ claim: Claim, cells: [CellSummary]) -> ClaimOutcome {
        let spread = pooledStandardDeviation(cells)
        var sum = 0.0, variance = 0.0, paperSum: Double? = 0
        for term in claim.terms {
            guard let cell = cells.first(where: { $0.label == term.label && $0.paperValue == term.paperValue }), cell.seeds > 0 else {
                return ClaimOutcome(claim: claim, verdict: .notTestable, sum: .nan, standardError: .nan, paperSum: nil)
            }
            sum += term.weight * cell.mean
            variance += term.weight * term.weight * (spread ?? .nan) * (spread ?? .nan) / Double(cell.seeds)
            if let p = cell.paper, let s = paperSum { paperSum = s + term.weight * p.top1 } else { paperSum = nil }
        }
        let se = variance.squareRoot()
        let verdict = se.isNaN ? .notResolved : ClaimRule.verdict(claim.expectation, sum: sum, standardError: se)
        return ClaimOutcome(claim: claim, verdict: verdict,
                            sum: sum, standardError: se, paperSum: paperSum)
    }

    static func f(_ x: Double, _ digits: Int = 2) -> String { x.isNaN ? "—" : String(format: "%.\(digits)f", x) }

    /// The markdown section of one table: the budget behind our numbers, ours beside the
    /// paper's, the health figures, and each claim with its verdict.
    public static func section(_ table: AblationTable, scale: Scale, rows: [[String: String]], csvName: String) throws -> String {
        let cells = try summarize(table, scale: scale, rows: rows)
        let used = rows.filter { $0["scale"] == scale.rawValue }
        func distinct(_ column: String) -> String {
            var seen: [String] = []
            for r in used { if let v = r[column], !seen.contains(v) { seen.append(v) } }
            return seen.joined(separator: "/")
        }
        let seconds = used.compactMap { Double($0["seconds"] ?? "") }.reduce(0, +)
        var s = "## \(table.name): \(table.title)\n\n"
        s += "Paper: \(table.paperSetting). "
        if used.isEmpty {
            s += "Ours: no rows at the `\(scale.rawValue)` scale in \(csvName) yet (`sslbench run \(table.name) --scale \(scale.rawValue) --seeds 2`).\n\n"
            return s
        }
        let statuses = Dictionary(grouping: used, by: { $0["status"] ?? "" }).map { "\($0.value.count) \($0.key)" }.sorted()
        s += "Ours (`\(scale.rawValue)` scale, \(csvName)): CIFAR-10, ResNet-18 width \(distinct("backbone_width")), "
            + "\(distinct("train_images")) training and \(distinct("test_images")) test images, \(distinct("epochs")) epochs, "
            + "batch \(distinct("batch_size")); kNN top-1 (k \(distinct("knn_k")), T \(distinct("knn_temperature")), cosine) "
            + "at the last epoch; \(used.count) rows (\(statuses.joined(separator: ", "))), "
            + String(format: "%.1f hours of training and evaluation on %@, commit %@.\n\n", seconds / 3600, distinct("cpu"), distinct("commit"))
        s += "![\(table.name)](\(csvName.replacingOccurrences(of: ".csv", with: ".png")))\n\n"
        s += "| \(table.axisName == "method" ? "method" : "entry") | \(table.axisName) (ours) | paper's \(table.axisName) | seeds "
            + "| kNN top-1, mean ± sd | linear top-1 | embedding std | RankMe | paper top-1 | paper source |\n"
        s += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        for c in cells {
            let ours = c.seeds == 0 ? "—" : c.seeds == 1 ? f(c.mean) : "\(f(c.mean)) ± \(f(c.standardDeviation))"
            s += "| \(c.label) | \(c.value) | \(c.paperValue?.description ?? "") | \(c.seeds) | \(ours) | \(f(CellSummary.mean(c.linear))) "
                + "| \(f(CellSummary.mean(c.embeddingStd), 4)) | \(f(CellSummary.mean(c.rankMe), 1)) "
                + "| \(c.paper.map { f($0.top1, 1) } ?? "—") | \(c.paper?.sourceText ?? "not reported") |\n"
        }
        s += "\n"
        if let sd = pooledStandardDeviation(cells) {
            s += "Seed-to-seed spread (pooled sd over the cells): \(f(sd)) points.\n\n"
        } else {
            s += "Seed-to-seed spread: unknown (no cell has two seeds yet); no claim can be decided.\n\n"
        }
        if !table.claims.isEmpty {
            s += "| the paper's claim | S, ours (± 2 SE) | S, paper | verdict at `\(scale.rawValue)` |\n| --- | --- | --- | --- |\n"
            for claim in table.claims {
                let o = evaluate(claim, cells: cells)
                let ours = o.sum.isNaN ? "—" : "\(f(o.sum)) ± \(f(2 * o.standardError))"
                let expectation: String
                switch claim.expectation {
                case .positive: expectation = "S > 0"
                case .withinMargin(let m): expectation = "|S| ≤ \(f(m, 1))"
                }
                s += "| \(claim.statement) (\(expectation)) | \(ours) | \(o.paperSum.map { f($0, 1) } ?? "—") | **\(o.verdict.rawValue)** |\n"
            }
            s += "\n"
        }
        return s
    }

    /// Results/README.md: every table at `scale`, from the rows of its CSV (`rowsOf`, given the
    /// table and the CSV's name).
    public static func markdown(tables: [AblationTable], scale: Scale,
                                rowsOf: (AblationTable, String) throws -> [[String: String]]) throws -> String {
        var s = "# Results at the `\(scale.rawValue)` scale\n\n"
        s += "Generated by `sslbench report --scale \(scale.rawValue)` from the CSV files in this folder; do not edit by hand. "
        s += "Each table is run by `make ablation-NAME` (`sslbench run NAME --scale \(scale.rawValue) --seeds 2`). "
        s += "Our numbers are kNN top-1 on CIFAR-10 at a budget a 2-core CPU affords; the papers' are linear top-1 at theirs "
        s += "(mostly ResNet-50, ImageNet, hundreds of epochs): compare orderings and differences, not levels.\n\n"
        s += "**How a claim is decided.** For each claim the table lists S, a difference of our cell means (or a difference of "
        s += "differences), and the same S over the paper's numbers. The rule: \(ClaimRule.text). "
        s += "With two seeds per cell the spread is known only roughly, so many small differences stay not resolved.\n\n"
        s += "**Health figures.** embedding std: the mean over dimensions of the standard deviation of the L2-normalised "
        s += "projector outputs on the test images (about 1/√D when spread, 0 when collapsed). RankMe (Garrido et al. 2023): "
        s += "the effective rank of the backbone features on the test images.\n\n"
        for table in tables {
            let csv = "\(table.name).csv"
            s += try section(table, scale: scale, rows: try rowsOf(table, csv), csvName: csv)
        }
        return s
    }
}
