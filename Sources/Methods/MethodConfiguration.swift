import Datasets
import NN
import Options
import Tensors

/// The part of a training recipe that belongs to a method: its LARS learning rate and weight
/// decay, whether LARS clips its adaptive rate, and the augmentation of its two views. The
/// training cell starts from these and a table or the command line may change them.
public struct TrainingRecipe: Equatable {
    /// Learning rate at batch 256 (scaled linearly with the batch).
    public var baseLearningRate: Float
    public var weightDecay: Float
    /// LARS's adaptive rate min(η‖p‖/(‖g‖ + wd‖p‖), lr) (clipped) or η‖p‖/(‖g‖ + wd‖p‖)·lr (not).
    public var clipsTrustRatio: Bool
    public var augmentation: AugmentationPreset
    public init(baseLearningRate: Float, weightDecay: Float, clipsTrustRatio: Bool, augmentation: AugmentationPreset) {
        self.baseLearningRate = baseLearningRate; self.weightDecay = weightDecay
        self.clipsTrustRatio = clipsTrustRatio; self.augmentation = augmentation
    }
}

/// The arithmetic of a method's heads, for the memory and time estimates: the linear maps the
/// online branch trains, those of a momentum target, and the passes beyond the two views.
public struct HeadCost {
    /// (inputs, outputs) of every linear map the optimiser updates after the backbone, in order:
    /// projector, predictor, prototypes.
    public var onlineLayers: [(inputs: Int, outputs: Int)] = []
    /// (inputs, outputs) of the momentum target's head; nil when the method has no target. A
    /// target also holds a copy of the backbone.
    public var targetLayers: [(inputs: Int, outputs: Int)]? = nil
    /// Extra small crops per image (SwAV's multi-crop): forward and backward through everything.
    public var smallCrops = SmallCropPlan()
    /// Forward passes of the target per image beyond the two views (SDMP's mixed keys).
    public var extraTargetForwards = 0
    /// Whether the loss forms a D×D matrix, D the widest head output.
    public var formsSquareMatrix = false
    public init() {}
}

/// A value out of range in a configuration, named by its field.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let field: String, value: String, reason: String
    public init(field: String, value: String, reason: String) { self.field = field; self.value = value; self.reason = reason }
    public init(_ field: String, _ value: Any, _ reason: String) { self.init(field: field, value: "\(value)", reason: reason) }
    public var description: String { "invalid \(field) \(value): \(reason)" }
}

/// What a method declares about itself: its name, defaults, heads, options and checks, and
/// how to build it. Each method's configuration lives in the method's own file; a training
/// cell holds one of these beside what every cell has (data, schedule, optimiser, seed), and
/// `MethodCatalog` lists them.
public protocol MethodConfiguration: Equatable {
    /// The method's name on the command line and in the CSV ("barlow-twins").
    var name: String { get }
    /// The optimiser settings and augmentation this method trains with unless told otherwise.
    var recipe: TrainingRecipe { get }
    /// The projector's layer widths as the CSV shows them ("1024-1024-1024", "4096-256").
    var projectorDescription: String { get }
    /// The projector's output width D (the axis of the width ablation).
    var projectorWidth: Int { get }
    /// Sets D the way the papers' width ablations vary it (every layer of Barlow Twins'
    /// projector, the output of the others').
    mutating func setProjectorWidth(_ width: Int)
    /// Sets every layer of the projector, one width a layer; methods whose projector has a
    /// single output width throw, naming themselves.
    mutating func setProjectorLayers(_ widths: [Int]) throws
    /// Narrower heads for the small scales: every hidden layer `hidden` wide, the output `projection`.
    mutating func setHeadWidths(hidden: Int, projection: Int)
    /// Checks every field against its range.
    func validate() throws
    /// The method, with its encoder built at ResNet-18 width `backboneWidth`.
    func makeMethod(backboneWidth: Int, rng: inout RandomGenerator) -> SelfSupervisedMethod
    /// The heads' linear maps and extra passes, with backbone features `featureDimensions` wide.
    func cost(featureDimensions: Int) -> HeadCost
    /// Settings a results row records in their own columns ("lambda", "loss_scale"), by column.
    var recordedSettings: [String: String] { get }
    /// The command-line options of this method, applied in this order.
    static var options: [Option<Self>] { get }
    /// What an independent implementation needs to rebuild this method's heads and loss, by
    /// name, as JSON values (`sslbench parity-export` writes it; `Benchmarks/parity.py` reads it).
    var referenceSettings: [String: Any] { get }
}

public extension MethodConfiguration {
    var recordedSettings: [String: String] { [:] }
    /// None by default: a method without them cannot be checked by `make parity`.
    var referenceSettings: [String: Any] { [:] }
    mutating func setProjectorLayers(_ widths: [Int]) throws {
        throw OptionError("--projector takes one width D for \(name), got \(widths.map(String.init).joined(separator: ","))")
    }
    /// `--projector D[,D,..]`: one width is the width ablations' D (`setProjectorWidth`: every
    /// layer of Barlow Twins' projector), a list sets each layer (`setProjectorLayers`).
    mutating func setProjector(_ widths: [Int]) throws {
        if widths.count == 1 { setProjectorWidth(widths[0]) } else { try setProjectorLayers(widths) }
    }
    /// Whether `other` is the same method with the same settings.
    func isEqual(to other: any MethodConfiguration) -> Bool { (other as? Self) == self }
    /// The method's options without their settings type, in order.
    var optionSummaries: [OptionSummary] { Self.options.map(\.summary) }
    /// Applies the options of this method found in `parsed`, in the order of `options`.
    mutating func apply(_ parsed: ParsedOptions) throws { try parsed.apply(Self.options, to: &self) }
}

/// A projector of one hidden layer and an output, Linear-BN-ReLU-Linear (BYOL, SimCLR, SwAV,
/// MoCo v3): its widths as the CSV shows them ("2048-128") and the small scales' narrow heads.
public protocol HiddenLayerProjector {
    var projectorHiddenDimensions: Int { get set }
    var projectionDimensions: Int { get set }
}

/// A hidden-layer projector followed by a predictor of the same shape, with a momentum target
/// that copies the backbone and the projector (BYOL, MoCo v3).
public protocol PredictorAndMomentumTarget: HiddenLayerProjector {
    var predictorHiddenDimensions: Int { get set }
    var baseMomentum: Float { get set }
}

public extension MethodConfiguration where Self: HiddenLayerProjector {
    var projectorDescription: String { "\(projectorHiddenDimensions)-\(projectionDimensions)" }
    var projectorWidth: Int { projectionDimensions }
    mutating func setProjectorWidth(_ width: Int) { projectionDimensions = width }
    mutating func setHeadWidths(hidden: Int, projection: Int) {
        projectorHiddenDimensions = hidden; projectionDimensions = projection
    }
    /// The projector's two linear maps on features `featureDimensions` wide.
    func projectorLayers(featureDimensions f: Int) -> [(inputs: Int, outputs: Int)] {
        [(f, projectorHiddenDimensions), (projectorHiddenDimensions, projectionDimensions)]
    }
}

public extension MethodConfiguration where Self: PredictorAndMomentumTarget {
    mutating func setHeadWidths(hidden: Int, projection: Int) {
        projectorHiddenDimensions = hidden; predictorHiddenDimensions = hidden; projectionDimensions = projection
    }
    func cost(featureDimensions f: Int) -> HeadCost { momentumHeadCost(featureDimensions: f) }
    /// Projector and predictor online, the projector's copy in the target.
    func momentumHeadCost(featureDimensions f: Int) -> HeadCost {
        var cost = HeadCost()
        let projector = projectorLayers(featureDimensions: f)
        cost.onlineLayers = projector + [(projectionDimensions, predictorHiddenDimensions), (predictorHiddenDimensions, projectionDimensions)]
        cost.targetLayers = projector
        return cost
    }
    /// The heads' widths and the base momentum, for `referenceSettings`.
    var momentumHeadSettings: [String: Any] {
        ["projector_hidden": projectorHiddenDimensions, "projection": projectionDimensions,
         "predictor_hidden": predictorHiddenDimensions, "base_momentum": Double(baseMomentum)]
    }
    /// Every layer width positive, the momentum in [0, 1].
    func validateHeadsAndMomentum() throws {
        try Check.positive("projector", [projectorHiddenDimensions, projectionDimensions, predictorHiddenDimensions])
        if !(baseMomentum >= 0 && baseMomentum <= 1) { throw ConfigurationError("base momentum", baseMomentum, "must be in [0, 1]") }
    }
    /// `--base-momentum`, declared once for the methods with a momentum target.
    static func baseMomentumOption(_ help: String) -> Option<Self> {
        Option("base-momentum", "X", example: "0.996", help) { c, v in
            c.baseMomentum = try Value.float(v, option: "base-momentum")
            guard c.baseMomentum >= 0 && c.baseMomentum <= 1 else { throw OptionError("--base-momentum must be in [0, 1], got \(v)") }
        }
    }
}

/// Every method the harness can train, in its default configuration (solo-learn's CIFAR
/// recipe): adding a method adds its line here.
public enum MethodCatalog {
    public static let all: [any MethodConfiguration] = [
        BarlowTwinsConfiguration(),
        BYOLConfiguration(),
        SimCLRConfiguration(),
        SwAVConfiguration(),
        MoCoV3Configuration(),
        SDMPConfiguration(),
    ]

    public static var names: [String] { all.map(\.name) }

    /// The method called `name`, or an error that lists the known ones.
    public static func named(_ name: String) throws -> any MethodConfiguration {
        guard let method = all.first(where: { $0.name == name }) else {
            throw ConfigurationError(field: "method", value: "'\(name)'", reason: "unknown; known: \(names.joined(separator: ", "))")
        }
        return method
    }
}

/// Checks shared by the methods' `validate`.
enum Check {
    static func positive(_ field: String, _ values: [Int]) throws {
        if values.isEmpty || values.contains(where: { $0 <= 0 }) {
            throw ConfigurationError(field, values.count == 1 ? "\(values[0])" : "\(values)", "every layer width must be a positive integer")
        }
    }
    static func positive(_ field: String, _ value: Float) throws {
        if !(value > 0) { throw ConfigurationError(field, value, "must be positive") }
    }
}
