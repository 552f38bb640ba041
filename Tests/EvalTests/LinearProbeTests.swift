import XCTest
@testable import Eval
import Tensors

final class LinearProbeTests: XCTestCase {
    func testLearnsALinearlySeparableProblemDeterministically() {
        var rng = RandomGenerator(seed: 3)
        // three classes separated along different directions, with a useless noisy feature
        func sample(_ n: Int) -> (Tensor, [Int32]) {
            let t = Tensor(shape: [n, 4]); var labels: [Int32] = []
            for i in 0 ..< n {
                let c = i % 3
                t[i * 4 + 0] = (c == 0 ? 2 : -1) + 0.3 * rng.normal()
                t[i * 4 + 1] = (c == 1 ? 2 : -1) + 0.3 * rng.normal()
                t[i * 4 + 2] = 50 + 10 * rng.normal()
                t[i * 4 + 3] = 0.001 * rng.normal()
                labels.append(Int32(c))
            }
            return (t, labels)
        }
        let (train, trainLabels) = sample(600), (test, testLabels) = sample(300)
        var probe = LinearProbe(); probe.epochs = 20; probe.batchSize = 64
        let a = probe.accuracy(trainFeatures: train, trainLabels: trainLabels, testFeatures: test, testLabels: testLabels, classCount: 3)
        let b = probe.accuracy(trainFeatures: train, trainLabels: trainLabels, testFeatures: test, testLabels: testLabels, classCount: 3)
        XCTAssertGreaterThan(a, 99)
        XCTAssertEqual(a, b)
        // labels that the features cannot predict stay at chance
        let shuffled = testLabels.map { ($0 + 1) % 3 }
        let wrong = probe.accuracy(trainFeatures: train, trainLabels: trainLabels, testFeatures: test, testLabels: shuffled, classCount: 3)
        XCTAssertLessThan(wrong, 5)
    }
}
