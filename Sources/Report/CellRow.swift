import Foundation
import Tensors
import Training

/// The CSV row of one training cell, with what is needed to read the number: the evaluation
/// protocol, the budget, the machine and the code.
public enum CellRow {
    public static let header = [
        "method", "backbone_width", "projector", "projector_width", "batch_size", "epochs", "train_images", "test_images", "seed",
        "learning_rate", "lambda", "loss_scale", "knn_top1_init", "knn_top1", "knn_k", "knn_temperature", "knn_distance", "linear_top1", "linear_protocol",
        "embedding_std", "rankme", "evaluated_at", "final_loss", "training_seconds", "images_per_second", "seconds", "status",
        "threads", "cpu", "blas_core", "commit", "augmentation",
    ]

    public static func fields(_ c: CellConfiguration, _ r: CellResult) -> [String] {
        let status = Self.status(r)
        return [
            c.method.rawValue, "\(c.backboneWidth)", c.projectorDescription, "\(c.projectorWidth)",
            "\(c.batchSize)", "\(c.epochs)", "\(r.trainImages)", "\(r.testImages)", "\(c.seed)",
            "\(c.learningRate)", "\(c.barlowTwins.offDiagonalWeight)", "\(c.barlowTwins.lossScale)",
            format(r.knnTop1AtInitialisation), format(r.knnTop1), "\(c.knnNeighbours)", "\(c.knnTemperature)", "cosine",
            format(r.linearTop1), r.linearTop1.isNaN ? "" : "logistic regression on standardised features, SGD 100 epochs, lr 0.1 cosine, wd 1e-4",
            r.health.embeddingStandardDeviation.isNaN ? "" : String(format: "%.5f", r.health.embeddingStandardDeviation),
            format(r.health.rankMe), "last epoch", r.finalLoss.isFinite ? String(format: "%.5f", r.finalLoss) : "\(r.finalLoss)",
            String(format: "%.1f", r.trainingSeconds), String(format: "%.1f", r.imagesPerSecond),
            String(format: "%.1f", r.totalSeconds), status,
            "\(Parallel.threads)", MachineInfo.cpuModel, blasCoreName, MachineInfo.commit, c.augmentation.rawValue,
        ]
    }

    /// `ok`, `diverged` (with the step), or `failed: why`.
    public static func status(_ r: CellResult) -> String {
        if let why = r.failure { return "failed: \(why)" }
        switch r.status {
        case .ok: return "ok"
        case .diverged(let step): return "diverged at step \(step)"
        case .interrupted(let epoch): return "interrupted after epoch \(epoch)"
        }
    }

    static func format(_ x: Double) -> String { x.isNaN ? "" : String(format: "%.2f", x) }
}

/// Facts about the machine and the code, for the CSV.
public enum MachineInfo {
    public static let cpuModel: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
        return "unknown"
    }()

    public static let cpuFlags: Set<String> = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            return Set((line.split(separator: ":", maxSplits: 1).last ?? "").split(separator: " ").map(String.init))
        }
        return []
    }()

    /// The git commit of the working directory, with "+dirty" when it has uncommitted changes.
    public static let commit: String = {
        func run(_ args: [String]) -> String? {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git"] + args
            let out = Pipe(); p.standardOutput = out; p.standardError = Pipe()
            do { try p.run() } catch { return nil }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let hash = run(["rev-parse", "--short=10", "HEAD"]) else { return "unknown" }
        let dirty = !(run(["status", "--porcelain", "--untracked-files=no"]) ?? "").isEmpty
        return hash + (dirty ? "+dirty" : "")
    }()
}
