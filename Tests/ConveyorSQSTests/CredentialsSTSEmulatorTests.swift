import Conveyor
import ConveyorSQS
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Role credentials from a real STS emulator (LocalStack's STS, `CONVEYOR_STS_ENDPOINT`), and the SQS calls that
/// follow signed with them: each goes through the strict SigV4-checking proxy (`CONVEYOR_SIGV4_PROXY`) started with
/// the issued access key, secret and session token, so a call signed with anything else is refused. `AssumeRole`
/// itself goes through a proxy that accepts only the source profile's keys.
@Suite("Credentials from STS sign SQS calls (STS emulator, SigV4-checking proxy)", .enabled(if: STSEmulator.enabled))
struct CredentialsSTSEmulatorTests {
    @Test(.timeLimit(.minutes(2))) func webIdentityCredentialsSignSQSCalls() async throws {
        let (sts, script) = try STSEmulator.require()
        let home = try TemporaryAWSHome()
        defer { home.remove() }
        try home.write("eyJhbGciOiJSUzI1NiJ9.service-account-token.sig", to: "token")
        let chain = AWSCredentialsProviderChain.standard(environment: home.environment([
            "AWS_WEB_IDENTITY_TOKEN_FILE": home.path + "/token", "AWS_ROLE_ARN": "arn:aws:iam::000000000000:role/conveyor-worker",
            "AWS_ROLE_SESSION_NAME": "irsa-test", "AWS_ENDPOINT_URL_STS": sts,
        ]))
        let issued = try await chain.credentials()
        #expect(issued.sessionToken?.isEmpty == false)
        #expect(issued.expiration.map { $0 > Date() } == true)
        try await STSEmulator.expectSQSWorks(with: chain, issued: issued, script: script, upstream: sts)
    }

    @Test(.timeLimit(.minutes(2))) func assumedRoleCredentialsSignSQSCalls() async throws {
        let (sts, script) = try STSEmulator.require()
        // AssumeRole must be signed with the source profile's keys: a proxy that knows only those stands before STS.
        let stsProxy = try await SigV4Proxy.start(script: script, upstream: sts, key: "AKIDSOURCE", secret: "source/secret+key", token: nil)
        defer { stsProxy.stop() }
        let home = try TemporaryAWSHome(
            config: """
                [profile worker]
                role_arn = arn:aws:iam::000000000000:role/conveyor-worker
                source_profile = base
                role_session_name = assume-test
                """,
            credentials: "[base]\naws_access_key_id = AKIDSOURCE\naws_secret_access_key = source/secret+key\n")
        defer { home.remove() }
        let chain = AWSCredentialsProviderChain.standard(environment: home.environment([
            "AWS_PROFILE": "worker", "AWS_ENDPOINT_URL_STS": stsProxy.url,
        ]))
        let issued = try await chain.credentials()
        #expect(issued.accessKeyID != "AKIDSOURCE")
        #expect(issued.sessionToken?.isEmpty == false)
        let log = stsProxy.log()
        #expect(log.hasPrefix("OK POST /"), "the STS proxy log: \(log)")
        #expect(!log.contains("REJECT"))
        try await STSEmulator.expectSQSWorks(with: chain, issued: issued, script: script, upstream: sts)
    }
}

/// The STS emulator and the SigV4 proxy script the tests need.
enum STSEmulator {
    static let environment = ProcessInfo.processInfo.environment
    static let endpoint = environment["CONVEYOR_STS_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
    static let script = environment["CONVEYOR_SIGV4_PROXY"].flatMap { $0.isEmpty ? nil : $0 }
    /// In CI the suite runs (and fails when something is missing) rather than skipping.
    static let enabled = (endpoint != nil && script != nil) || environment["CI"] != nil

    static func require() throws -> (endpoint: String, script: String) {
        guard let endpoint, let script else {
            throw ConveyorError(
                .invalidConfiguration,
                "set CONVEYOR_STS_ENDPOINT (LocalStack with STS, e.g. http://127.0.0.1:4566) and CONVEYOR_SIGV4_PROXY (../shared/tools/sigv4_proxy.py); scripts/test.sh sets both")
        }
        return (endpoint, script)
    }

    /// Creates a queue through a proxy that accepts only `issued`, sends, receives and acknowledges a job, deletes the
    /// queue; every request must pass the proxy's check.
    static func expectSQSWorks(with chain: AWSCredentialsProviderChain, issued: AWSCredentials, script: String, upstream: String) async throws {
        let proxy = try await SigV4Proxy.start(
            script: script, upstream: upstream, key: issued.accessKeyID, secret: issued.secretAccessKey, token: issued.sessionToken)
        defer { proxy.stop() }
        try await SQSTestEnvironment.withQueue("sts", options: QueueOptions(deadLetterQueue: false), configure: {
            $0.endpoint = proxy.url
            $0.credentials = chain
        }) { provider, queue in
            let sent = OutgoingMessage(envelope: SQSTestEnvironment.envelope())
            _ = try await provider.enqueue([sent], to: queue)
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 1)
            #expect(SQSTestEnvironment.ids(received) == [sent.envelope.id])
            for message in received { try await provider.acknowledge(message) }
        }
        let log = proxy.log()
        #expect(!log.contains("REJECT"), "the SQS proxy refused a request: \(log.prefix(2000))")
        #expect(log.split(separator: "\n").count >= 4, "every SQS call went through the checking proxy: \(log)")
    }
}

/// The strict SigV4-checking proxy (`../shared/tools/sigv4_proxy.py`) on a free local port, accepting only the
/// given credentials; its log has one line per request, `OK ...` or `REJECT <reason>`.
final class SigV4Proxy {
    let port: Int
    let logPath: String
    private let process: Process

    var url: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, logPath: String, process: Process) {
        self.port = port
        self.logPath = logPath
        self.process = process
    }

    /// Starts the proxy (waiting with `Task.sleep` until it listens, up to 10 s per try).
    static func start(script: String, upstream: String, key: String, secret: String, token: String?) async throws -> SigV4Proxy {
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...29_999)
            let logPath = NSTemporaryDirectory() + "conveyor-sigv4-\(port)-\(UInt32.random(in: 0...UInt32.max)).log"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, "--listen", "127.0.0.1:\(port)", "--upstream", upstream, "--key", key, "--secret", secret, "--log", logPath]
                + (token.map { ["--token", $0] } ?? [])
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Up to 10 s for the proxy to listen.
            let deadline = ContinuousClock.now + .seconds(10)
            while process.isRunning && ContinuousClock.now < deadline {
                if listening(port) { return SigV4Proxy(port: port, logPath: logPath, process: process) }
                try await Task.sleep(for: .milliseconds(50))
            }
            kill(process.processIdentifier, SIGKILL)
            lastError = ConveyorError(.connectionFailed, "the SigV4 proxy did not start on port \(port)")
        }
        throw lastError!
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Kills the proxy (SIGKILL: the test process may block SIGTERM in the threads that start children) and
    /// removes its log.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }

    private static func listening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
