import Foundation
import Commands
import Tensors

// The commands live in Sources/Commands, one file per command; `sslbench help` lists them.
BLASKernel.ensureWidest()
Parallel.configure()
exit(Commands.main(Array(CommandLine.arguments.dropFirst())))
