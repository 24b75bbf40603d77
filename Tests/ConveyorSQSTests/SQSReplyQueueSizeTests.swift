import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// Reply and event-subscription queues are created with SQS's largest message size (1 MiB), not its 256 KiB
/// default, so a result as large as a job may be fits. LocalStack creates every queue with 1 MiB already, so a local
/// SQS stand-in shows what `CreateQueue` asked for.
@Suite("SQS reply queues take 1 MiB messages (local SQS stand-in)")
struct SQSReplyQueueSizeTests {
    @Test(.timeLimit(.minutes(1))) func replyQueuesAreCreatedWithTheLargestMessageSize() async throws {
        let sqs = try LocalHTTPServer { request in
            switch request.headers["x-amz-target"] {
            case "AmazonSQS.CreateQueue": return (200, #"{"QueueUrl":"http://127.0.0.1:1/000000000000/conveyor-replies-host-1"}"#)
            case "AmazonSQS.ListQueues": return (200, #"{"QueueUrls":[]}"#)
            default: return (400, #"{"__type":"com.amazonaws.sqs#InvalidAction","message":"not in this stand-in"}"#)
            }
        }
        defer { sqs.stop() }
        var configuration = SQSQueueProvider.Configuration(
            region: "us-east-1", endpoint: "http://127.0.0.1:\(sqs.port)",
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret")))
        configuration.retryPolicy = .none
        let provider = try SQSQueueProvider(configuration: configuration)
        _ = try await provider.createReplyQueue(named: "conveyor-replies-host-1")
        try await provider.close()
        let create = try #require(sqs.requests.first { $0.headers["x-amz-target"] == "AmazonSQS.CreateQueue" })
        let body = try #require(try JSONSerialization.jsonObject(with: Data(create.body)) as? [String: Any])
        let attributes = try #require(body["Attributes"] as? [String: String])
        #expect(attributes["MaximumMessageSize"] == "1048576")
        #expect(attributes["MessageRetentionPeriod"] == "3600")
    }
}
