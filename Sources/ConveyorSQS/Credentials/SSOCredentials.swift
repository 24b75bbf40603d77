import Conveyor
import Crypto
import Foundation

/// Role credentials of an IAM Identity Center (SSO) profile, as the AWS SDKs get them: the access token that
/// `aws sso login` cached in `~/.aws/sso/cache/<SHA-1 of the session name, or of the legacy start URL>.json` is
/// exchanged at the portal (`GET /federation/credentials`, header `x-amz-sso_bearer_token`) for the credentials of
/// `sso_role_name` in `sso_account_id`. The portal is reached through the proxy `HTTPS_PROXY`/`HTTP_PROXY` name
/// (unless `NO_PROXY` covers it), as SQS and STS are.
///
/// Conveyor does not refresh the access token itself: when none is cached, or it has expired, or the portal refuses
/// it, the error says to run `aws sso login`. Errors never show the token.
struct SSOCredentials {
    let profile: String
    let settings: [String: String]
    let configFile: String
    let environment: [String: String]

    private var label: String { "profile \"\(profile)\" (IAM Identity Center)" }
    private var login: String { "run `aws sso login --profile \(profile)`" }

    func fetch() async throws -> AWSCredentials {
        func setting(_ values: [String: String], _ key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }
        let region: String?
        let cacheKey: String
        if let session = setting(settings, "sso_session") {
            guard let section = AWSConfigFile.ssoSessions(configFile)[session] else {
                throw ConveyorError(.invalidConfiguration, "\(label): sso_session \"\(session)\" has no [sso-session \(session)] section in \(configFile)")
            }
            region = setting(section, "sso_region")
            guard setting(section, "sso_start_url") != nil else {
                throw ConveyorError(.invalidConfiguration, "\(label): the [sso-session \(session)] section lacks sso_start_url")
            }
            cacheKey = Self.sha1(session)
        } else {
            guard let startURL = setting(settings, "sso_start_url") else {
                throw ConveyorError(.invalidConfiguration, "\(label): set sso_session (or the legacy sso_start_url and sso_region)")
            }
            region = setting(settings, "sso_region")
            cacheKey = Self.sha1(startURL)
        }
        guard let region else {
            throw ConveyorError(.invalidConfiguration, "\(label): sso_region is missing")
        }
        guard let account = setting(settings, "sso_account_id"), let role = setting(settings, "sso_role_name") else {
            throw ConveyorError(.invalidConfiguration, "\(label): sso_account_id and sso_role_name must both be set")
        }
        let token = try cachedToken(cacheKey)
        return try await roleCredentials(region: region, account: account, role: role, token: token)
    }

    /// The cached access token, unless it is missing, unreadable or expired.
    private func cachedToken(_ key: String) throws(ConveyorError) -> String {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let path = "\(home)/.aws/sso/cache/\(key).json"
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConveyorError(.invalidConfiguration, "\(label): no IAM Identity Center token is cached (\(path)); \(login)")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        guard let object = try? JSONReader.read(Array(data), limits: .init(maximumBytes: 1 << 20, maximumDepth: 16)),
            let token = object["accessToken"]?.string, !token.isEmpty,
            let expiresAt = object["expiresAt"]?.string.flatMap(AWSTimestamp.parse)
        else {
            throw ConveyorError(.invalidConfiguration, "\(label): the cached token \(path) lacks accessToken or expiresAt; \(login)")
        }
        guard expiresAt > Date() else {
            throw ConveyorError(.invalidConfiguration, "\(label): the cached IAM Identity Center token expired at \(ISO8601DateFormatter().string(from: expiresAt)); \(login)")
        }
        return token
    }

    /// `GetRoleCredentials` at the portal.
    private func roleCredentials(region: String, account: String, role: String, token: String) async throws -> AWSCredentials {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var base = value("AWS_ENDPOINT_URL_SSO") ?? value("AWS_ENDPOINT_URL") ?? "https://portal.sso.\(region).amazonaws.com"
        while base.hasSuffix("/") { base.removeLast() }
        let query = "account_id=\(SigV4Signer.encode(account, keepSlash: false))&role_name=\(SigV4Signer.encode(role, keepSlash: false))"
        let url = "\(base)/federation/credentials?\(query)"
        let request = HTTPRequest(
            method: "GET", url: url, headers: [(name: "x-amz-sso_bearer_token", value: token)],
            timeout: .seconds(10), connectTimeout: .seconds(10), proxy: ProxySettings(environment: environment).proxy(for: url),
            caBundlePath: value("AWS_CA_BUNDLE"))
        let response: HTTPResponse
        do {
            response = try await withCredentialsTransfer { http in try await http.perform(request) }
        } catch let error as HTTPTransportError {
            throw ConveyorError(.connectionFailed, "\(label): the portal \(base) is not reachable (\(error.message))", retryable: true)
        }
        guard response.status == 200 else {
            if response.status == 401 || response.status == 403 {
                throw ConveyorError(.accessDenied, "\(label): the portal refused the cached token (HTTP \(response.status)); \(login)")
            }
            throw ConveyorError(.invalidConfiguration, "\(label): GetRoleCredentials for role \(role) in account \(account) answered HTTP \(response.status)", retryable: response.status >= 500)
        }
        guard let object = try? JSONReader.read(response.body, limits: .init(maximumBytes: 1 << 20, maximumDepth: 16)),
            let credentials = object["roleCredentials"],
            let key = credentials["accessKeyId"]?.string, let secret = credentials["secretAccessKey"]?.string
        else {
            throw ConveyorError(.brokerError, "\(label): GetRoleCredentials answered without roleCredentials")
        }
        var expiration: Date?
        if case .number(let text)? = credentials["expiration"], let milliseconds = Int64(text), milliseconds > 0 {
            expiration = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: credentials["sessionToken"]?.string, expiration: expiration)
    }

    /// The lower-case hex SHA-1 of `text`: the name of its token cache file.
    static func sha1(_ text: String) -> String {
        Insecure.SHA1.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
