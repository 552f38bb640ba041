import Foundation
import Experiments

/// One cell of a table at a scale, summarised over its seeds.
public struct CellSummary {
    public let label: String, value: AxisValue, paperValue: AxisValue?
    public let knn: [Double], linear: [Double], embeddingStd: [Double], rankMe: [Double]
    public let paper: PaperResult?
    /// The statuses of the cell's rows that ended without a result ("diverged at step 47"), one per run.
    public var failedRuns: [String] = []
    public var seeds: Int { knn.count }
    public var mean: Double { Distributions.mean(knn) }
    public var standardDeviation: Double { Distributions.sampleStandardDeviation(knn) }
}

/// How one claim fared: the verdict, the weighted sum of our cell means S, its standard
/// error and the critical value it was held to, the same sum over the paper's numbers, and for
/// an open claim how far it is from a verdict (`ClaimRule.power`).
public struct ClaimOutcome {
    public let claim: Claim
    public let verdict: Verdict
    public let sum: Double, standardError: Double, paperSum: Double?
    public var critical: Double = .nan
    public var halfWidth: Double = .nan
    public var seedsForPaper: Int? = nil
    /// false when no seeds up to the cap of `SeedPlan.standard` could decide it (`ClaimRule.decidable`).
    public var decidableWithinCap = true
    /// Why a claim is not run yet or not testable: the cell that lacks a result, and what its runs ended in.
    public var note = ""
}

public enum ResultsReport {
    /// The cells of `table` at `scale` with the ok rows of its CSV, in the table's order.
    public static func summarize(_ table: AblationTable, scale: Scale, rows: [[String: String]]) throws -> [CellSummary] {
        let atScale = rows.filter { $0["scale"] == scale.rawValue }
        return try table.cells(scale: scale).map { cell in
            let label = cell.entry.rowLabel
            let all = atScale.filter { $0["variant"] == label && $0["value"] == cell.point.value.description }
            let mine = all.filter { $0["status"] == "ok" }
            func column(_ name: String) -> [Double] { mine.compactMap { Double($0[name] ?? "") } }
            var summary = CellSummary(label: label, value: cell.point.value, paperValue: cell.point.paperValue,
                                      knn: column("knn_top1"), linear: column("linear_top1"), embeddingStd: column("embedding_std"),
                                      rankMe: column("rankme"), paper: cell.paper)
            summary.failedRuns = all.filter { $0["status"] != "ok" }.map { $0["status"] ?? "" }
            return summary
        }
    }

    /// The pooled seed-to-seed standard deviation of the table's cells and its degrees of
    /// freedom, Σ(nᵢ − 1) (nil without a cell of two seeds).
    public static func pooledSpread(_ cells: [CellSummary]) -> (sd: Double, degrees: Int)? {
        var sum = 0.0, degrees = 0
        for c in cells where c.seeds > 1 {
            sum += c.standardDeviation * c.standardDeviation * Double(c.seeds - 1)
            degrees += c.seeds - 1
        }
        return degrees > 0 ? ((sum / Double(degrees)).squareRoot(), degrees) : nil
    }

    /// The pooled seed-to-seed standard deviation alone.
    public static func pooledStandardDeviation(_ cells: [CellSummary]) -> Double? { pooledSpread(cells)?.sd }

    /// The claim under `ClaimRule` with `looks` planned looks.
    /// An open claim's `decidableWithinCap` is judged for `cap` seeds per cell (a cell's own when more).
    public static func evaluate(_ claim: Claim, cells: [CellSummary], looks: Int = SeedPlan.standard.looks,
                                cap: Int = SeedPlan.standard.cap) -> ClaimOutcome {
        let pooled = pooledSpread(cells), spread = pooled?.sd
        var sum = 0.0, variance = 0.0, paperSum: Double? = 0, seedsAtCap: [Int] = []
        for term in claim.terms {
            guard let cell = cells.first(where: { $0.label == term.label && $0.paperValue == term.paperValue }) else {
                var outcome = ClaimOutcome(claim: claim, verdict: .notTestable, sum: .nan, standardError: .nan, paperSum: nil)
                outcome.note = "\(term.label) at the paper's \(term.paperValue): not a cell at this scale"
                return outcome
            }
            guard cell.seeds > 0 else {
                // a cell whose every run ended without a result cannot be compared at this scale; one without runs can, later
                let failed = !cell.failedRuns.isEmpty
                var outcome = ClaimOutcome(claim: claim, verdict: failed ? .notTestable : .notRun, sum: .nan, standardError: .nan, paperSum: nil)
                outcome.note = failed
                    ? "\(cell.label) at \(cell.value): no run ended with a result (\(cell.failedRuns.count): \(cell.failedRuns.joined(separator: "; ")))"
                    : "\(cell.label) at \(cell.value): no rows yet"
                return outcome
            }
            sum += term.weight * cell.mean
            variance += term.weight * term.weight * (spread ?? .nan) * (spread ?? .nan) / Double(cell.seeds)
            seedsAtCap.append(max(cap, cell.seeds))
            if let p = cell.paper, let s = paperSum { paperSum = s + term.weight * p.top1 } else { paperSum = nil }
        }
        let se = variance.squareRoot()
        guard let degrees = pooled?.degrees, !se.isNaN else {
            return ClaimOutcome(claim: claim, verdict: .notResolved, sum: sum, standardError: se, paperSum: paperSum)
        }
        let critical = ClaimRule.criticalValue(degrees: Double(degrees), looks: looks)
        var outcome = ClaimOutcome(claim: claim, verdict: ClaimRule.verdict(claim.expectation, sum: sum, standardError: se, critical: critical),
                                   sum: sum, standardError: se, paperSum: paperSum)
        outcome.critical = critical
        let power = ClaimRule.power(claim.expectation, weights: claim.terms.map(\.weight), spread: spread ?? .nan,
                                    critical: critical, standardError: se, paperSum: paperSum)
        outcome.halfWidth = power.halfWidth
        outcome.seedsForPaper = power.seedsForPaper
        if outcome.verdict == .notResolved {
            outcome.decidableWithinCap = ClaimRule.decidable(claim.expectation, sum: sum, standardError: se, spread: spread ?? .nan,
                                                             weights: claim.terms.map(\.weight), seedsAtCap: seedsAtCap, looks: looks)
        }
        return outcome
    }

    /// Kendall's τ-b between the paper's numbers and our means over the cells both report.
    public static func shape(_ cells: [CellSummary]) -> RankAgreement? {
        let both = cells.filter { $0.paper != nil && $0.seeds > 0 }
        return RankAgreement(paper: both.map { $0.paper!.top1 }, ours: both.map(\.mean))
    }

    /// "τ 0.71 over 7 cells (p 0.01)", or why there is none.
    public static func shapeText(_ cells: [CellSummary]) -> String {
        guard let a = shape(cells) else { return "no rank agreement (fewer than 3 cells with both numbers, or a constant side)" }
        return String(format: "Kendall τ %.2f over %d cells (permutation p %.3f)", a.tau, a.cells, a.pValue)
    }

    /// The values a column takes over `rows`, each once, in order of first appearance.
    static func distinctValues(_ rows: [[String: String]], _ column: String) -> [String] {
        var seen: [String] = []
        for r in rows { if let v = r[column], !seen.contains(v) { seen.append(v) } }
        return seen
    }

    /// x with `digits` decimals, "—" for NaN; a value that rounds to zero prints without a sign.
    static func f(_ x: Double, _ digits: Int = 2) -> String {
        if x.isNaN { return "—" }
        let text = String(format: "%.\(digits)f", x)
        return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
    }

    /// The markdown section of one table: the budget behind our numbers, ours beside the
    /// paper's, the health figures, and each claim with its verdict.
    public static func section(_ table: AblationTable, scale: Scale, rows: [[String: String]], csvName: String) throws -> String {
        let cells = try summarize(table, scale: scale, rows: rows)
        let used = rows.filter { $0["scale"] == scale.rawValue }
        func distinct(_ column: String) -> String { distinctValues(used, column).joined(separator: "/") }
        let seconds = used.compactMap { Double($0["seconds"] ?? "") }.reduce(0, +)
        var s = "## \(table.name): \(table.title)\n\n"
        s += "Paper: \(table.paperSetting). "
        if used.isEmpty {
            s += "Ours: no rows at the `\(scale.rawValue)` scale in \(csvName) yet "
                + "(`sslbench run \(table.name) --scale \(scale.rawValue) --seeds 3 --until-resolved`).\n\n"
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
            s += "| \(c.label) | \(c.value) | \(c.paperValue?.description ?? "") | \(c.seeds) | \(ours) | \(f(Distributions.mean(c.linear))) "
                + "| \(f(Distributions.mean(c.embeddingStd), 4)) | \(f(Distributions.mean(c.rankMe), 1)) "
                + "| \(c.paper.map { f($0.top1, 1) } ?? "—") | \(c.paper?.sourceText ?? "not reported") |\n"
        }
        s += "\n"
        if let pooled = pooledSpread(cells) {
            s += "Seed-to-seed spread (pooled sd over the cells): \(f(pooled.sd)) points (\(pooled.degrees) degrees of freedom). "
            s += "Shape: \(shapeText(cells)), the paper's numbers against our means.\n\n"
        } else {
            s += "Seed-to-seed spread: unknown (no cell has two seeds yet); no claim can be decided.\n\n"
        }
        if !table.claims.isEmpty {
            s += "| the paper's claim | S, ours (± c·SE) | S, paper | verdict at `\(scale.rawValue)` | how far from a verdict |\n"
            s += "| --- | --- | --- | --- | --- |\n"
            for claim in table.claims {
                let o = evaluate(claim, cells: cells)
                let ours = o.sum.isNaN ? "—" : o.halfWidth.isNaN ? "\(f(o.sum))" : "\(f(o.sum)) ± \(f(o.halfWidth)) (c \(f(o.critical)))"
                var distance = o.note
                if o.verdict == .notResolved, !o.halfWidth.isNaN {
                    distance = "decides a difference beyond \(f(o.halfWidth)) points; "
                    distance += o.seedsForPaper.map { "about \($0) seeds per cell for the paper's S" } ?? "the paper's S gives no target"
                    if !o.decidableWithinCap { distance += "; out of reach within \(SeedPlan.standard.cap) seeds at this spread" }
                }
                let expectation: String
                switch claim.expectation {
                case .positive: expectation = "S > 0"
                case .withinMargin(let m): expectation = "|S| ≤ \(f(m, 1))"
                }
                s += "| \(claim.statement) (\(expectation)) | \(ours) | \(o.paperSum.map { f($0, 1) } ?? "—") | **\(o.verdict.rawValue)** | \(distance) |\n"
            }
            s += "\n"
        }
        return s
    }

    /// The opening summary: per table the claims held, not held and open, the shape agreement,
    /// the seeds per cell, the hours of compute, and the commits and CPUs behind the rows.
    public static func summary(tables: [AblationTable], scale: Scale,
                               rowsOf: (AblationTable, String) throws -> [[String: String]]) throws -> String {
        var s = "| table | claims held | not held | open (out of reach) | shape (Kendall τ, p) | seeds per cell | CPU-hours | commit | CPU |\n"
        s += "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        var held = 0, notHeld = 0, open = 0, outOfReach = 0
        for table in tables {
            let rows = try rowsOf(table, "\(table.name).csv")
            let used = rows.filter { $0["scale"] == scale.rawValue }
            let cells = try summarize(table, scale: scale, rows: rows)
            let outcomes = table.claims.map { evaluate($0, cells: cells) }
            let verdicts = outcomes.map(\.verdict)
            let h = verdicts.filter { $0 == .holds }.count, n = verdicts.filter { $0 == .doesNotHold }.count
            let unreachable = outcomes.filter { $0.verdict == .notResolved && !$0.decidableWithinCap }.count
            held += h; notHeld += n; open += verdicts.count - h - n; outOfReach += unreachable
            let seeds = cells.map(\.seeds)
            let seedText = seeds.isEmpty ? "—" : seeds.min() == seeds.max() ? "\(seeds.min()!)" : "\(seeds.min()!)–\(seeds.max()!)"
            let shapeCell = shape(cells).map { String(format: "%.2f, %.3f", $0.tau, $0.pValue) } ?? "—"
            func distinct(_ column: String) -> String {
                let values = distinctValues(used, column).filter { !$0.isEmpty }
                return values.isEmpty ? "—" : values.joined(separator: ", ")
            }
            let hours = used.compactMap { Double($0["seconds"] ?? "") }.reduce(0, +) / 3600
            s += "| \(table.name) | \(h) | \(n) | \(verdicts.count - h - n) (\(unreachable)) | \(shapeCell) | \(seedText) | \(f(hours, 1)) "
                + "| \(distinct("commit")) | \(distinct("cpu")) |\n"
        }
        s += "\nIn all: \(held) claims hold, \(notHeld) do not, \(open) open (not resolved, not run yet, or not testable at this scale); "
            + "\(outOfReach) of the open ones are out of reach: at the table's measured spread, \(SeedPlan.standard.cap) seeds per cell "
            + "would not decide a difference as large as ours plus two standard errors.\n\n"
        return s
    }

    /// Results/README.md: every table at `scale`, from the rows of its CSV (`rowsOf`, given the
    /// table and the CSV's name).
    public static func markdown(tables: [AblationTable], scale: Scale,
                                rowsOf: (AblationTable, String) throws -> [[String: String]]) throws -> String {
        var s = "# Results at the `\(scale.rawValue)` scale\n\n"
        s += "Generated by `sslbench report --scale \(scale.rawValue)` from the CSV files in this folder; do not edit by hand. "
        s += "Each table is run by `make ablation-NAME` (`sslbench run NAME --scale \(scale.rawValue) --seeds N`; the summary gives "
        s += "each table's seeds per cell; `--seeds 3 --until-resolved` adds seeds where a claim is still open). "
        s += "Our numbers are kNN top-1 on CIFAR-10 at a budget a 2-core CPU affords; the papers' are linear top-1 at theirs "
        s += "(mostly ResNet-50, ImageNet, hundreds of epochs): compare orderings and differences, not levels.\n\n"
        s += try summary(tables: tables, scale: scale, rowsOf: rowsOf)
        s += "**How a claim is decided.** For each claim the table lists S, a difference of our cell means (or a difference of "
        s += "differences), and the same S over the paper's numbers. The rule: \(ClaimRule.text). "
        s += "A claim left open says how far it is from a verdict: the smallest difference the current seeds decide (c·SE), and "
        s += "about how many seeds per cell would decide it with 80% probability if the true S were the paper's. "
        s += "**Shape:** Kendall's τ-b between the paper's numbers and our means over the cells both report, with a one-sided "
        s += "permutation p-value; absolute levels never match at this scale, the ordering can.\n\n"
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
