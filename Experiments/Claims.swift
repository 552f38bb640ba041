import Foundation
import Methods

/// A claim of a paper that a table can test, declared as data beside the table.
///
/// A claim is a weighted sum of cells (mean top-1 over seeds) and what the paper says about
/// it: that it is positive (cell A beats cell B: A − B > 0; SimCLR loses more than Barlow Twins
/// when the batch shrinks: a difference of differences > 0), or that it is within a margin of
/// zero (Barlow Twins is "almost unaffected" by the batch size). Cells are named by their
/// entry and the *paper's* axis value, so that one claim serves every scale that has the points.
public struct Claim {
    public enum Expectation: Equatable {
        /// The weighted sum is above zero.
        case positive
        /// The weighted sum lies within ±margin points of zero.
        case withinMargin(Double)
    }
    /// A cell of the table: the entry's label (or variant) and the paper's axis value.
    public struct Term {
        public let label: String, paperValue: AxisValue, weight: Double
        public init(_ label: String, _ paperValue: AxisValue, weight: Double) {
            self.label = label; self.paperValue = paperValue; self.weight = weight
        }
    }
    /// The paper's words and where they are.
    public let statement: String
    public let terms: [Term]
    public let expectation: Expectation
    public init(_ statement: String, terms: [Term], expectation: Expectation) {
        self.statement = statement; self.terms = terms; self.expectation = expectation
    }

    /// The same claim with its source appended to the statement.
    public func citing(_ source: String) -> Claim { Claim(statement + " (\(source))", terms: terms, expectation: expectation) }

    /// A beats B.
    public static func better(_ statement: String, _ a: (String, AxisValue), than b: (String, AxisValue)) -> Claim {
        Claim(statement, terms: [Term(a.0, a.1, weight: 1), Term(b.0, b.1, weight: -1)], expectation: .positive)
    }
    /// A and B within `margin` points of each other.
    public static func similar(_ statement: String, _ a: (String, AxisValue), _ b: (String, AxisValue), margin: Double) -> Claim {
        Claim(statement, terms: [Term(a.0, a.1, weight: 1), Term(b.0, b.1, weight: -1)], expectation: .withinMargin(margin))
    }
}

/// How a claim fares at a scale.
public enum Verdict: String {
    case holds = "holds", doesNotHold = "does not hold", notResolved = "not resolved"
    /// A cell the claim compares has no rows yet (a table run in part).
    case notRun = "not run yet"
    /// A cell the claim compares is not among the scale's cells, or every run of it ended without a result (diverged).
    case notTestable = "not testable at this scale"
}

/// The rule that decides a claim, stated once. With the claim's weighted sum S of cell means,
/// its standard error SE = sd·√(Σ wᵢ²/nᵢ) (sd the table's pooled seed-to-seed standard
/// deviation with ν degrees of freedom, nᵢ the seeds of cell i) and the critical value c, the
/// upper α/(2L) point of Student's t with ν degrees of freedom:
/// - "positive": holds when S − c·SE > 0, does not hold when S + c·SE < 0, else open;
/// - "within ±m": holds when |S| + c·SE ≤ m, does not hold when |S| − c·SE > m, else open.
/// α = 2(1 − Φ(2)) ≈ 0.0455, the error of the plain two-standard-error rule, is the chance of
/// declaring a difference between cells whose true means are equal, over all looks together:
/// a claim may be looked at up to L = `SeedPlan.looks` times (after the base seeds and after
/// each added round, `sslbench run --until-resolved`), and each look spends α/L (Bonferroni),
/// so stopping at a lucky look cannot push the error past α.
public enum ClaimRule {
    /// The error over all looks: that of |S| > 2·SE for a normal S at a single look.
    public static let error = erfc(2 / 2.squareRoot())
    public static var text: String {
        "a claim's difference S (of cell means) is compared with c times its standard error SE, computed from the "
            + "table's pooled seed-to-seed standard deviation (ν degrees of freedom); c is the upper α/(2L) point of "
            + "Student's t with ν degrees of freedom, α = \(String(format: "%.4f", error)) (the error of a 2-SE rule) split "
            + "evenly over the L = \(SeedPlan.standard.looks) looks a claim may get while seeds are added "
            + "(`--until-resolved`), so that cells whose true means are equal are declared different with probability "
            + "at most α however the looks fall. \"A beats B\" holds when S − c·SE > 0, does not hold when S + c·SE < 0, "
            + "and stays open otherwise; \"A within ±m of B\" holds when |S| + c·SE ≤ m, does not hold when "
            + "|S| − c·SE > m, and stays open otherwise"
    }

    /// c for a pooled spread with `degrees` degrees of freedom, the error split over `looks`.
    public static func criticalValue(degrees: Double, looks: Int = SeedPlan.standard.looks) -> Double {
        Distributions.studentQuantile(upperTail: error / 2 / Double(max(looks, 1)), degrees: degrees)
    }

    public static func verdict(_ expectation: Claim.Expectation, sum: Double, standardError: Double, critical: Double) -> Verdict {
        let band = critical * standardError
        switch expectation {
        case .positive:
            if sum - band > 0 { return .holds }
            if sum + band < 0 { return .doesNotHold }
            return .notResolved
        case .withinMargin(let m):
            if abs(sum) + band <= m { return .holds }
            if abs(sum) - band > m { return .doesNotHold }
            return .notResolved
        }
    }

    /// How far an open claim is from a verdict: the half-width c·SE a difference must clear now,
    /// and about how many seeds per cell of the claim would decide it with 80% probability if
    /// the true S were the paper's (nil when the paper gives no S, or, for "within ±m", when the
    /// paper's |S| is m or more): n ≥ ((c + z₀.₈)·sd)²·Σwᵢ²/δ² with δ = |S_paper| for "positive"
    /// and m − |S_paper| for "within ±m", z₀.₈ ≈ 0.84.
    public static func power(_ expectation: Claim.Expectation, weights: [Double], spread: Double, critical: Double,
                             standardError: Double, paperSum: Double?) -> (halfWidth: Double, seedsForPaper: Int?) {
        let halfWidth = critical * standardError
        guard let paper = paperSum, spread > 0 else { return (halfWidth, nil) }
        let delta: Double
        switch expectation {
        case .positive: delta = abs(paper)
        case .withinMargin(let m): delta = m - abs(paper)
        }
        guard delta > 0 else { return (halfWidth, nil) }
        let z80 = -Distributions.studentQuantile(upperTail: 0.8, degrees: .infinity)
        let n = pow((critical + z80) * spread / delta, 2) * weights.map { $0 * $0 }.reduce(0, +)
        return (halfWidth, max(2, Int(n.rounded(.up))))
    }
}

extension ClaimRule {
    /// Whether seeds up to the cap could plausibly still decide an open claim; false lets
    /// `--until-resolved` stop spending seeds on it. The band at the cap is taken at its smallest,
    /// c∞·sd·√(Σwᵢ²/nᵢ) with nᵢ the cap's seeds per cell (or the cell's own, when it has more;
    /// `seedsAtCap`) and c∞ the critical value of infinite degrees of freedom, and the true S at
    /// a generous size, |S| + 2·SE now. "Positive" is out of reach when that |S| stays inside the
    /// band (at the cap it would be decided at most about half the time); "within ±m" when the band
    /// alone is m or wider (it cannot hold) and that |S| cannot clear m by the band (it would not
    /// fail). Stopping a claim early only removes looks, so the rule's error stays within α.
    public static func decidable(_ expectation: Claim.Expectation, sum: Double, standardError: Double, spread: Double,
                                 weights: [Double], seedsAtCap: [Int], looks: Int = SeedPlan.standard.looks) -> Bool {
        guard spread > 0, !standardError.isNaN, !sum.isNaN, weights.count == seedsAtCap.count else { return true }
        let factor = zip(weights, seedsAtCap).map { $0 * $0 / Double(max($1, 1)) }.reduce(0, +)
        let bandAtCap = criticalValue(degrees: .infinity, looks: looks) * spread * factor.squareRoot()
        let largest = abs(sum) + 2 * standardError
        switch expectation {
        case .positive: return largest > bandAtCap
        case .withinMargin(let m): return bandAtCap < m || largest - bandAtCap > m
        }
    }
}

/// How many seeds a table's cells get: `base` for every cell, then, with `--until-resolved`,
/// one more round at a time for the cells of the claims still open, up to `cap`. A claim is
/// looked at after the base seeds and after each round: at most cap − base + 1 looks.
public struct SeedPlan: Equatable {
    public var base: Int, cap: Int
    public init(base: Int, cap: Int) { self.base = base; self.cap = cap }
    public var looks: Int { max(1, cap - base + 1) }
    /// Three seeds per cell, up to eight where a claim stays open (the `cpu` tables).
    public static let standard = SeedPlan(base: 3, cap: 8)

    /// A plan may start with more seeds or stop earlier than the standard one, never look more
    /// often: the rule's error is split over the standard plan's looks.
    public func validate() throws {
        if base < Self.standard.base || cap > Self.standard.cap || cap < base {
            throw ConfigurationError("seed plan", "\(base) to \(cap) seeds",
                                     "--until-resolved needs --seeds \(Self.standard.base) or more and --max-seeds at most \(Self.standard.cap), not below --seeds")
        }
    }
}
