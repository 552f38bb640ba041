/// A command-line option declared once: its name, the value it takes, its help line, an example
/// value, and how it changes the settings it belongs to. The parser and the usage text of a
/// command both read the same list of these, so an option cannot be documented without being
/// parsed, or parsed without being documented.
public struct Option<Settings> {
    /// The name after `--`.
    public let name: String
    /// What the value looks like in the usage text ("N", "X", "LIST"); nil for a switch.
    public let valueName: String?
    /// One or more lines of help; the default, when there is one, at the end in parentheses.
    public let help: String
    /// A value the option accepts (the tests parse every option with it); "" for a switch.
    public let example: String
    /// Sets the option's value on `settings`; throws an `OptionError` naming the option when the
    /// value does not parse or is out of range.
    public let apply: (inout Settings, String) throws -> Void

    /// An option that takes a value.
    public init(_ name: String, _ valueName: String, example: String, _ help: String,
                apply: @escaping (inout Settings, String) throws -> Void) {
        self.name = name; self.valueName = valueName; self.help = help; self.example = example; self.apply = apply
    }

    /// A switch: present or absent, no value.
    public init(switch name: String, _ help: String, apply: @escaping (inout Settings) -> Void) {
        self.name = name; self.valueName = nil; self.help = help; self.example = ""
        self.apply = { settings, _ in apply(&settings) }
    }

    public var isSwitch: Bool { valueName == nil }

    /// The same option acting on a part of larger settings (a method's options on a training cell).
    public func lifted<Outer>(_ part: @escaping (inout Outer, (inout Settings) throws -> Void) throws -> Void) -> Option<Outer> {
        let apply = self.apply
        return Option<Outer>(name: name, valueName: valueName, help: help, example: example) { outer, value in
            try part(&outer) { try apply(&$0, value) }
        }
    }

    init(name: String, valueName: String?, help: String, example: String, apply: @escaping (inout Settings, String) throws -> Void) {
        self.name = name; self.valueName = valueName; self.help = help; self.example = example; self.apply = apply
    }

    /// What the usage text and the tests need of the option, without its settings type.
    public var summary: OptionSummary { OptionSummary(name: name, valueName: valueName, help: help, example: example) }
}

/// An option's name, value, help and example, for usage texts and tests.
public struct OptionSummary: Equatable {
    public let name: String, valueName: String?, help: String, example: String

    /// The option's lines in a usage text: "  --name VALUE   help", help lines aligned at `column`.
    public func usage(column: Int = 26) -> String {
        let head = "  --\(name)" + (valueName.map { " \($0)" } ?? "")
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let pad = String(repeating: " ", count: column)
        var text = head.count + 1 < column ? head + String(repeating: " ", count: column - head.count) + lines[0]
                                           : head + "\n" + pad + lines[0]
        for line in lines.dropFirst() { text += "\n" + pad + line }
        return text
    }

    /// The usage lines of a list of options.
    public static func usage(_ options: [OptionSummary], column: Int = 26) -> String {
        options.map { $0.usage(column: column) }.joined(separator: "\n")
    }
}

/// A command line that does not parse, named by the option or argument at fault.
public struct OptionError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The `--name value` pairs and switches of a command line, checked against the options a
/// command declares; the values are applied to settings later, in the order of declaration.
public struct ParsedOptions {
    /// The value of every option given (a switch has ""), by name.
    public private(set) var values: [String: String] = [:]
    /// Arguments that are not options, in order (a table's name, the files to merge).
    public private(set) var positional: [String] = []

    public init() {}

    /// Parses `arguments` for options named in `known` (name → whether it takes a value). Every
    /// `--name` must be known and every valued option must have its value; at most
    /// `positionalLimit` other arguments are accepted.
    public static func parse<S: Sequence>(_ arguments: S, known: [String: Bool], positionalLimit: Int = 0,
                                          command: String) throws -> ParsedOptions where S.Element == String {
        var parsed = ParsedOptions()
        try parsed.parse(Array(arguments), known: known, positionalLimit: positionalLimit, command: command)
        return parsed
    }

    private mutating func parse(_ arguments: [String], known: [String: Bool], positionalLimit: Int, command: String) throws {
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            guard argument.hasPrefix("--") else {
                guard positional.count < positionalLimit else {
                    throw OptionError("unexpected argument '\(argument)' (see sslbench help \(command))")
                }
                positional.append(argument)
                continue
            }
            let name = String(argument.dropFirst(2))
            guard let takesValue = known[name] else { throw OptionError("unknown option --\(name) for \(command) (see sslbench help \(command))") }
            guard values[name] == nil else { throw OptionError("--\(name) is given twice") }
            if !takesValue { values[name] = ""; continue }
            guard i < arguments.count else { throw OptionError("--\(name) needs a value") }
            values[name] = arguments[i]
            i += 1
        }
    }

    /// Applies the given options among `options` to `settings`, in the order of `options`.
    public func apply<Settings>(_ options: [Option<Settings>], to settings: inout Settings) throws {
        for option in options { if let value = values[option.name] { try option.apply(&settings, value) } }
    }

    /// The names in `known` form of a list of options.
    public static func names<Settings>(_ options: [Option<Settings>]) -> [String: Bool] {
        Dictionary(options.map { ($0.name, !$0.isSwitch) }, uniquingKeysWith: { a, _ in a })
    }
}
