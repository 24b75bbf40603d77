import Conveyor
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// `conveyor worker` started with a broken configuration stops at once with exit code 3 and a message on
    /// standard error that names what to fix and never contains a secret.
    @Suite("Bad configuration", .timeLimit(.minutes(3)))
    struct BadConfigurationTests {
        static let secret = "s3cr3t-Pa55word"

        /// Runs `conveyor worker` and checks exit code 3, the hint and the absence of secrets.
        static func expectStartError(_ arguments: [String], mentions hints: [String], environment: [String: String] = [:], secrets: [String] = [secret]) async throws {
            let result = try await ChildProcess.run(
                ReliabilityEnvironment.conveyorBinary(), ["worker"] + arguments,
                environment: ReliabilityEnvironment.childEnvironment(environment), timeout: .seconds(90))
            let output = result.stderr + result.stdout
            print("conveyor worker \(arguments.joined(separator: " ")) -> exit \(result.status): \(result.stderr.split(separator: "\n").last ?? "")")
            #expect(result.status == 3, "expected exit code 3, got \(result.status); stderr: \(result.stderr.suffix(1500))")
            for hint in hints {
                #expect(output.localizedCaseInsensitiveContains(hint), "stderr does not mention \(hint): \(result.stderr.suffix(1500))")
            }
            for secret in secrets where !secret.isEmpty {
                #expect(!output.contains(secret), "a secret leaked into the output: \(output.suffix(1500))")
            }
        }

        @Test("RabbitMQ: malformed AMQP URI", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func badURI() async throws {
            try await Self.expectStartError(["--provider", "rabbitmq", "--url", "amqp://guest:\(Self.secret)@127.0.0.1:notaport/"], mentions: ["port"])
            try await Self.expectStartError(["--provider", "rabbitmq", "--url", "http://guest:\(Self.secret)@127.0.0.1/"], mentions: ["amqp"])
        }

        @Test("RabbitMQ: wrong credentials", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func wrongCredentials() async throws {
            let url = try ReliabilityEnvironment.requireAMQPURL()
            guard var components = URLComponents(string: url) else { Issue.record("bad CONVEYOR_AMQP_URL"); return }
            components.user = "guest"
            components.password = Self.secret
            try await Self.expectStartError(["--provider", "rabbitmq", "--url", components.string!, "--queue", ReliabilityEnvironment.queueName("creds")], mentions: ["guest"])
        }

        @Test("RabbitMQ: unreachable broker", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func unreachableRabbitMQ() async throws {
            try await Self.expectStartError(["--provider", "rabbitmq", "--url", "amqp://guest:\(Self.secret)@127.0.0.1:1/"], mentions: ["127.0.0.1:1"])
        }

        @Test("SQS: unreachable endpoint", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing))
        func unreachableSQS() async throws {
            _ = try ReliabilityEnvironment.requireSQSEndpoint()
            try await Self.expectStartError(
                ["--provider", "sqs", "--endpoint", "http://127.0.0.1:1"], mentions: ["127.0.0.1:1"],
                secrets: [ReliabilityEnvironment.environment["AWS_SECRET_ACCESS_KEY"] ?? ""])
        }

        @Test("SQS: missing queue", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing))
        func missingQueue() async throws {
            let endpoint = try ReliabilityEnvironment.requireSQSEndpoint()
            let queue = ReliabilityEnvironment.queueName("missing")
            try await Self.expectStartError(
                ["--provider", "sqs", "--endpoint", endpoint, "--queue", queue], mentions: [queue],
                secrets: [ReliabilityEnvironment.environment["AWS_SECRET_ACCESS_KEY"] ?? ""])
        }

        @Test("SQS: no credentials", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing))
        func noCredentials() async throws {
            let endpoint = try ReliabilityEnvironment.requireSQSEndpoint()
            let home = NSTemporaryDirectory() + "conveyor-rel-home-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: home) }
            var env = ReliabilityEnvironment.childEnvironment(["HOME": home, "AWS_EC2_METADATA_DISABLED": "true"])
            for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"] {
                env.removeValue(forKey: key)
            }
            let result = try await ChildProcess.run(
                ReliabilityEnvironment.conveyorBinary(), ["worker", "--provider", "sqs", "--endpoint", endpoint],
                environment: env, timeout: .seconds(90))
            print("conveyor worker without credentials -> exit \(result.status): \(result.stderr.split(separator: "\n").last ?? "")")
            #expect(result.status == 3, "expected exit code 3, got \(result.status); stderr: \(result.stderr.suffix(1500))")
            #expect(result.stderr.localizedCaseInsensitiveContains("credential"), "stderr: \(result.stderr.suffix(1500))")
        }

        /// Wrong SQS credentials need a signature-checking front door (LocalStack accepts any signature):
        /// `CONVEYOR_SIGV4_PROXY` names the proxy script; without it this case is skipped.
        @Test("SQS: wrong credentials (through the SigV4-checking proxy)", .enabled(if: ReliabilityEnvironment.sqsEnabled && ReliabilityEnvironment.environment["CONVEYOR_SIGV4_PROXY"] != nil, "set CONVEYOR_SIGV4_PROXY to a SigV4-checking proxy script, e.g. ../shared/tools/sigv4_proxy.py (see scripts/test.sh)"))
        func wrongSQSCredentials() async throws {
            let endpoint = try ReliabilityEnvironment.requireSQSEndpoint()
            let script = ReliabilityEnvironment.environment["CONVEYOR_SIGV4_PROXY"]!
            let port = Int.random(in: 20_000...29_999)
            let proxy = try ChildProcess(
                "/usr/bin/env",
                ["python3", script, "--listen", "127.0.0.1:\(port)", "--upstream", endpoint, "--key", "AKIDEXAMPLE", "--secret", "the-right-secret", "--log", "/dev/null"])
            defer { proxy.cleanUp() }
            try #require(try await eventually(timeout: .seconds(10)) { tcpPortOpen(port) }, "the SigV4 proxy did not start on port \(port): \(proxy.stderr.suffix(800))")
            try await Self.expectStartError(
                ["--provider", "sqs", "--endpoint", "http://127.0.0.1:\(port)"], mentions: ["credential"],
                environment: ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": Self.secret])
        }
    }
}

/// Whether something listens on 127.0.0.1:`port`.
func tcpPortOpen(_ port: Int) -> Bool {
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
