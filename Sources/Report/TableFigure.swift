import Experiments

/// The figure of a table: our cells at a scale (mean and seed-to-seed sd of kNN top-1) in one
/// panel, the paper's numbers for the same axis in the other, and in the caption the rank
/// agreement between the two (`ResultsReport.shape`).
public enum TableFigure {
    public static func render(_ table: AblationTable, scale: Scale, rows allRows: [[String: String]]) throws -> Canvas {
        let rows = allRows.filter { $0["scale"] == scale.rawValue && $0["status"] == "ok" }
        let axis = try table.points[scale].map { $0 } ?? table.cells(scale: scale).map(\.point)
        let categories = table.numericAxis ? nil : axis.map { $0.value.description }
        var ours: [ChartSeries] = [], paper: [ChartSeries] = []
        for entry in table.entries {
            let label = entry.rowLabel
            var points: [(x: Double, y: Double, spread: Double)] = []
            var paperPoints: [(x: Double, y: Double, spread: Double)] = []
            for (i, point) in axis.enumerated() {
                let x = table.numericAxis ? point.value.number! : Double(i)
                let values = rows.filter { ($0["variant"] ?? "") == label && $0["value"] == point.value.description }
                    .compactMap { Double($0["knn_top1"] ?? "") }
                if !values.isEmpty {
                    let mean = values.reduce(0, +) / Double(values.count)
                    let spread = values.count > 1 ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
                    points.append((x, mean, spread))
                }
                if let pv = point.paperValue, let p = entry.paper[pv] {
                    paperPoints.append((table.numericAxis ? pv.number! : Double(i), p.top1, 0))
                }
            }
            if !points.isEmpty { ours.append(ChartSeries(name: entry.label, points: points)) }
            if !paperPoints.isEmpty {
                let approximate = entry.paper.values.contains { $0.approximate }
                paper.append(ChartSeries(name: entry.label + (approximate ? " (approx.)" : ""), points: paperPoints, dashed: true))
            }
        }
        let oursPanel = ChartPanel(title: "ours: \(scale.rawValue) scale, kNN top-1 (mean, sd over seeds)", xLabel: table.axisName,
                                   yLabel: "kNN top-1 (%)", logX: table.numericAxis, series: ours, categories: categories)
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
}

