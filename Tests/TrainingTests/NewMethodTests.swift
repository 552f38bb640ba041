import XCTest
@testable import Training
import Datasets
import Methods
import NN
import Options
import Tensors

/// A method declared outside the Methods module, the way docs/ARCHITECTURE.md says a new method
/// is added: its configuration and its class, nothing else. The kernel trains it, estimates its
/// memory and time from its `cost`, and names it, without a line changed elsewhere.
struct WideSimCLRConfiguration: MethodConfiguration {
    var simclr = SimCLRConfiguration()
    var name: String { "wide-simclr" }
    var recipe: TrainingRecipe { TrainingRecipe(baseLearningRate: 0.1, weightDecay: 0, clipsTrustRatio: true, augmentation: .simclr) }
    var projectorDescription: String { simclr.projectorDescription }
    var projectorWidth: Int { simclr.projectorWidth }
    mutating func setProjectorWidth(_ width: Int) { simclr.setProjectorWidth(width) }
    mutating func setHeadWidths(hidden: Int, projection: Int) { simclr.setHeadWidths(hidden: hidden, projection: projection) }
    func validate() throws { try simclr.validate() }
    func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod {
        SimCLR(configuration: simclr, backboneWidth: 2 * backboneWidth, rng: &rng)
    }
    func cost(featureDimensions: Int) -> HeadCost { simclr.cost(featureDimensions: featureDimensions) }
    static let options: [Option<Self>] = [
        Option("temperature", "X", example: "0.5", "NT-Xent temperature (0.2)") { c, v in c.simclr.temperature = try Value.float(v, option: "temperature") },
    ]
}

final class NewMethodTests: XCTestCase {
    func testAMethodDeclaredOnItsOwnTrainsThroughTheKernel() throws {
        var c = CellConfiguration(method: WideSimCLRConfiguration())
        XCTAssertEqual(c.baseLearningRate, 0.1)   // its own recipe
        c.method.setHeadWidths(hidden: 16, projection: 8)
        try c.method.apply(try ParsedOptions.parse(["--temperature", "0.5"], known: ["temperature": true], command: "train"))
        XCTAssertEqual((c.method as? WideSimCLRConfiguration)?.simclr.temperature, 0.5)
        c.backboneWidth = 2; c.batchSize = 8; c.epochs = 1; c.trainImages = 16; c.knnNeighbours = 5; c.linearProbe = false
        var rng = RandomGenerator(seed: 1)
        func images(_ n: Int) -> LabeledImages {
            LabeledImages(pixels: (0 ..< n * 3072).map { _ in UInt8(rng.int(below: 256)) }, labels: (0 ..< n).map { Int32($0 % 10) }, classCount: 10)
        }
        let r = try train(c, train: images(16), test: images(8))
        XCTAssertEqual(r.status, .ok)
        XCTAssertEqual(r.losses.count, 2)
        XCTAssertGreaterThan(MemoryEstimate(c, trainImages: 16, testImages: 8).totalBytes, 0)
        XCTAssertGreaterThan(TimeEstimate(c, trainImages: 16, testImages: 8).trainingFLOPs, 0)
        XCTAssertNotEqual(c, CellConfiguration(method: SimCLRConfiguration()))
    }
}
