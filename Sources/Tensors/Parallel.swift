import Dispatch
import Foundation
import COpenBLAS

/// Splits work over the cores with a static partition: chunk `i` of `n` always covers the
/// same range, so reductions done per chunk and summed in chunk order are bit-for-bit
/// reproducible for a given thread count. OpenBLAS is kept at one thread (`configure`), and
/// each chunk calls it on its own slice: one level of parallelism, never two at once
/// (docs/ARCHITECTURE.md, "Numeric conventions").
public enum Parallel {
    public private(set) static var threads: Int = 1

    /// Sets the number of worker threads and pins OpenBLAS to one thread per call.
    public static func configure(threads requested: Int? = nil) {
        let available = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        threads = max(1, requested ?? available)
        openblas_set_num_threads(1)
    }

    /// The range of chunk `index` when `count` items are split into `chunks` contiguous parts.
    @inline(__always)
    public static func range(_ index: Int, of chunks: Int, count: Int) -> Range<Int> {
        let base = count / chunks, extra = count % chunks
        let start = index * base + min(index, extra)
        return start ..< start + base + (index < extra ? 1 : 0)
    }

    /// Calls `body(chunk, range)` for `threads` contiguous chunks of `0..<count`, in parallel.
    public static func chunks(_ count: Int, maxChunks: Int? = nil, _ body: (Int, Range<Int>) -> Void) {
        let n = max(1, min(maxChunks ?? threads, threads, count))
        if n == 1 { if count > 0 { body(0, 0 ..< count) }; return }
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
        if count < minimumToSplit || threads == 1 { body(0 ..< count); return }
        chunks(count) { _, r in body(r) }
    }
}
