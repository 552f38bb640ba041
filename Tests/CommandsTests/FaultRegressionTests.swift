import Foundation
import XCTest
import Runner

/// The few-point faults fail `make regress`: the regression as CI runs it (`sslbench regress
/// --jobs 2` against the committed baseline, the retry seeds included) with a fault planted in
/// each of the six methods, each of which must fail. The faults are those whose first look, measured
/// by `Experiments/regression/faults.sh` (Results/regression/faults/), fell well below both
/// bounds. It trains four seeds of five cells and six of BYOL's, about half an hour on 2 cores,
/// so it runs only with SSLBENCH_FAULT_TESTS=1 (`make test-faults`), not in `make test`.
final class FaultRegressionTests: XCTestCase {
    var directory: String!
    override func setUpWithError() throws {
        guard ProcessInfo.processInfo.environment["SSLBENCH_FAULT_TESTS"] == "1" else {
            throw XCTSkip("slow: set SSLBENCH_FAULT_TESTS=1 (make test-faults) to run the faults against the baseline")
        }
        directory = NSTemporaryDirectory() + "sslbench-faults-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // the committed baseline, copied so that the run's rows land outside the package
        try FileManager.default.copyItem(atPath: ReleaseBinary.root.appendingPathComponent("Results/regression/baseline.csv").path,
                                         toPath: directory + "/baseline.csv")
    }
    override func tearDown() { if let directory { try? FileManager.default.removeItem(atPath: directory) } }

    /// The faults that failed both looks when measured (README, "Accuracy regression"): Barlow
    /// Twins with λ × 10 (first look 20.04, retry seeds 16.73, 24.14, 22.88), BYOL and SwAV without
    /// colour jitter on their cells (BYOL 31.05, the mean of seeds 0 and 1; retry 35.09, 29.81, 29.71,
    /// 36.61. SwAV 34.09; retry 36.11, 36.18, 35.03), SDMP at half its learning rate (31.86; retry
    /// 31.16, 32.78, 32.52), SimCLR without colour jitter (36.05; retry 36.70, 36.70, 35.04, mean
    /// 36.15 against 36.51) and MoCo v3 without colour jitter (33.29; retry 35.26, 32.97, 33.29,
    /// mean 33.84 against 33.99). SimCLR's and MoCo v3's margins are thin: another CPU's rounding
    /// may undo them. MoCo v3 without warm-up or with its momentum held, and SDMP without colour
    /// jitter, fell 2 to 4.8 points on seed 0 but passed on seeds 1–3, so they are not here.
    static let faults = ["barlow-twins": "tenfold-lambda", "byol": "no-colour-jitter", "swav": "no-colour-jitter",
                         "sdmp": "halved-learning-rate", "simclr": "no-colour-jitter", "moco-v3": "no-colour-jitter"]

    /// `make regress` with each method's fault planted (one run, so that the two workers stay
    /// busy): it exits 1 and names every one of these methods as failed after both looks (the
    /// retry seeds ran and their mean is below its bound too).
    func testAFewPointFaultFailsEachOfTheseMethodsAfterBothLooks() throws {
        let p = try ReleaseBinary.prerequisites()
        let methods = Self.faults.keys.sorted()
        let spec = methods.map { "\($0)=\(Self.faults[$0]!)" }.joined(separator: ",")
        let result = try ReleaseBinary.run(p.binary, ["regress", "--methods", methods.joined(separator: ","), "--sabotage", spec,
                                                      "--jobs", "2", "--directory", directory, "--data", p.folder])
        print(result.output)
        XCTAssertEqual(result.status, 1, result.output)
        for method in methods {
            let verdict = result.output.split(separator: "\n").first { ($0.hasPrefix("ok") || $0.hasPrefix("FAIL")) && $0.contains(" \(method): ") }
            XCTAssertTrue(verdict?.hasPrefix("FAIL") ?? false, "\(method) with \(Self.faults[method]!): \(verdict ?? "no verdict")")
            XCTAssertTrue(verdict?.contains("they gave") ?? false, "\(method): the retry seeds did not run: \(verdict ?? "")")
        }
    }
}
