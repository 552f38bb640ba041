import Methods
import Training

/// The budgets a table can run at (docs/ARCHITECTURE.md, "Scales"); the CSV says which.
public enum Scale: String, CaseIterable {
    case smoke, ci, cpu, paper
}

/// A number a paper reports for a cell, with where it comes from (docs/PAPERS.md). A value read off
/// a figure is approximate; a cell the paper does not report has no `PaperResult` at all.
public struct PaperResult: Equatable {
    public let top1: Double
    public let approximate: Bool
    public let source: String
    /// A number docs/PAPERS.md lists but could not check against the paper's text.
    public var unconfirmed = false
    public init(_ top1: Double, approximate: Bool, source: String, unconfirmed: Bool = false) {
        self.top1 = top1; self.approximate = approximate; self.source = source; self.unconfirmed = unconfirmed
    }
    public var sourceText: String {
        (approximate ? "\(source) (approx., read off the figure)" : source) + (unconfirmed ? " (unconfirmed: docs/PAPERS.md)" : "")
    }
}

/// A value on a table's axis: a number (batch size, width, λ) or a name (a variant, a strategy).
public enum AxisValue: Hashable, CustomStringConvertible {
    case number(Double), name(String)
    public var description: String {
        switch self {
        case .number(let v): return v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)"
        case .name(let s): return s
        }
    }
    public var number: Double? { if case .number(let v) = self { return v }; return nil }
}

/// One point of the axis at a scale: our value and the paper's value it stands for.
public struct AxisPoint: Equatable {
    public let value: AxisValue, paperValue: AxisValue?
    public init(_ value: AxisValue, paper: AxisValue?) { self.value = value; self.paperValue = paper }
}

/// A line (or bar group) of a table: a method, possibly a variant, and the paper's numbers
/// keyed by the paper's axis value.
public struct TableEntry {
    /// The method in its default configuration; the scale and the axis change it.
    public let method: any MethodConfiguration
    public let variant: String
    public let label: String
    public let paper: [AxisValue: PaperResult]
    /// The paper's axis values this entry runs at (nil: every point of the axis), for a table
    /// whose entries do not share every point (BYOL's heads stop at depth 3, Barlow Twins' at 4).
    public let axisValues: [AxisValue]?
    /// The entry's batch size at the scales where it is not the scale's (BYOL's studies at `cpu`,
    /// `Tables.byolBatchSizes`); the learning rate follows it (base rate × batch/256).
    public let batchSizes: [Scale: Int]
    /// The entry's epochs at the scales where they are not the scale's (BYOL's target decay at
    /// `cpu`, `Tables.targetDecayEpochs`).
    public let epochs: [Scale: Int]
    public init(method: any MethodConfiguration, variant: String = "", label: String, paper: [AxisValue: PaperResult] = [:],
                axisValues: [AxisValue]? = nil, batchSizes: [Scale: Int] = [:], epochs: [Scale: Int] = [:]) {
        self.method = method; self.variant = variant; self.label = label; self.paper = paper; self.axisValues = axisValues
        self.batchSizes = batchSizes; self.epochs = epochs
    }
    /// Whether the entry runs at `point`.
    public func runs(at point: AxisPoint) -> Bool { axisValues.map { $0.contains(point.paperValue ?? point.value) } ?? true }
    /// What the entry's rows carry in the CSV's `variant` column and its claims name it by: the
    /// variant, or the label when there is none.
    public var rowLabel: String { variant.isEmpty ? label : variant }
}

/// One training cell of a table at a scale: what the runner hands to the kernel.
public struct TableCell {
    public let table: String, entry: TableEntry, point: AxisPoint, scale: Scale
    public let configuration: CellConfiguration
    public var paper: PaperResult? { point.paperValue.flatMap { entry.paper[$0] } }
    /// The same cell with another seed.
    public func withSeed(_ seed: UInt64) -> TableCell {
        var c = configuration; c.seed = seed
        return TableCell(table: table, entry: entry, point: point, scale: scale, configuration: c)
    }
    /// The same cell with another configuration (the regression's recipes for BYOL and SwAV).
    public func withConfiguration(_ configuration: CellConfiguration) -> TableCell {
        TableCell(table: table, entry: entry, point: point, scale: scale, configuration: configuration)
    }
}

/// An ablation table, declared as data: the paper's figure or table it reproduces, a base
/// configuration per scale, one axis with its values per scale (ours beside the paper's), the
/// methods or variants compared, and the paper's numbers.
public struct AblationTable {
    public let name: String
    public let title: String
    /// The paper's own setting, to print beside its numbers.
    public let paperSetting: String
    public let axisName: String
    public let numericAxis: Bool
    public let entries: [TableEntry]
    public let points: [Scale: [AxisPoint]]
    /// Sets the axis value and the entry's method and variant on a base configuration.
    let configure: (inout CellConfiguration, AxisValue, TableEntry) -> Void
    /// The paper's claims that this table tests (Results/README.md decides each).
    public var claims: [Claim] = []

    public func cells(scale: Scale) throws -> [TableCell] {
        guard let axis = points[scale] else {
            throw TableError.scaleNotDeclared(table: name, scale: scale.rawValue,
                                              declared: Scale.allCases.filter { points[$0] != nil }.map(\.rawValue))
        }
        var cells: [TableCell] = []
        for entry in entries {
            for point in axis where entry.runs(at: point) {
                var c = Scales.base(scale, method: entry.method)
                if let batch = entry.batchSizes[scale] { c.batchSize = batch }
                if let epochs = entry.epochs[scale] { c.epochs = epochs }
                configure(&c, point.value, entry)
                cells.append(TableCell(table: name, entry: entry, point: point, scale: scale, configuration: c))
            }
        }
        return cells
    }
}

public enum TableError: Error, CustomStringConvertible, Equatable {
    case unknownTable(String, known: [String])
    case scaleNotDeclared(table: String, scale: String, declared: [String])
    public var description: String {
        switch self {
        case .unknownTable(let name, let known): return "unknown table '\(name)'; the tables are: \(known.joined(separator: ", "))"
        case .scaleNotDeclared(let table, let scale, let declared):
            return "table \(table) has no '\(scale)' scale yet (declared: \(declared.joined(separator: ", ")))"
        }
    }
}

/// The base configuration of every table at a scale (docs/ARCHITECTURE.md, "Scales"). The small
/// scales narrow every head and give SwAV 100 prototypes.
public enum Scales {
    public static func base(_ scale: Scale, method: any MethodConfiguration) -> CellConfiguration {
        var c = CellConfiguration(method: method)
        func narrowHeads(hidden: Int, projection: Int) {
            c.method.setHeadWidths(hidden: hidden, projection: projection)
            c.ifMethod(SwAVConfiguration.self) { $0.prototypeCount = 100 }
            shortSchedule()
        }
        /// SwAV's solo-learn recipe freezes the prototypes for 2 of 1000 epochs and starts its
        /// queue at epoch 50: on schedules of 1 to 8 epochs the first would freeze up to a quarter
        /// of training and the second never starts, so these scales freeze 1 epoch and keep no
        /// queue (`--freeze-prototypes`, `--queue` set either back).
        func shortSchedule() {
            c.ifMethod(SwAVConfiguration.self) { $0.freezePrototypesEpochs = 1; $0.queueLength = 0 }
        }
        switch scale {
        case .smoke:
            c.backboneWidth = 8; c.trainImages = 512; c.testImages = 512; c.epochs = 1; c.batchSize = 64
            narrowHeads(hidden: 256, projection: 64)
        case .ci:
            // `make regress` (README, "Accuracy regression"): a minute or two a method on 2 cores (BYOL and
            // SwAV run a recipe of their own there, `RegressionRecipe.cell`)
            c.backboneWidth = 8; c.trainImages = 4096; c.testImages = 2048; c.epochs = 6; c.batchSize = 64
            narrowHeads(hidden: 1024, projection: 128)
        case .cpu:
            // README, "The cpu scale": one seed of each table in at most two hours on 2 cores
            c.backboneWidth = 8; c.trainImages = 8192; c.testImages = nil; c.epochs = 8; c.batchSize = 128
            narrowHeads(hidden: 1024, projection: 128)
        case .paper:
            c.backboneWidth = 64; c.trainImages = nil; c.epochs = 1000
        }
        return c
    }
}
