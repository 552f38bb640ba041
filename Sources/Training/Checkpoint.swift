import Foundation
import Tensors

/// A training cell's state at an epoch boundary, so that a killed long cell resumes and ends
/// with the same numbers as an uninterrupted run: the configuration it belongs to, the epochs
/// done, the loss of every step so far, the training time, the kNN and linear top-1 at
/// initialisation, and every tensor of the state (parameters, optimiser buffers, running
/// statistics, targets, queues).
/// The file is written to a temporary name and renamed, so it is whole or absent.
struct Checkpoint {
    /// Format 2 adds the linear top-1 at initialisation after the kNN's; format 1 is still read
    /// (its linear top-1 at initialisation is NaN).
    static let magic = Array("SSLBENCH-CHECKPOINT-2\n".utf8)
    static let magicOfFormat1 = Array("SSLBENCH-CHECKPOINT-1\n".utf8)
    var fingerprint: String
    var completedEpochs: Int
    var optimizerSteps: Int
    var trainingSeconds: Double
    var knnAtInitialisation: Double
    var linearAtInitialisation: Double
    var losses: [Float]

    func write(tensors: [Tensor], to path: String) throws {
        var data = Data(Checkpoint.magic)
        func append<T>(_ value: T) { withUnsafeBytes(of: value) { data.append(contentsOf: $0) } }
        let text = Array(fingerprint.utf8)
        append(Int64(text.count)); data.append(contentsOf: text)
        append(Int64(completedEpochs)); append(Int64(optimizerSteps)); append(trainingSeconds); append(knnAtInitialisation)
        append(linearAtInitialisation)
        append(Int64(losses.count)); losses.withUnsafeBytes { data.append(contentsOf: $0) }
        append(Int64(tensors.count))
        for t in tensors {
            append(Int64(t.count))
            data.append(UnsafeBufferPointer(start: t.data, count: t.count))
        }
        let tmp = path + ".tmp-\(getpid())"
        do { try data.write(to: URL(fileURLWithPath: tmp)) }
        catch { throw CheckpointError.unwritable(path: path, reason: error.localizedDescription) }
        guard rename(tmp, path) == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw CheckpointError.unwritable(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Reads a checkpoint written for `fingerprint` and copies its tensors into `tensors`.
    static func read(_ path: String, fingerprint expected: String, into tensors: [Tensor]) throws -> Checkpoint {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) }
        catch { throw CheckpointError.invalid(path: path, reason: "cannot read it: \(error.localizedDescription)") }
        var offset = 0
        func take(_ n: Int) throws -> Data {
            guard n >= 0, offset + n <= data.count else { throw CheckpointError.invalid(path: path, reason: "truncated at byte \(offset)") }
            defer { offset += n }
            return data.subdata(in: offset ..< offset + n)
        }
        func value<T>(_: T.Type) throws -> T { try take(MemoryLayout<T>.size).withUnsafeBytes { $0.loadUnaligned(as: T.self) } }
        let start = Array(try take(magic.count))
        guard start == magic || start == magicOfFormat1 else { throw CheckpointError.invalid(path: path, reason: "not a sslbench checkpoint") }
        let fingerprint = String(decoding: try take(Int(try value(Int64.self))), as: UTF8.self)
        guard fingerprint == expected else { throw CheckpointError.otherConfiguration(path: path) }
        let epochs = Int(try value(Int64.self)), steps = Int(try value(Int64.self))
        let seconds = try value(Double.self), knn = try value(Double.self)
        let linear = start == magic ? try value(Double.self) : .nan
        let lossCount = Int(try value(Int64.self))
        let losses = try take(lossCount * 4).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let count = Int(try value(Int64.self))
        guard count == tensors.count else {
            throw CheckpointError.invalid(path: path, reason: "\(count) tensors where the model has \(tensors.count)")
        }
        for t in tensors {
            let n = Int(try value(Int64.self))
            guard n == t.count else { throw CheckpointError.invalid(path: path, reason: "a tensor of \(n) values where the model has \(t.count)") }
            _ = try take(n * 4).withUnsafeBytes { t.buffer.initialize(from: $0.bindMemory(to: Float.self)) }
        }
        return Checkpoint(fingerprint: fingerprint, completedEpochs: epochs, optimizerSteps: steps, trainingSeconds: seconds,
                          knnAtInitialisation: knn, linearAtInitialisation: linear, losses: losses)
    }
}

public enum CheckpointError: Error, CustomStringConvertible {
    case invalid(path: String, reason: String), otherConfiguration(path: String), unwritable(path: String, reason: String)
    public var description: String {
        switch self {
        case .invalid(let path, let reason): return "\(path): not a usable checkpoint (\(reason)); move it away to start the cell afresh"
        case .otherConfiguration(let path): return "\(path): a checkpoint of another configuration; move it away to start the cell afresh"
        case .unwritable(let path, let reason): return "\(path): cannot write the checkpoint (\(reason))"
        }
    }
}
