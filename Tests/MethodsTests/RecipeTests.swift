import XCTest
@testable import Methods
import NN
import Options
import Tensors

/// Each default that follows a source, pinned: solo-learn's CIFAR YAMLs
/// (`scripts/pretrain/cifar/*.yaml`) for the optimiser, and the official code for the heads.
final class RecipeTests: XCTestCase {
    override func setUp() { Parallel.configure(threads: 2) }

    /// lr at batch 256, weight decay and `clip_lr` of every method's solo-learn YAML (η 0.02 and
    /// the exclusion of biases and norms are LARS's defaults here).
    func testOptimiserSettingsAreSoloLearnsCIFARRecipes() {
        let expected: [(any MethodConfiguration, Float, Float)] = [
            (BarlowTwinsConfiguration(), 0.3, 1e-4), (BYOLConfiguration(), 1.0, 1e-5), (SimCLRConfiguration(), 0.4, 1e-4),
            (SwAVConfiguration(), 0.6, 1e-6), (MoCoV3Configuration(), 0.3, 1e-6), (SDMPConfiguration(), 0.3, 1e-6),
        ]
        for (method, lr, wd) in expected {
            XCTAssertEqual(method.recipe.baseLearningRate, lr, method.name)
            XCTAssertEqual(method.recipe.weightDecay, wd, method.name)
            XCTAssertTrue(method.recipe.clipsTrustRatio, "\(method.name): solo-learn clips the LARS rate")
        }
        XCTAssertEqual(LARS().trustCoefficient, 0.02)
    }

    func linears(_ s: Sequential) -> [Linear] { s.layers.compactMap { $0 as? Linear } }

    /// MoCo v3's projector: Linear-BN-ReLU-Linear-BN(no γ, β), every Linear without bias; its
    /// predictor ends in a bias-free Linear. BYOL's heads keep the bias of their last Linear.
    func testMoCoV3HeadsEndAsTheOfficialCode() {
        var rng = RandomGenerator(seed: 1)
        var c = MoCoV3Configuration()
        c.projectorHiddenDimensions = 16; c.projectionDimensions = 8; c.predictorHiddenDimensions = 16
        let moco = MoCoV3(configuration: c, backboneWidth: 2, rng: &rng)
        for (name, head) in [("projector", moco.projector), ("key projector", moco.keyProjector)] {
            let last = head.layers.last as? BatchNorm
            XCTAssertNotNil(last, "\(name) ends in a batch norm")
            XCTAssertEqual(last?.affine, false, name)
            XCTAssertEqual(last?.fusedReLU, false, name)
            XCTAssertEqual(last?.channels, 8, name)
        }
        XCTAssertTrue(moco.predictor.layers.last is Linear)
        for head in [moco.projector, moco.predictor, moco.keyProjector] {
            XCTAssertEqual(linears(head).count, 2)
            XCTAssertTrue(linears(head).allSatisfy { $0.bias == nil })
        }
        // the key projector's weights pair with the query projector's for the EMA
        XCTAssertEqual(moco.momentumTarget!.online.map(\.value.count), moco.momentumTarget!.target.map(\.value.count))

        var b = BYOLConfiguration()
        b.projectorHiddenDimensions = 16; b.projectionDimensions = 8; b.predictorHiddenDimensions = 16
        let byol = b.makeMethod(backboneWidth: 2, rng: &rng) as! BYOL
        for head in [byol.projector, byol.predictor] {
            XCTAssertTrue(head.layers.last is Linear)
            XCTAssertNotNil(linears(head).last?.bias)
        }
    }

    /// SimCLR's projector as solo-learn builds it: Linear-ReLU-Linear, no batch norm; the
    /// TensorFlow original's batch norm only with `projectorBatchNorm`.
    func testSimCLRProjectorHasNoBatchNormUnlessAsked() {
        var rng = RandomGenerator(seed: 2)
        var c = SimCLRConfiguration()
        c.projectorHiddenDimensions = 16; c.projectionDimensions = 8
        let plain = SimCLR(configuration: c, backboneWidth: 2, rng: &rng)
        XCTAssertTrue(plain.projector.layers.allSatisfy { !($0 is BatchNorm) })
        XCTAssertTrue(plain.projector.layers.contains { $0 is ReLU })
        XCTAssertTrue(linears(plain.projector).allSatisfy { $0.bias != nil })
        c.projectorBatchNorm = true
        let withNorm = SimCLR(configuration: c, backboneWidth: 2, rng: &rng)
        XCTAssertEqual(withNorm.projector.layers.filter { $0 is BatchNorm }.count, 1)
    }

    /// SwAV's prototypes as solo-learn's `swav.py` builds them: weight-normalised with the norm
    /// fixed at 1 (SwAVTests checks the gradient through it); the official code's in-place
    /// renormalisation by name.
    func testSwAVPrototypesAreWeightNormalisedAsSoloLearn() throws {
        XCTAssertEqual(SwAVConfiguration().prototypeNormalization, .weightNorm)
        var c = SwAVConfiguration()
        let parsed = try ParsedOptions.parse(["--prototype-normalization", "in-place"], known: ["prototype-normalization": true],
                                         positionalLimit: 0, command: "train")
        try c.apply(parsed)
        XCTAssertEqual(c.prototypeNormalization, .inPlace)
    }

    /// SwAV's prototype freeze and queue as solo-learn's `swav.yaml` (2 epochs; 3840 embeddings
    /// per view from epoch 50); SDMP's view choice and key boxes as the official builder (a
    /// random view per batch, the keys' boxes drawn anew); the old rules by name.
    func testSwAVScheduleAndSDMPMixingFollowTheirSources() throws {
        let swav = SwAVConfiguration()
        XCTAssertEqual(swav.freezePrototypesEpochs, 2)
        XCTAssertEqual(swav.queueLength, 3840); XCTAssertEqual(swav.queueStartEpoch, 50)
        let sdmp = SDMPConfiguration()
        XCTAssertEqual(sdmp.mixing.mixedView, .random); XCTAssertEqual(sdmp.mixing.keyBoxes, .fresh)
        var c = SDMPConfiguration()
        let parsed = try ParsedOptions.parse(["--mixed-view", "first", "--key-boxes", "shared"],
                                             known: ["mixed-view": true, "key-boxes": true], positionalLimit: 0, command: "train")
        try c.apply(parsed)
        XCTAssertEqual(c.mixing.mixedView, .first); XCTAssertEqual(c.mixing.keyBoxes, .shared)
    }
}
