import XCTest
import Datasets
import Experiments
import Methods
import Training

/// The tables as data: every claim names cells the table runs, and the six further tables set
/// the knobs their axes name.
final class TableDeclarationTests: XCTestCase {
    func cells(_ table: AblationTable) throws -> [String: CellConfiguration] {
        var d: [String: CellConfiguration] = [:]
        for cell in try table.cells(scale: .cpu) { d["\(cell.entry.rowLabel) \(cell.point.value)"] = cell.configuration }
        return d
    }

    func testThirteenTablesAndEveryClaimNamesCellsThatRun() throws {
        XCTAssertEqual(Tables.all.count, 13)
        XCTAssertEqual(Set(Tables.all.map(\.name)).count, 13)
        for table in Tables.all {
            XCTAssertFalse(table.claims.isEmpty, table.name)
            for scale in [Scale.smoke, .cpu] {
                let declared = try table.cells(scale: scale)
                XCTAssertEqual(Set(declared.map { "\($0.entry.rowLabel) \($0.point.value)" }).count, declared.count, "\(table.name): a cell twice")
                for cell in declared { XCTAssertNoThrow(try cell.configuration.validate(), "\(table.name) \(cell.point.value)") }
            }
            let cpu = try table.cells(scale: .cpu)
            for claim in table.claims {
                for term in claim.terms {
                    XCTAssertTrue(cpu.contains { $0.entry.rowLabel == term.label && $0.point.paperValue == term.paperValue },
                                  "\(table.name): '\(claim.statement)' names \(term.label) at \(term.paperValue), which does not run at cpu")
                }
            }
        }
    }

    /// BYOL's own studies run BYOL at batch 32 at the cpu scale (its rate scaled with it); the
    /// other methods of those tables, BYOL in the shared-budget tables, and every smoke cell keep
    /// the scale's batch.
    func testBYOLStudiesRunBYOLAtItsLearningBatchAtTheCPUScale() throws {
        for table in [Tables.targetDecay, Tables.bootstrap, Tables.augmentations, Tables.headDepth, Tables.methods, Tables.projector] {
            let shared = [Tables.methods.name, Tables.projector.name].contains(table.name)
            for cell in try table.cells(scale: .cpu) {
                let c = cell.configuration
                let expected = c.method is BYOLConfiguration && !shared ? 32 : 128
                XCTAssertEqual(c.batchSize, expected, "\(table.name) \(cell.entry.label) \(cell.point.value)")
                XCTAssertEqual(c.learningRate, c.baseLearningRate * Float(expected) / 256, accuracy: 1e-7)
            }
            for cell in try table.cells(scale: .smoke) { XCTAssertEqual(cell.configuration.batchSize, 64, table.name) }
        }
    }

    /// Target decay runs 16 epochs at the cpu scale (8 do not separate its cells); every other
    /// table and every smoke cell keeps its scale's epochs.
    func testTargetDecayRunsSixteenEpochsAtTheCPUScaleAndNoOtherTableDoes() throws {
        for table in Tables.all {
            for cell in try table.cells(scale: .cpu) {
                XCTAssertEqual(cell.configuration.epochs, table.name == Tables.targetDecay.name ? 16 : 8, "\(table.name) \(cell.point.value)")
            }
            for cell in try table.cells(scale: .smoke) { XCTAssertEqual(cell.configuration.epochs, 1, table.name) }
        }
    }

    func testTargetDecayHoldsTauZeroAndRaisesTheOthers() throws {
        let c = try cells(Tables.targetDecay)
        XCTAssertEqual(c.count, 5)
        for (name, tau) in [("1", Float(1)), ("0.999", 0.999), ("0.99", 0.99), ("0.9", 0.9), ("0", 0)] {
            let byol = try XCTUnwrap(c["BYOL \(name)"]?.method as? BYOLConfiguration)
            XCTAssertEqual(byol.baseMomentum, tau)
            XCTAssertEqual(byol.momentumSchedule, tau == 0 ? .constant : .cosine, name)
        }
    }

    func testBootstrapRowsSetPredictorTargetAndBeta() throws {
        let c = try cells(Tables.bootstrap)
        XCTAssertEqual(c.count, 8)
        for (name, predictor, target, beta) in [("pred+target/0", true, true, Float(0)), ("pred+target/1", true, true, 1),
                                                 ("target/1", false, true, 1), ("none/1", false, false, 1), ("pred/1", true, false, 1),
                                                 ("pred/0", true, false, 0), ("target/0", false, true, 0), ("none/0", false, false, 0)] {
            let byol = try XCTUnwrap(c["BYOL \(name)"]?.method as? BYOLConfiguration, name)
            XCTAssertEqual(byol.predictorDepth > 0, predictor, name)
            XCTAssertEqual(byol.targetNetwork, target, name)
            XCTAssertEqual(byol.negativesWeight, beta, name)
            XCTAssertEqual(byol.negativesTemperature, 0.1, name)
        }
    }

    /// Barlow Twins and BYOL have no blur in their CIFAR recipe: no crop + blur cell for them.
    func testAugmentationCellsRemoveWhatTheirNamesSay() throws {
        let c = try cells(Tables.augmentations)
        XCTAssertEqual(c.count, 4 + 7 + 5)
        XCTAssertNil(c["Barlow Twins crop-blur"]); XCTAssertNil(c["BYOL crop-blur"]); XCTAssertNil(c["SimCLR no-flip"])
        XCTAssertEqual(AugmentationRecipe.views(.barlowTwins).0.blurProbability, 0)
        XCTAssertEqual(AugmentationRecipe.views(.barlowTwins).1.blurProbability, 0)
        let cropBlur = try XCTUnwrap(c["SimCLR crop-blur"])
        XCTAssertEqual(cropBlur.augmentationDescription, "simclr -flip -colour-jitter -grayscale -solarization")
        XCTAssertEqual(cropBlur.augmentationA.blurProbability, 0.5)
        for recipe in [cropBlur.augmentationA, cropBlur.augmentationB] {
            XCTAssertEqual([recipe.flipProbability, recipe.jitterProbability, recipe.grayscaleProbability, recipe.solarizeProbability], [0, 0, 0, 0])
        }
        let noColour = try XCTUnwrap(c["BYOL no-colour"])
        XCTAssertEqual(noColour.augmentationB.solarizeProbability, 0.2)
        XCTAssertEqual(noColour.augmentationB.jitterProbability, 0); XCTAssertEqual(noColour.augmentationA.grayscaleProbability, 0)
        XCTAssertEqual(try XCTUnwrap(c["Barlow Twins baseline"]).augmentationDescription, "barlow-twins")
    }

    func testTemperatureAndSDMPIngredientsAndHeadDepth() throws {
        let t = try cells(Tables.temperature)
        XCTAssertEqual(t.count, 7)
        let raw = try XCTUnwrap(t["SimCLR raw/100"]?.method as? SimCLRConfiguration)
        XCTAssertFalse(raw.normalizesEmbeddings); XCTAssertEqual(raw.temperature, 100)
        let cosine = try XCTUnwrap(t["SimCLR l2/0.05"]?.method as? SimCLRConfiguration)
        XCTAssertTrue(cosine.normalizesEmbeddings); XCTAssertEqual(cosine.temperature, 0.05)

        let s = try cells(Tables.sdmpIngredients)
        XCTAssertEqual(s.count, 5)
        XCTAssertTrue(s["MoCo v3 + SDMP moco-v3"]?.method is MoCoV3Configuration)
        let perBatch = try XCTUnwrap(s["MoCo v3 + SDMP lambda-per-batch"]?.method as? SDMPConfiguration)
        XCTAssertTrue(perBatch.mixing.lambdaPerBatch && !perBatch.mixing.equalSourceLabels && !perBatch.mixing.equalMixingLabels)
        XCTAssertEqual((s["MoCo v3 + SDMP sdmp"]?.method as? SDMPConfiguration)?.mixing, MixingConfiguration())
        XCTAssertTrue(Tables.sdmpIngredients.entries[0].paper.values.allSatisfy(\.unconfirmed))

        let h = try cells(Tables.headDepth)
        XCTAssertEqual(h.count, 4 + 3 * 3)
        XCTAssertEqual((h["Barlow Twins 4"]?.method as? BarlowTwinsConfiguration)?.projectorDimensions, [1024, 1024, 1024, 1024])
        XCTAssertEqual((h["Barlow Twins 1"]?.method as? BarlowTwinsConfiguration)?.projectorDimensions, [1024])
        XCTAssertNil(h["BYOL predictor 2 4"])
        let byol = try XCTUnwrap(h["BYOL predictor 3 1"]?.method as? BYOLConfiguration)
        XCTAssertEqual(byol.projectorDepth, 1); XCTAssertEqual(byol.predictorDepth, 3)
    }
}
