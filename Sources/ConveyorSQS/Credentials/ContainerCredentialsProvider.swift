import Conveyor
import Foundation

/// Credentials from the ECS/EKS container credentials endpoint: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
/// (relative to `http://169.254.170.2`) or `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the authorization token from
/// the file named by `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read again on each fetch) or, without it,
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
///
/// As in the AWS SDKs, a full URI must use HTTPS, or HTTP to a loopback host (`127.0.0.0/8`, `[::1]`, `localhost`)
/// or to one of the ECS/EKS addresses `169.254.170.2`, `169.254.170.23` and `[fd00:ec2::23]`; the endpoint is never
/// reached through a proxy (`http_proxy`, `all_proxy`).
///
/// The credentials are cached and refreshed five minutes before they expire, one refresh at a time; when a refresh
/// fails, the cached credentials are used while they are valid (the failure is logged at warning). Copies of a
/// provider share the cache; changing ``environment`` or ``timeout`` starts a new one.
///
/// Its description and reflection (`dump`, debuggers) name the variables it reads that are set, never their values.
public struct ContainerCredentialsProvider: AWSCredentialsProvider, CustomStringConvertible, CustomReflectable {
    /// The variables this provider reads.
    static let variables = [
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ]

    /// The environment read.
    public var environment: [String: String] {
        get { state.environment }
        set { state.environment = newValue }
    }
    /// Per-request timeout.
    public var timeout: Duration {
        get { state.timeout }
        set { state.timeout = newValue }
    }
    private var state: EndpointCredentialsState

    /// Creates a provider reading `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Duration = .seconds(2)) {
        self.init(environment: environment, timeout: timeout, cache: CredentialsCache.Configuration())
    }

    /// Creates a provider whose cache refreshes as `cache` says (clock, margins, logger: for tests).
    package init(environment: [String: String], timeout: Duration = .seconds(2), cache: CredentialsCache.Configuration) {
        self.state = EndpointCredentialsState(
            source: "container credentials", environment: environment, timeout: timeout, cacheConfiguration: cache)
    }

    /// `"container credentials"`.
    public var sourceDescription: String { "container credentials" }

    /// The cached credentials, or credentials fetched from the container endpoint; throws an
    /// ``ConveyorError/Code/invalidConfiguration`` error when no endpoint is configured, the configured one is not
    /// allowed, or it cannot be reached or answers with an error (and no cached credentials are still valid).
    public func credentials() async throws -> AWSCredentials {
        let url = try endpointURL()
        return try await state.credentials { [self] http in
            try await fetch(http, url: url, headers: try authorizationHeaders())
        }
    }

    private func fetch(_ http: CurlMultiLoop, url: String, headers: [(name: String, value: String)]) async throws -> AWSCredentials {
        let response: HTTPResponse
        do {
            response = try await http.perform(HTTPRequest(
                method: "GET", url: url, headers: headers, timeout: timeout, connectTimeout: timeout, proxy: .direct
            ))
        } catch let error as HTTPTransportError {
            throw ConveyorError(.invalidConfiguration, "container credentials: endpoint not reachable (\(error.message))")
        }
        guard response.status == 200 else {
            throw ConveyorError(.invalidConfiguration, "container credentials: endpoint answered HTTP \(response.status)")
        }
        return try CredentialsJSON.parse(response.body, source: "container credentials")
    }

    /// `ContainerCredentialsProvider(environment: [AWS_CONTAINER_...: <redacted>], timeout: ...)`: the variables
    /// read that are set, without their values.
    public var description: String {
        "ContainerCredentialsProvider(environment: \(CredentialsRedaction.describeEnvironment(environment, reading: Self.variables)), timeout: \(timeout))"
    }

    /// The variables read that are set, with redacted values, and the timeout, for `dump` and debuggers.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["environment": CredentialsRedaction.environment(environment, reading: Self.variables), "timeout": timeout],
            displayStyle: .struct
        )
    }
}
