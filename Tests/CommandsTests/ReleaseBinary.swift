import Foundation
import XCTest
import Datasets

/// The release build of `sslbench`, for the tests that run it as a process.
enum ReleaseBinary {
    /// The package's root folder.
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// The release build of `sslbench` and CIFAR-10 (its folder and images); skips without them.
    static func prerequisites() throws -> (binary: String, folder: String, train: LabeledImages, test: LabeledImages) {
        let binary = root.appendingPathComponent(".build/release/sslbench").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("no release build of sslbench at \(binary)") }
        guard let folder = try? CIFAR.locateCIFAR10(), let data = try? CIFAR.loadCIFAR10(folder: folder) else {
            throw XCTSkip("CIFAR-10 is not next to the project")
        }
        return (binary, folder, data.train, data.test)
    }

    /// `binary` run with `arguments` (and `environment` added to this process's): its exit status
    /// and everything it printed.
    static func run(_ binary: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe; process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
