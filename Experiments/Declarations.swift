import Methods
import Training

// The seven tables of the harness, with the papers' numbers as PAPERS.md gives them: E exact
// (a table or the text), A approximate (read off a figure). A cell the paper does not report
// is absent. Scales other than `smoke` and `paper` are declared once their recipe is
// calibrated (see the ablation-tables issue).

private func n(_ v: Double) -> AxisValue { .number(v) }
private func points(_ ours: [Double], paper: [Double]) -> [AxisPoint] {
    zip(ours, paper).map { AxisPoint(.number($0), paper: .number($1)) }
}
private func namedPoints(_ names: [String]) -> [AxisPoint] { names.map { AxisPoint(.name($0), paper: .name($0)) } }
private func results(_ axis: [Double], _ values: [Double?], approximate: Bool, source: String) -> [AxisValue: PaperResult] {
    var r: [AxisValue: PaperResult] = [:]
    for (x, v) in zip(axis, values) { if let v = v { r[.number(x)] = PaperResult(v, approximate: approximate, source: source) } }
    return r
}

public enum Tables {
    static let btSetting = "ResNet-50, ImageNet, 300 epochs (BYOL: 300 epochs), linear top-1"

    public static let batchSize: AblationTable = {
        let paperBatches: [Double] = [128, 256, 512, 1024, 2048, 4096]
        return AblationTable(
            name: "batchsize", title: "Barlow Twins Fig. 2: batch size", paperSetting: btSetting,
            axisName: "batch size", numericAxis: true,
            entries: [
                TableEntry(method: .barlowTwins, label: "Barlow Twins",
                           paper: results(paperBatches, [69.7, 70.7, 71.4, 71.7, 71.4, 70.7], approximate: true, source: "Barlow Twins Fig. 2")),
                TableEntry(method: .byol, label: "BYOL",
                           paper: results(paperBatches, [69.6, 71.8, 72.2, 72.2, 72.4, 72.5], approximate: false, source: "BYOL Table 16")),
                TableEntry(method: .simclr, label: "SimCLR",
                           paper: results(paperBatches, [nil, 63.3, 65.1, 66.2, 66.9, 67.1], approximate: true, source: "Barlow Twins Fig. 2")),
            ],
            points: [.smoke: points([32, 64], paper: [256, 1024]), .paper: points(paperBatches, paper: paperBatches)],
            configure: { c, value, _ in c.batchSize = Int(value.number!) })
    }()

    public static let projector: AblationTable = {
        let widths: [Double] = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
        return AblationTable(
            name: "projector", title: "Barlow Twins Fig. 4: projector output width", paperSetting: btSetting,
            axisName: "projector width", numericAxis: true,
            entries: [
                TableEntry(method: .barlowTwins, label: "Barlow Twins",
                           paper: results(widths, [nil, 56.7, 57.8, 59.7, 62.0, 64.3, 66.6, 68.3, 70.0, 71.1, 72.0], approximate: true, source: "Barlow Twins Fig. 4")),
                TableEntry(method: .byol, label: "BYOL",
                           paper: results(widths, [69.9, 71.3, 72.2, 72.5, 72.5, 72.6], approximate: false, source: "BYOL Table 14b")),
                TableEntry(method: .simclr, label: "SimCLR",
                           paper: results(widths, [nil, 63.5, 64.0, 64.2, 64.8, 64.7, 64.5, 64.7], approximate: true, source: "Barlow Twins Fig. 4")),
            ],
            points: [.smoke: points([16, 64], paper: [16, 64]), .paper: points(widths, paper: widths)],
            configure: { c, value, _ in c.setProjectorWidth(Int(value.number!)) })
    }()

    public static let lambda: AblationTable = {
        let lambdas: [Double] = [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.0051, 0.007, 0.01, 0.015, 0.02, 0.05, 0.1]
        return AblationTable(
            name: "lambda", title: "Barlow Twins Fig. 5: sensitivity to lambda", paperSetting: btSetting,
            axisName: "lambda", numericAxis: true,
            entries: [TableEntry(method: .barlowTwins, label: "Barlow Twins",
                                 paper: results([0.002, 0.005, 0.007, 0.01, 0.015, 0.02], [70.8, 71.7, 71.6, 71.6, 71.35, 71.2],
                                                approximate: true, source: "Barlow Twins Fig. 5"))],
            points: [.smoke: points([0.001, 0.0051, 0.05], paper: [0.001, 0.0051, 0.05]), .paper: points(lambdas, paper: lambdas)],
            configure: { c, value, _ in c.barlowTwins.offDiagonalWeight = Float(value.number!) })
    }()

    /// A Barlow Twins table whose axis is a list of variants with the paper's exact numbers.
    static func variantTable(name: String, title: String, source: String,
                             variants: [(BarlowTwinsVariant, Double)]) -> AblationTable {
        var paper: [AxisValue: PaperResult] = [:]
        for (v, top1) in variants { paper[.name(v.rawValue)] = PaperResult(top1, approximate: false, source: source) }
        let axis = namedPoints(variants.map { $0.0.rawValue })
        return AblationTable(
            name: name, title: title, paperSetting: btSetting, axisName: "variant", numericAxis: false,
            entries: [TableEntry(method: .barlowTwins, label: "Barlow Twins", paper: paper)],
            points: [.smoke: axis, .paper: axis],
            configure: { c, value, _ in BarlowTwinsVariant(rawValue: value.description)!.apply(to: &c.barlowTwins) })
    }

    public static let lossNormalization = variantTable(
        name: "loss-normalization", title: "Barlow Twins Table 5: loss function and normalisation", source: "Barlow Twins Table 5",
        variants: [(.baseline, 71.4), (.invarianceOnly, 57.3), (.redundancyOnly, 0.1), (.featureNormalization, 69.8),
                   (.noProjectorBN, 71.2), (.noProjectorBNNoNormalization, 53.4), (.crossEntropy, 63.3)])

    public static let asymmetry = variantTable(
        name: "asymmetry", title: "Barlow Twins Table 6: extra asymmetry", source: "Barlow Twins Table 6",
        variants: [(.baseline, 71.4), (.stopGradient, 70.5), (.predictor, 70.2), (.predictorAndStopGradient, 61.3)])

    public static let mixing: AblationTable = {
        let strategies = ["none", "mixup", "cutmix", "resizemix", "all"]
        var paper: [AxisValue: PaperResult] = [:]
        for (s, top1) in [("none", 64.7), ("mixup", 65.1), ("resizemix", 65.4), ("all", 65.5)] {
            paper[.name(s)] = PaperResult(top1, approximate: false, source: "SDMP Table 8 (ViT-S, ImageNet, 100 epochs)")
        }
        return AblationTable(
            name: "mixing", title: "SDMP Table 8: mixing strategy on MoCo v3", paperSetting: "ViT-S, ImageNet, 100 epochs, top-1",
            axisName: "mixing", numericAxis: false,
            entries: [TableEntry(method: .sdmp, label: "MoCo v3 + SDMP", paper: paper)],
            points: [.smoke: namedPoints(strategies), .paper: namedPoints(strategies)],
            configure: { c, value, _ in
                switch value.description {
                case "none": c.method = .mocoV3
                case "all": c.mixing.strategies = MixStrategy.allCases
                default: c.mixing.strategies = [MixStrategy(rawValue: value.description)!]
                }
            })
    }()

    public static let methods: AblationTable = {
        // solo-learn's CIFAR-10 anchors: ResNet-18, 1000 epochs, online linear top-1 (PAPERS.md)
        let anchors: [(MethodName, String, Double?)] = [
            (.barlowTwins, "Barlow Twins", 92.10), (.byol, "BYOL", 92.58), (.simclr, "SimCLR", 90.74), (.swav, "SwAV", 89.17),
            (.mocoV3, "MoCo v3", 93.10), (.sdmp, "SDMP", nil)]
        return AblationTable(
            name: "methods", title: "Every method at the same budget", paperSetting: "solo-learn: ResNet-18, CIFAR-10, 1000 epochs, linear top-1",
            axisName: "method", numericAxis: false,
            entries: anchors.map { m, label, top1 in
                TableEntry(method: m, label: label,
                           paper: top1.map { [.name("all"): PaperResult($0, approximate: false, source: "solo-learn README")] } ?? [:])
            },
            points: [.smoke: [AxisPoint(.name("all"), paper: .name("all"))], .ci: [AxisPoint(.name("all"), paper: .name("all"))],
                     .paper: [AxisPoint(.name("all"), paper: .name("all"))]],
            configure: { _, _, _ in })
    }()

    public static let all: [AblationTable] = [batchSize, projector, lambda, lossNormalization, asymmetry, mixing, methods]

    public static func named(_ name: String) throws -> AblationTable {
        guard let t = all.first(where: { $0.name == name }) else { throw TableError.unknownTable(name, known: all.map(\.name)) }
        return t
    }
}
