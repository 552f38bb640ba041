import Foundation

/// Facts about the machine and the code, for results rows and benchmarks.
public enum MachineInfo {
    public static let cpuModel: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
        return "unknown"
    }()

    public static let cpuFlags: Set<String> = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            return Set((line.split(separator: ":", maxSplits: 1).last ?? "").split(separator: " ").map(String.init))
        }
        return []
    }()

    /// The git commit of the working directory, with "+dirty" when it has uncommitted changes;
    /// read once, on first use (`sslbench` reads it at start). `SSLBENCH_COMMIT`, when set, is
    /// taken instead: the worker processes of `--jobs` get their parent's, so that every row of a
    /// run names the tree it started from, not a tree its own new rows have made dirty.
    public static let commit: String = {
        if let given = ProcessInfo.processInfo.environment[commitVariable], !given.isEmpty { return given }
        func run(_ args: [String]) -> String? {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git"] + args
            let out = Pipe(); p.standardOutput = out; p.standardError = Pipe()
            do { try p.run() } catch { return nil }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let hash = run(["rev-parse", "--short=10", "HEAD"]) else { return "unknown" }
        let dirty = !(run(["status", "--porcelain", "--untracked-files=no"]) ?? "").isEmpty
        return hash + (dirty ? "+dirty" : "")
    }()

    /// The environment variable that sets `commit`.
    public static let commitVariable = "SSLBENCH_COMMIT"
}
