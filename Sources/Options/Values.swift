import Foundation

/// Parsers for option values, each failing with an error that names the option and the value.
public enum Value {
    /// An integer, at least `minimum` when given.
    public static func int(_ text: String, option: String, minimum: Int? = nil, maximum: Int? = nil) throws -> Int {
        guard let v = Int(text) else { throw OptionError("--\(option) expects an integer, got '\(text)'") }
        if let low = minimum, v < low {
            throw OptionError("--\(option) must be \(low == 1 ? "a positive integer" : low == 0 ? "0 or more" : "at least \(low)"), got \(v)")
        }
        if let high = maximum, v > high { throw OptionError("--\(option) must be at most \(high), got \(v)") }
        return v
    }

    /// A finite number.
    public static func float(_ text: String, option: String) throws -> Float {
        guard let v = Float(text), v.isFinite else { throw OptionError("--\(option) expects a number, got '\(text)'") }
        return v
    }

    /// A comma-separated list of integers, `count` of them when given.
    public static func ints(_ text: String, option: String, counts: ClosedRange<Int>, form: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard counts.contains(parts.count), parts.allSatisfy({ $0 != nil }) else {
            throw OptionError("--\(option) expects \(form), got '\(text)'")
        }
        return parts.map { $0! }
    }

    /// One of the raw values of `T`.
    public static func named<T: RawRepresentable & CaseIterable>(_ text: String, option: String, as type: T.Type) throws -> T
    where T.RawValue == String {
        guard let v = T(rawValue: text) else {
            throw OptionError("--\(option): unknown value '\(text)'; known: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }
}
