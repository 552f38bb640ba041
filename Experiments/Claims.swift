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
    case holds = "holds", doesNotHold = "does not hold", notResolved = "not resolved", notTestable = "not testable at this scale"
}

/// The rule that decides a claim, stated once: with the claim's weighted sum S of cell means
/// and its standard error SE = sd·√(Σ wᵢ²/nᵢ), where sd is the table's pooled seed-to-seed
/// standard deviation and nᵢ the seeds of cell i,
/// - "positive": holds when S − 2·SE > 0, does not hold when S + 2·SE < 0, else not resolved;
/// - "within ±m": holds when |S| + 2·SE ≤ m, does not hold when |S| − 2·SE > m, else not resolved.
/// A difference smaller than the seed spread is therefore never reported as holding.
public enum ClaimRule {
    public static let standardErrors = 2.0
    public static let text = "a claim's difference S (of cell means) is compared with twice its standard error SE, "
        + "computed from the table's pooled seed-to-seed standard deviation: \"A beats B\" holds when S − 2·SE > 0, "
        + "does not hold when S + 2·SE < 0, and is not resolved otherwise; \"A within ±m of B\" holds when |S| + 2·SE ≤ m, "
        + "does not hold when |S| − 2·SE > m, and is not resolved otherwise"

    public static func verdict(_ expectation: Claim.Expectation, sum: Double, standardError: Double) -> Verdict {
        let band = standardErrors * standardError
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
}
