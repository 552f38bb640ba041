/// The number of a finished cell that `sslbench regress` compares with its baseline.
public enum RegressionStatistic: String, CaseIterable, Sendable {
    /// The kNN top-1 (k 200, cosine, temperature 0.1) on the test images.
    case knn
    /// The mean of the kNN top-1 and the linear probe's top-1: two readings of one embedding,
    /// whose test-set noise partly averages out.
    case knnAndLinear = "knn-linear"

    /// The columns of a results row it reads.
    public var columns: [String] { self == .knn ? ["knn_top1"] : ["knn_top1", "linear_top1"] }

    /// The columns that hold the same readings of the encoder at initialisation.
    public var columnsAtInitialisation: [String] { self == .knn ? ["knn_top1_init"] : ["knn_top1_init", "linear_top1_init"] }

    /// What it is called in a report.
    public var name: String { self == .knn ? "kNN top-1" : "mean of kNN and linear top-1" }

    /// Its value in a results row; nil when a column it reads is empty or not a number.
    public func value(_ row: [String: String]) -> Double? { Self.mean(of: columns, in: row) }

    /// Its value on the encoder at initialisation; nil when a column it reads is empty (a row
    /// written before the linear probe ran at initialisation has no `linear_top1_init`).
    public func valueAtInitialisation(_ row: [String: String]) -> Double? { Self.mean(of: columnsAtInitialisation, in: row) }

    static func mean(of columns: [String], in row: [String: String]) -> Double? {
        var sum = 0.0
        for column in columns {
            guard let v = Double(row[column] ?? "") else { return nil }
            sum += v
        }
        return sum / Double(columns.count)
    }
}
