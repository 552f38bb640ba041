import Foundation

/// One line of a chart: points (x, y) with an optional spread (drawn as an error bar, e.g.
/// the standard deviation over seeds).
public struct ChartSeries {
    public var name: String
    public var points: [(x: Double, y: Double, spread: Double)]
    public var dashed = false
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
    public init(title: String, xLabel: String, yLabel: String, logX: Bool, series: [ChartSeries], categories: [String]? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.logX = logX; self.series = series
        self.categories = categories
    }
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
    /// returns the canvas.
    public static func render(title: String, panels: [ChartPanel], caption: String? = nil, panelWidth: Int = 520, height: Int = 400) -> Canvas {
        var canvas = Canvas(width: panelWidth * max(panels.count, 1), height: height)
        canvas.text(title, x: max(4, (canvas.width - BitmapFont.width(of: title) * 2) / 2), y: 8, scale: 2)
        for (i, panel) in panels.enumerated() { draw(panel, on: &canvas, left: i * panelWidth, width: panelWidth, top: 34, height: height - 34) }
        if let caption { canvas.text(caption, x: max(4, (canvas.width - BitmapFont.width(of: caption)) / 2), y: height - 12) }
        return canvas
    }

    static func draw(_ panel: ChartPanel, on canvas: inout Canvas, left: Int, width: Int, top: Int, height: Int) {
        let plotLeft = left + 62, plotRight = left + width - 16, plotTop = top + 22, plotBottom = top + height - 90
        canvas.text(panel.title, x: left + max(4, (width - BitmapFont.width(of: panel.title)) / 2), y: top + 4)
        let points = panel.series.flatMap { $0.points }
        let xs = points.map { panel.logX ? log10(max($0.x, 1e-300)) : $0.x }
        let bars = panel.categories != nil
        var yLow = bars ? 0 : (points.map { $0.y - $0.spread }.min() ?? 0), yHigh = points.map { $0.y + $0.spread }.max() ?? 1
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
        var lastLabelEnd = Int.min, row = 0
        for t in xTicks {
            let x = px(t)
            canvas.line(x, Double(plotBottom), x, Double(plotBottom + 4), .black)
            let label = panel.categories.map { $0[Int(t)] } ?? tickLabel(t), w = BitmapFont.width(of: label)
            let start = Int(x) - w / 2
            // category names that would overlap go to a second row
            row = (bars && start <= lastLabelEnd + 3) ? 1 - row : 0
            if bars || start > lastLabelEnd + 3 { canvas.text(label, x: start, y: plotBottom + 8 + 9 * row); lastLabelEnd = start + w }
        }
        // axes
        canvas.line(Double(plotLeft), Double(plotTop), Double(plotLeft), Double(plotBottom), .black)
        canvas.line(Double(plotLeft), Double(plotBottom), Double(plotRight), Double(plotBottom), .black)
        canvas.text(panel.xLabel, x: plotLeft + (plotRight - plotLeft - BitmapFont.width(of: panel.xLabel)) / 2, y: plotBottom + 26)
        canvas.text(panel.yLabel, x: left + 6, y: plotBottom - (plotBottom - plotTop - BitmapFont.width(of: panel.yLabel)) / 2, vertical: true)
        // series
        for (k, s) in panel.series.enumerated() {
            let color = Canvas.Color.palette[k % Canvas.Color.palette.count]
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
                let lx = left + 12 + (k % 3) * ((width - 24) / 3), ly = plotBottom + 44 + (k / 3) * 14
                canvas.fillRect(x: lx, y: ly, width: 14, height: 7, color)
                canvas.text(s.name, x: lx + 22, y: ly)
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
            let lx = left + 12 + (k % 3) * ((width - 24) / 3), ly = plotBottom + 44 + (k / 3) * 14
            canvas.line(Double(lx), Double(ly + 3), Double(lx + 18), Double(ly + 3), color, thickness: 2, dash: s.dashed ? 6 : 0)
            canvas.text(s.name, x: lx + 22, y: ly)
        }
    }
}
