import Conveyor
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process (the `conveyor` CLI or a helper script) whose output goes to temporary files, so it never
/// blocks on a full pipe. Waiting polls with `Task.sleep`, never blocking the cooperative pool.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String
    let label: String

    init(_ executable: String, _ arguments: [String], environment: [String: String] = ReliabilityEnvironment.childEnvironment(), label: String? = nil) throws {
        self.label = label ?? URL(fileURLWithPath: executable).lastPathComponent
        let base = NSTemporaryDirectory() + "conveyor-rel-\(UUID().uuidString.prefix(8))"
        stdoutPath = base + ".out"
        stderrPath = base + ".err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
    }

    /// Starts `conveyor` with `arguments`.
    static func conveyor(_ arguments: [String], environment: [String: String] = ReliabilityEnvironment.childEnvironment()) throws -> ChildProcess {
        try ChildProcess(ReliabilityEnvironment.conveyorBinary(), arguments, environment: environment, label: "conveyor \(arguments.first ?? "")")
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits up to `timeout` for the process to exit; returns its status (or signal number), nil on timeout.
    @discardableResult
    func waitForExit(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    var exitedBySignal: Bool { !process.isRunning && process.terminationReason == .uncaughtSignal }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Kills the process if it still runs and removes its output files.
    func cleanUp() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: stdoutPath)
        try? FileManager.default.removeItem(atPath: stderrPath)
    }

    /// Runs to completion (killed after `timeout`); returns status, stdout and stderr.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = ReliabilityEnvironment.childEnvironment(), timeout: Duration = .seconds(60)) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try ChildProcess(executable, arguments, environment: environment)
        defer { child.cleanUp() }
        guard let status = try await child.waitForExit(timeout: timeout) else {
            child.signal(SIGKILL)
            _ = try await child.waitForExit(timeout: .seconds(10))
            throw ConveyorError(.timeout, "\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout); stderr: \(child.stderr.suffix(2000))")
        }
        return (status, child.stdout, child.stderr)
    }
}

/// The lines the `record` task appends: `<job id> <attempt> <task> <payload>`.
struct RecordLog {
    /// How often each job id was recorded.
    var counts: [String: Int] = [:]
    var lines = 0

    init(path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        for line in text.split(separator: "\n") {
            guard let id = line.split(separator: " ", maxSplits: 1).first else { continue }
            counts[String(id), default: 0] += 1
            lines += 1
        }
    }

    var duplicates: Int { lines - counts.count }

    static func lineCount(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }
}

/// Polls `condition` every `interval` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration, interval: Duration = .milliseconds(100), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return try await condition()
}

/// `job.id=<id>` values of debug log lines containing `message` (swift-log's StreamLogHandler format).
func loggedJobIDs(_ log: String, message: String) -> [String] {
    var ids: [String] = []
    for line in log.split(separator: "\n") where line.contains(message) {
        guard let range = line.range(of: "job.id=") else { continue }
        let rest = line[range.upperBound...]
        let id = rest.prefix { $0 != " " && $0 != "]" && $0 != "," }
        ids.append(String(id))
    }
    return ids
}
