// swift-tools-version:5.9
import PackageDescription

// The numeric targets are compiled without bounds and exclusivity checks in release builds
// (docs/ARCHITECTURE.md, "Numeric conventions"); their tests run under `swift test -c release`. They are
// also compiled for the CPU that builds them (`-Xcc -march=native` sets the target features of
// Swift's own code generation too): without it Swift emits baseline x86-64, SSE2 only, its
// vector loops run 4 floats wide and `addingProduct` becomes a call to fmaf per element. The
// binary is therefore for the machine that built it, like any `-march=native` build.
let numeric: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked", "-wmo", "-Xcc", "-march=native"], .when(configuration: .release))
]

let package = Package(
    name: "sslbench",
    products: [
        .executable(name: "sslbench", targets: ["sslbench"])
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "Options"),
        .target(name: "Tensors", dependencies: ["COpenBLAS"], swiftSettings: numeric),
        .target(name: "NN", dependencies: ["Tensors"], swiftSettings: numeric),
        .target(name: "Datasets", dependencies: ["Tensors"], swiftSettings: numeric),
        .target(name: "Methods", dependencies: ["NN", "Datasets", "Options"], swiftSettings: numeric),
        .target(name: "Eval", dependencies: ["NN", "Datasets"], swiftSettings: numeric),
        .target(name: "Training", dependencies: ["NN", "Datasets", "Methods", "Eval"], swiftSettings: numeric),
        .target(name: "Experiments", dependencies: ["Training", "Methods"], path: "Experiments", exclude: ["slurm", "regression"]),
        .target(name: "Report", dependencies: ["Experiments", "Tensors", "CPNG"]),
        .target(name: "Runner", dependencies: ["Experiments", "Training", "Methods", "Report", "Datasets"]),
        .target(name: "Bench", dependencies: ["Training", "Methods", "NN", "Datasets", "Tensors"], swiftSettings: numeric),
        .target(name: "Commands", dependencies: ["Options", "Training", "Report", "Experiments", "Runner", "Bench", "Tensors", "NN",
                                                 "Methods", "Datasets"]),
        .executableTarget(name: "sslbench", dependencies: ["Commands", "Tensors"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "NNTests", dependencies: ["NN"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "MethodsTests", dependencies: ["Methods"]),
        .testTarget(name: "EvalTests", dependencies: ["Eval"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Options"]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "Tensors", "Datasets", "Methods", "Training"]),
        .testTarget(name: "RunnerTests", dependencies: ["Runner", "Experiments", "Training", "Report", "Datasets", "Methods", "NN", "Tensors",
                                                  "Bench"]),
        .testTarget(name: "CommandsTests", dependencies: ["Commands", "Options", "Methods", "Runner", "Experiments", "Datasets", "Tensors"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Experiments", "Tensors"]),
    ]
)
