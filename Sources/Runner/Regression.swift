import Foundation
import Experiments
import Report
import Training

/// The accuracy regression of `make regress`: the `methods` table at the `ci` scale, one seed,
/// against `Results/regression/baseline.csv`, which holds the same table at several seeds.
///
/// The rule: a method fails when its kNN top-1 is below the baseline's mean by more than its
/// tolerance, `spreadMultiplier` times the sample standard deviation of the baseline's seeds
/// and at least `minimumTolerance` points. Three standard deviations of seed-to-seed noise
/// are what a different seed or a different CPU (another BLAS kernel rounds differently, which
/// acts like another seed) can cost by chance; a broken method falls much further.
public enum Regression {
    /// The methods the regression guards. BYOL and SwAV are left out for now: at the `ci` scale
    /// (and BYOL also in 10 epochs of 20000 images) they end *below* their kNN at random
    /// initialisation, with a low RankMe, so a broken change could not make them worse in a way
    /// the check would see; they join once their short-schedule recipe learns.
    public static let guardedMethods: Set<MethodName> = [.barlowTwins, .simclr, .mocoV3, .sdmp]
    public static let spreadMultiplier = 3.0
    public static let minimumTolerance = 1.0
    public static let minimumBaselineSeeds = 3

    /// One method's verdict.
    public struct Check: CustomStringConvertible {
        public let method: String
        public let knnTop1: Double?          // nil when the cell did not finish
        public let status: String
        public let baseline: [Double]
        public var baselineMean: Double { baseline.reduce(0, +) / Double(baseline.count) }
        public var baselineSpread: Double {
            let m = baselineMean
            return (baseline.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(baseline.count - 1, 1))).squareRoot()
        }
        public var tolerance: Double { max(Regression.spreadMultiplier * baselineSpread, Regression.minimumTolerance) }
        public var passed: Bool {
            guard status == "ok", let v = knnTop1 else { return false }
            return v >= baselineMean - tolerance
        }
        public var description: String {
            let measured = knnTop1.map { String(format: "%.2f", $0) } ?? "none (\(status))"
            let seeds = baseline.map { String(format: "%.2f", $0) }.joined(separator: ", ")
            return String(format: "%@ %@: kNN top-1 %@, baseline %.2f (seeds %@; sd %.2f), tolerance %.2f, lowest accepted %.2f",
                          passed ? "ok  " : "FAIL", method, measured, baselineMean, seeds, baselineSpread, tolerance,
                          baselineMean - tolerance)
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case noBaseline(path: String)
        case methodMissing(method: String, path: String)
        case tooFewSeeds(method: String, seeds: Int, path: String)
        public var description: String {
            switch self {
            case .noBaseline(let path): return "no regression baseline at \(path): run `make regress-update` and commit it"
            case .methodMissing(let method, let path): return "\(path) has no ok row for \(method): run `make regress-update`"
            case .tooFewSeeds(let method, let seeds, let path):
                return "\(path) has \(seeds) seed(s) of \(method); the tolerance needs at least \(Regression.minimumBaselineSeeds)"
            }
        }
    }

    /// Compares the rows of a new run with the baseline's, method by method (in the new run's order).
    public static func compare(new: [[String: String]], baseline: [[String: String]], baselinePath: String) throws -> [Check] {
        guard !baseline.isEmpty else { throw Failure.noBaseline(path: baselinePath) }
        return try new.map { row in
            let method = row["method"] ?? ""
            let values = baseline.filter { $0["method"] == method && $0["status"] == "ok" }.compactMap { Double($0["knn_top1"] ?? "") }
            if values.isEmpty { throw Failure.methodMissing(method: method, path: baselinePath) }
            if values.count < minimumBaselineSeeds { throw Failure.tooFewSeeds(method: method, seeds: values.count, path: baselinePath) }
            return Check(method: method, knnTop1: Double(row["knn_top1"] ?? ""), status: row["status"] ?? "", baseline: values)
        }
    }
}
