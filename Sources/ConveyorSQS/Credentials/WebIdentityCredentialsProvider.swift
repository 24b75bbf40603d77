import Conveyor
import Foundation

/// Credentials of a role assumed with a web identity token, as on EKS with IAM roles for service accounts (IRSA):
/// `AWS_WEB_IDENTITY_TOKEN_FILE` names the token file (read again at every refresh, since the cluster rotates it),
/// `AWS_ROLE_ARN` the role, and `AWS_ROLE_SESSION_NAME` (optional) the session name. The token is exchanged with
/// STS `AssumeRoleWithWebIdentity` (see ``STSClient`` for the endpoint: `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`,
/// else the regional endpoint of `AWS_REGION`).
///
/// The credentials are cached and refreshed five minutes before they expire, one refresh at a time; when a refresh
/// fails, the cached credentials are used while they are valid (the failure is logged at warning). Copies share the
/// cache.
///
/// Its description and reflection (`dump`, debuggers) name the variables it reads that are set, never their values;
/// errors never show the token.
public struct WebIdentityCredentialsProvider: AWSCredentialsProvider, CustomStringConvertible, CustomReflectable {
    /// The variables this provider reads (besides the region and endpoint variables ``STSClient`` reads).
    static let variables = ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME"]

    /// The environment read.
    public let environment: [String: String]
    /// Per-request timeout for STS.
    public let timeout: Duration
    private let cache: CredentialsCache

    /// Creates a provider reading `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Duration = .seconds(10)) {
        self.init(environment: environment, timeout: timeout, cache: CredentialsCache.Configuration())
    }

    /// Creates a provider whose cache refreshes as `cache` says (clock, margins, logger: for tests).
    package init(environment: [String: String], timeout: Duration = .seconds(10), cache: CredentialsCache.Configuration) {
        self.environment = environment
        self.timeout = timeout
        self.cache = CredentialsCache(source: "web identity", configuration: cache)
    }

    /// `"web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"`.
    public var sourceDescription: String { "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)" }

    /// The cached credentials, or new ones from STS; throws an ``ConveyorError/Code/invalidConfiguration`` error
    /// naming the variable to set when the token file or the role is not configured, and the STS error when the
    /// exchange fails (and no cached credentials are still valid).
    public func credentials() async throws -> AWSCredentials {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let tokenFile = value("AWS_WEB_IDENTITY_TOKEN_FILE") else {
            throw ConveyorError(.invalidConfiguration, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set")
        }
        guard let role = value("AWS_ROLE_ARN") else {
            throw ConveyorError(
                .invalidConfiguration,
                "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is missing; set AWS_ROLE_ARN to the ARN of the role to assume")
        }
        let session = value("AWS_ROLE_SESSION_NAME") ?? WebIdentity.defaultSessionName()
        let sts = STSClient(environment: environment, timeout: timeout)
        return try await cache.credentials {
            try await WebIdentity.assume(tokenFile: tokenFile, role: role, sessionName: session, sts: sts, source: "web identity")
        }
    }

    /// `WebIdentityCredentialsProvider(environment: [AWS_ROLE_ARN: <redacted>, ...])`: the variables read that are
    /// set, without their values.
    public var description: String {
        "WebIdentityCredentialsProvider(environment: \(CredentialsRedaction.describeEnvironment(environment, reading: Self.variables)))"
    }

    /// The variables read that are set, with redacted values, for `dump` and debuggers.
    public var customMirror: Mirror {
        Mirror(self, children: ["environment": CredentialsRedaction.environment(environment, reading: Self.variables)], displayStyle: .struct)
    }
}

/// The exchange of a web identity token for role credentials, shared by the environment provider and by profiles
/// with `web_identity_token_file`.
enum WebIdentity {
    /// Most bytes read from a token file (service account tokens are a few KiB).
    static let maximumTokenBytes = 64 * 1024

    /// `conveyor-<unix time>`, as the SDKs name sessions nobody named.
    static func defaultSessionName() -> String { "conveyor-\(Int(Date().timeIntervalSince1970))" }

    /// Reads the token in `tokenFile` (now, so a rotated token is used) and exchanges it with STS.
    static func assume(tokenFile: String, role: String, sessionName: String, sts: STSClient, source: String) async throws -> AWSCredentials {
        let token = try readToken(tokenFile, source: source)
        do {
            return try await withCredentialsTransfer { http in
                try await sts.assumeRoleWithWebIdentity(role, sessionName: sessionName, token: token, http: http).credentials
            }
        } catch var error as ConveyorError {
            error.message = "\(source): " + error.message
            throw error
        }
    }

    static func readToken(_ path: String, source: String) throws(ConveyorError) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConveyorError(.invalidConfiguration, "\(source): cannot read the token file \(path)")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maximumTokenBytes + 1)) ?? Data()
        guard data.count <= maximumTokenBytes else {
            throw ConveyorError(.invalidConfiguration, "\(source): the token file \(path) is over \(maximumTokenBytes) bytes")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw ConveyorError(.invalidConfiguration, "\(source): the token file \(path) is empty")
        }
        return token
    }
}
