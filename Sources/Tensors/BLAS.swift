import COpenBLAS

/// Row-major single-precision matrix product, C = α·op(A)·op(B) + β·C, with op(A) of shape
/// m×k and op(B) of shape k×n, on the calling thread.
@inline(__always)
public func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The same product split into `Parallel.partitions` chunks: along the rows of C when op(A) is
/// untransposed and m is large enough, otherwise along its columns. Each thread writes its
/// own block of C, so the result does not depend on scheduling.
public func parallelGemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                         alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                         b: UnsafePointer<Float>, ldb: Int,
                         beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if !transposeA && m >= 64 * Parallel.partitions {
        Parallel.chunks(m) { _, rows in
            gemm(transposeB: transposeB, m: rows.count, n: n, k: k, alpha: alpha,
                 a: a + rows.lowerBound * lda, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c + rows.lowerBound * ldc, ldc: ldc)
        }
    } else {
        Parallel.chunks(n) { _, cols in
            let bSlice = transposeB ? b + cols.lowerBound * ldb : b + cols.lowerBound
            gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: cols.count, k: k, alpha: alpha,
                 a: a, lda: lda, b: bSlice, ldb: ldb, beta: beta, c: c + cols.lowerBound, ldc: ldc)
        }
    }
}

/// The kernel OpenBLAS picked for this CPU ("Haswell", "SkylakeX", "Zen", …).
public var blasCoreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
}

/// The eigenvalues, in ascending order, of the symmetric n×n matrix `matrix` (row-major; only
/// its lower triangle is read), by LAPACK's `dsyev` in double precision.
public func symmetricEigenvalues(_ matrix: [Double], n: Int) -> [Double] {
    precondition(matrix.count == n * n && n > 0)
    var a = matrix, w = [Double](repeating: 0, count: n)
    var size = Int32(n), info: Int32 = 0, lwork: Int32 = -1, query = 0.0
    let jobz: CChar = 0x4E, uplo: CChar = 0x55   // "N": eigenvalues only; "U" in column-major = lower triangle in row-major
    withUnsafePointer(to: jobz) { j in withUnsafePointer(to: uplo) { u in
        dsyev_(j, u, &size, &a, &size, &w, &query, &lwork, &info, 1, 1)
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(Int(lwork), 1))
        dsyev_(j, u, &size, &a, &size, &w, &work, &lwork, &info, 1, 1)
    } }
    precondition(info == 0, "dsyev failed with info \(info)")
    return w
}
