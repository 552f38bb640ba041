import Experiments

/// The figure of a table: our cells at a scale (mean and seed-to-seed sd of kNN top-1) in one
/// panel, with a dashed line at the untrained network's kNN accuracy, the paper's numbers for the
/// same axis in the other, and in the caption the rank agreement between the two
/// (`ResultsReport.shape`). Given reference rows (`Results/`), the first panel shows the run
/// beside the reference, entry by entry.
public enum TableFigure {
    public static func render(_ table: AblationTable, scale: Scale, rows allRows: [[String: String]],
                              reference: [[String: String]]? = nil) throws -> Canvas {
        let rows = okRows(allRows, scale: scale)
        let axis = try table.points[scale].map { $0 } ?? table.cells(scale: scale).map(\.point)
        let categories = table.numericAxis ? nil : axis.map { $0.value.description }
        var ours: [ChartSeries] = [], paper: [ChartSeries] = []
        for (k, entry) in table.entries.enumerated() {
            let label = entry.rowLabel
            if var s = series(rows, label: label, axis: axis, numeric: table.numericAxis, name: entry.label) {
                s.colorIndex = k; ours.append(s)
            }
            // the reference in the same colour, faded (and dashed on a line chart), named by the panel's note
            if let reference, var s = series(okRows(reference, scale: scale), label: label, axis: axis, numeric: table.numericAxis,
                                             name: entry.label + " (reference)", dashed: true) {
                s.colorIndex = k; s.faded = true; s.inLegend = false; ours.append(s)
            }
            var paperPoints: [(x: Double, y: Double, spread: Double)] = []
            for (i, point) in axis.enumerated() {
                if let pv = point.paperValue, let p = entry.paper[pv] {
                    paperPoints.append((table.numericAxis ? pv.number! : Double(i), p.top1, 0))
                }
            }
            if !paperPoints.isEmpty {
                let approximate = entry.paper.values.contains { $0.approximate }
                paper.append(ChartSeries(name: entry.label + (approximate ? " (approx.)" : ""), points: paperPoints, dashed: true))
            }
        }
        let initial = rows.compactMap { Double($0["knn_top1_init"] ?? "") }
        let line = initial.isEmpty ? nil : (y: Distributions.mean(initial), label: "kNN at initialisation")
        let oursTitle = reference == nil ? "ours: \(scale.rawValue) scale, kNN top-1 (mean, sd over seeds)"
            : "this run beside the reference: \(scale.rawValue) scale, kNN top-1"
        var oursPanel = ChartPanel(title: oursTitle, xLabel: table.axisName,
                                   yLabel: "kNN top-1 (%)", logX: table.numericAxis, series: ours, categories: categories, referenceLine: line)
        if reference != nil {
            oursPanel.note = table.numericAxis ? "faded dashed lines: the reference" : "each pair: this run, then the reference (faded)"
        } else if let failed = failedCells(table, rows: allRows, scale: scale) {
            oursPanel.note = "no bar: every seed \(failed)"
        }
        let paperPanel = ChartPanel(title: "paper: \(table.paperSetting)", xLabel: table.axisName, yLabel: "top-1 (%)",
                                    logX: table.numericAxis, series: paper, categories: categories)
        // the shape verdict: do our means order the cells as the paper's numbers do?
        let caption = ResultsReport.shape(try ResultsReport.summarize(table, scale: scale, rows: allRows)).map {
            String(format: "shape: our means rank the cells as the paper's numbers with Kendall tau %.2f over %d cells "
                   + "(permutation p %.3f)", $0.tau, $0.cells, $0.pValue)
        }
        return ChartRenderer.render(title: table.title, panels: ours.isEmpty && paper.isEmpty ? [oursPanel] : [oursPanel, paperPanel],
                                    caption: caption)
    }

    /// "diverged for A, B" (the statuses' first words) naming the cells that have rows at `scale`
    /// but none ok; nil when there are none.
    static func failedCells(_ table: AblationTable, rows: [[String: String]], scale: Scale) -> String? {
        var names: [String] = [], statuses: [String] = []
        let atScale = rows.filter { $0["scale"] == scale.rawValue }
        for entry in table.entries {
            var seen = Set<String>()
            for row in atScale where (row["variant"] ?? "") == entry.rowLabel {
                let value = row["value"] ?? ""
                guard seen.insert(value).inserted else { continue }
                let cell = atScale.filter { ($0["variant"] ?? "") == entry.rowLabel && $0["value"] == value }
                guard !cell.contains(where: { $0["status"] == "ok" }) else { continue }
                names.append(table.entries.count > 1 ? "\(entry.label) \(value)" : value)
                for status in cell.map({ String(($0["status"] ?? "").prefix { $0 != " " }) }) where !statuses.contains(status) { statuses.append(status) }
            }
        }
        return names.isEmpty ? nil : "\(statuses.joined(separator: " or ")) for \(names.joined(separator: ", "))"
    }

    static func okRows(_ rows: [[String: String]], scale: Scale) -> [[String: String]] {
        rows.filter { $0["scale"] == scale.rawValue && $0["status"] == "ok" }
    }

    /// The mean and sd over seeds of an entry's cells along the axis; nil when it has none.
    static func series(_ rows: [[String: String]], label: String, axis: [AxisPoint], numeric: Bool, name: String,
                       dashed: Bool = false) -> ChartSeries? {
        var points: [(x: Double, y: Double, spread: Double)] = []
        for (i, point) in axis.enumerated() {
            let x = numeric ? point.value.number! : Double(i)
            let values = rows.filter { ($0["variant"] ?? "") == label && $0["value"] == point.value.description }
                .compactMap { Double($0["knn_top1"] ?? "") }
            if !values.isEmpty {
                points.append((x, Distributions.mean(values), values.count > 1 ? Distributions.sampleStandardDeviation(values) : 0))
            }
        }
        return points.isEmpty ? nil : ChartSeries(name: name, points: points, dashed: dashed)
    }
}
