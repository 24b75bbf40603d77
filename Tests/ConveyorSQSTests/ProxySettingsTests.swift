import Conveyor
@testable import ConveyorSQS
import Foundation
import Testing

/// How the SQS client picks its proxy, as the AWS SDKs do: the rules on environment dictionaries (no process
/// environment changes), then requests through local servers, a forwarding proxy and LocalStack.
@Suite("Proxies as the AWS SDKs read them")
struct ProxySettingsTests {
    static func proxy(_ env: [String: String], _ url: String) -> HTTPRequest.Proxy {
        ProxySettings(environment: env).proxy(for: url)
    }

    // MARK: Which variable

    @Test func eachSchemeHasItsVariable() {
        let env = ["HTTPS_PROXY": "http://secure:3128", "HTTP_PROXY": "http://plain:8080"]
        #expect(Self.proxy(env, "https://sqs.us-east-1.amazonaws.com/") == .through("http://secure:3128"))
        #expect(Self.proxy(env, "http://localhost:4566/") == .through("http://plain:8080"))
        #expect(Self.proxy(["HTTPS_PROXY": "http://secure:3128"], "http://localhost:4566/") == .direct)
        #expect(Self.proxy(["HTTP_PROXY": "http://plain:8080"], "https://sqs.us-east-1.amazonaws.com/") == .direct)
        #expect(Self.proxy(["https_proxy": "http://lower:1"], "https://h/") == .through("http://lower:1"))
        #expect(Self.proxy(["http_proxy": "http://lower:1"], "http://h/") == .through("http://lower:1"))
        #expect(Self.proxy(env, "ftp://h/") == .direct)
        #expect(Self.proxy(env, "not a url") == .direct)
        #expect(Self.proxy([:], "https://h/") == .direct)
    }

    @Test func upperCaseComesFirstAndEmptyMeansUnset() {
        #expect(Self.proxy(["HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"], "https://h/") == .through("http://upper:1"))
        #expect(Self.proxy(["HTTPS_PROXY": "", "https_proxy": "http://lower:2"], "https://h/") == .through("http://lower:2"))
        #expect(Self.proxy(["HTTP_PROXY": " ", "http_proxy": ""], "http://h/") == .direct)
    }

    @Test func allProxyIsIgnoredAsTheSDKsIgnoreIt() {
        #expect(Self.proxy(["ALL_PROXY": "http://all:1", "all_proxy": "http://all:1"], "https://h/") == .direct)
        #expect(Self.proxy(["ALL_PROXY": "http://all:1", "all_proxy": "http://all:1"], "http://h/") == .direct)
    }

    @Test func aProxyWithoutSchemeIsHTTP() {
        #expect(Self.proxy(["HTTPS_PROXY": "proxy.corp:3128"], "https://h/") == .through("http://proxy.corp:3128"))
        #expect(Self.proxy(["HTTPS_PROXY": "https://proxy.corp:3128"], "https://h/") == .through("https://proxy.corp:3128"))
    }

    // MARK: NO_PROXY

    static func excluded(_ noProxy: String, _ url: String) -> Bool {
        Self.proxy(["HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:1", "NO_PROXY": noProxy], url) == .direct
    }

    @Test func noProxyStarExcludesEverything() {
        #expect(Self.excluded("*", "https://sqs.us-east-1.amazonaws.com/"))
        #expect(Self.excluded("example.com, *", "http://127.0.0.1:4566/"))
    }

    @Test func noProxyHostNamesMatchExactlyOrAsADomainSuffix() {
        for entry in ["amazonaws.com", ".amazonaws.com", "AMAZONAWS.COM", " amazonaws.com ", "amazonaws.com."] {
            #expect(Self.excluded(entry, "https://sqs.us-east-1.amazonaws.com/"), "\(entry)")
            #expect(Self.excluded(entry, "https://amazonaws.com/"), "\(entry)")
        }
        #expect(Self.excluded("sqs.us-east-1.amazonaws.com", "https://SQS.us-east-1.amazonaws.com/"))
        #expect(Self.excluded("localhost", "http://localhost:4566/"))
        // Whole labels only.
        #expect(!Self.excluded("aws.com", "https://amazonaws.com/"))
        #expect(!Self.excluded("ample.com", "https://example.com/"))
        #expect(!Self.excluded("sqs.us-east-1.amazonaws.com", "https://amazonaws.com/"))
        #expect(!Self.excluded("other.com,another.org", "https://example.com/"))
        #expect(Self.excluded("other.com,example.com", "https://example.com/"))
        #expect(!Self.excluded("", "https://example.com/"))
        #expect(!Self.excluded(",, ,", "https://example.com/"))
    }

    @Test func noProxyIPAddressesMatchExactly() {
        #expect(Self.excluded("127.0.0.1", "http://127.0.0.1:4566/"))
        #expect(!Self.excluded("127.0.0.1", "http://127.0.0.12:4566/"))
        #expect(!Self.excluded("0.0.1", "http://127.0.0.1:4566/"))
        #expect(Self.excluded("::1", "http://[::1]:4566/"))
        #expect(Self.excluded("[::1]", "http://[::1]:4566/"))
        #expect(Self.excluded("[fd00:ec2::23]:80", "http://[fd00:ec2::23]/"))
        #expect(!Self.excluded("[fd00:ec2::23]:81", "http://[fd00:ec2::23]/"))
        #expect(!Self.excluded("::2", "http://[::1]:4566/"))
    }

    @Test func noProxyPortsMatchTheURLsPort() {
        #expect(Self.excluded("localhost:4566", "http://localhost:4566/"))
        #expect(!Self.excluded("localhost:4567", "http://localhost:4566/"))
        #expect(Self.excluded("example.com:443", "https://sqs.example.com/"))
        #expect(!Self.excluded("example.com:443", "http://sqs.example.com/"))
        #expect(Self.excluded("example.com:80", "http://sqs.example.com/"))
        #expect(Self.excluded("127.0.0.1:4566", "http://127.0.0.1:4566/"))
        // An unreadable port skips the entry (never traps).
        for entry in ["localhost:", "localhost:x", "localhost:0", "localhost:65536", "localhost:99999999999999999999", "[::1", "[::1]x"] {
            #expect(!Self.excluded(entry, "http://localhost:4566/"), "\(entry)")
        }
    }

    // MARK: Redaction

    @Test func proxyPasswordsAreRedacted() {
        #expect(ProxySettings.redacted("http://user:s3cret@proxy:3128") == "http://user:***@proxy:3128")
        #expect(ProxySettings.redacted("http://user:s3cret@proxy:3128/path") == "http://user:***@proxy:3128/path")
        #expect(ProxySettings.redacted("http://token@proxy:3128") == "http://token:***@proxy:3128")
        #expect(ProxySettings.redacted("http://us@er:p@ss@proxy:3128") == "http://us@er:***@proxy:3128")
        #expect(ProxySettings.redacted("http://proxy:3128") == "http://proxy:3128")
        #expect(ProxySettings.redacted("proxy:3128") == "proxy:3128")
        let proxy = Self.proxy(["HTTPS_PROXY": "user:s3cret@proxy:3128"], "https://h/")
        #expect(proxy == .through("http://user:s3cret@proxy:3128"))
        #expect("\(proxy)" == "proxy http://user:***@proxy:3128")
        #expect(ProxySettings.userInformation(of: "http://user:s3cret@proxy:3128") == "user:s3cret")
        #expect(ProxySettings.userInformation(of: "http://proxy:3128/a@b") == nil)
    }

    /// A request through a proxy that refuses the connection fails with an error that names the proxy but not its
    /// password.
    @Test(.timeLimit(.minutes(1))) func anErrorThroughAProxyNeverShowsItsPassword() async throws {
        let sqs = try LocalHTTPServer { _ in (200, "{}") }
        defer { sqs.stop() }
        // Port 1 on 127.0.0.1: nothing listens, so the connection to the proxy is refused.
        let provider = try Self.provider(endpoint: "http://localhost:\(sqs.port)", proxyEnvironment: ["HTTP_PROXY": "http://conveyor:s3cret-pw@127.0.0.1:1"])
        do {
            _ = try await provider.client.call(SQSAPI.GetQueueURL(queueName: "q"))
            Issue.record("a request through a closed proxy succeeded")
        } catch {
            let text = "\(error)" + String(reflecting: error)
            #expect(!text.contains("s3cret-pw"), "\(text)")
            #expect(text.contains("via proxy http://conveyor:***@127.0.0.1:1"), "\(text)")
        }
        try await provider.close()
        #expect(sqs.requests.isEmpty)
    }

    // MARK: Requests

    static func provider(
        endpoint: String, proxyEnvironment: [String: String], caBundle: String? = nil
    ) throws -> SQSQueueProvider {
        // Read once (SQSTestEnvironment), not here: CredentialsProxyTests changes the process environment while this
        // suite runs, and reading it then races with those changes.
        let env = SQSTestEnvironment.environment
        var configuration = SQSQueueProvider.Configuration(
            region: env["AWS_REGION"] ?? "us-east-1", endpoint: endpoint,
            credentials: StaticCredentialsProvider(AWSCredentials(
                accessKeyID: env["AWS_ACCESS_KEY_ID"] ?? "AKIDEXAMPLE",
                secretAccessKey: env["AWS_SECRET_ACCESS_KEY"] ?? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
            ))
        )
        configuration.retryPolicy = .none
        configuration.requestTimeout = .seconds(20)
        configuration.caBundlePath = caBundle
        configuration._proxyEnvironment = proxyEnvironment
        return try SQSQueueProvider(configuration: configuration)
    }

    /// `NO_PROXY` keeps a host direct; the same request without it goes to the proxy.
    @Test(.timeLimit(.minutes(1))) func noProxyKeepsAHostDirect() async throws {
        let proxy = try LocalHTTPServer { _ in (400, #"{"__type":"com.amazonaws.sqs#InvalidAction","message":"proxied"}"#) }
        defer { proxy.stop() }
        let sqs = try LocalHTTPServer { _ in (200, #"{"QueueUrl":"http://localhost/000000000000/q"}"#) }
        defer { sqs.stop() }
        let endpoint = "http://localhost:\(sqs.port)"
        for noProxy in ["localhost", ".localhost", "localhost:\(sqs.port)", "*", "example.com,localhost"] {
            let direct = try Self.provider(endpoint: endpoint, proxyEnvironment: ["HTTP_PROXY": "http://127.0.0.1:\(proxy.port)", "NO_PROXY": noProxy])
            #expect(direct.client.proxy == .direct, "\(noProxy)")
            _ = try await direct.client.call(SQSAPI.GetQueueURL(queueName: "q"))
            try await direct.close()
        }
        #expect(proxy.requests.isEmpty)
        #expect(sqs.requests.count == 5)
        let proxied = try Self.provider(endpoint: endpoint, proxyEnvironment: ["HTTP_PROXY": "http://127.0.0.1:\(proxy.port)", "no_proxy": "localhost:1"])
        await #expect(throws: ConveyorError.self) { try await proxied.client.call(SQSAPI.GetQueueURL(queueName: "q")) }
        try await proxied.close()
        #expect(proxy.requests.map(\.path) == ["\(endpoint)/"])
        #expect(sqs.requests.count == 5)
        // Turned off, the environment is not read at all.
        var configuration = SQSQueueProvider.Configuration(
            region: "us-east-1", endpoint: endpoint,
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"))
        )
        configuration._proxyEnvironment = ["HTTP_PROXY": "http://127.0.0.1:\(proxy.port)"]
        configuration.usesProxyFromEnvironment = false
        let off = try SQSQueueProvider(configuration: configuration)
        #expect(off.client.proxy == .direct)
        try await off.close()
    }

    /// `HTTP_PROXY` carries real SQS calls to LocalStack through a forwarding proxy, which sees them in absolute form.
    @Test(.timeLimit(.minutes(2)), .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT"))
    func httpProxyCarriesSQSCallsToLocalStack() async throws {
        let endpoint = try #require(SQSTestEnvironment.endpoint)
        let forwarder = try ForwardingProxy()
        defer { forwarder.stop() }
        let provider = try Self.provider(endpoint: endpoint, proxyEnvironment: ["HTTP_PROXY": "http://127.0.0.1:\(forwarder.port)"])
        #expect(provider.client.proxy == .through("http://127.0.0.1:\(forwarder.port)"))
        try await Self.roundTrip(provider, hint: "http-proxy")
        let target = ProxySettings.target(of: endpoint)
        let line = "POST http://\(target?.host ?? "?"):\(target?.port ?? 0)/ HTTP/1.1"
        #expect(forwarder.requestLines.contains(line), "\(forwarder.requestLines)")
    }

    /// `HTTPS_PROXY` carries real SQS calls to LocalStack over TLS: the client opens a `CONNECT localhost:4566` tunnel
    /// through the forwarding proxy and checks LocalStack's certificate through it.
    @Test(.timeLimit(.minutes(2)), .enabled(if: SQSHTTPSEnvironment.enabled, "set CONVEYOR_SQS_HTTPS_ENDPOINT and CONVEYOR_SQS_CA_BUNDLE (scripts/test.sh does)"))
    func httpsProxyTunnelsSQSCallsToLocalStack() async throws {
        let environment = SQSHTTPSEnvironment.environment
        let endpoint = try #require(environment["CONVEYOR_SQS_HTTPS_ENDPOINT"])
        let bundle = try #require(environment["CONVEYOR_SQS_CA_BUNDLE"])
        let forwarder = try ForwardingProxy()
        defer { forwarder.stop() }
        let provider = try Self.provider(
            endpoint: endpoint, proxyEnvironment: ["HTTPS_PROXY": "http://127.0.0.1:\(forwarder.port)", "HTTP_PROXY": "http://127.0.0.1:1"],
            caBundle: bundle
        )
        try await Self.roundTrip(provider, hint: "https-proxy")
        let target = ProxySettings.target(of: endpoint)
        #expect(target?.host == "localhost")
        #expect(forwarder.requestLines.contains("CONNECT localhost:\(target?.port ?? 0) HTTP/1.1"), "\(forwarder.requestLines)")
        #expect(forwarder.requestLines.allSatisfy { $0.hasPrefix("CONNECT ") }, "\(forwarder.requestLines)")
    }

    /// Creates a queue, sends and receives a job, deletes the queue, closes the provider.
    static func roundTrip(_ provider: SQSQueueProvider, hint: String) async throws {
        let queue = SQSTestEnvironment.uniqueName(hint)
        try await provider.createQueue(queue, options: QueueOptions(deadLetterQueue: false))
        do {
            let (sent, received) = try await SQSTestEnvironment.sendAndReceive(provider, queue, count: 1)
            #expect(received.count == 1)
            #expect(SQSTestEnvironment.ids(received) == Set(sent.map { $0.envelope.id }))
        } catch {
            try? await provider.deleteQueue(queue)
            try? await provider.close()
            throw error
        }
        try await provider.deleteQueue(queue)
        try await provider.close()
    }
}
