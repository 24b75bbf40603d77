#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Conveyor
import ConveyorRabbitMQ
import ConveyorTesting
import Foundation
import Testing

/// `amqps://` against the local node's TLS listener (scripts/rabbitmq-start.sh with RABBITMQ_TLS_PORT, certificates
/// from scripts/tls-material.sh): the right CA runs the conformance suite; a wrong CA, an expired certificate and a
/// wrong host name each fail at connect saying which; a client certificate logs in with EXTERNAL.
/// One case at a time: the suite repeats the whole conformance suite beside the other suites (see SQSHTTPSTests).
@Suite(
    "RabbitMQ over TLS", .serialized, .timeLimit(.minutes(5)),
    .enabled(if: RabbitMQTLSEnvironment.enabled, "set CONVEYOR_AMQPS_URL and CONVEYOR_TLS_DIR (scripts/test.sh does; RABBITMQ_TLS_PORT=5671 scripts/rabbitmq-start.sh starts the listener)")
)
struct RabbitMQTLSTests {
    typealias Env = RabbitMQTLSEnvironment

    static let harness: Result<ConformanceHarness, any Error> = Result {
        let url = try Env.url(query: "cacertfile=\(Env.file("ca.pem"))")
        return ConformanceHarness.provisioning(try Env.provider(url), makeProvider: { try Env.provider(url) })
    }

    @Test(arguments: ProviderConformance.cases)
    func conformanceOverTLS(_ conformanceCase: ConformanceCase) async throws {
        let outcome = try await conformanceCase.run(Self.harness.get())
        let notApplicable: [String: String] = [
            "redelivery after visibility timeout": "capabilities.visibilityTimeout is false",
            "priority order": "capabilities.priorities is false",
        ]
        #expect(outcome == notApplicable[conformanceCase.name].map { .notApplicable(reason: $0) } ?? .ran)
    }

    /// A publish's frames are written together in one TLS write while they fit in the 16 KiB buffer, and bodies
    /// larger than it as they come (see the CRabbitMQ shim): messages of every size around that edge, sent in
    /// batches and one by one, arrive whole and in order.
    @Test func messagesAroundTheCoalescingBufferArriveWhole() async throws {
        let url = try Env.url(query: "cacertfile=\(Env.file("ca.pem"))")
        try await withTestQueue("tls-sizes", provider: try Env.provider(url)) { provider, queue in
            let sizes = [0, 1, 100, 16_000, 16_300, 16_384, 16_500, 40_000, 200_000, 5, 70_000, 3]
            let payloads = sizes.enumerated().map { index, size in
                Array(#"{"i":\#(index),"p":""#.utf8) + [UInt8](repeating: UInt8(ascii: "a") + UInt8(index % 26), count: size) + Array(#""}"#.utf8)
            }
            let envelopes = payloads.map { Envelope(task: "sizes", payload: $0) }
            _ = try await provider.enqueue(envelopes.prefix(6).map { OutgoingMessage(envelope: $0) }, to: queue)
            for envelope in envelopes.dropFirst(6) { try await provider.enqueue(OutgoingMessage(envelope: envelope), to: queue) }
            var received: [[UInt8]] = []
            let deadline = ContinuousClock.now + .seconds(60)
            while received.count < envelopes.count, ContinuousClock.now < deadline {
                let batch = try await provider.receive(from: queue, max: 10, wait: .seconds(1))
                for message in batch { received.append(try message.envelope.get().payload) }
                try await provider.acknowledge(batch)
            }
            #expect(received == payloads)
        }
    }

    @Test func anUnknownCAIsRefusedSayingSo() async throws {
        let error = try await Env.connectError(Env.url(query: "cacertfile=\(Env.file("other-ca.pem"))"))
        // RabbitMQ sends its CA with its certificate: OpenSSL names the CA it does not trust.
        #expect(
            error.message.contains("the broker's certificate was refused (self-signed certificate in certificate chain)")
                || error.message.contains("the broker's certificate was refused (unable to get local issuer certificate)"),
            "\(error)"
        )
        #expect(error.message.contains("cacertfile"), "the error says what to set: \(error)")
        #expect(!error.message.contains("guest:guest"), "\(error)")
    }

    @Test func anExpiredCertificateIsRefusedSayingSo() async throws {
        // A TLS server presenting the CA's expired certificate for localhost.
        let server = try TLSServer(certificate: Env.file("expired.pem"), key: Env.file("expired.key"))
        defer { server.stop() }
        let error = try await Env.connectError("amqps://guest:guest@localhost:\(server.port)/?cacertfile=\(Env.file("ca.pem"))")
        #expect(error.message.contains("certificate has expired"), "\(error)")
    }

    @Test func aCertificateForAnotherHostIsRefusedSayingSo() async throws {
        // The listener's certificate names localhost only.
        let byAddress = try Env.url(query: "cacertfile=\(Env.file("ca.pem"))").replacingOccurrences(of: "@localhost:", with: "@127.0.0.1:")
        let error = try await Env.connectError(byAddress)
        #expect(error.message.contains("the broker's certificate is not for host 127.0.0.1"), "\(error)")
        let server = try TLSServer(certificate: Env.file("wrong-host.pem"), key: Env.file("wrong-host.key"))
        defer { server.stop() }
        let other = try await Env.connectError("amqps://guest:guest@localhost:\(server.port)/?cacertfile=\(Env.file("ca.pem"))")
        #expect(other.message.contains("the broker's certificate is not for host localhost"), "\(other)")
    }

    @Test func verifyNoneAcceptsAnUnknownCA() async throws {
        let provider = try Env.provider(Env.url(query: "verify=verify_none"))
        let queue = "conveyor-test-tls-none-\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await provider.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("1".utf8))), to: queue)
        #expect(try await provider.stats(of: queue).ready == 1)
        try await provider.deleteQueue(queue)
        try await provider.close()
    }

    /// A client certificate with CN conveyor-client logs in as that user with EXTERNAL: no password is sent.
    @Test func aClientCertificateLogsInWithExternal() async throws {
        let query = "cacertfile=\(Env.file("ca.pem"))&certfile=\(Env.file("client.pem"))&keyfile=\(Env.file("client.key"))&auth_mechanism=external"
        let base = try Env.url(query: query)
        let url = base.replacingOccurrences(of: "guest:guest@", with: "")
        let provider = try Env.provider(url)
        let queue = "conveyor-test-tls-external-\(UUID().uuidString.prefix(8).lowercased())"
        let envelope = Envelope(task: "t", payload: Array("1".utf8))
        _ = try await provider.enqueue(OutgoingMessage(envelope: envelope), to: queue)
        let received = try await provider.receive(from: queue, max: 1, wait: .seconds(5))
        #expect(received.compactMap { try? $0.envelope.get().id } == [envelope.id])
        try await provider.acknowledge(received)
        let users = try RabbitMQTestEnvironment.rabbitmqctl("list_connections", "user", "--quiet")
        #expect(users.contains("conveyor-client"), "connections' users: \(users)")
        try await provider.deleteQueue(queue)
        try await provider.close()
    }
}

enum RabbitMQTLSEnvironment {
    static let environment = ProcessInfo.processInfo.environment
    static let enabled = environment["CONVEYOR_AMQPS_URL"] != nil || environment["CI"] != nil

    static func url(query: String) throws -> String {
        guard let url = environment["CONVEYOR_AMQPS_URL"], environment["CONVEYOR_TLS_DIR"] != nil else {
            Issue.record("CI is set but CONVEYOR_AMQPS_URL or CONVEYOR_TLS_DIR is not (scripts/test.sh sets both)")
            throw ConveyorError(.invalidConfiguration, "CONVEYOR_AMQPS_URL is not set")
        }
        return url + (url.contains("?") ? "&" : "?") + query
    }

    static func file(_ name: String) -> String {
        (environment["CONVEYOR_TLS_DIR"] ?? "/nonexistent") + "/" + name
    }

    static func provider(_ url: String) throws -> RabbitMQQueueProvider {
        var configuration = try RabbitMQQueueProvider.Configuration(url: url, connectionName: "conveyor-tls-tests", connectTimeout: .seconds(3))
        configuration.reconnectBackoff = .init(initial: .milliseconds(100), maximum: .seconds(1))
        return try RabbitMQQueueProvider(configuration: configuration)
    }

    /// The error of the first operation on a provider for `url`, which must fail to connect.
    static func connectError(_ url: String) async throws -> ConveyorError {
        let provider = try provider(url)
        defer { Task { try? await provider.close() } }
        do {
            _ = try await provider.stats(of: "conveyor-test-tls-refused")
        } catch let error as ConveyorError {
            return error
        }
        Issue.record("connected to \(url)")
        throw ConveyorError(.invalidConfiguration, "connected")
    }
}

/// `openssl s_server` on a free loopback port, presenting a certificate: a TLS peer with a certificate the broker
/// does not have.
final class TLSServer: Sendable {
    let port: Int
    private let process: Process

    init(certificate: String, key: String) throws {
        port = Self.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificate, "-key", key, "-quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = Pipe()
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(10)
        while !Self.accepts(port) {
            guard ContinuousClock.now < deadline, process.isRunning else {
                process.terminate()
                throw ConveyorError(.connectionFailed, "openssl s_server did not start on port \(port)")
            }
            usleep(50_000)
        }
    }

    /// Kills the server. Not waited for: `Process.waitUntilExit()` spins on a concurrency thread on Linux.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
    }

    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
