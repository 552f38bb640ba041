// swift-tools-version:5.9
import PackageDescription

// The numeric targets are compiled without bounds and exclusivity checks in release builds
// (DESIGN.md, "Performance notes"); their tests run under `swift test -c release`.
let numeric: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked", "-wmo"], .when(configuration: .release))
]

let package = Package(
    name: "sslbench",
    products: [
        .executable(name: "sslbench", targets: ["sslbench"])
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "Tensors", dependencies: ["COpenBLAS"], swiftSettings: numeric),
        .target(name: "NN", dependencies: ["Tensors"], swiftSettings: numeric),
        .target(name: "Datasets", dependencies: ["Tensors", "CPNG"], swiftSettings: numeric),
        .target(name: "Methods", dependencies: ["NN", "Datasets"], swiftSettings: numeric),
        .target(name: "Eval", dependencies: ["NN", "Datasets"], swiftSettings: numeric),
        .target(name: "Training", dependencies: ["NN", "Datasets", "Methods", "Eval"], swiftSettings: numeric),
        .target(name: "Report", dependencies: ["Training", "CPNG"]),
        .target(name: "Experiments", dependencies: ["Training", "Methods"], path: "Experiments"),
        .target(name: "Runner", dependencies: ["Experiments", "Training", "Report", "Datasets"]),
        .target(name: "Bench", dependencies: ["Training", "Methods", "NN", "Datasets", "Report", "Tensors"], swiftSettings: numeric),
        .executableTarget(name: "sslbench", dependencies: ["Training", "Report", "Experiments", "Runner", "Bench", "Tensors", "Methods", "Datasets"], swiftSettings: numeric),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "NNTests", dependencies: ["NN"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "MethodsTests", dependencies: ["Methods"]),
        .testTarget(name: "EvalTests", dependencies: ["Eval"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Report"]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "Tensors"]),
        .testTarget(name: "RunnerTests", dependencies: ["Runner", "Experiments", "Training", "Report", "Datasets"]),
    ]
)
