#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Conveyor
import Foundation
import Synchronization

/// Runs a profile's `credential_process` as the AWS SDKs do: the command through `/bin/sh -c`, its standard output
/// read as the JSON document of version 1 (`Version`, `AccessKeyId`, `SecretAccessKey`, optional `SessionToken` and
/// `Expiration`), its standard error left to the parent's (so that a prompt, such as an MFA code, reaches the user)
/// and never read or logged by Conveyor.
///
/// The process runs on a thread of its own, never on Swift's cooperative pool; it is terminated when it runs past
/// `timeout` or the calling task is cancelled. Errors name the profile and what failed, never the output (which may
/// hold a secret).
enum CredentialProcess {
    /// Most bytes read from the process's standard output.
    static let maximumOutput = 64 * 1024

    /// Runs `command` for `profile` and returns its credentials.
    static func run(_ command: String, profile: String, timeout: Duration) async throws -> AWSCredentials {
        let source = "profile \"\(profile)\": credential_process"
        let output = try await execute(command, source: source, timeout: timeout)
        return try parse(output, source: source)
    }

    /// Reads the JSON document of version 1.
    static func parse(_ output: [UInt8], source: String) throws(ConveyorError) -> AWSCredentials {
        guard let object = try? JSONReader.read(output, limits: .init(maximumBytes: maximumOutput, maximumDepth: 8)), case .object = object else {
            throw ConveyorError(.invalidConfiguration, "\(source): its output is not a JSON object (expected {\"Version\": 1, \"AccessKeyId\": ..., \"SecretAccessKey\": ...})")
        }
        guard object["Version"] == .number("1") else {
            throw ConveyorError(.invalidConfiguration, "\(source): its output has no \"Version\": 1 (the only version the AWS SDKs define)")
        }
        guard let key = object["AccessKeyId"]?.string, !key.isEmpty, let secret = object["SecretAccessKey"]?.string, !secret.isEmpty else {
            throw ConveyorError(.invalidConfiguration, "\(source): its output lacks AccessKeyId or SecretAccessKey")
        }
        var expiration: Date?
        if let text = object["Expiration"]?.string {
            guard let date = ISO8601DateFormatter().date(from: text) else {
                throw ConveyorError(.invalidConfiguration, "\(source): its Expiration is not an ISO 8601 date and time")
            }
            expiration = date
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: object["SessionToken"]?.string, expiration: expiration)
    }

    /// What the process printed on its standard output, once it exited with status 0.
    private static func execute(_ command: String, source: String, timeout: Duration) async throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ConveyorError(.invalidConfiguration, "\(source): could not start /bin/sh: \(error)")
        }
        // The first of the reader (exit), the timer and a cancellation answers; a child the command left running
        // with our pipe open cannot hold the caller past the timeout.
        let answer = Mutex<CheckedContinuation<[UInt8], any Error>?>(nil)
        @Sendable func finish(_ result: Result<[UInt8], any Error>) {
            answer.withLock { continuation in
                defer { continuation = nil }
                return continuation
            }?.resume(with: result)
        }
        let pid = process.processIdentifier
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
                answer.withLock { $0 = continuation }
                // Reading and waiting block: a thread of its own, not the cooperative pool.
                let reader = Thread {
                    let handle = stdout.fileHandleForReading
                    var output: [UInt8] = []
                    var overflow = false
                    while true {
                        let chunk = handle.availableData
                        if chunk.isEmpty { break }
                        if output.count + chunk.count > maximumOutput {
                            overflow = true
                            kill(pid, SIGKILL)
                            break
                        }
                        output += chunk
                    }
                    process.waitUntilExit()
                    if overflow {
                        finish(.failure(ConveyorError(.invalidConfiguration, "\(source): printed over \(maximumOutput) bytes")))
                    } else if process.terminationReason == .uncaughtSignal {
                        finish(.failure(ConveyorError(.invalidConfiguration, "\(source): was killed by signal \(process.terminationStatus)")))
                    } else if process.terminationStatus != 0 {
                        finish(.failure(ConveyorError(
                            .invalidConfiguration, "\(source): exited with status \(process.terminationStatus) (its standard error, if any, went to this process's)"
                        )))
                    } else {
                        finish(.success(output))
                    }
                }
                reader.start()
                let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
                DispatchQueue.global().asyncAfter(deadline: .now() + min(max(0, seconds), 86_400)) {
                    guard process.isRunning else { return }
                    kill(pid, SIGKILL)
                    finish(.failure(ConveyorError(.timeout, "\(source): ran for over \(timeout) and was stopped")))
                }
            }
        } onCancel: {
            if process.isRunning { kill(pid, SIGKILL) }
            finish(.failure(CancellationError()))
        }
    }
}
