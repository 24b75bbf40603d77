import Conveyor
@testable import ConveyorSQS
import Foundation
import Testing

/// Retries against a local server that throttles: the number of attempts follows `AWS_MAX_ATTEMPTS` (and
/// `AWS_RETRY_MODE`), read by ``SQSQueueProvider/Configuration/fromEnvironment(_:)``.
@Suite("SQS retry attempts follow AWS_MAX_ATTEMPTS")
struct SQSRetryAttemptsTests {
    /// A server that answers `ThrottlingException` to the first `throttled` requests, then a `GetQueueUrl` answer.
    static func throttlingServer(throttled: Int) throws -> LocalHTTPServer {
        let seen = CredentialsTestCounter()
        return try LocalHTTPServer { _ in
            if seen.increment() <= throttled {
                return (400, #"{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"}"#)
            }
            return (200, #"{"QueueUrl":"http://127.0.0.1/000000000000/q"}"#)
        }
    }

    /// A provider for `server` configured from `variables` as from the environment (no profile), with backoffs
    /// shortened to at most a few milliseconds (the test counts requests, not time).
    static func provider(for server: LocalHTTPServer, _ variables: [String: String]) throws -> SQSQueueProvider {
        var env = [
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:\(server.port)",
            "AWS_CONFIG_FILE": "/nonexistent/config", "HOME": "/nonexistent",
        ]
        env.merge(variables) { $1 }
        var configuration = try SQSQueueProvider.Configuration.fromEnvironment(env)
        configuration.credentials = StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"))
        configuration.retryPolicy.baseDelay = .milliseconds(1)
        configuration.retryPolicy.maxDelay = .milliseconds(4)
        configuration.usesProxyFromEnvironment = false
        return try SQSQueueProvider(configuration: configuration)
    }

    @Test(.timeLimit(.minutes(1)), arguments: [
        ["AWS_MAX_ATTEMPTS": "3", "AWS_RETRY_MODE": "standard"],
        ["AWS_MAX_ATTEMPTS": "3"],
        ["AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "legacy"],
        ["AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "adaptive"],
    ])
    func throttledRequestsAreTriedAWSMaxAttemptsTimes(_ variables: [String: String]) async throws {
        let server = try Self.throttlingServer(throttled: 100)
        defer { server.stop() }
        let provider = try Self.provider(for: server, variables)
        do {
            _ = try await provider.client.call(SQSAPI.GetQueueURL(queueName: "q"))
            Issue.record("a request throttled every time succeeded")
        } catch let error as ConveyorError {
            #expect(error.code == .throttled, "\(error)")
        }
        try await provider.close()
        #expect(server.requests.count == Int(variables["AWS_MAX_ATTEMPTS"] ?? "") ?? -1)
    }

    /// Throttled twice, then answered: with three attempts allowed the call succeeds on the third.
    @Test(.timeLimit(.minutes(1))) func aRequestThrottledLessThanMaxAttemptsTimesSucceeds() async throws {
        let server = try Self.throttlingServer(throttled: 2)
        defer { server.stop() }
        let provider = try Self.provider(for: server, ["AWS_MAX_ATTEMPTS": "3", "AWS_RETRY_MODE": "standard"])
        let url = try await provider.client.call(SQSAPI.GetQueueURL(queueName: "q")).url
        try await provider.close()
        #expect(url == "http://127.0.0.1/000000000000/q")
        #expect(server.requests.count == 3)
    }
}
