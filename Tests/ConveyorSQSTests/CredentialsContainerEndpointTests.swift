import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// Which `AWS_CONTAINER_CREDENTIALS_FULL_URI` values are allowed (as in the AWS SDKs), and the authorization token.
@Suite("Container credentials endpoint and token")
struct CredentialsContainerEndpointTests {
    @Test(arguments: [
        "https://credentials.example.com/creds?sig=x",
        "https://10.0.0.1/v1/credentials",
        "HTTPS://Example.com/",
        "http://127.0.0.1:8080/creds",
        "http://127.1.2.3/",
        "http://127.255.255.254:1/x",
        "http://localhost/creds",
        "http://LOCALHOST:9911/creds",
        "http://[::1]/creds",
        "http://[0:0:0:0:0:0:0:1]:8080/creds",
        "http://169.254.170.2/v2/credentials/abc",
        "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials",
        "http://[FD00:EC2:0::23]:80/v1/credentials",
        "http://user@127.0.0.1/creds",
    ])
    func allowedFullURIs(_ uri: String) throws {
        try ContainerCredentialsProvider.checkFullURI(uri)
    }

    @Test(arguments: [
        "http://credentials.example.com/creds",
        "http://10.0.0.1/creds",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.3/creds",
        "http://169.254.170.22/creds",
        "http://128.0.0.1/creds",
        "http://0.0.0.0/creds",
        "http://localhost.example.com/creds",
        "http://127.0.0.1.nip.io/creds",
        "http://127.0.0.1@example.com/creds",
        "http://[::2]/creds",
        "http://[::ffff:169.254.169.254]/creds",
        "http://[fd00:ec2::24]/creds",
        "http://[fd00:ec2::254]/creds",
        "ftp://127.0.0.1/creds",
        "file:///etc/passwd",
        "127.0.0.1/creds",
        "not a url",
    ])
    func deniedFullURIs(_ uri: String) {
        #expect {
            try ContainerCredentialsProvider.checkFullURI(uri)
        } throws: { error in
            guard let error = error as? ConveyorError else { return false }
            return error.code == .invalidConfiguration && error.message.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI")
                && error.message.contains("127.0.0.0/8") && error.message.contains("169.254.170.23")
                && error.message.contains("[fd00:ec2::23]") && error.message.contains("https")
        }
    }

    @Test func aDeniedFullURIFailsBeforeAnyRequestAndShowsNoSecret() async throws {
        let provider = ContainerCredentialsProvider(environment: [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://credentials.example.com/creds?sig=URISECRET",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "CONTAINERTOKENVALUE",
        ])
        let error = try await #require(throws: ConveyorError.self) { try await provider.credentials() }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("credentials.example.com"))
        #expect(!error.message.contains("URISECRET"))
        #expect(!error.message.contains("CONTAINERTOKENVALUE"))
    }

    /// `0.0.0.0` is neither loopback nor an ECS/EKS address, yet on Linux it reaches this host: a denied URI whose
    /// endpoint answers shows that the check runs before any request.
    @Test(.timeLimit(.minutes(1))) func aDeniedHostIsNeverContacted() async throws {
        let server = try LocalHTTPServer { _ in (200, CloudCredentialsTests.credentialsJSON(expiresIn: 3600)) }
        defer { server.stop() }
        let provider = ContainerCredentialsProvider(
            environment: [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://0.0.0.0:\(server.port)/creds",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "CONTAINERTOKENVALUE",
            ],
            timeout: .seconds(10)
        )
        let error = try await #require(throws: ConveyorError.self) { try await provider.credentials() }
        #expect(error.code == .invalidConfiguration && error.message.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        #expect(server.requests.isEmpty, "the token was sent to a host that is not allowed")
    }

    @Test func aRelativeURIMustBeAPath() async throws {
        let provider = ContainerCredentialsProvider(environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "@example.com/creds"])
        let error = try await #require(throws: ConveyorError.self) { try await provider.credentials() }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
    }

    @Test(.timeLimit(.minutes(1))) func theTokenFileWinsAndIsReadAgainOnEachFetch() async throws {
        let clock = CredentialsTestClock()
        let server = try LocalHTTPServer { _ in (200, clock.credentialsJSON(expiresIn: 3600)) }
        defer { server.stop() }
        let file = NSTemporaryDirectory() + "conveyor-token-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "token-one\n".write(toFile: file, atomically: true, encoding: .utf8)
        let provider = ContainerCredentialsProvider(
            environment: [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/creds",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": file,
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "token-from-variable",
            ],
            timeout: .seconds(10),
            cache: clock.cacheConfiguration()
        )
        _ = try await provider.credentials()
        try "token-two".write(toFile: file, atomically: true, encoding: .utf8)
        clock.advance(3600 - 60)  // due for refresh
        _ = try await provider.credentials()
        #expect(server.requests.map { $0.headers["authorization"] } == ["token-one", "token-two"])
    }

    @Test func aTokenWithALineBreakIsRefusedWithoutShowingIt() async throws {
        let file = NSTemporaryDirectory() + "conveyor-token-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "SECRETPART\r\nX-Injected: yes".write(toFile: file, atomically: true, encoding: .utf8)
        for environment in [
            ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": file],
            ["AWS_CONTAINER_AUTHORIZATION_TOKEN": "SECRETPART\nX-Injected: yes"],
        ] {
            let provider = ContainerCredentialsProvider(environment: environment.merging([
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds"
            ]) { $1 })
            let error = try await #require(throws: ConveyorError.self) { try await provider.credentials() }
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("line break"))
            #expect(!error.message.contains("SECRETPART"))
        }
    }
}
