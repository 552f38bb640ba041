import XCTest
@testable import Commands
import Methods
import Options
import Runner
import Training

final class CommandLineTests: XCTestCase {
    /// Every option in the usage text is one the command's parser takes, with its example value;
    /// and every option the parser takes is in the usage text.
    func testEveryDocumentedOptionParses() throws {
        let usage = Commands.usage()
        for command in Commands.all {
            XCTAssertTrue(usage.contains("sslbench \(command.name)"), command.name)
            for option in command.options {
                XCTAssertTrue(command.usage.contains("--\(option.name)"), "\(command.name) --\(option.name)")
                let arguments = ["--\(option.name)"] + (option.valueName == nil ? [] : [option.example])
                let parsed = try ParsedOptions.parse(arguments, known: command.known, positionalLimit: command.positionalLimit, command: command.name)
                XCTAssertEqual(parsed.values[option.name], option.valueName == nil ? "" : option.example)
            }
            for name in command.known.keys { XCTAssertTrue(command.usage.contains("--\(name)"), "\(command.name): --\(name) is not documented") }
        }
    }

    /// Each option's example value is accepted by the settings it acts on: the common options of
    /// `train` one by one, and each method's own options all together on that method.
    func testEveryExampleValueIsAcceptedByItsSettings() throws {
        for option in TrainCommand.options {
            var s = TrainCommand.Settings()
            XCTAssertNoThrow(try option.apply(&s, option.example), "--\(option.name) \(option.example)")
        }
        for method in MethodCatalog.all {
            var arguments = ["--method", method.name]
            for o in method.optionSummaries { arguments += ["--\(o.name)"] + (o.valueName == nil ? [] : [o.example]) }
            let parsed = try ParsedOptions.parse(arguments, known: TrainCommand.command.known, command: "train")
            let s = try TrainCommand.settings(parsed)
            XCTAssertEqual(s.cell.method.name, method.name)
            XCTAssertFalse(s.cell.method.isEqual(to: method), "\(method.name): the examples changed nothing")
            XCTAssertNoThrow(try s.cell.validate(), method.name)
        }
    }

    func testTrainOptionsReachTheCell() throws {
        func settings(_ line: String) throws -> TrainCommand.Settings {
            let parsed = try ParsedOptions.parse(line.split(separator: " ").map(String.init), known: TrainCommand.command.known, command: "train")
            return try TrainCommand.settings(parsed)
        }
        let bt = try settings("--width 8 --projector 64 --heads 32,16 --lambda 0.02 --variant cross-entropy --temperature 0.3 --seed 4")
        XCTAssertEqual(bt.cell.backboneWidth, 8); XCTAssertEqual(bt.cell.seed, 4)
        let c = try XCTUnwrap(bt.cell.method as? BarlowTwinsConfiguration)
        XCTAssertEqual(c.projectorDimensions, [32, 32, 32])   // --heads comes after --projector
        XCTAssertEqual(c.offDiagonalWeight, 0.02)
        XCTAssertEqual(c.objective, .crossEntropy(temperature: 0.3))
        let sdmp = try settings("--method sdmp --mixing cutmix --base-momentum 0.9 --lr 0.5")
        let m = try XCTUnwrap(sdmp.cell.method as? SDMPConfiguration)
        XCTAssertEqual(m.mixing.strategies, [.cutmix]); XCTAssertEqual(m.moco.baseMomentum, 0.9)
        XCTAssertEqual(sdmp.cell.baseLearningRate, 0.5)
        XCTAssertEqual((try settings("--method byol").cell.method as? BYOLConfiguration), BYOLConfiguration())
        // one width D is every layer of Barlow Twins' projector, as the width ablation sets it; a list sets each layer
        func projector(_ line: String) throws -> String { try settings(line).cell.method.projectorDescription }
        XCTAssertEqual(try projector("--projector 512"), "512-512-512")
        XCTAssertEqual(try projector("--projector 512 --projector-depth 2"), "512-512")
        XCTAssertEqual(try projector("--projector 64,32,16"), "64-32-16")
        XCTAssertEqual(try settings("--method byol --projector 64").cell.method.projectorWidth, 64)
    }

    /// A check runs the seeds its rule looks at: `--seeds` sizes an update's baseline only.
    func testRegressSeedsGoWithAnUpdate() {
        XCTAssertEqual(Commands.main(["regress", "--seeds", "3"]), 2)
        XCTAssertEqual(Commands.main(["regress", "--update", "--seeds", "2"]), 2)   // fewer than the minimum baseline
    }

    /// `--sabotage` takes one fault for every method or METHOD=FAULT pairs, and names what it
    /// does not know; `--first-look` and a sabotage go with a check only.
    func testRegressSabotageIsCheckedBeforeAnythingRuns() {
        XCTAssertEqual(Commands.main(["regress", "--sabotage", "no-such-fault"]), 2)
        XCTAssertEqual(Commands.main(["regress", "--sabotage", "byol=no-such-fault"]), 2)
        XCTAssertEqual(Commands.main(["regress", "--sabotage", "resnet=held-momentum"]), 2)
        XCTAssertEqual(Commands.main(["regress", "--sabotage", "byol=held-momentum,swav"]), 2)
        XCTAssertEqual(Commands.main(["regress", "--update", "--sabotage", "byol=held-momentum"]), 2)
        XCTAssertEqual(Commands.main(["regress", "--update", "--first-look"]), 2)
    }

    func testMistakesAreNamed() {
        func error(_ line: String) -> String {
            do {
                let parsed = try ParsedOptions.parse(line.split(separator: " ").map(String.init), known: TrainCommand.command.known, command: "train")
                _ = try TrainCommand.settings(parsed)
                return "accepted"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(error("--method byol --lambda 0.1"), "--lambda is an option of barlow-twins, not of byol")
        XCTAssertEqual(error("--method simclr --mixing mixup"), "--mixing is an option of sdmp, not of simclr")
        XCTAssertEqual(error("--widht 8"), "unknown option --widht for train (see sslbench help train)")
        XCTAssertEqual(error("--width"), "--width needs a value")
        XCTAssertEqual(error("--width eight"), "--width expects an integer, got 'eight'")
        XCTAssertEqual(error("--method barlow"), "--method: invalid method 'barlow': unknown; known: barlow-twins, byol, simclr, swav, moco-v3, sdmp")
        XCTAssertEqual(error("--temperature 0.2"), "--temperature applies to barlow-twins only with --variant cross-entropy")
        XCTAssertEqual(error("--method byol --projector 64,32"), "--projector takes one width D for byol, got 64,32")
        XCTAssertEqual(error("--method swav --queue 10,x"), "--queue expects LENGTH or LENGTH,START_EPOCH (0 or more), got '10,x'")
        XCTAssertEqual(error("--seed 1 --seed 2"), "--seed is given twice")
        XCTAssertEqual(error("table"), "unexpected argument 'table' (see sslbench help train)")
    }

    func testHelpAfterAnyCommandPrintsItsUsageInsteadOfRunning() {
        // `train --help` would otherwise train; `bench -h` would time for minutes
        XCTAssertEqual(Commands.main(["train", "--method", "byol", "--help"]), 0)
        XCTAssertEqual(Commands.main(["bench", "-h"]), 0)
        XCTAssertEqual(Commands.main(["train", "--widht", "8"]), 2)
    }

    func testRegressHelpNamesEveryFault() {
        let help = Commands.usage("regress")
        for name in Fault.names { XCTAssertTrue(help.contains("\(name): "), "regress's help does not name \(name)") }
    }
}
