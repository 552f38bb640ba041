import Methods
import Training

// The seven tables of the harness, with the papers' numbers as docs/PAPERS.md gives them: exact
// (a table or the text) or approximate (read off a figure). A cell the paper does not report
// is absent.

func points(_ ours: [Double], paper: [Double]) -> [AxisPoint] {
    zip(ours, paper).map { AxisPoint(.number($0), paper: .number($1)) }
}
func namedPoints(_ names: [String]) -> [AxisPoint] { names.map { AxisPoint(.name($0), paper: .name($0)) } }
func results(_ axis: [Double], _ values: [Double?], approximate: Bool, source: String) -> [AxisValue: PaperResult] {
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
                TableEntry(method: BarlowTwinsConfiguration(), label: "Barlow Twins",
                           paper: results(paperBatches, [69.7, 70.7, 71.4, 71.7, 71.4, 70.7], approximate: true, source: "Barlow Twins Fig. 2")),
                TableEntry(method: BYOLConfiguration(), label: "BYOL",
                           paper: results(paperBatches, [69.6, 71.8, 72.2, 72.2, 72.4, 72.5], approximate: false, source: "BYOL Table 16")),
                TableEntry(method: SimCLRConfiguration(), label: "SimCLR",
                           paper: results(paperBatches, [nil, 63.3, 65.1, 66.2, 66.9, 67.1], approximate: true, source: "Barlow Twins Fig. 2")),
            ],
            points: [.smoke: points([32, 64], paper: [256, 1024]),
                     .cpu: points(paperBatches.map { $0 / 8 }, paper: paperBatches), .paper: points(paperBatches, paper: paperBatches)],
            configure: { c, value, _ in c.batchSize = Int(value.number!) },
            claims: [
                .similar("Barlow Twins is almost unaffected by a batch as small as 256 (Barlow Twins §4.2; Fig. 2: 70.7 at 256, 71.7 at 1024)",
                         ("Barlow Twins", .number(256)), ("Barlow Twins", .number(1024)), margin: 1.5),
                .better("SimCLR loses accuracy at small batches (Barlow Twins §4.2: about 4 p.p. at 256; Fig. 2: 66.2 at 1024, 63.3 at 256)",
                        ("SimCLR", .number(1024)), than: ("SimCLR", .number(256))),
                Claim("SimCLR loses more than Barlow Twins from batch 1024 to 256 (Fig. 2: 2.9 against 1.0 p.p.)",
                      terms: [.init("SimCLR", .number(1024), weight: 1), .init("SimCLR", .number(256), weight: -1),
                              .init("Barlow Twins", .number(1024), weight: -1), .init("Barlow Twins", .number(256), weight: 1)],
                      expectation: .positive),
            ])
    }()

    public static let projector: AblationTable = {
        let widths: [Double] = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
        return AblationTable(
            name: "projector", title: "Barlow Twins Fig. 4: projector output width", paperSetting: btSetting,
            axisName: "projector width", numericAxis: true,
            entries: [
                TableEntry(method: BarlowTwinsConfiguration(), label: "Barlow Twins",
                           paper: results(widths, [nil, 56.7, 57.8, 59.7, 62.0, 64.3, 66.6, 68.3, 70.0, 71.1, 72.0], approximate: true, source: "Barlow Twins Fig. 4")),
                TableEntry(method: BYOLConfiguration(), label: "BYOL",
                           paper: results(widths, [69.9, 71.3, 72.2, 72.5, 72.5, 72.6], approximate: false, source: "BYOL Table 14b")),
                TableEntry(method: SimCLRConfiguration(), label: "SimCLR",
                           paper: results(widths, [nil, 63.5, 64.0, 64.2, 64.8, 64.7, 64.5, 64.7], approximate: true, source: "Barlow Twins Fig. 4")),
            ],
            points: [.smoke: points([16, 64], paper: [16, 64]),
                     // cpu: the paper's points its claims need, from 32 (reported for all three) to 4096; wider Barlow
                     // Twins projectors cost more than the backbone at width 8 (README, "The cpu scale")
                     .cpu: points([32, 256, 512, 2048, 4096], paper: [32, 256, 512, 2048, 4096]), .paper: points(widths, paper: widths)],
            configure: { c, value, _ in c.method.setProjectorWidth(Int(value.number!)) },
            claims: [
                .better("Barlow Twins keeps improving with the projector width (Barlow Twins §4.2; Fig. 4: 62.0 at 256, 70.0 at 4096)",
                        ("Barlow Twins", .number(4096)), than: ("Barlow Twins", .number(256))),
                .similar("SimCLR saturates with the width (Fig. 4: 64.8 at 256, 64.7 at 2048)",
                         ("SimCLR", .number(2048)), ("SimCLR", .number(256)), margin: 1.5),
                .similar("BYOL saturates with the width (BYOL Table 14b: 72.5 at 256, 72.6 at 512)",
                         ("BYOL", .number(512)), ("BYOL", .number(256)), margin: 1.5),
            ])
    }()

    public static let lambda: AblationTable = {
        let lambdas: [Double] = [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.0051, 0.007, 0.01, 0.015, 0.02, 0.05, 0.1]
        return AblationTable(
            name: "lambda", title: "Barlow Twins Fig. 5: sensitivity to lambda", paperSetting: btSetting,
            axisName: "lambda", numericAxis: true,
            entries: [TableEntry(method: BarlowTwinsConfiguration(), label: "Barlow Twins",
                                 paper: results([0.002, 0.005, 0.007, 0.01, 0.015, 0.02], [70.8, 71.7, 71.6, 71.6, 71.35, 71.2],
                                                approximate: true, source: "Barlow Twins Fig. 5"))],
            // Fig. 5's point read at 0.005 is the paper's default λ, 0.0051: our 0.0051 cells stand for it
            points: [.smoke: points([0.001, 0.0051, 0.05], paper: [0.001, 0.005, 0.05]),
                     .cpu: points([0.0005, 0.002, 0.0051, 0.01, 0.02, 0.05], paper: [0.0005, 0.002, 0.005, 0.01, 0.02, 0.05]), .paper: points(lambdas, paper: lambdas)],
            configure: { c, value, _ in c.ifMethod(BarlowTwinsConfiguration.self) { $0.offDiagonalWeight = Float(value.number!) } },
            claims: [
                .similar("Barlow Twins is not very sensitive to λ (§4.2; Fig. 5: 70.8 at 0.002, 71.7 at 0.005)",
                         ("Barlow Twins", .number(0.002)), ("Barlow Twins", .number(0.005)), margin: 1.5),
                .similar("… nor to a λ four times the default (Fig. 5: 71.2 at 0.02)",
                         ("Barlow Twins", .number(0.02)), ("Barlow Twins", .number(0.005)), margin: 1.5),
            ])
    }()

    /// A Barlow Twins table whose axis is a list of variants with the paper's exact numbers.
    static func variantTable(name: String, title: String, source: String,
                             variants: [(BarlowTwinsVariant, Double)], claims: [Claim]) -> AblationTable {
        var paper: [AxisValue: PaperResult] = [:]
        for (v, top1) in variants { paper[.name(v.rawValue)] = PaperResult(top1, approximate: false, source: source) }
        let axis = namedPoints(variants.map { $0.0.rawValue })
        return AblationTable(
            name: name, title: title, paperSetting: btSetting, axisName: "variant", numericAxis: false,
            entries: [TableEntry(method: BarlowTwinsConfiguration(), label: "Barlow Twins", paper: paper)],
            points: [.smoke: axis, .cpu: axis, .paper: axis],
            configure: { c, value, _ in c.ifMethod(BarlowTwinsConfiguration.self) { BarlowTwinsVariant(rawValue: value.description)!.apply(to: &$0) } },
            claims: claims)
    }

    public static let lossNormalization = variantTable(
        name: "loss-normalization", title: "Barlow Twins Table 5: loss function and normalisation", source: "Barlow Twins Table 5",
        variants: [(.baseline, 71.4), (.invarianceOnly, 57.3), (.redundancyOnly, 0.1), (.featureNormalization, 69.8),
                   (.noProjectorBN, 71.2), (.noProjectorBNNoNormalization, 53.4), (.crossEntropy, 63.3)],
        claims: [
            variantClaim("the baseline beats the invariance term alone (71.4 vs 57.3)", .baseline, .invarianceOnly),
            variantClaim("the redundancy term alone collapses (71.4 vs 0.1)", .baseline, .redundancyOnly),
            variantClaim("batch-axis normalisation beats feature-axis (71.4 vs 69.8)", .baseline, .featureNormalization),
            .similar("the projector's BN barely matters (71.4 vs 71.2)",
                     ("Barlow Twins", .name(BarlowTwinsVariant.baseline.rawValue)),
                     ("Barlow Twins", .name(BarlowTwinsVariant.noProjectorBN.rawValue)), margin: 1.5),
            variantClaim("without BN, the loss's normalisation matters (71.2 vs 53.4)", .noProjectorBN, .noProjectorBNNoNormalization),
            variantClaim("the baseline beats cross-entropy with temperature (71.4 vs 63.3)", .baseline, .crossEntropy),
        ].map { $0.citing("Barlow Twins Table 5") })

    public static let asymmetry = variantTable(
        name: "asymmetry", title: "Barlow Twins Table 6: extra asymmetry", source: "Barlow Twins Table 6",
        variants: [(.baseline, 71.4), (.stopGradient, 70.5), (.predictor, 70.2), (.predictorAndStopGradient, 61.3)],
        claims: [
            variantClaim("the symmetric baseline beats a stop-gradient (71.4 vs 70.5)", .baseline, .stopGradient),
            variantClaim("the symmetric baseline beats a predictor (71.4 vs 70.2)", .baseline, .predictor),
            variantClaim("a stop-gradient alone beats it with a predictor (70.5 vs 61.3)", .stopGradient, .predictorAndStopGradient),
            variantClaim("a predictor alone beats it with a stop-gradient (70.2 vs 61.3)", .predictor, .predictorAndStopGradient),
        ].map { $0.citing("Barlow Twins Table 6") })

    /// "Variant A beats variant B" on the Barlow Twins entry of a variant table.
    static func variantClaim(_ statement: String, _ a: BarlowTwinsVariant, _ b: BarlowTwinsVariant) -> Claim {
        .better(statement, ("Barlow Twins", .name(a.rawValue)), than: ("Barlow Twins", .name(b.rawValue)))
    }

    public static let mixing: AblationTable = {
        let strategies = ["none", "mixup", "cutmix", "resizemix", "all"]
        var paper: [AxisValue: PaperResult] = [:]
        for (s, top1) in [("none", 64.7), ("mixup", 65.1), ("resizemix", 65.4), ("all", 65.5)] {
            paper[.name(s)] = PaperResult(top1, approximate: false, source: "SDMP Table 8 (ViT-S, ImageNet, 100 epochs)")
        }
        return AblationTable(
            name: "mixing", title: "SDMP Table 8: mixing strategy on MoCo v3", paperSetting: "ViT-S, ImageNet, 100 epochs, top-1",
            axisName: "mixing", numericAxis: false,
            entries: [TableEntry(method: SDMPConfiguration(), label: "MoCo v3 + SDMP", paper: paper)],
            points: [.smoke: namedPoints(strategies), .cpu: namedPoints(strategies), .paper: namedPoints(strategies)],
            configure: { c, value, _ in
                guard let sdmp = c.method as? SDMPConfiguration else { return }
                switch value.description {
                case "none": c.method = sdmp.withoutMixing
                case "all": c.ifMethod(SDMPConfiguration.self) { $0.mixing.strategies = MixStrategy.allCases }
                default: c.ifMethod(SDMPConfiguration.self) { $0.mixing.strategies = [MixStrategy(rawValue: value.description)!] }
                }
            },
            claims: [("all", "all three strategies beat no mixing (65.5 vs 64.7)"), ("mixup", "Mixup alone beats no mixing (65.1 vs 64.7)"),
                     ("resizemix", "ResizeMix alone beats no mixing (65.4 vs 64.7)")].map { strategy, statement in
                .better(statement + " (SDMP Table 8)", ("MoCo v3 + SDMP", .name(strategy)), than: ("MoCo v3 + SDMP", .name("none")))
            })
    }()

    public static let methods: AblationTable = {
        // solo-learn's CIFAR-10 anchors: ResNet-18, 1000 epochs, online linear top-1 (docs/PAPERS.md)
        let anchors: [(any MethodConfiguration, String, Double?)] = [
            (BarlowTwinsConfiguration(), "Barlow Twins", 92.10), (BYOLConfiguration(), "BYOL", 92.58),
            (SimCLRConfiguration(), "SimCLR", 90.74), (SwAVConfiguration(), "SwAV", 89.17),
            (MoCoV3Configuration(), "MoCo v3", 93.10), (SDMPConfiguration(), "SDMP", nil)]
        return AblationTable(
            name: "methods", title: "Every method at the same budget", paperSetting: "solo-learn: ResNet-18, CIFAR-10, 1000 epochs, linear top-1",
            axisName: "method", numericAxis: false,
            entries: anchors.map { m, label, top1 in
                TableEntry(method: m, label: label,
                           paper: top1.map { [.name("all"): PaperResult($0, approximate: false, source: "solo-learn README")] } ?? [:])
            },
            points: [.smoke: [AxisPoint(.name("all"), paper: .name("all"))], .ci: [AxisPoint(.name("all"), paper: .name("all"))],
                     .cpu: [AxisPoint(.name("all"), paper: .name("all"))],
                     .paper: [AxisPoint(.name("all"), paper: .name("all"))]],
            configure: { _, _, _ in },
            claims: [
                .better("BYOL beats SimCLR on CIFAR-10 (solo-learn: 92.58 vs 90.74)", ("BYOL", .name("all")), than: ("SimCLR", .name("all"))),
                .better("Barlow Twins beats SimCLR on CIFAR-10 (solo-learn: 92.10 vs 90.74)", ("Barlow Twins", .name("all")), than: ("SimCLR", .name("all"))),
                .better("MoCo v3 beats SwAV on CIFAR-10 (solo-learn: 93.10 vs 89.17)", ("MoCo v3", .name("all")), than: ("SwAV", .name("all"))),
                .better("SDMP's mixing improves MoCo v3 on CIFAR-10 (SDMP Table 5, ResNet-50, 200 epochs: 89.5 vs 86.5)",
                        ("SDMP", .name("all")), than: ("MoCo v3", .name("all"))),
            ])
    }()

    /// The seven tables of Barlow Twins' and SDMP's ablations, then the six of the further studies
    /// (FurtherTables.swift).
    public static let all: [AblationTable] = [batchSize, projector, lambda, lossNormalization, asymmetry, mixing, methods,
                                              targetDecay, bootstrap, augmentations, temperature, sdmpIngredients, headDepth]

    public static func named(_ name: String) throws -> AblationTable {
        guard let t = all.first(where: { $0.name == name }) else { throw TableError.unknownTable(name, known: all.map(\.name)) }
        return t
    }
}
