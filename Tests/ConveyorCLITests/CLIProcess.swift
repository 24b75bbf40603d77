#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import Testing

/// What a finished `conveyor` process left behind.
struct CLIResult: Sendable, CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    var description: String { "exit \(status)\n--- stdout\n\(stdout.suffix(2000))\n--- stderr\n\(stderr.suffix(2000))" }
}

/// A running `conveyor` process. Output goes to temporary files (no pipe can fill up), and the exit is awaited
/// with a continuation, so no thread of the cooperative pool blocks. `Process` is configured in `init` only and
/// then just read (its pid), hence `@unchecked`.
final class CLIProcess: @unchecked Sendable {
    private let process: Process
    private let pid: Int32
    private let stdoutPath: String
    private let stderrPath: String
    private let exit: ExitState

    final class ExitState: Sendable {
        let state = Mutex<(status: Int32?, waiter: CheckedContinuation<Int32, Never>?)>((nil, nil))
    }

    /// The built `conveyor` binary: `CONVEYOR_BIN`, or `conveyor` beside the test bundle.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["CONVEYOR_BIN"] { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // On Darwin the runner lives inside the .xctest bundle.
        while directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("conveyor").path
    }()

    init(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-cli-\(UUID().uuidString)")
        let stdoutPath = scratch.path + ".out"
        let stderrPath = scratch.path + ".err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "CONVEYOR_PROVIDER")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        if let stdin {
            let inputPath = scratch.path + ".in"
            _ = FileManager.default.createFile(atPath: inputPath, contents: Data(stdin.utf8))
            process.standardInput = FileHandle(forReadingAtPath: inputPath)
        } else {
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        }
        let exit = ExitState()
        process.terminationHandler = { process in
            let status = process.terminationStatus
            let waiter = exit.state.withLock { state in
                state.status = status
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: status)
        }
        try process.run()
        self.process = process
        self.pid = process.processIdentifier
        self.exit = exit
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
    }

    /// Sends `signal` (default SIGTERM).
    func signal(_ signal: Int32 = SIGTERM) {
        kill(pid, signal)
    }

    /// Kills the process (SIGKILL) unless it has exited: clean-up for a test that stopped before waiting for it.
    func killIfRunning() {
        let running = exit.state.withLock { $0.status == nil }
        if running { kill(pid, SIGKILL) }
    }

    /// Standard output so far.
    var stdoutSoFar: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    /// Standard error so far.
    var stderrSoFar: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for the process to exit; after `timeout` (a guard against hangs) it is killed.
    func wait(timeout: Duration = .seconds(180)) async -> CLIResult {
        let guardTask = Task { [pid] in
            try await Task.sleep(for: timeout)
            kill(pid, SIGKILL)
        }
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let done = exit.state.withLock { state -> Int32? in
                if let status = state.status { return status }
                state.waiter = continuation
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
        guardTask.cancel()
        let result = CLIResult(
            status: status,
            stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        )
        try? FileManager.default.removeItem(atPath: stdoutPath)
        try? FileManager.default.removeItem(atPath: stderrPath)
        return result
    }

    /// Runs `conveyor` with `arguments` to completion.
    static func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        stdin: String? = nil,
        timeout: Duration = .seconds(180)
    ) async throws -> CLIResult {
        try await CLIProcess(arguments, environment: environment, stdin: stdin).wait(timeout: timeout)
    }
}

/// Polls `condition` every 100 ms until it holds; fails after `timeout` (a guard against hangs, not a timing
/// assertion).
func eventually(
    timeout: Duration = .seconds(90),
    _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

/// A free TCP port on 127.0.0.1 (bound then released).
func freeLocalPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Fetches `http://127.0.0.1:port/path` with a plain blocking socket on a thread of its own; `nil` when nothing
/// listens yet.
func httpGet(port: Int, path: String) async -> (status: Int, body: String)? {
    await httpRequest(port: port, "GET", path)
}

/// Sends `method path` (with `form` as an `application/x-www-form-urlencoded` body) to 127.0.0.1:port with a plain
/// blocking socket on a thread of its own; `nil` when nothing listens yet.
func httpRequest(port: Int, _ method: String, _ path: String, form: String? = nil) async -> (status: Int, body: String)? {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: blockingHTTPRequest(port: port, method, path, form: form))
        }
        thread.start()
    }
}

private func blockingHTTPRequest(port: Int, _ method: String, _ path: String, form: String?) -> (status: Int, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if let form { head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n" }
    let request = Array((head + "\r\n" + (form ?? "")).utf8)
    _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        response.append(contentsOf: buffer[0..<n])
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let statusLine = text.split(separator: "\r\n").first else { return nil }
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}

/// Parses one line of JSON output into an object.
func jsonObject(_ line: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
}
