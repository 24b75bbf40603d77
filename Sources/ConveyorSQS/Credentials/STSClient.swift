import Conveyor
import Foundation

/// The two AWS STS actions the role-assuming credential sources call, over STS's query protocol (a form-encoded
/// `POST`, an XML answer): `AssumeRole`, signed with the source credentials, and `AssumeRoleWithWebIdentity`,
/// unsigned (the web identity token is the proof).
///
/// The endpoint is `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the regional
/// `https://sts.<region>.amazonaws.com` (region from `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile), else the
/// global `https://sts.amazonaws.com` (signed for `us-east-1`), as the AWS SDKs choose it. `AWS_CA_BUNDLE` is
/// trusted for HTTPS; `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` apply as for SQS (``ProxySettings``). Transient failures (connection errors, HTTP 5xx, throttling, `IDPCommunicationError`) are
/// tried again up to three times in all, with jittered backoff.
///
/// Errors name the action, the role and what STS answered; never a key, a token or the request body.
package struct STSClient: Sendable {
    /// Where requests go, e.g. `https://sts.eu-west-1.amazonaws.com/`.
    package var endpoint: String
    /// The region requests are signed for.
    package var region: String
    /// A CA bundle to trust for HTTPS (`AWS_CA_BUNDLE`), or `nil` for the system's.
    package var caBundlePath: String?
    /// The environment proxies are read from (the SDKs' `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`).
    package var environment: [String: String]
    /// Per-request timeout.
    package var timeout: Duration
    /// Attempts per call, the first included.
    package var maxAttempts = 3

    /// Temporary credentials and the identity they were issued to.
    package struct Issued: Sendable {
        /// The credentials (with their expiry).
        package var credentials: AWSCredentials
        /// The assumed role's ARN (`AssumedRoleUser/Arn`), when STS gave it.
        package var assumedRoleARN: String?
    }

    /// A client for the endpoint `environment` names, or the regional one of `region` (the profile's region when
    /// the environment names none).
    package init(environment: [String: String], profileRegion: String? = nil, timeout: Duration = .seconds(10)) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? profileRegion
        if let override = value("AWS_ENDPOINT_URL_STS") ?? value("AWS_ENDPOINT_URL") {
            self.endpoint = override.hasSuffix("/") ? override : override + "/"
        } else if let region {
            self.endpoint = "https://sts.\(region).\(region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com")/"
        } else {
            self.endpoint = "https://sts.amazonaws.com/"
        }
        self.region = region ?? "us-east-1"
        self.caBundlePath = value("AWS_CA_BUNDLE")
        self.environment = environment
        self.timeout = timeout
    }

    /// `AssumeRole` signed with `source`: temporary credentials of `roleARN`.
    package func assumeRole(
        _ roleARN: String, sessionName: String, externalID: String? = nil, durationSeconds: Int? = nil,
        source: AWSCredentials, http: CurlMultiLoop
    ) async throws -> Issued {
        var parameters = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let externalID { parameters.append(("ExternalId", externalID)) }
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        return try await call("AssumeRole", role: roleARN, parameters: parameters, signedWith: source, http: http)
    }

    /// `AssumeRoleWithWebIdentity` with `token` (unsigned): temporary credentials of `roleARN`.
    package func assumeRoleWithWebIdentity(
        _ roleARN: String, sessionName: String, token: String, durationSeconds: Int? = nil, http: CurlMultiLoop
    ) async throws -> Issued {
        var parameters = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ]
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        return try await call("AssumeRoleWithWebIdentity", role: roleARN, parameters: parameters, signedWith: nil, http: http)
    }

    private func call(
        _ action: String, role: String, parameters: [(String, String)], signedWith source: AWSCredentials?, http: CurlMultiLoop
    ) async throws -> Issued {
        let body = Array(Self.formEncode(parameters).utf8)
        var attempt = 1
        while true {
            do {
                return try await callOnce(action, role: role, body: body, signedWith: source, http: http)
            } catch let error as ConveyorError where error.isRetryable && attempt < maxAttempts {
                attempt += 1
                // Full jitter over 100 ms, 200 ms, ...
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...(100 << (attempt - 2)))))
            }
        }
    }

    private func callOnce(
        _ action: String, role: String, body: [UInt8], signedWith source: AWSCredentials?, http: CurlMultiLoop
    ) async throws -> Issued {
        guard let components = URLComponents(string: endpoint), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw ConveyorError(.invalidConfiguration, "STS \(action): endpoint \"\(endpoint)\" is not an http(s) URL (AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL)")
        }
        var hostHeader = host.contains(":") ? "[\(host)]" : host
        if let port = components.port { hostHeader += ":\(port)" }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        var headers: [(name: String, value: String)] = [
            (name: "Host", value: hostHeader),
            (name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8"),
        ]
        if let source {
            let signer = SigV4Signer(region: region, service: "sts")
            let signed = signer.sign(
                SigV4Signer.Request(method: "POST", path: path, query: "", headers: headers, body: body),
                credentials: source, date: Date())
            headers += signed.headersToAdd
        }
        let response: HTTPResponse
        do {
            response = try await http.perform(HTTPRequest(
                method: "POST", url: endpoint, headers: headers, body: body, timeout: timeout, connectTimeout: timeout,
                proxy: ProxySettings(environment: environment).proxy(for: endpoint), caBundlePath: caBundlePath))
        } catch let error as HTTPTransportError {
            throw ConveyorError(
                .connectionFailed, "STS \(action) for role \(role): endpoint \(endpoint) not reachable (\(error.message))",
                retryable: !(error.code == 60 || error.code == 77))
        }
        let document = STSXMLDocument(response.body)
        guard response.status == 200 else {
            let code = document.first("Code") ?? "HTTP \(response.status)"
            let message = document.first("Message").map { " (\($0.prefix(300)))" } ?? ""
            let retryable = response.status >= 500 || ["Throttling", "ThrottlingException", "IDPCommunicationError", "RequestLimitExceeded"].contains(code)
            throw ConveyorError(
                response.status == 403 || code == "AccessDenied" ? .accessDenied : .invalidConfiguration,
                "STS \(action) for role \(role) failed: \(code)\(message)", retryable: retryable)
        }
        guard let key = document.first("AccessKeyId"), let secret = document.first("SecretAccessKey"),
            let token = document.first("SessionToken"), let expiration = document.first("Expiration").flatMap(AWSTimestamp.parse)
        else {
            throw ConveyorError(.brokerError, "STS \(action) for role \(role): the answer lacks AccessKeyId, SecretAccessKey, SessionToken or Expiration")
        }
        return Issued(
            credentials: AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token, expiration: expiration),
            assumedRoleARN: document.first("Arn"))
    }

    /// `application/x-www-form-urlencoded` as the AWS query protocol wants it: RFC 3986 unreserved characters kept,
    /// everything else percent-encoded (space as `%20`).
    static func formEncode(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(SigV4Signer.encode($0.0, keepSlash: false))=\(SigV4Signer.encode($0.1, keepSlash: false))" }
            .joined(separator: "&")
    }
}
