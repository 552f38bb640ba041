import Foundation
import Tensors

/// Whether two sets of numbers over the same cells order the cells alike: Kendall's τ-b and a
/// one-sided permutation p-value, the share of orderings of our numbers that agree with the
/// paper's at least as well as ours do (every ordering up to 8 cells, else 20000 random ones
/// with a fixed seed, so the same numbers give the same p).
public struct RankAgreement: Equatable {
    public let cells: Int
    public let tau: Double
    public let pValue: Double

    /// nil with fewer than 3 cells or when either side is constant.
    public init?(paper: [Double], ours: [Double]) {
        precondition(paper.count == ours.count)
        guard paper.count >= 3, let tau = Self.tauB(paper, ours) else { return nil }
        cells = paper.count
        self.tau = tau
        var atLeast = 0, total = 0
        func count(_ order: [Double]) {
            total += 1
            if let t = Self.tauB(paper, order), t >= tau - 1e-12 { atLeast += 1 }
        }
        if ours.count <= 8 {
            var order = ours
            Self.permutations(&order, 0, count)
        } else {
            var rng = RandomGenerator(seed: 0x7A0)
            var order = ours
            for _ in 0 ..< 20000 {
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
                count(order)
            }
        }
        pValue = Double(atLeast) / Double(total)
    }

    /// τ-b = (concordant − discordant)/√((pairs − ties in x)(pairs − ties in y)).
    static func tauB(_ x: [Double], _ y: [Double]) -> Double? {
        var concordant = 0, discordant = 0, tiesX = 0, tiesY = 0, pairs = 0
        for i in 0 ..< x.count {
            for j in i + 1 ..< x.count {
                pairs += 1
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 { tiesX += 1 }
                if dy == 0 { tiesY += 1 }
                if dx == 0 || dy == 0 { continue }
                if (dx > 0) == (dy > 0) { concordant += 1 } else { discordant += 1 }
            }
        }
        let denominator = (Double(pairs - tiesX) * Double(pairs - tiesY)).squareRoot()
        return denominator > 0 ? Double(concordant - discordant) / denominator : nil
    }

    /// Heap's-style recursion over every ordering of `a[k...]`.
    static func permutations(_ a: inout [Double], _ k: Int, _ visit: ([Double]) -> Void) {
        if k == a.count { visit(a); return }
        for i in k ..< a.count {
            a.swapAt(k, i)
            permutations(&a, k + 1, visit)
            a.swapAt(k, i)
        }
    }
}
