import Conveyor
import Foundation

/// Credentials of the EC2 instance role, from the instance metadata service with IMDSv2 session tokens.
/// Disabled by `AWS_EC2_METADATA_DISABLED=true`; the endpoint can be overridden with `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
/// The metadata service is never reached through a proxy (`http_proxy`, `all_proxy`).
///
/// The credentials are cached and refreshed five minutes before they expire, one refresh at a time; when a refresh
/// fails, the cached credentials are used while they are valid (the failure is logged at warning). Copies of a
/// provider share the cache; changing ``environment`` or ``timeout`` starts a new one.
///
/// Its description and reflection (`dump`, debuggers) name the variables it reads that are set, never their values.
public struct InstanceMetadataCredentialsProvider: AWSCredentialsProvider, CustomStringConvertible, CustomReflectable {
    /// The variables this provider reads.
    static let variables = ["AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT"]

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
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Duration = .seconds(1)) {
        self.init(environment: environment, timeout: timeout, cache: CredentialsCache.Configuration())
    }

    /// Creates a provider whose cache refreshes as `cache` says (clock, margins, logger: for tests).
    package init(environment: [String: String], timeout: Duration = .seconds(1), cache: CredentialsCache.Configuration) {
        self.state = EndpointCredentialsState(
            source: "EC2 instance metadata", environment: environment, timeout: timeout, cacheConfiguration: cache)
    }

    /// `"EC2 instance metadata"`.
    public var sourceDescription: String { "EC2 instance metadata" }

    /// The cached credentials, or the instance role's credentials fetched with IMDSv2; throws an
    /// ``ConveyorError/Code/invalidConfiguration`` error when disabled, unreachable, or the instance has no role (and
    /// no cached credentials are still valid).
    public func credentials() async throws -> AWSCredentials {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            throw ConveyorError(.invalidConfiguration, "EC2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED")
        }
        var base = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] ?? "http://169.254.169.254"
        while base.hasSuffix("/") { base.removeLast() }
        return try await state.credentials { [self, base] http in
            try await fetch(http, base: base)
        }
    }

    private func fetch(_ http: CurlMultiLoop, base: String) async throws -> AWSCredentials {
        do {
            let tokenResponse = try await http.perform(HTTPRequest(
                method: "PUT",
                url: base + "/latest/api/token",
                headers: [(name: "X-aws-ec2-metadata-token-ttl-seconds", value: "21600")],
                timeout: timeout,
                connectTimeout: timeout,
                proxy: .direct
            ))
            guard tokenResponse.status == 200 else {
                throw ConveyorError(.invalidConfiguration, "EC2 instance metadata: token request answered HTTP \(tokenResponse.status)")
            }
            let token = String(decoding: tokenResponse.body, as: UTF8.self)
            let tokenHeader = [(name: "X-aws-ec2-metadata-token", value: token)]
            let path = base + "/latest/meta-data/iam/security-credentials/"
            let roleResponse = try await http.perform(HTTPRequest(
                method: "GET", url: path, headers: tokenHeader, timeout: timeout, connectTimeout: timeout, proxy: .direct
            ))
            guard roleResponse.status == 200,
                let role = String(decoding: roleResponse.body, as: UTF8.self).split(whereSeparator: \.isNewline).first
            else {
                throw ConveyorError(.invalidConfiguration, "EC2 instance metadata: no instance role (HTTP \(roleResponse.status))")
            }
            let response = try await http.perform(HTTPRequest(
                method: "GET", url: path + role, headers: tokenHeader, timeout: timeout, connectTimeout: timeout, proxy: .direct
            ))
            guard response.status == 200 else {
                throw ConveyorError(.invalidConfiguration, "EC2 instance metadata: role credentials answered HTTP \(response.status)")
            }
            return try CredentialsJSON.parse(response.body, source: "EC2 instance metadata")
        } catch let error as HTTPTransportError {
            throw ConveyorError(.invalidConfiguration, "EC2 instance metadata: not reachable (\(error.message))")
        }
    }

    /// `InstanceMetadataCredentialsProvider(environment: [...: <redacted>], timeout: ...)`: the variables read that
    /// are set, without their values.
    public var description: String {
        "InstanceMetadataCredentialsProvider(environment: \(CredentialsRedaction.describeEnvironment(environment, reading: Self.variables)), timeout: \(timeout))"
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
