import Foundation

/// Debian's OpenBLAS 0.3.21 takes AVX-512 Zen 4/5 CPUs for Haswell and runs sgemm at half
/// speed there. OpenBLAS reads OPENBLAS_CORETYPE only when the library loads, so when the CPU
/// has AVX-512 and the library picked a narrower kernel, we set it and re-execute ourselves
/// once. On CPUs without AVX-512, or when the user set the variable, nothing changes.
public enum BLASKernel {
    static let narrowKernels: Set<String> = ["haswell", "zen", "sandybridge", "nehalem", "core2", "prescott"]
    static let avx512Needed: Set<String> = ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]

    public static func ensureWidest() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["SSLBENCH_BLAS_REEXEC"] == nil else { return }
        guard avx512Needed.isSubset(of: MachineInfo.cpuFlags), narrowKernels.contains(blasCoreName.lowercased()) else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        setenv("SSLBENCH_BLAS_REEXEC", "1", 1)
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv returns only on failure: carry on with the kernel we have.
        FileHandle.standardError.write("note: could not re-execute with OPENBLAS_CORETYPE=SkylakeX; continuing with \(blasCoreName)\n".data(using: .utf8)!)
    }
}
