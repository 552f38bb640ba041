import Foundation
import Options
import Tensors

/// A subcommand of `sslbench`: its name, what it does, the arguments it takes besides its
/// options, the options themselves (which also write its part of the usage text), and what it
/// runs. The options act on the command's own settings type; `run` gets the parsed line.
public struct Command {
    public let name: String
    /// "TABLE", "OUT.csv IN.csv...": the positional arguments in the usage line.
    public let arguments: String
    public let summary: String
    /// The options, for the usage text and the parser.
    public let options: [OptionSummary]
    /// Extra paragraphs of help after the options.
    public let notes: String
    let known: [String: Bool]
    let positionalLimit: Int
    let body: (ParsedOptions) throws -> Void

    /// `alsoKnown`: options the parser accepts beyond `options` (name → takes a value), which
    /// `notes` documents (the methods' own options of `train`).
    public init<Settings>(_ name: String, arguments: String = "", positionalLimit: Int = 0, summary: String,
                          options: [Option<Settings>], alsoKnown: [String: Bool] = [:], notes: String = "",
                          run: @escaping (ParsedOptions) throws -> Void) {
        self.name = name; self.arguments = arguments; self.summary = summary; self.notes = notes
        self.options = options.map(\.summary)
        self.known = ParsedOptions.names(options).merging(alsoKnown, uniquingKeysWith: { a, _ in a })
        self.positionalLimit = positionalLimit; self.body = run
    }

    /// Parses `arguments` against the declared options and runs the command.
    public func run(_ arguments: [String]) throws {
        try body(try ParsedOptions.parse(arguments, known: known, positionalLimit: positionalLimit, command: name))
    }

    /// "sslbench NAME ARGS [options]" with the summary, the options and the notes.
    public var usage: String {
        var s = "sslbench \(name)" + (arguments.isEmpty ? "" : " \(arguments)") + (options.isEmpty ? "" : " [options]") + "\n"
        s += summary.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n") + "\n"
        if !options.isEmpty { s += OptionSummary.usage(options) + "\n" }
        if !notes.isEmpty { s += "\n" + notes + "\n" }
        return s
    }
}

/// Options several commands share, declared once.
enum SharedOptions {
    static func threads<S>(_ path: WritableKeyPath<S, Int?>) -> Option<S> {
        Option("threads", "T", example: "1", "worker threads (all cores)") { s, v in
            s[keyPath: path] = try Value.int(v, option: "threads", minimum: 1)
        }
    }
    static func data<S>(_ path: WritableKeyPath<S, String?>) -> Option<S> {
        Option("data", "DIR", example: "data/cifar-10-batches-bin",
               "CIFAR-10 binary folder (else $SSLBENCH_CIFAR10, then data/cifar-10-batches-bin,\nthen ../shared/data/cifar-10-batches-bin)") { s, v in
            s[keyPath: path] = v
        }
    }
    static func scale<S>(_ path: WritableKeyPath<S, String>, default name: String) -> Option<S> {
        Option("scale", "S", example: "ci", "smoke, ci, cpu or paper (\(name))") { s, v in s[keyPath: path] = v }
    }

    /// Sets the thread count the command was given, or all cores.
    static func configureThreads(_ threads: Int?) {
        if let t = threads { Parallel.configure(threads: t) }
    }
}

/// A usage error: the message names the command line's fault.
struct UsageError: Error, CustomStringConvertible { let description: String }
