import Foundation
import Report
import Tensors
import Training

/// The CSV row of one training cell, with what is needed to read the number: the evaluation
/// protocol, the budget, the machine and the code. `lambda` and `loss_scale` hold the method's
/// `recordedSettings` of those names (Barlow Twins'), empty for the other methods.
public enum CellRow {
    public static let header = [
        "method", "backbone_width", "projector", "projector_width", "batch_size", "epochs", "train_images", "test_images", "seed",
        "learning_rate", "lambda", "loss_scale", "knn_top1_init", "knn_top1", "knn_k", "knn_temperature", "knn_distance", "linear_top1", "linear_protocol",
        "embedding_std", "rankme", "evaluated_at", "final_loss", "training_seconds", "images_per_second", "seconds", "status",
        "threads", "cpu", "blas_core", "commit", "augmentation", "linear_top1_init",
    ]

    /// The headers rows were written under before, oldest first: a file under one of them is
    /// read, and upgraded on the next append, with the columns added since left empty.
    /// `linear_top1_init` came with the linear probe at initialisation.
    public static let earlierHeaders = [Array(header.prefix { $0 != "linear_top1_init" })]

    public static func fields(_ c: CellConfiguration, _ r: CellResult) -> [String] {
        let status = Self.status(r)
        return [
            c.method.name, "\(c.backboneWidth)", c.method.projectorDescription, "\(c.method.projectorWidth)",
            "\(c.batchSize)", "\(c.epochs)", "\(r.trainImages)", "\(r.testImages)", "\(c.seed)",
            "\(c.learningRate)", c.method.recordedSettings["lambda"] ?? "", c.method.recordedSettings["loss_scale"] ?? "",
            format(r.knnTop1AtInitialisation), format(r.knnTop1), "\(c.knnNeighbours)", "\(c.knnTemperature)", "cosine",
            format(r.linearTop1), r.linearTop1.isNaN ? "" : "logistic regression on standardised features, SGD 100 epochs, lr 0.1 cosine, wd 1e-4",
            r.health.embeddingStandardDeviation.isNaN ? "" : String(format: "%.5f", r.health.embeddingStandardDeviation),
            format(r.health.rankMe), "last epoch", r.finalLoss.isFinite ? String(format: "%.5f", r.finalLoss) : "\(r.finalLoss)",
            String(format: "%.1f", r.trainingSeconds), String(format: "%.1f", r.imagesPerSecond),
            String(format: "%.1f", r.totalSeconds), status,
            Parallel.threadsDescription, MachineInfo.cpuModel, blasCoreName, MachineInfo.commit, c.augmentationDescription,
            format(r.linearTop1AtInitialisation),
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
