import Foundation
import Commands
import Tensors

// The commands live in Sources/Commands, one file per command; `sslbench help` lists them.
BLASKernel.ensureWidest()
Parallel.configure()
// The commit the rows record is the tree's at start: a commit made while a long run is going
// must not be credited with this binary's results.
_ = MachineInfo.commit
exit(Commands.main(Array(CommandLine.arguments.dropFirst())))
