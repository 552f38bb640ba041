import XCTest
import Foundation
@testable import Runner
import Bench
import Experiments
import Report

/// Every committed CSV, and the comparison file a run writes, read by another implementation
/// (Python's csv module): each has the column set of its kind, every row its columns, and a table's
/// CSV one row per cell and seed.
final class TidyCSVTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Checks each (path, columns, key columns) with Python; the failure message is Python's.
    func checkWithPython(_ files: [(path: String, columns: [String], key: [String])], file: StaticString = #filePath, line: UInt = #line) throws {
        let script = """
            import csv, json, sys
            failures = []
            for spec in json.load(sys.stdin):
                with open(spec["path"], newline="") as f:
                    reader = csv.reader(f)
                    header = next(reader, None)
                    rows = list(reader)
                if header != spec["columns"]:
                    failures.append(f"{spec['path']}: columns {header} are not {spec['columns']}")
                    continue
                seen = set()
                for i, row in enumerate(rows, start=2):
                    if len(row) != len(header):
                        failures.append(f"{spec['path']} line {i}: {len(row)} fields, the header has {len(header)}")
                    key = tuple(row[header.index(k)] for k in spec["key"]) if spec["key"] else None
                    if key is not None and key in seen:
                        failures.append(f"{spec['path']} line {i}: the cell {key} twice")
                    seen.add(key)
            print("\\n".join(failures))
            sys.exit(1 if failures else 0)
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let input = Pipe(), output = Pipe()
        p.standardInput = input; p.standardOutput = output; p.standardError = output
        do { try p.run() } catch { throw XCTSkip("python3 cannot be started: \(error)") }
        let specs = files.map { ["path": $0.path, "columns": $0.columns, "key": $0.key] as [String: Any] }
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: specs))
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus == 127 { throw XCTSkip("python3 not found") }
        XCTAssertEqual(p.terminationStatus, 0, text, file: file, line: line)
    }

    func testEveryCommittedCSVHasTheColumnsOfItsKind() throws {
        let results = Self.root.appendingPathComponent("Results")
        let paths = FileManager.default.enumerator(atPath: results.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".csv") }
        XCTAssertTrue(paths.contains("bench.csv") && paths.contains("regression/baseline.csv"), "\(paths)")
        let tableKey = ["table", "variant", "method", "value", "scale", "seed"]
        let specs = try paths.sorted().map { name -> (path: String, columns: [String], key: [String]) in
            let path = results.appendingPathComponent(name).path
            let first = try String(contentsOfFile: path, encoding: .utf8).prefix { $0 != "\n" }
            if name == "bench.csv" { return (path, BenchMeasurement.header, []) }
            // a perturbation file (perturbation*.csv) holds the same cells under other thread counts and BLAS kernels
            if first.hasPrefix("table,") && name.split(separator: "/").last!.hasPrefix("perturbation") { return (path, TableRow.header, tableKey + ["threads", "blas_core"]) }
            if first.hasPrefix("table,") { return (path, TableRow.header, tableKey) }
            return (path, CellRow.header, [])
        }
        try checkWithPython(specs)
    }

    func testTheComparisonFileHasItsColumnsAndARowPerCell() throws {
        let table = Tables.asymmetry
        func rows(_ base: Double) throws -> [[String: String]] {
            try table.cells(scale: .smoke).enumerated().flatMap { i, cell in
                (0 ..< 2).map { seed in
                    ["variant": cell.entry.rowLabel, "value": cell.point.value.description, "scale": "smoke", "status": "ok",
                     "seed": "\(seed)", "knn_top1": "\(base + Double(i) + Double(seed))"]
                }
            }
        }
        let path = NSTemporaryDirectory() + "comparison-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TableComparison.csv(table, scale: .smoke, mine: try rows(40), reference: try rows(40.5))
            .write(toFile: path, atomically: true, encoding: .utf8)
        try checkWithPython([(path, TableComparison.csvHeader, ["entry", "value"])])
        let parsed = try CSV.parse(String(contentsOfFile: path, encoding: .utf8))
        XCTAssertEqual(parsed.count, 1 + (try table.cells(scale: .smoke).count))
        XCTAssertEqual(Set(parsed.dropFirst().map { $0[TableComparison.csvHeader.firstIndex(of: "agreement")!] }), ["within"])
    }
}
