import Conveyor
import Foundation

/// A source of AWS credentials.
public protocol AWSCredentialsProvider: Sendable {
    /// A short description for error messages, e.g. `"environment variables"`. Never contains a secret.
    var sourceDescription: String { get }

    /// Returns credentials, or throws a ``ConveyorError`` (code ``ConveyorError/Code/invalidConfiguration``) that
    /// says what is missing.
    func credentials() async throws -> AWSCredentials
}

/// Fixed credentials.
public struct StaticCredentialsProvider: AWSCredentialsProvider {
    /// The credentials handed out.
    public var value: AWSCredentials

    /// Creates a provider that always returns `credentials`.
    public init(_ credentials: AWSCredentials) { self.value = credentials }

    /// `"static credentials"`.
    public var sourceDescription: String { "static credentials" }

    /// Returns ``value``.
    public func credentials() async throws -> AWSCredentials { value }
}

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optionally) `AWS_SESSION_TOKEN`.
///
/// Its description and reflection (`dump`, debuggers) name the variables it reads that are set, never their values.
public struct EnvironmentCredentialsProvider: AWSCredentialsProvider, CustomStringConvertible, CustomReflectable {
    /// The variables this provider reads.
    static let variables = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]

    /// The environment read.
    public var environment: [String: String]

    /// Creates a provider reading `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) { self.environment = environment }

    /// `"environment variables"`.
    public var sourceDescription: String { "environment variables" }

    /// The credentials in ``environment``, or an ``ConveyorError/Code/invalidConfiguration`` error naming the
    /// missing variables.
    public func credentials() async throws -> AWSCredentials {
        try resolve()
    }

    /// `EnvironmentCredentialsProvider(environment: [AWS_ACCESS_KEY_ID: <redacted>, ...])`: the variables read
    /// that are set, without their values.
    public var description: String {
        "EnvironmentCredentialsProvider(environment: \(CredentialsRedaction.describeEnvironment(environment, reading: Self.variables)))"
    }

    /// The variables read that are set, with redacted values, for `dump` and debuggers.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["environment": CredentialsRedaction.environment(environment, reading: Self.variables)],
            displayStyle: .struct
        )
    }

    func resolve() throws(ConveyorError) -> AWSCredentials {
        let key = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        switch (key, secret) {
        case let (key?, secret?):
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token)
        case (nil, nil):
            throw ConveyorError(.invalidConfiguration, "environment variables: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
        case (nil, _):
            throw ConveyorError(.invalidConfiguration, "environment variables: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is missing")
        case (_, nil):
            throw ConveyorError(.invalidConfiguration, "environment variables: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is missing")
        }
    }
}

/// Tries providers in order and returns the first credentials found, caching them and refreshing them five minutes
/// before they expire.
///
/// One refresh at a time: concurrent callers wait for it. When a refresh fails while the cached credentials are
/// still valid, they are used until they expire (the failure is logged at warning, with no secret) and the chain is
/// tried again after a short backoff.
///
/// When every source fails, the error lists each source tried and what it lacked (never a secret).
///
/// Its description and reflection show the providers (themselves redacted), never the cached credentials' secret.
public final class AWSCredentialsProviderChain: AWSCredentialsProvider, CustomStringConvertible, CustomReflectable {
    /// The providers, in order.
    public let providers: [any AWSCredentialsProvider]
    private let cache: CredentialsCache

    /// Creates a chain of `providers`.
    public convenience init(_ providers: [any AWSCredentialsProvider]) {
        self.init(providers, cache: CredentialsCache.Configuration())
    }

    /// Creates a chain whose cache refreshes as `cache` says (clock, margins, logger: for tests).
    package init(_ providers: [any AWSCredentialsProvider], cache: CredentialsCache.Configuration) {
        self.providers = providers
        self.cache = CredentialsCache(source: "AWS credentials provider chain", configuration: cache)
    }

    /// The standard chain, in the AWS SDKs' order: environment variables, the shared profile (static keys, an
    /// assumed role, IAM Identity Center, `credential_process`), a web identity token (`AWS_WEB_IDENTITY_TOKEN_FILE`,
    /// EKS IRSA), container credentials (ECS, EKS Pod Identity), EC2 IMDSv2.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> AWSCredentialsProviderChain {
        AWSCredentialsProviderChain([
            EnvironmentCredentialsProvider(environment: environment),
            ProfileCredentialsProvider(environment: environment),
            WebIdentityCredentialsProvider(environment: environment),
            ContainerCredentialsProvider(environment: environment),
            InstanceMetadataCredentialsProvider(environment: environment),
        ])
    }

    /// The providers' source descriptions, in order, separated by commas.
    public var sourceDescription: String { providers.map(\.sourceDescription).joined(separator: ", ") }

    /// The first credentials a provider returns, cached until five minutes before they expire; throws an
    /// ``ConveyorError/Code/invalidConfiguration`` error listing every source tried when none has credentials (and
    /// no cached credentials are still valid).
    public func credentials() async throws -> AWSCredentials {
        try await cache.credentials { [providers] in
            var problems: [String] = []
            for provider in providers {
                do {
                    return try await provider.credentials()
                } catch let error as ConveyorError {
                    problems.append(error.message)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    problems.append("\(provider.sourceDescription): \(type(of: error))")
                }
            }
            throw ConveyorError(.invalidConfiguration, "no AWS credentials found; tried: " + problems.joined(separator: "; "))
        }
    }

    /// `AWSCredentialsProviderChain(environment variables, profile "default", ...)`: the sources, never a secret.
    public var description: String { "AWSCredentialsProviderChain(\(sourceDescription))" }

    /// The providers (each with its own redacted reflection), for `dump` and debuggers; the cache is left out.
    public var customMirror: Mirror {
        Mirror(self, children: ["providers": providers], displayStyle: .class)
    }
}
