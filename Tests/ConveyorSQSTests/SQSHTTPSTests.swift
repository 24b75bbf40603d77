import Conveyor
@testable import ConveyorSQS
import ConveyorTesting
import Foundation
import Testing

/// SQS over HTTPS: LocalStack's TLS endpoint (a self-signed certificate for localhost and 127.0.0.1) trusted through a CA bundle,
/// as the AWS SDKs take it (`AWS_CA_BUNDLE`, profile `ca_bundle`, or the configuration). scripts/test.sh exports the
/// endpoint and the bundle.
/// One case at a time: the suite repeats the whole conformance suite, and 25 cases at once against LocalStack on two
/// cores, beside the other suites, made timing-sensitive cases elsewhere flaky (CI at a986467).
@Suite(
    "SQS over HTTPS", .serialized, .timeLimit(.minutes(5)),
    .enabled(if: SQSHTTPSEnvironment.enabled, "set CONVEYOR_SQS_HTTPS_ENDPOINT and CONVEYOR_SQS_CA_BUNDLE (scripts/test.sh does)")
)
struct SQSHTTPSTests {
    typealias Env = SQSHTTPSEnvironment

    static let harness: Result<ConformanceHarness, any Error> = Result {
        ConformanceHarness.provisioning(try Env.provider(), makeProvider: { try Env.provider() })
    }

    @Test(arguments: ProviderConformance.cases)
    func conformanceOverHTTPS(_ conformanceCase: ConformanceCase) async throws {
        let outcome = try await conformanceCase.run(Self.harness.get())
        #expect(outcome == SQSConformanceTests.notApplicable[conformanceCase.name].map { .notApplicable(reason: $0) } ?? .ran)
    }

    /// A bundle that does not hold the endpoint's CA fails at once (no retries), with curl's reason and what to set.
    @Test func aWrongCABundleFailsSayingWhatToSet() async throws {
        let wrong = NSTemporaryDirectory() + "conveyor-wrong-ca-\(UUID().uuidString).pem"
        let otherCA = try String(contentsOfFile: ProcessInfo.processInfo.environment["CONVEYOR_TLS_DIR"].map { $0 + "/other-ca.pem" } ?? "/nonexistent", encoding: .utf8)
        try otherCA.write(toFile: wrong, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: wrong) }
        let provider = try Env.provider(caBundle: wrong)
        do {
            _ = try await provider.stats(of: "conveyor-https-refused")
            Issue.record("an endpoint whose CA is not in the bundle was trusted")
        } catch let error as ConveyorError {
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("SSL certificate problem"), "\(error)")
            #expect(error.message.contains("AWS_CA_BUNDLE"), "\(error)")
            #expect(!error.isRetryable, "\(error)")
        }
        try await provider.close()
    }

    /// Connections are reused: sequential requests share a connection, so few TLS handshakes for many requests (at
    /// least ten requests per connection here; one is typical).
    @Test func requestsReuseConnections() async throws {
        let provider = try Env.provider()
        let queue = "conveyor-https-reuse-\(UUID().uuidString.prefix(8).lowercased())"
        try await provider.createQueue(queue, options: QueueOptions(deadLetterQueue: false))
        for _ in 0..<50 { _ = try await provider.stats(of: queue) }
        try await provider.deleteQueue(queue)
        let counters = provider.client.http.counters
        #expect(counters.finishedTransfers >= 50)
        #expect(counters.openedConnections * 10 <= counters.finishedTransfers, "\(counters.openedConnections) connections for \(counters.finishedTransfers) requests")
        try await provider.close()
    }

    @Test func caBundleComesFromTheEnvironmentOrTheProfile() throws {
        let direct = try SQSQueueProvider.Configuration.fromEnvironment(["AWS_REGION": "eu-west-1", "AWS_CA_BUNDLE": "/a.pem"])
        #expect(direct.caBundlePath == "/a.pem")
        let config = NSTemporaryDirectory() + "conveyor-ca-profile-\(UUID().uuidString)"
        try "[profile p]\nregion = eu-west-2\nca_bundle = /b.pem\n".write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let profiled = try SQSQueueProvider.Configuration.fromEnvironment(["AWS_CONFIG_FILE": config, "AWS_PROFILE": "p"])
        #expect(profiled.caBundlePath == "/b.pem" && profiled.region == "eu-west-2")
        let both = try SQSQueueProvider.Configuration.fromEnvironment(["AWS_CONFIG_FILE": config, "AWS_PROFILE": "p", "AWS_CA_BUNDLE": "/a.pem", "AWS_REGION": "x"])
        #expect(both.caBundlePath == "/a.pem")
        let none = try SQSQueueProvider.Configuration.fromEnvironment(["AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": "/nonexistent"])
        #expect(none.caBundlePath == nil)
    }
}

enum SQSHTTPSEnvironment {
    static let environment = ProcessInfo.processInfo.environment
    static let enabled = environment["CONVEYOR_SQS_HTTPS_ENDPOINT"] != nil || environment["CI"] != nil

    static func provider(caBundle: String? = nil) throws -> SQSQueueProvider {
        guard let endpoint = environment["CONVEYOR_SQS_HTTPS_ENDPOINT"], let bundle = environment["CONVEYOR_SQS_CA_BUNDLE"] else {
            Issue.record("CI is set but CONVEYOR_SQS_HTTPS_ENDPOINT or CONVEYOR_SQS_CA_BUNDLE is not (scripts/test.sh sets both)")
            throw ConveyorError(.invalidConfiguration, "CONVEYOR_SQS_HTTPS_ENDPOINT is not set")
        }
        var env = environment
        env["AWS_ENDPOINT_URL_SQS"] = endpoint
        env["AWS_CA_BUNDLE"] = caBundle ?? bundle
        if env["AWS_REGION"] == nil { env["AWS_REGION"] = "us-east-1" }
        var configuration = try SQSQueueProvider.Configuration.fromEnvironment(env)
        configuration.requestTimeout = .seconds(20)
        // CredentialsProxyTests sets proxy variables for the whole process while other suites run, and keeps only
        // 127.0.0.1 direct; this endpoint is localhost (the name its certificate carries).
        configuration.usesProxyFromEnvironment = false
        return try SQSQueueProvider(configuration: configuration)
    }
}
