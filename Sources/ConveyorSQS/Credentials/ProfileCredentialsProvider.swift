import Conveyor
import Foundation
import Synchronization

/// Credentials from a named profile in the shared credentials file (`~/.aws/credentials`, or
/// `AWS_SHARED_CREDENTIALS_FILE`) and the config file (`~/.aws/config`, or `AWS_CONFIG_FILE`), as the AWS SDKs read
/// them. In order of precedence, a profile may:
/// - **assume a role** (`role_arn`): with a web identity token (`web_identity_token_file`), or signed with the
///   credentials of `source_profile` (itself static keys, another role, and so on: a chain; a cycle is an error) or
///   of `credential_source` (`Environment`, `Ec2InstanceMetadata`, `EcsContainer`); with `external_id`,
///   `role_session_name` and `duration_seconds` (900 to 43,200) passed to STS `AssumeRole`;
/// - use **IAM Identity Center** (SSO): `sso_session` naming an `[sso-session name]` section (`sso_region`,
///   `sso_start_url`), or the legacy `sso_start_url` and `sso_region` in the profile, with `sso_account_id` and
///   `sso_role_name`: the token `aws sso login` cached under `~/.aws/sso/cache` is exchanged for role credentials
///   (`AWS_ENDPOINT_URL_SSO` or `AWS_ENDPOINT_URL` override the portal's address);
/// - hold **static keys** (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`);
/// - run a **`credential_process`** (through `/bin/sh -c` off the cooperative pool, stopped after
///   ``credentialProcessTimeout``; its standard error goes to this process's and is never logged).
///
/// Temporary credentials (roles, SSO, a process's output with an `Expiration`) are cached and refreshed five
/// minutes before they expire, one refresh at a time, keeping still-valid credentials when a refresh fails.
/// Errors name the profile (and the chain of profiles) and what to set; never a secret. Its description and
/// reflection (`dump`, debuggers) show the profile and the files, never the environment or cached credentials.
public struct ProfileCredentialsProvider: AWSCredentialsProvider, CustomStringConvertible, CustomReflectable {
    /// The profile (`AWS_PROFILE`, else `default`).
    public var profile: String
    /// The credentials file path.
    public var credentialsFile: String
    /// The config file path.
    public var configFile: String
    /// How long a `credential_process` may run before it is stopped. Default 60 s.
    public var credentialProcessTimeout: Duration = .seconds(60)
    /// The environment (for `credential_source = Environment`, the STS and SSO endpoints, the SSO cache's home).
    let environment: [String: String]
    /// The caches of temporary credentials, by profile and files; shared by copies.
    private let caches: Caches

    /// Creates a provider for `profile` (default: `AWS_PROFILE` or `"default"`), with file paths from the
    /// environment or the home directory.
    public init(profile: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(profile: profile, environment: environment, cache: CredentialsCache.Configuration())
    }

    /// Creates a provider whose caches refresh as `cache` says (clock, margins, logger: for tests).
    package init(profile: String? = nil, environment: [String: String], cache: CredentialsCache.Configuration) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        self.profile = profile ?? environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        self.credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        self.configFile = environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        self.environment = environment
        self.caches = Caches(configuration: cache)
    }

    /// `profile "<name>"`.
    public var sourceDescription: String { "profile \"\(profile)\"" }

    /// `ProfileCredentialsProvider(profile: "<name>", credentialsFile: ..., configFile: ...)`.
    public var description: String {
        "ProfileCredentialsProvider(profile: \"\(profile)\", credentialsFile: \(credentialsFile), configFile: \(configFile))"
    }

    /// The profile, the files and the process timeout, for `dump` and debuggers (not the environment or caches).
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "profile": profile, "credentialsFile": credentialsFile, "configFile": configFile,
                "credentialProcessTimeout": credentialProcessTimeout,
            ],
            displayStyle: .struct)
    }

    /// The credentials of ``profile``, or an ``ConveyorError/Code/invalidConfiguration`` error saying what is
    /// missing (or the error of the STS, SSO or process call that failed, with no cached credentials still valid).
    public func credentials() async throws -> AWSCredentials {
        let files = Files(credentialsFile: credentialsFile, configFile: configFile)
        let settings = try files.settings(of: profile)
        // Static keys need no cache (and are read again on each call, as before).
        if settings["role_arn"] == nil, settings["sso_session"] == nil, settings["sso_start_url"] == nil,
            settings["aws_access_key_id"] != nil || settings["aws_secret_access_key"] != nil
        {
            return try Self.staticCredentials(settings, profile: profile)
        }
        let cache = caches.cache(for: [profile, credentialsFile, configFile].joined(separator: "\u{0}"))
        return try await cache.credentials { [self] in
            try await resolve(profile, settings: settings, files: files, chain: [])
        }
    }

    /// The profile's credentials; `chain` holds the profiles that led here through `source_profile`.
    func resolve(_ name: String, settings: [String: String], files: Files, chain: [String]) async throws -> AWSCredentials {
        if let role = settings["role_arn"], !role.isEmpty {
            return try await assumeRole(role, profile: name, settings: settings, files: files, chain: chain)
        }
        if settings["sso_session"] != nil || settings["sso_start_url"] != nil {
            return try await SSOCredentials(profile: name, settings: settings, configFile: files.configFile, environment: environment)
                .fetch()
        }
        if settings["aws_access_key_id"] == nil, settings["aws_secret_access_key"] == nil,
            let command = settings["credential_process"], !command.isEmpty
        {
            return try await CredentialProcess.run(command, profile: name, timeout: credentialProcessTimeout)
        }
        return try Self.staticCredentials(settings, profile: name)
    }

    static func staticCredentials(_ settings: [String: String], profile: String) throws(ConveyorError) -> AWSCredentials {
        guard let key = settings["aws_access_key_id"], !key.isEmpty else {
            throw ConveyorError(
                .invalidConfiguration,
                "profile \"\(profile)\": aws_access_key_id is missing (and no role_arn, sso_session or credential_process)")
        }
        guard let secret = settings["aws_secret_access_key"], !secret.isEmpty else {
            throw ConveyorError(.invalidConfiguration, "profile \"\(profile)\": aws_secret_access_key is missing")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: settings["aws_session_token"])
    }

    /// The two files, read when a refresh starts.
    struct Files {
        let credentialsFile: String
        let configFile: String
        let fromCredentials: [String: [String: String]]
        let fromConfig: [String: [String: String]]

        init(credentialsFile: String, configFile: String) {
            self.credentialsFile = credentialsFile
            self.configFile = configFile
            self.fromCredentials = AWSConfigFile.load(credentialsFile, isConfig: false)
            self.fromConfig = AWSConfigFile.load(configFile, isConfig: true)
        }

        /// The profile's settings from both files (the credentials file wins).
        func settings(of profile: String) throws(ConveyorError) -> [String: String] {
            let merged = (fromConfig[profile] ?? [:]).merging(fromCredentials[profile] ?? [:]) { _, credentials in credentials }
            guard !merged.isEmpty else {
                throw ConveyorError(.invalidConfiguration, "profile \"\(profile)\": not found in \(credentialsFile) or \(configFile)")
            }
            return merged
        }
    }

    /// One cache per profile and files, so that changing ``profile`` or a path never serves another's credentials.
    private final class Caches: Sendable {
        let configuration: CredentialsCache.Configuration
        let caches = Mutex<[String: CredentialsCache]>([:])

        init(configuration: CredentialsCache.Configuration) { self.configuration = configuration }

        func cache(for key: String) -> CredentialsCache {
            caches.withLock { caches in
                if let cache = caches[key] { return cache }
                let cache = CredentialsCache(source: "profile credentials", configuration: configuration)
                caches[key] = cache
                return cache
            }
        }
    }
}
