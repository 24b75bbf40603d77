import ConveyorSQS
import Testing

/// The container and instance metadata providers keep their cache as their docs say: copies share it, and setting
/// `environment` or `timeout` starts a new one (for that copy only). Against local fake endpoints that count
/// requests: a cached answer makes none.
@Suite("Credentials cache: copies share it; environment or timeout starts a new one", .timeLimit(.minutes(1)))
struct CredentialsCacheResetTests {
    @Test func containerProvider() async throws {
        let clock = CredentialsTestClock()
        let server = try LocalHTTPServer { _ in (200, clock.credentialsJSON(expiresIn: 3600)) }
        defer { server.stop() }
        let environment = ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/creds"]
        let provider = ContainerCredentialsProvider(environment: environment, timeout: .seconds(10), cache: clock.cacheConfiguration())
        try await Self.expectCacheLifecycle(of: provider, requestsPerFetch: 1) { server.requests.count }
    }

    @Test func instanceMetadataProvider() async throws {
        let clock = CredentialsTestClock()
        let imds = try LocalHTTPServer.fakeInstanceMetadata { clock.credentialsJSON(expiresIn: 3600) }
        defer { imds.stop() }
        let environment = ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(imds.port)"]
        let provider = InstanceMetadataCredentialsProvider(environment: environment, timeout: .seconds(10), cache: clock.cacheConfiguration())
        try await Self.expectCacheLifecycle(of: provider, requestsPerFetch: 3) { imds.requests.count }
    }

    /// Fetches once, then checks that a copy uses the same cache and that setting the timeout, then the
    /// environment (even to the same values), makes the changed copy fetch again while the original stays cached.
    static func expectCacheLifecycle<Provider: AWSCredentialsProvider & EndpointSettings>(
        of provider: Provider, requestsPerFetch: Int, requests: () -> Int
    ) async throws {
        _ = try await provider.credentials()
        #expect(requests() == requestsPerFetch)

        let copy = provider
        _ = try await copy.credentials()
        #expect(requests() == requestsPerFetch, "a copy shares the cache")

        var retimed = provider
        retimed.timeout = .seconds(11)
        _ = try await retimed.credentials()
        #expect(requests() == 2 * requestsPerFetch, "setting the timeout starts a new cache")
        _ = try await retimed.credentials()
        #expect(requests() == 2 * requestsPerFetch, "the new cache keeps what it fetched")
        _ = try await provider.credentials()
        #expect(requests() == 2 * requestsPerFetch, "the original keeps its cache")

        var reread = provider
        reread.environment = provider.environment
        _ = try await reread.credentials()
        #expect(requests() == 3 * requestsPerFetch, "setting the environment starts a new cache")
        #expect(reread.timeout == .seconds(10) && reread.environment == provider.environment)
    }
}

/// The settings both providers expose, so one check serves both.
protocol EndpointSettings {
    var environment: [String: String] { get set }
    var timeout: Duration { get set }
}

extension ContainerCredentialsProvider: EndpointSettings {}
extension InstanceMetadataCredentialsProvider: EndpointSettings {}
