import XCTest
@testable import Tensors

final class TensorsTests: XCTestCase {
    func testRandomGeneratorIsSeededAndUniform() {
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7), c = RandomGenerator(seed: 7, stream: 1)
        let xa = (0 ..< 5).map { _ in a.next() }, xb = (0 ..< 5).map { _ in b.next() }, xc = (0 ..< 5).map { _ in c.next() }
        XCTAssertEqual(xa, xb); XCTAssertNotEqual(xa, xc)
        var r = RandomGenerator(seed: 1)
        let u = (0 ..< 100_000).map { _ in r.nextFloat() }
        XCTAssertEqual(u.reduce(0, +) / 100_000, 0.5, accuracy: 0.01)
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let n = (0 ..< 100_000).map { _ in r.normal() }
        let mean = n.reduce(0, +) / 100_000
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 100_000, 1, accuracy: 0.03)
        XCTAssertEqual(r.permutation(50).sorted(), Array(0 ..< 50))
    }

    func testPartitionCoversEverythingOnce() {
        for count in [0, 1, 5, 17, 100] { for chunks in 1 ... 4 {
            let ranges = (0 ..< chunks).map { Parallel.range($0, of: chunks, count: count) }
            XCTAssertEqual(ranges.flatMap { Array($0) }, Array(0 ..< count))
        } }
    }

    /// One thread gets two partitions unless told otherwise, so it computes what two threads do;
    /// more threads get one partition each; an explicit count wins.
    func testPartitionCountDefaultsToTheThreadCountButAtLeastTwo() {
        defer { Parallel.configure(threads: 2) }
        let explicit = ProcessInfo.processInfo.environment["SSLBENCH_PARTITIONS"].flatMap { Int($0) }
        for (threads, expected) in [(1, 2), (2, 2), (3, 3), (8, 8)] {
            Parallel.configure(threads: threads)
            XCTAssertEqual(Parallel.threads, threads)
            XCTAssertEqual(Parallel.partitions, explicit ?? expected, "\(threads) thread(s)")
        }
        Parallel.configure(threads: 1, partitions: 1)
        XCTAssertEqual(Parallel.partitions, 1)
        XCTAssertEqual(Parallel.threadsDescription, "1")
        Parallel.configure(threads: 1, partitions: 2)
        XCTAssertEqual(Parallel.threadsDescription, "1 (2 partitions)")
    }

    func testParallelGemmMatchesNaiveProduct() {
        Parallel.configure(threads: 2)
        var rng = RandomGenerator(seed: 3)
        let m = 150, n = 7, k = 9
        let a = (0 ..< m * k).map { _ in rng.normal() }, b = (0 ..< k * n).map { _ in rng.normal() }
        var c = [Float](repeating: 0, count: m * n), ct = [Float](repeating: 0, count: k * n)
        parallelGemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
        for i in [0, 77, 149] { for j in 0 ..< n {
            var s: Float = 0
            for l in 0 ..< k { s += a[i * k + l] * b[l * n + j] }
            XCTAssertEqual(c[i * n + j], s, accuracy: 1e-4)
        } }
        // Aᵀ·C with A [m, k]: [k, n], split over columns
        parallelGemm(transposeA: true, m: k, n: n, k: m, a: a, lda: k, b: c, ldb: n, c: &ct, ldc: n)
        var s: Float = 0
        for l in 0 ..< m { s += a[l * k + 2] * c[l * n + 3] }
        XCTAssertEqual(ct[2 * n + 3], s, accuracy: 1e-2)
    }

    func testTensorReshapeKeepsStorageWhenItFits() {
        let t = Tensor(shape: [4, 4])
        let p = t.data
        t.reshape([2, 8]); XCTAssertEqual(t.data, p)
        t.reshape([3, 3]); XCTAssertEqual(t.data, p); XCTAssertEqual(t.count, 9)
        t.reshape([5, 5]); XCTAssertEqual(t.count, 25); XCTAssertEqual(t.capacity, 25)
    }
}
