import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a file (flock(2)), held until `release()`, until the object goes away, or
/// until the process ends: the kernel drops a dead process's lock, so a killed run leaves none
/// behind. A run of a table into a results folder holds `workers/TABLE.lock` there
/// (`CellWorkers.lockPath`), so that a second run of that table into that folder is refused
/// rather than collecting, and removing, the folders of the first run's live workers. The file
/// holds the holder's process id, for the message of a refused run; it is left in place.
final class RunLock {
    let path: String
    private var descriptor: Int32

    private init(path: String, descriptor: Int32) { self.path = path; self.descriptor = descriptor }
    deinit { release() }

    /// Takes the lock at `path`, creating the file and its folder. Throws `RunLock.Held`, naming
    /// the holder's process id, when another open of the file holds it (another process, or
    /// another `RunLock` of this one).
    static func acquire(_ path: String) throws -> RunLock {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        // close-on-exec: the workers this run starts must not inherit, and so hold, its lock
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw Held(path: path, holder: holder(path)) }
            throw Failure(description: "cannot lock \(path): \(String(cString: strerror(code)))")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        return RunLock(path: path, descriptor: fd)
    }

    /// The process id the lock file at `path` names, if it names one.
    static func holder(_ path: String) -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Gives the lock up; a second call does nothing.
    func release() {
        guard descriptor >= 0 else { return }
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    /// Another run holds the lock.
    struct Held: Error, CustomStringConvertible {
        let path: String, holder: Int32?
        var description: String {
            "\(path) is held" + (holder.map { " by process \($0)" } ?? "")
        }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }
}
