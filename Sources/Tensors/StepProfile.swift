import Foundation

/// Where a training step spends its time: `sslbench bench --only layers` switches this on for a
/// few steps and prints, for every layer kind and shape, its forward and backward seconds and
/// achieved GFLOP/s. Off (the default) it costs one branch per layer call.
public enum StepProfile {
    public struct Entry { public var seconds = 0.0, calls = 0, flops = 0.0 }
    public private(set) static var enabled = false
    public private(set) static var entries: [String: Entry] = [:]

    public static func start() { entries = [:]; enabled = true }
    public static func stop() { enabled = false }

    /// Runs `body`, and when profiling adds its wall time and `flops` to the entry `name`.
    @inline(__always)
    public static func measure<T>(_ name: @autoclosure () -> String, flops: @autoclosure () -> Double = 0,
                                  _ body: () -> T) -> T {
        if !enabled { return body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        let key = name()
        var e = entries[key] ?? Entry()
        e.seconds += seconds; e.calls += 1; e.flops += flops()
        entries[key] = e
        return result
    }
}
