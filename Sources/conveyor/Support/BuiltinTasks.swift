#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Conveyor
import Foundation
import Synchronization

/// `noop`: does nothing.
struct NoopTask: ConveyorTask {
    static let name = "noop"
    typealias Input = FreeformJSON
    func run(_ input: FreeformJSON, context: JobContext) async throws -> NoOutput { NoOutput() }
}

/// `echo`: logs its payload and returns it.
struct EchoTask: ConveyorTask {
    static let name = "echo"
    typealias Input = FreeformJSON
    typealias Output = FreeformJSON
    func run(_ input: FreeformJSON, context: JobContext) async throws -> FreeformJSON {
        context.logger.info("echo", metadata: ["echo.payload": .string(input.description)])
        return input
    }
}

/// `sleep`: waits `{"ms": N}` milliseconds (cancellable; N is 0 to 86,400,000, other values fail the job without
/// a retry). With a record file, appends `<job id> <attempt> sleep <started unix ms> <finished unix ms>` when it
/// finishes, so that runs can be checked for overlap and rate from outside.
struct SleepTask: ConveyorTask {
    static let name = "sleep"
    struct Input: Codable, Sendable { var ms: Int }
    var file: RecordFile?

    func run(_ input: Input, context: JobContext) async throws -> NoOutput {
        guard (0...86_400_000).contains(input.ms) else {
            throw NonRetryableError("sleep: ms must be 0 to 86400000 (a day); got \(input.ms)")
        }
        let started = Self.unixMilliseconds()
        try await Task.sleep(for: .milliseconds(input.ms))
        try file?.append("\(context.jobID) \(context.attempt) sleep \(started) \(Self.unixMilliseconds())\n")
        return NoOutput()
    }

    static func unixMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}

/// `progress`: reports progress `{"steps": N, "ms": M}` N times, M milliseconds apart (cancellable), and returns
/// `{"steps": N}`. N is 0 to 10,000 and M 0 to 60,000; other values fail the job without a retry.
struct ProgressTask: ConveyorTask {
    static let name = "progress"
    struct Input: Codable, Sendable {
        var steps: Int
        var ms: Int = 0
    }
    struct Output: Codable, Sendable {
        var steps: Int
    }

    func run(_ input: Input, context: JobContext) async throws -> Output {
        guard (0...10_000).contains(input.steps), (0...60_000).contains(input.ms) else {
            throw NonRetryableError("progress: steps must be 0 to 10000 and ms 0 to 60000 (got \(input.steps) and \(input.ms))")
        }
        if input.steps > 0 {
            for step in 1...input.steps {
                try await Task.sleep(for: .milliseconds(input.ms))
                context.progress(Double(step) / Double(input.steps), "step \(step) of \(input.steps)")
            }
        }
        return Output(steps: input.steps)
    }
}

/// `fail`: always throws, so the job is retried and finally dead-lettered.
struct FailTask: ConveyorTask {
    static let name = "fail"
    typealias Input = FreeformJSON
    struct Failure: Error, CustomStringConvertible {
        var description: String { "the fail task always fails" }
    }
    func run(_ input: FreeformJSON, context: JobContext) async throws -> NoOutput { throw Failure() }
}

/// `record`: appends `<job id> <attempt> <task> <payload>` as one line to a file, written before the job is
/// acknowledged (one `write(2)` on an `O_APPEND` descriptor, so lines from concurrent jobs never interleave).
struct RecordTask: ConveyorTask {
    static let name = "record"
    typealias Input = FreeformJSON
    let file: RecordFile

    func run(_ input: FreeformJSON, context: JobContext) async throws -> NoOutput {
        try file.append("\(context.jobID) \(context.attempt) \(context.taskName) \(input.description)\n")
        return NoOutput()
    }
}

/// An append-only file shared by concurrent jobs.
final class RecordFile: Sendable {
    private let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ConveyorError(.invalidConfiguration, "cannot open --record file \(path): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
    }

    func append(_ line: String) throws {
        var bytes = Array(line.utf8)
        let written = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw ConveyorError(.brokerError, "short write to \(path)")
        }
        bytes.removeAll()
    }

    deinit { close(fd) }
}

enum BuiltinTasks {
    /// Registers the built-in tasks; `record` only when a file is given.
    static func register(in registry: inout TaskRegistry, recordFile: RecordFile?) throws {
        try registry.register(NoopTask())
        try registry.register(EchoTask())
        try registry.register(SleepTask(file: recordFile))
        try registry.register(FailTask())
        try registry.register(ProgressTask())
        if let recordFile {
            try registry.register(RecordTask(file: recordFile))
        }
    }

    static let names = ["noop", "echo", "sleep", "fail", "progress", "record"]
}
