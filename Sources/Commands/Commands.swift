import Foundation
import NN
import Options
import Tensors

/// Every subcommand of `sslbench`, in the order of the usage text.
public enum Commands {
    public static var all: [Command] {
        [TrainCommand.command, TableCommands.list, TableCommands.run, TableCommands.plot, TableCommands.merge, TableCommands.report,
         RegressCommand.command, BenchCommand.command, ParityCommand.command, info]
    }

    static var info: Command {
        Command("info", summary: "the CPU, thread count and BLAS kernel in use", options: [Option<Int>]()) { _ in
            print("cpu: \(MachineInfo.cpuModel)\nthreads: \(Parallel.threads)\npartitions: \(Parallel.partitions) (every sum over the threads is split into this many chunks)\nblas kernel: \(blasCoreName)\nconvolution vectors: \(Conv2d.directKernelVectorWidth) floats\ncommit: \(MachineInfo.commit)")
        }
    }

    /// The whole usage text, or one command's.
    public static func usage(_ name: String? = nil) -> String {
        if let name = name, let command = all.first(where: { $0.name == name }) { return command.usage }
        return "sslbench: self-supervised learning ablations on CIFAR, on the CPU.\n\n"
            + "sslbench help [COMMAND]  this text, or one command's\n\n"
            + all.map(\.usage).joined(separator: "\n")
    }

    /// Runs `arguments` (without the program's name); returns the exit status.
    public static func main(_ arguments: [String]) -> Int32 {
        let name = arguments.first ?? "help"
        if ["help", "--help", "-h"].contains(name) {
            print(usage(arguments.dropFirst().first))
            return 0
        }
        guard let command = all.first(where: { $0.name == name }) else {
            FileHandle.standardError.write("error: unknown command '\(name)'\n\n\(usage())\n".data(using: .utf8)!)
            return 2
        }
        let rest = Array(arguments.dropFirst())
        if rest.contains(where: { $0 == "--help" || $0 == "-h" }) {
            print(command.usage)
            return 0
        }
        do {
            try command.run(rest)
            return 0
        } catch {
            FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
            return 2
        }
    }
}
