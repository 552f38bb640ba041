import Foundation

/// How `sslbench regress` decides that one method's new run is too low against its baseline.
///
/// The baseline holds n seeds of the method's cell: mean m, sample standard deviation s. A
/// change of code, seed, thread count or CPU moves a cell as another seed does (README,
/// "Accuracy regression"), so an unchanged cell's new value is modelled as one more draw from
/// the distribution the baseline's seeds came from, N(μ, σ²). Both rules below are stated as
/// multiples of s below m, and their rates are taken over the baseline's draw as well as the
/// new seeds' (m ~ N(μ, σ²/n), (n − 1)s²/σ² ~ χ²(n − 1)): the rate at which a committed
/// baseline of n seeds and a run of the unchanged code disagree.
public enum RegressionRule: Sendable, Equatable {
    /// One look: the first seed fails below m − max(`multiplier`·s, `floor`).
    case spreads(multiplier: Double, floor: Double)
    /// Two looks. The mean of the first `firstSeeds` (j) seeds passes at or above m − c₁·s, with
    /// c₁ = t(α₁; n − 1)·√(1/j + 1/n), the one-sided prediction bound an unchanged cell's mean of j
    /// seeds falls below with probability α₁ (`firstLookRate`). Below it, `retrySeeds` (k) more
    /// seeds run and the method passes when their mean is at or above m − c₂·s. Both bounds move
    /// with the same m and s, so the looks are not independent; c₂ is the multiplier at which an
    /// unchanged cell fails both with probability α (`falseAlarmRate`, per method):
    ///   α = E_{m,s}[ Φ(√j·(m − c₁s − μ)/σ) · Φ(√k·(m − c₂s − μ)/σ) ].
    case twoLooks(firstSeeds: Int, firstLookRate: Double, retrySeeds: Int, falseAlarmRate: Double)

    /// The rule of a check that guards `methods` methods with a false alarm in at most 1 run in
    /// `runsPerFalseAlarm`: each method gets 1/(methods·runsPerFalseAlarm) (Bonferroni); a mean
    /// of `firstSeeds` seeds below its 5% bound asks for `retrySeeds` more.
    public static func twoLooks(methods: Int, runsPerFalseAlarm: Double, firstSeeds: Int = 1, retrySeeds: Int = 3) -> RegressionRule {
        .twoLooks(firstSeeds: firstSeeds, firstLookRate: 0.05, retrySeeds: retrySeeds, falseAlarmRate: 1 / (Double(methods) * runsPerFalseAlarm))
    }

    /// The seeds whose mean the first look compares (1 for one look).
    public var firstSeeds: Int {
        if case .twoLooks(let j, _, _, _) = self { return j }
        return 1
    }

    /// The seeds run after a first look below its bound (0 for one look).
    public var retrySeeds: Int {
        if case .twoLooks(_, _, let k, _) = self { return k }
        return 0
    }

    /// The lowest value the first look (one seed, or the mean of `firstSeeds`) may take and pass,
    /// for a baseline of `seeds` seeds with mean `mean` and sample sd `sd`.
    public func lowestAccepted(mean: Double, sd: Double, seeds n: Int) -> Double {
        switch self {
        case .spreads(let multiplier, let floor): return mean - max(multiplier * sd, floor)
        case .twoLooks: return mean - firstMultiplier(seeds: n) * sd
        }
    }

    /// The lowest mean the retry seeds may take and pass; nil for one look.
    public func lowestRetryMean(mean: Double, sd: Double, seeds n: Int) -> Double? {
        guard case .twoLooks = self else { return nil }
        return mean - retryMultiplier(seeds: n) * sd
    }

    /// c₁ (two looks) or the multiplier of s (one look, its floor aside).
    public func firstMultiplier(seeds n: Int) -> Double {
        switch self {
        case .spreads(let multiplier, _): return multiplier
        case .twoLooks(let j, let alpha1, _, _):
            let nu = Double(n - 1)
            return Distributions.studentQuantile(upperTail: alpha1, degrees: nu) * (1 / Double(j) + 1 / Double(n)).squareRoot()
        }
    }

    /// c₂: the multiplier at which an unchanged cell fails both looks at the rule's rate
    /// (bisection on the joint probability, which falls as c₂ grows).
    public func retryMultiplier(seeds n: Int) -> Double {
        guard case .twoLooks(_, _, _, let alpha) = self else { return .nan }
        var low = -20.0, high = 200.0
        while high - low > 1e-6 {
            let mid = (low + high) / 2
            if failureProbability(seeds: n, drop: 0, retryMultiplier: mid) > alpha { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }

    /// The probability that an unchanged cell fails: two looks, the rate asked for (up to the
    /// bisection); one look, P(t(n − 1) < −multiplier/√(1 + 1/n)) without its floor (which
    /// only lowers it).
    public func falseAlarmRate(seeds n: Int) -> Double {
        switch self {
        case .twoLooks: return failureProbability(seeds: n, drop: 0)
        case .spreads(let multiplier, _):
            return Distributions.studentCDF(-multiplier / (1 + 1 / Double(n)).squareRoot(), degrees: Double(n - 1))
        }
    }

    /// The drop, in units of the cells' sd σ, that the rule catches 4 times in 5 (bisection).
    public func detectableDrop(seeds n: Int) -> Double {
        detectableDrop(seeds: n, retryMultiplier: retryMultiplier(seeds: n))
    }

    func detectableDrop(seeds n: Int, retryMultiplier c2: Double) -> Double {
        var low = 0.0, high = 100.0
        while high - low > 1e-6 {
            let mid = (low + high) / 2
            if failureProbability(seeds: n, drop: mid, retryMultiplier: c2) < 0.8 { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }

    /// What the rule asks of a baseline of a given number of seeds, each figure worked out once:
    /// c₂ and the detectable drop each take a bisection over the quadrature below.
    public struct Multipliers: Sendable, Equatable {
        /// c₁ (two looks) or the multiplier of s (one look).
        public let first: Double
        /// c₂; nil for one look.
        public let retry: Double?
        /// The probability that an unchanged cell fails (`falseAlarmRate(seeds:)`).
        public let falseAlarmRate: Double
        /// The drop, in units of σ, caught 4 times in 5 (`detectableDrop(seeds:)`).
        public let detectableDrop: Double
    }

    public func multipliers(seeds n: Int) -> Multipliers {
        let first = firstMultiplier(seeds: n)
        guard case .twoLooks = self else {
            return Multipliers(first: first, retry: nil, falseAlarmRate: falseAlarmRate(seeds: n), detectableDrop: detectableDrop(seeds: n))
        }
        let c2 = retryMultiplier(seeds: n)
        return Multipliers(first: first, retry: c2, falseAlarmRate: failureProbability(seeds: n, drop: 0, retryMultiplier: c2),
                           detectableDrop: detectableDrop(seeds: n, retryMultiplier: c2))
    }

    /// P(the method fails) when the new seeds' mean lies `drop`·σ below the baseline's μ, for a
    /// baseline of n seeds; in units where μ = 0 and σ = 1:
    ///   one look:  E_{m,s}[ Φ(m − max(c·s) + d) ]  (floor left out)
    ///   two looks: E_{m,s}[ Φ(√j·(m − c₁s + d)) · Φ(√k·(m − c₂s + d)) ],
    /// the expectation over m ~ N(0, 1/n) and s = √(χ²(ν)/ν), ν = n − 1, by the midpoint rule on a
    /// grid of 321 × 400 points (m within ±8/√n, s up to 5 + 5/√ν).
    public func failureProbability(seeds n: Int, drop d: Double, retryMultiplier c2Given: Double? = nil) -> Double {
        precondition(n >= 2, "a rule needs at least two baseline seeds")
        let nu = Double(n - 1)
        let c1 = firstMultiplier(seeds: n)
        var c2 = 0.0, j = 1.0, k = 1.0
        if case .twoLooks(let firsts, _, let retries, _) = self {
            c2 = c2Given ?? retryMultiplier(seeds: n)
            j = Double(firsts)
            k = Double(retries)
        }
        let grid = Self.grid(nu: nu, n: Double(n))
        var total = 0.0
        for (m, wm) in grid.means {
            for (s, ws) in grid.spreads {
                var p = Distributions.normalCDF(j.squareRoot() * (m - c1 * s + d))
                if case .twoLooks = self { p *= Distributions.normalCDF(k.squareRoot() * (m - c2 * s + d)) }
                total += wm * ws * p
            }
        }
        return total
    }

    /// Quadrature nodes and weights (each set summing to 1) for the baseline's standardised mean
    /// and sd.
    static func grid(nu: Double, n: Double) -> (means: [(Double, Double)], spreads: [(Double, Double)]) {
        let meanCount = 321, spreadCount = 400
        var means: [(Double, Double)] = []
        for i in 0 ..< meanCount {
            let z = -8 + 16 * (Double(i) + 0.5) / Double(meanCount)
            means.append((z / n.squareRoot(), exp(-z * z / 2)))
        }
        // s = √(x/ν) with x ~ χ²(ν): density of s is 2νs·f_χ²(νs²)
        let top = 5 + 5 / nu.squareRoot()
        var spreads: [(Double, Double)] = []
        for i in 0 ..< spreadCount {
            let s = top * (Double(i) + 0.5) / Double(spreadCount)
            let x = nu * s * s
            let logChiSquare = (nu / 2 - 1) * log(x) - x / 2 - (nu / 2) * log(2) - lgamma(nu / 2)
            spreads.append((s, 2 * nu * s * exp(logChiSquare)))
        }
        let meanTotal = means.reduce(0) { $0 + $1.1 }, spreadTotal = spreads.reduce(0) { $0 + $1.1 }
        return (means.map { ($0.0, $0.1 / meanTotal) }, spreads.map { ($0.0, $0.1 / spreadTotal) })
    }
}
