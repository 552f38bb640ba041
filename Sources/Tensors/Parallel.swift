import Dispatch
import Foundation
import COpenBLAS

/// Splits work over the cores with a static partition: chunk `i` of `n` always covers the
/// same range, so reductions done per chunk and summed in chunk order are bit-for-bit
/// reproducible for a given partition count. OpenBLAS is kept at one thread (`configure`), and
/// each chunk calls it on its own slice: one level of parallelism, never two at once
/// (docs/ARCHITECTURE.md, "Numeric conventions").
///
/// The partition count (`partitions`) is what the arithmetic depends on; the thread count only
/// says how many chunks run at once: one thread working through 2 partitions computes what 2
/// threads compute. By default the partition count is the thread count but at least 2
/// (`defaultPartitions`), so one and two threads give the same numbers.
public enum Parallel {
    public private(set) static var threads: Int = 1
    /// The number of chunks a split makes (at most): the figure every per-chunk reduction,
    /// and so every result, depends on.
    public private(set) static var partitions: Int = 1

    /// Sets the number of worker threads and the partition count (`partitions`, else
    /// `SSLBENCH_PARTITIONS`, else `defaultPartitions(threads:)`) and pins OpenBLAS to one
    /// thread per call.
    public static func configure(threads requested: Int? = nil, partitions requestedPartitions: Int? = nil) {
        let available = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        threads = max(1, requested ?? available)
        let fromEnvironment = ProcessInfo.processInfo.environment["SSLBENCH_PARTITIONS"].flatMap { Int($0) }
        partitions = max(1, requestedPartitions ?? fromEnvironment ?? defaultPartitions(threads: threads))
        openblas_set_num_threads(1)
    }

    /// The partition count `threads` get unless told otherwise: the thread count, and never
    /// fewer than 2. The project's machines have two cores, so a one-thread process (a `JOBS=2`
    /// shard, a `--jobs 2` regression worker, `--threads 1`) computes bit for bit what the default
    /// two threads compute, and a cell's number does not depend on how it was scheduled. At one
    /// thread the second chunk costs a few percent of a Barlow Twins cell's time (README,
    /// "Barlow Twins and the thread count").
    public static func defaultPartitions(threads: Int) -> Int { max(threads, 2) }

    /// The thread count as a row records it: "2", or "1 (2 partitions)" when the partition count differs.
    public static var threadsDescription: String {
        partitions == threads ? "\(threads)" : "\(threads) (\(partitions) partition\(partitions == 1 ? "" : "s"))"
    }

    /// The range of chunk `index` when `count` items are split into `chunks` contiguous parts.
    @inline(__always)
    public static func range(_ index: Int, of chunks: Int, count: Int) -> Range<Int> {
        let base = count / chunks, extra = count % chunks
        let start = index * base + min(index, extra)
        return start ..< start + base + (index < extra ? 1 : 0)
    }

    /// Calls `body(chunk, range)` for `partitions` contiguous chunks of `0..<count`, `threads`
    /// of them at a time (one thread: in chunk order).
    public static func chunks(_ count: Int, maxChunks: Int? = nil, _ body: (Int, Range<Int>) -> Void) {
        let n = max(1, min(maxChunks ?? partitions, partitions, count))
        if n == 1 { if count > 0 { body(0, 0 ..< count) }; return }
        if threads == 1 { for i in 0 ..< n { body(i, range(i, of: n, count: count)) }; return }
        DispatchQueue.concurrentPerform(iterations: n) { i in
            body(i, range(i, of: n, count: count))
        }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, spread over the threads.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        chunks(count) { _, r in for i in r { body(i) } }
    }

    /// Calls `body` on contiguous ranges that cover `0..<count`, over the threads only when
    /// `count` is at least `minimumToSplit` (below it a split costs more than it saves). For
    /// element-wise updates: each element is touched once, so the result does not depend on
    /// the split.
    @inline(__always)
    public static func elementwise(_ count: Int, minimumToSplit: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        if count < minimumToSplit || threads == 1 || partitions == 1 { body(0 ..< count); return }
        chunks(count) { _, r in body(r) }
    }
}
