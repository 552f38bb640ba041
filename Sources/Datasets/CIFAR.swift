import Foundation
import Tensors

/// Images as 8-bit RGB, [count, 32, 32, 3] (HWC), with integer labels.
public struct LabeledImages {
    public static let side = 32, channels = 3, pixelsPerImage = 32 * 32 * 3
    public var pixels: [UInt8]
    public var labels: [Int32]
    public let classCount: Int
    public var count: Int { labels.count }

    public init(pixels: [UInt8], labels: [Int32], classCount: Int) {
        precondition(pixels.count == labels.count * Self.pixelsPerImage)
        self.pixels = pixels; self.labels = labels; self.classCount = classCount
    }

    /// The first `n` images.
    public func prefix(_ n: Int) -> LabeledImages {
        let n = min(n, count)
        return LabeledImages(pixels: Array(pixels[0 ..< n * Self.pixelsPerImage]), labels: Array(labels[0 ..< n]), classCount: classCount)
    }
}

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case folderNotFound(looked: [String])
    case noTrainingFiles(folder: String, pattern: String)
    case fileMissing(String)
    case unreadable(String, reason: String)
    case notWholeRecords(file: String, size: Int, recordSize: Int)
    case labelOutOfRange(file: String, record: Int, label: Int, classCount: Int)

    public var description: String {
        switch self {
        case .folderNotFound(let looked):
            return "CIFAR-10 not found. Looked in: \(looked.joined(separator: ", ")). "
                + "Run `make data` (downloads the official cifar-10-binary.tar.gz), or point the harness at a copy "
                + "with --data DIR or SSLBENCH_CIFAR10=DIR (the folder holding data_batch_1.bin … and test_batch.bin)."
        case .noTrainingFiles(let folder, let pattern):
            return "\(folder): no training files matching \(pattern)"
        case .fileMissing(let path):
            return "\(path): file missing"
        case .unreadable(let path, let reason):
            return "\(path): cannot read (\(reason))"
        case .notWholeRecords(let file, let size, let recordSize):
            return "\(file): \(size) bytes is not a whole number of \(recordSize)-byte records "
                + "(\(size / recordSize) records and \(size % recordSize) bytes left over); the file is truncated or not CIFAR"
        case .labelOutOfRange(let file, let record, let label, let classCount):
            return "\(file): record \(record) has label \(label), outside 0..<\(classCount)"
        }
    }
}

/// Readers for the CIFAR binary layouts (https://www.cs.toronto.edu/~kriz/cifar.html).
/// CIFAR-10: records of 1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue,
/// each plane 32×32 row-major), files data_batch_1.bin … data_batch_5.bin and test_batch.bin.
/// CIFAR-100: 1 coarse label byte, 1 fine label byte, then the same 3072 bytes; train.bin, test.bin.
public enum CIFAR {
    public static let environmentVariable = "SSLBENCH_CIFAR10"

    /// The CIFAR-10 folder: `explicit` (--data) if given, else $SSLBENCH_CIFAR10, else
    /// data/cifar-10-batches-bin, else ../shared/data/cifar-10-batches-bin.
    public static func locateCIFAR10(explicit: String? = nil) throws -> String {
        let fm = FileManager.default
        var candidates: [String] = []
        if let e = explicit { candidates = [e] }
        else {
            if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty { candidates.append(env) }
            candidates += ["data/cifar-10-batches-bin", "../shared/data/cifar-10-batches-bin"]
        }
        for c in candidates {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: c, isDirectory: &isDir), isDir.boolValue { return c }
        }
        throw DatasetError.folderNotFound(looked: candidates.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
    }

    /// Decodes one CIFAR file. `labelBytes` is 1 for CIFAR-10, 2 for CIFAR-100 (`useLabel` 0 =
    /// coarse, 1 = fine).
    public static func decode(path: String, labelBytes: Int, useLabel: Int, classCount: Int) throws -> LabeledImages {
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.fileMissing(path) }
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path)) }
        catch { throw DatasetError.unreadable(path, reason: error.localizedDescription) }
        let recordSize = labelBytes + LabeledImages.pixelsPerImage
        guard bytes.count > 0, bytes.count % recordSize == 0 else {
            throw DatasetError.notWholeRecords(file: path, size: bytes.count, recordSize: recordSize)
        }
        let count = bytes.count / recordSize
        var pixels = [UInt8](repeating: 0, count: count * LabeledImages.pixelsPerImage)
        var labels = [Int32](repeating: 0, count: count)
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.bindMemory(to: UInt8.self).baseAddress!
            try pixels.withUnsafeMutableBufferPointer { dst in
                for r in 0 ..< count {
                    let record = src + r * recordSize
                    let label = Int(record[useLabel])
                    guard label < classCount else {
                        throw DatasetError.labelOutOfRange(file: path, record: r, label: label, classCount: classCount)
                    }
                    labels[r] = Int32(label)
                    // planar RGB → interleaved HWC
                    let planes = record + labelBytes, out = dst.baseAddress! + r * LabeledImages.pixelsPerImage
                    for p in 0 ..< 1024 {
                        out[3 * p] = planes[p]; out[3 * p + 1] = planes[1024 + p]; out[3 * p + 2] = planes[2048 + p]
                    }
                }
            }
        }
        return LabeledImages(pixels: pixels, labels: labels, classCount: classCount)
    }

    static func concatenate(_ parts: [LabeledImages]) -> LabeledImages {
        LabeledImages(pixels: parts.flatMap { $0.pixels }, labels: parts.flatMap { $0.labels }, classCount: parts[0].classCount)
    }

    /// CIFAR-10 from `folder`: every data_batch_N.bin present (in order of N) as the training
    /// set, test_batch.bin as the test set.
    public static func loadCIFAR10(folder: String) throws -> (train: LabeledImages, test: LabeledImages) {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("data_batch_") && $0.hasSuffix(".bin") }
            .sorted { Int($0.dropFirst(11).dropLast(4)) ?? 0 < Int($1.dropFirst(11).dropLast(4)) ?? 0 }
        guard !files.isEmpty else { throw DatasetError.noTrainingFiles(folder: folder, pattern: "data_batch_*.bin") }
        let train = concatenate(try files.map { try decode(path: folder + "/" + $0, labelBytes: 1, useLabel: 0, classCount: 10) })
        let test = try decode(path: folder + "/test_batch.bin", labelBytes: 1, useLabel: 0, classCount: 10)
        return (train, test)
    }

    /// CIFAR-100 from `folder` (train.bin, test.bin), with the fine (100) or coarse (20) labels.
    public static func loadCIFAR100(folder: String, fineLabels: Bool = true) throws -> (train: LabeledImages, test: LabeledImages) {
        let classes = fineLabels ? 100 : 20, which = fineLabels ? 1 : 0
        return (try decode(path: folder + "/train.bin", labelBytes: 2, useLabel: which, classCount: classes),
                try decode(path: folder + "/test.bin", labelBytes: 2, useLabel: which, classCount: classes))
    }
}
