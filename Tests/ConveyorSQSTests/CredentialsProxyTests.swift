import Conveyor
import ConveyorSQS
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The credential endpoints are never reached through a proxy named in the environment (the AWS SDKs never proxy
/// them), so credentials and tokens cannot cross one. A ``LocalHTTPServer`` stands in for the proxy and records any
/// request it gets.
///
/// The proxy variables are process-wide, so these tests run one at a time and restore the environment. Suites running
/// in parallel talk to `127.0.0.1` (LocalStack, local servers), which `no_proxy` keeps direct; the endpoints here are
/// reached as `localhost`, which `no_proxy` does not cover, so only the credential code's own bypass keeps them direct.
@Suite("Credential endpoints bypass proxies (process environment)", .serialized)
struct CredentialsProxyTests {
    static let proxyVariables = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]

    /// Runs `body` with every proxy variable naming `http://127.0.0.1:<proxyPort>` and `no_proxy` set to
    /// `127.0.0.1,::1`, then restores the variables as they were.
    static func withProxy<T>(port: Int, _ body: () async throws -> T) async throws -> T {
        let names = proxyVariables + ["no_proxy", "NO_PROXY"]
        let saved = names.map { name in (name, getenv(name).map { String(cString: $0) }) }
        defer {
            for (name, value) in saved {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        for name in proxyVariables { setenv(name, "http://127.0.0.1:\(port)", 1) }
        for name in ["no_proxy", "NO_PROXY"] { setenv(name, "127.0.0.1,::1", 1) }
        return try await body()
    }

    /// A plain request to `url` under the proxy environment goes to the proxy: the environment is in effect, so a
    /// bypass that did not happen would show.
    static func expectProxyIsUsed(url: String, proxy: LocalHTTPServer) async throws {
        let before = proxy.requests.count
        let loop = CurlMultiLoop(name: "conveyor.test.proxy-check")
        let response = try await loop.perform(HTTPRequest(
            method: "GET", url: url, timeout: .seconds(10), proxy: ProxySettings.fromProcessEnvironment().proxy(for: url)
        ))
        await loop.close()
        #expect(response.status == 502, "the control request did not go through the proxy")
        #expect(proxy.requests.count == before + 1)
    }

    @Test(.timeLimit(.minutes(1))) func containerCredentialsBypassTheProxy() async throws {
        let proxy = try LocalHTTPServer { _ in (502, "proxied") }
        defer { proxy.stop() }
        let endpoint = try LocalHTTPServer { request in
            guard request.path == "/creds" else { return (404, "") }
            return (200, CloudCredentialsTests.credentialsJSON(expiresIn: 3600))
        }
        defer { endpoint.stop() }
        let credentials = try await Self.withProxy(port: proxy.port) {
            try await Self.expectProxyIsUsed(url: "http://localhost:\(endpoint.port)/control", proxy: proxy)
            let provider = ContainerCredentialsProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:\(endpoint.port)/creds",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "proxy-test-token",
                ],
                timeout: .seconds(10)
            )
            return try await provider.credentials()
        }
        #expect(credentials.accessKeyID == "ASIATEMP")
        #expect(endpoint.requests.map(\.path) == ["/creds"])
        #expect(endpoint.requests.first?.headers["authorization"] == "proxy-test-token")
        // Only the control request reached the proxy.
        #expect(proxy.requests.map(\.path) == ["http://localhost:\(endpoint.port)/control"])
    }

    @Test(.timeLimit(.minutes(1))) func instanceMetadataBypassesTheProxy() async throws {
        let proxy = try LocalHTTPServer { _ in (502, "proxied") }
        defer { proxy.stop() }
        let imds = try LocalHTTPServer { request in
            switch (request.method, request.path) {
            case ("PUT", "/latest/api/token"): return (200, "imds-token")
            case ("GET", "/latest/meta-data/iam/security-credentials/"): return (200, "worker-role")
            case ("GET", "/latest/meta-data/iam/security-credentials/worker-role"): return (200, CloudCredentialsTests.credentialsJSON(expiresIn: 3600))
            default: return (404, "")
            }
        }
        defer { imds.stop() }
        let credentials = try await Self.withProxy(port: proxy.port) {
            try await Self.expectProxyIsUsed(url: "http://localhost:\(imds.port)/control", proxy: proxy)
            let provider = InstanceMetadataCredentialsProvider(
                environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://localhost:\(imds.port)"],
                timeout: .seconds(10)
            )
            return try await provider.credentials()
        }
        #expect(credentials.accessKeyID == "ASIATEMP")
        #expect(imds.requests.map(\.method) == ["PUT", "GET", "GET"])
        #expect(proxy.requests.map(\.path) == ["http://localhost:\(imds.port)/control"])
    }

    /// SQS requests follow the proxy environment by default, as libcurl and the AWS SDKs do, and go direct with
    /// `usesProxyFromEnvironment` off.
    @Test(.timeLimit(.minutes(1))) func sqsRequestsFollowTheProxyEnvironmentUnlessTurnedOff() async throws {
        let proxy = try LocalHTTPServer { _ in (400, #"{"__type":"com.amazonaws.sqs#InvalidAction","message":"proxied"}"#) }
        defer { proxy.stop() }
        let sqs = try LocalHTTPServer { _ in (400, #"{"__type":"com.amazonaws.sqs#InvalidAction","message":"direct"}"#) }
        defer { sqs.stop() }
        func statsError(direct: Bool) async throws -> String {
            var configuration = SQSQueueProvider.Configuration(
                region: "us-east-1", endpoint: "http://localhost:\(sqs.port)",
                credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"))
            )
            configuration.retryPolicy = SQSRetryPolicy(maxAttempts: 1)
            configuration.usesProxyFromEnvironment = !direct
            let provider = try SQSQueueProvider(configuration: configuration)
            defer { Task { try? await provider.close() } }
            do {
                _ = try await provider.stats(of: "q")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        let (proxied, direct) = try await Self.withProxy(port: proxy.port) {
            (try await statsError(direct: false), try await statsError(direct: true))
        }
        #expect(proxied.contains("proxied"), "\(proxied)")
        #expect(direct.contains("direct"), "\(direct)")
        #expect(proxy.requests.count == 1 && sqs.requests.count == 1)
    }
}
