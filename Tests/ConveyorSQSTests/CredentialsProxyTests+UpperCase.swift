import Conveyor
import ConveyorSQS
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SQS requests read the proxy from the process environment as the AWS SDKs do. In ``CredentialsProxyTests`` (an
/// extension, so part of that `.serialized` suite): these tests change the process environment too, and must not run
/// while its tests do.
extension CredentialsProxyTests {
    /// Runs `body` with the proxy variables set as `variables` says (every other proxy variable unset) and
    /// `NO_PROXY`/`no_proxy` keeping `127.0.0.1` and `::1` direct (what suites running meanwhile talk to), then
    /// restores every variable as it was.
    static func withProxyVariables<T>(_ variables: [String: String], _ body: () async throws -> T) async throws -> T {
        let names = proxyVariables + ["no_proxy", "NO_PROXY"]
        let saved = names.map { name in (name, getenv(name).map { String(cString: $0) }) }
        defer {
            for (name, value) in saved {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        for name in names { unsetenv(name) }
        for name in ["no_proxy", "NO_PROXY"] { setenv(name, "127.0.0.1,::1", 1) }
        for (name, value) in variables { setenv(name, value, 1) }
        return try await body()
    }

    /// Upper-case `HTTP_PROXY` alone sends requests to an `http` SQS endpoint through the proxy, as the AWS SDKs
    /// do (libcurl, left to itself, reads only the lower-case `http_proxy` and sent them direct).
    @Test(.timeLimit(.minutes(1))) func upperCaseHTTPProxyIsHonouredForAnHTTPEndpoint() async throws {
        let proxy = try LocalHTTPServer { _ in (400, #"{"__type":"com.amazonaws.sqs#InvalidAction","message":"proxied"}"#) }
        defer { proxy.stop() }
        let sqs = try LocalHTTPServer { _ in (400, #"{"__type":"com.amazonaws.sqs#InvalidAction","message":"direct"}"#) }
        defer { sqs.stop() }
        let outcome = try await Self.withProxyVariables(["HTTP_PROXY": "http://127.0.0.1:\(proxy.port)"]) {
            var configuration = SQSQueueProvider.Configuration(
                region: "us-east-1", endpoint: "http://localhost:\(sqs.port)",
                credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"))
            )
            configuration.retryPolicy = SQSRetryPolicy(maxAttempts: 1)
            let provider = try SQSQueueProvider(configuration: configuration)
            defer { Task { try? await provider.close() } }
            do {
                _ = try await provider.stats(of: "q")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(outcome.contains("proxied"), "\(outcome)")
        #expect(proxy.requests.count == 1, "the proxy saw \(proxy.requests.map(\.path))")
        #expect(proxy.requests.first?.path == "http://localhost:\(sqs.port)/")
        #expect(sqs.requests.isEmpty)
    }
}
