import Conveyor

/// What the container and instance metadata providers keep: the environment and per-request timeout they read,
/// and the cache of the credentials they fetch. Setting ``environment`` or ``timeout`` starts a new cache; copies
/// share the cache until then.
struct EndpointCredentialsState: Sendable {
    /// The environment read; setting it starts a new cache.
    var environment: [String: String] {
        didSet { resetCache() }
    }
    /// Per-request timeout; setting it starts a new cache.
    var timeout: Duration {
        didSet { resetCache() }
    }
    private let source: String
    private let cacheConfiguration: CredentialsCache.Configuration
    private var cache: CredentialsCache

    /// The state of a provider of `source` credentials (its ``AWSCredentialsProvider/sourceDescription``), whose
    /// cache refreshes as `cacheConfiguration` says.
    init(source: String, environment: [String: String], timeout: Duration, cacheConfiguration: CredentialsCache.Configuration) {
        self.source = source
        self.environment = environment
        self.timeout = timeout
        self.cacheConfiguration = cacheConfiguration
        self.cache = CredentialsCache(source: source, configuration: cacheConfiguration)
    }

    /// The cached credentials, or those `fetch` gets (see ``CredentialsCache/credentials(fetch:)``) over a
    /// short-lived transfer loop, closed whether `fetch` returns or throws.
    func credentials(fetch: @escaping @Sendable (CurlMultiLoop) async throws -> AWSCredentials) async throws -> AWSCredentials {
        try await cache.credentials {
            try await withCredentialsTransfer(fetch)
        }
    }

    private mutating func resetCache() {
        cache = CredentialsCache(source: source, configuration: cacheConfiguration)
    }
}
