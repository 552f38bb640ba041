import Foundation

/// One line of a chart: points (x, y) with an optional spread (drawn as an error bar, e.g.
/// the standard deviation over seeds).
public struct ChartSeries {
    public var name: String
    public var points: [(x: Double, y: Double, spread: Double)]
    public var dashed = false
    /// The palette colour (by index) instead of the series' position; faded: mixed half-way to
    /// white, for a run drawn beside another of the same colour.
    public var colorIndex: Int? = nil
    public var faded = false
    /// false: drawn, but left out of the legend (the panel's note says what it is).
    public var inLegend = true
    public init(name: String, points: [(x: Double, y: Double, spread: Double)], dashed: Bool = false) {
        self.name = name; self.points = points; self.dashed = dashed
    }
}

/// A panel: axes, one line per series, a legend. A figure lays panels side by side (ours and
/// the paper's, whose scales differ).
public struct ChartPanel {
    public var title: String, xLabel: String, yLabel: String
    public var logX: Bool
    public var series: [ChartSeries]
    /// For a categorical axis: the category names; series points then have x = the category's
    /// index, and the panel draws grouped bars instead of lines.
    public var categories: [String]?
    /// A dashed horizontal line across the panel with its label (the kNN accuracy of the
    /// untrained network: "learned anything" is a bar above it).
    public var referenceLine: (y: Double, label: String)?
    /// A line under the legend ("lighter bars: the reference").
    public var note: String? = nil
    public init(title: String, xLabel: String, yLabel: String, logX: Bool, series: [ChartSeries], categories: [String]? = nil,
                referenceLine: (y: Double, label: String)? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.logX = logX; self.series = series
        self.categories = categories; self.referenceLine = referenceLine
    }
}

/// Rows for labels centred at `centres` (pixels) of `widths`, so that no two on a row come
/// within `gap` pixels: each label takes the first row where it fits, at most `maxRows`; a label
/// that fits nowhere is shortened (ending in "~") until it fits its row beside the previous label.
/// Returns each label's text, left edge and row.
func placeLabels(_ labels: [String], centres: [Int], gap: Int = 3, maxRows: Int = 3,
                 width: (String) -> Int) -> [(text: String, left: Int, row: Int)] {
    var rowEnds = [Int](repeating: Int.min, count: maxRows)
    var placed: [(text: String, left: Int, row: Int)] = []
    for (label, centre) in zip(labels, centres) {
        let w = width(label), left = centre - w / 2
        if let row = rowEnds.indices.first(where: { left > rowEnds[$0] + gap }) {
            rowEnds[row] = left + w; placed.append((label, left, row)); continue
        }
        // shorten on the row whose last label ends first, keeping the label's left edge at most at its centre
        let row = rowEnds.indices.min { rowEnds[$0] < rowEnds[$1] }!
        var text = label, done = false
        while !done && text.count > 1 {
            text = String(text.dropLast(text.hasSuffix("~") ? 2 : 1)) + "~"
            let l = max(centre - width(text) / 2, rowEnds[row] + gap + 1)
            if l <= centre { rowEnds[row] = l + width(text); placed.append((text, l, row)); done = true }
        }
        if !done { placed.append(("", centre, row)) }
    }
    return placed
}

/// Tick values for [low, high]: about `count` round numbers (1, 2 or 5 times a power of ten).
func niceTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
    guard high > low else { return [low] }
    let raw = (high - low) / Double(count)
    let power = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
    var ticks: [Double] = []
    var t = ceil(low / step) * step
    while t <= high + step * 1e-9 { ticks.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
    return ticks
}

/// A short label for a tick: integers as they are, small or large numbers in e-notation.
func tickLabel(_ v: Double) -> String {
    if v == 0 { return "0" }
    if abs(v) >= 1e5 || abs(v) < 1e-3 { return String(format: "%.0e", v).replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+0", with: "e") }
    if v == v.rounded() { return String(Int(v)) }
    return String(format: abs(v) < 0.01 ? "%.4f" : (abs(v) < 1 ? "%.3f" : "%.1f"), v).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)
}

public enum ChartRenderer {
    /// Draws the panels side by side under a title, and a one-line caption along the bottom;
    /// returns the canvas. The plots are `plotHeight` pixels high; the canvas grows below them
    /// with the rows the axis labels and the legends need.
    public static func render(title: String, panels: [ChartPanel], caption: String? = nil, panelWidth: Int = 520,
                              plotHeight: Int = 254) -> Canvas {
        let below = panels.map { belowPlot($0, width: panelWidth) }.max() ?? 60
        let height = 34 + 22 + plotHeight + below + (caption == nil ? 4 : 18)
        var canvas = Canvas(width: panelWidth * max(panels.count, 1), height: height)
        canvas.text(title, x: max(4, (canvas.width - BitmapFont.width(of: title) * 2) / 2), y: 8, scale: 2)
        for (i, panel) in panels.enumerated() {
            draw(panel, on: &canvas, left: i * panelWidth, width: panelWidth, top: 34, plotBottom: 34 + 22 + plotHeight)
        }
        if let caption { canvas.text(caption, x: max(4, (canvas.width - BitmapFont.width(of: caption)) / 2), y: height - 12) }
        return canvas
    }

    /// The plot's left and right edges in a panel at `left`, `width` wide.
    static func plotEdges(left: Int, width: Int) -> (left: Int, right: Int) { (left + 62, left + width - 16) }

    /// The category labels of a bar panel, placed (`placeLabels`) under their bars.
    static func categoryLabels(_ panel: ChartPanel, left: Int, width: Int) -> [(text: String, left: Int, row: Int)] {
        guard let categories = panel.categories else { return [] }
        let edges = plotEdges(left: left, width: width), span = Double(edges.right - edges.left)
        let centres = categories.indices.map { edges.left + Int((Double($0) + 0.5) / Double(categories.count) * span) }
        return placeLabels(categories, centres: centres, width: BitmapFont.width(of:))
    }

    /// The legend's items (series in it), columns and rows in a panel `width` wide: as many
    /// columns (at most 3) as the longest name allows.
    /// The reference line, when there is one, takes the slot after the last series.
    static func legendLayout(_ panel: ChartPanel, width: Int) -> (items: [Int], columns: Int, rows: Int) {
        let items = panel.series.indices.filter { panel.series[$0].inLegend }
        let names = items.map { panel.series[$0].name } + (panel.referenceLine.map { [$0.label] } ?? [])
        let longest = names.map { BitmapFont.width(of: $0) }.max() ?? 0
        let columns = max(1, min(3, (width - 24) / (longest + 34)))
        return (items, columns, (names.count + columns - 1) / columns)
    }

    /// Pixels a panel needs under its plot: axis labels, the axis name, the legend, the note.
    static func belowPlot(_ panel: ChartPanel, width: Int) -> Int {
        let labelRows = max(1, (categoryLabels(panel, left: 0, width: width).map(\.row).max() ?? 0) + 1)
        let legend = legendLayout(panel, width: width)
        return 10 + 9 * labelRows + 14 + 12 * legend.rows + (panel.note == nil ? 0 : 12) + 4
    }

    static func draw(_ panel: ChartPanel, on canvas: inout Canvas, left: Int, width: Int, top: Int, plotBottom: Int) {
        let (plotLeft, plotRight) = plotEdges(left: left, width: width)
        let plotTop = top + 22
        canvas.text(panel.title, x: left + max(4, (width - BitmapFont.width(of: panel.title)) / 2), y: top + 4)
        let points = panel.series.flatMap { $0.points }
        let xs = points.map { panel.logX ? log10(max($0.x, 1e-300)) : $0.x }
        let bars = panel.categories != nil
        var yLow = bars ? 0 : (points.map { $0.y - $0.spread }.min() ?? 0), yHigh = points.map { $0.y + $0.spread }.max() ?? 1
        if let line = panel.referenceLine { yLow = min(yLow, line.y); yHigh = max(yHigh, line.y) }
        if yHigh - yLow < 1e-9 { yLow -= 1; yHigh += 1 }
        let pad = (yHigh - yLow) * 0.08
        if !bars { yLow -= pad }
        yHigh += pad
        var xLow = xs.min() ?? 0, xHigh = xs.max() ?? 1
        if let categories = panel.categories { xLow = -0.5; xHigh = Double(categories.count) - 0.5 }
        if xHigh - xLow < 1e-9 { xLow -= 1; xHigh += 1 }
        if !bars { let xPad = (xHigh - xLow) * 0.05; xLow -= xPad; xHigh += xPad }
        func px(_ x: Double) -> Double {
            let v = panel.logX ? log10(max(x, 1e-300)) : x
            return Double(plotLeft) + (v - xLow) / (xHigh - xLow) * Double(plotRight - plotLeft)
        }
        func py(_ y: Double) -> Double { Double(plotBottom) - (y - yLow) / (yHigh - yLow) * Double(plotBottom - plotTop) }
        // grid and y ticks
        for t in niceTicks(yLow, yHigh) {
            let y = py(t)
            canvas.line(Double(plotLeft), y, Double(plotRight), y, .lightGray)
            let label = tickLabel(t)
            canvas.text(label, x: plotLeft - 6 - BitmapFont.width(of: label), y: Int(y) - 3)
        }
        // x ticks: category names, the data's own x values on a log axis, round numbers otherwise
        let xTicks = panel.categories != nil ? (0 ..< panel.categories!.count).map(Double.init)
            : (panel.logX ? Array(Set(points.map { $0.x })).sorted() : niceTicks(xLow, xHigh))
        for t in xTicks { let x = px(t); canvas.line(x, Double(plotBottom), x, Double(plotBottom + 4), .black) }
        var labelRows = 1
        if bars {
            // category names on up to three rows, none overlapping (`placeLabels`)
            for label in categoryLabels(panel, left: left, width: width) {
                canvas.text(label.text, x: label.left, y: plotBottom + 8 + 9 * label.row)
                labelRows = max(labelRows, label.row + 1)
            }
        } else {
            // numeric ticks: a label that would overlap the previous one is left out
            var lastLabelEnd = Int.min
            for t in xTicks {
                let label = tickLabel(t), w = BitmapFont.width(of: label), start = Int(px(t)) - w / 2
                if start > lastLabelEnd + 3 { canvas.text(label, x: start, y: plotBottom + 8); lastLabelEnd = start + w }
            }
        }
        let xLabelY = plotBottom + 10 + 9 * labelRows, legendY = xLabelY + 14
        // axes
        canvas.line(Double(plotLeft), Double(plotTop), Double(plotLeft), Double(plotBottom), .black)
        canvas.line(Double(plotLeft), Double(plotBottom), Double(plotRight), Double(plotBottom), .black)
        canvas.text(panel.xLabel, x: plotLeft + (plotRight - plotLeft - BitmapFont.width(of: panel.xLabel)) / 2, y: xLabelY)
        canvas.text(panel.yLabel, x: left + 6, y: plotBottom - (plotBottom - plotTop - BitmapFont.width(of: panel.yLabel)) / 2, vertical: true)
        // series, and their legend in `legendLayout`'s columns
        let legend = legendLayout(panel, width: width), columnWidth = (width - 24) / legend.columns
        func legendPosition(_ k: Int) -> (x: Int, y: Int)? {
            guard let i = legend.items.firstIndex(of: k) else { return nil }
            return (left + 12 + (i % legend.columns) * columnWidth, legendY + (i / legend.columns) * 12)
        }
        for (k, s) in panel.series.enumerated() {
            let base = Canvas.Color.palette[(s.colorIndex ?? k) % Canvas.Color.palette.count]
            let color = s.faded ? base.faded : base
            let sorted = s.points.sorted { $0.x < $1.x }
            if bars {
                // grouped bars: series k takes the k-th slot of each category
                let slot = 0.8 / Double(panel.series.count)
                for p in sorted {
                    let center = p.x - 0.4 + slot * (Double(k) + 0.5)
                    let x0 = px(center - slot * 0.45), x1 = px(center + slot * 0.45)
                    let top = py(p.y)
                    canvas.fillRect(x: Int(x0), y: Int(top), width: max(1, Int(x1 - x0)), height: max(0, plotBottom - Int(top)), color)
                    if p.spread > 0 {
                        canvas.line(px(center), py(p.y - p.spread), px(center), py(p.y + p.spread), .black)
                    }
                }
                if let at = legendPosition(k) {
                    canvas.fillRect(x: at.x, y: at.y, width: 14, height: 7, color)
                    canvas.text(s.name, x: at.x + 22, y: at.y)
                }
                continue
            }
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                canvas.line(px(a.x), py(a.y), px(b.x), py(b.y), color, thickness: 2, dash: s.dashed ? 6 : 0)
            }
            for p in sorted {
                canvas.fillRect(x: Int(px(p.x)) - 3, y: Int(py(p.y)) - 3, width: 7, height: 7, color)
                if p.spread > 0 {
                    canvas.line(px(p.x), py(p.y - p.spread), px(p.x), py(p.y + p.spread), color)
                    canvas.line(px(p.x) - 4, py(p.y - p.spread), px(p.x) + 4, py(p.y - p.spread), color)
                    canvas.line(px(p.x) - 4, py(p.y + p.spread), px(p.x) + 4, py(p.y + p.spread), color)
                }
            }
            // legend below the axis label
            if let at = legendPosition(k) {
                canvas.line(Double(at.x), Double(at.y + 3), Double(at.x + 18), Double(at.y + 3), color, thickness: 2, dash: s.dashed ? 6 : 0)
                canvas.text(s.name, x: at.x + 22, y: at.y)
            }
        }
        if let note = panel.note { canvas.text(note, x: left + 12, y: legendY + legend.rows * 12, .gray) }
        if let line = panel.referenceLine {
            // a thin dashed line over the series (it hides nothing), named in the legend
            let y = py(line.y)
            canvas.line(Double(plotLeft), y, Double(plotRight), y, .gray, thickness: 1, dash: 4)
            let i = legend.items.count
            let lx = left + 12 + (i % legend.columns) * columnWidth, ly = legendY + (i / legend.columns) * 12
            canvas.line(Double(lx), Double(ly + 3), Double(lx + 18), Double(ly + 3), .gray, thickness: 1, dash: 4)
            canvas.text(line.label, x: lx + 22, y: ly)
        }
    }
}
