import XCTest
@testable import Eval
import Tensors

final class KNNTests: XCTestCase {
    func normalised(_ rows: [[Float]]) -> Tensor {
        let t = Tensor(shape: [rows.count, rows[0].count], values: rows.flatMap { r in
            let n = r.map { $0 * $0 }.reduce(0, +).squareRoot(); return r.map { $0 / n }
        })
        return t
    }

    func testSeparatedClustersAreClassifiedPerfectly() {
        var rng = RandomGenerator(seed: 1)
        let centres: [[Float]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        var train: [[Float]] = [], labels: [Int32] = []
        for i in 0 ..< 300 { let c = i % 3; train.append(centres[c].map { $0 + 0.1 * rng.normal() }); labels.append(Int32(c)) }
        var queries: [[Float]] = [], queryLabels: [Int32] = []
        for i in 0 ..< 60 { let c = i % 3; queries.append(centres[c].map { $0 + 0.1 * rng.normal() }); queryLabels.append(Int32(c)) }
        let top1 = weightedKNNAccuracy(trainFeatures: normalised(train), trainLabels: labels, queryFeatures: normalised(queries),
                                       queryLabels: queryLabels, classCount: 3, neighbours: 20, temperature: 0.1)
        XCTAssertEqual(top1, 100)
    }

    func testVotesAreWeightedBySimilarity() {
        // One very close neighbour of class 1 against two farther ones of class 0: with a low
        // temperature the close one wins, with a high one the majority wins.
        let train = normalised([[1, 0.01], [1, 0.8], [1, -0.8]])
        let query = normalised([[1, 0]])
        let labels: [Int32] = [1, 0, 0]
        XCTAssertEqual(weightedKNNAccuracy(trainFeatures: train, trainLabels: labels, queryFeatures: query, queryLabels: [1],
                                           classCount: 2, neighbours: 3, temperature: 0.05), 100)
        XCTAssertEqual(weightedKNNAccuracy(trainFeatures: train, trainLabels: labels, queryFeatures: query, queryLabels: [1],
                                           classCount: 2, neighbours: 3, temperature: 10), 0)
    }

    func testOnlyTheKNearestVote() {
        // k = 1: only the nearest neighbour counts, whatever the others say.
        let train = normalised([[1, 0.05], [0, 1], [0.1, 1], [0.2, 1]])
        let query = normalised([[1, 0]])
        XCTAssertEqual(weightedKNNAccuracy(trainFeatures: train, trainLabels: [2, 0, 0, 0], queryFeatures: query, queryLabels: [2],
                                           classCount: 3, neighbours: 1, temperature: 1), 100)
        XCTAssertEqual(weightedKNNAccuracy(trainFeatures: train, trainLabels: [2, 0, 0, 0], queryFeatures: query, queryLabels: [2],
                                           classCount: 3, neighbours: 4, temperature: 1), 0)
    }
}
