import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// Integration tests run when `CONVEYOR_SQS_ENDPOINT` is set (LocalStack, or the SigV4-checking proxy in front of
/// it). In CI (`CI` set) they run regardless and fail when the endpoint is missing.
enum SQSTestEnvironment {
    static let environment = ProcessInfo.processInfo.environment
    static let endpoint = environment["CONVEYOR_SQS_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
    static let enabled = endpoint != nil || environment["CI"] != nil
    /// Set when the endpoint verifies signatures (the proxy): then bad credentials must be refused.
    static let verifiesSignatures = environment["CONVEYOR_SQS_VERIFIES_SIGNATURES"] == "1"

    static func configuration(credentials: (any AWSCredentialsProvider)? = nil) throws -> SQSQueueProvider.Configuration {
        guard let endpoint else {
            throw ConveyorError(.invalidConfiguration, "CI is set but CONVEYOR_SQS_ENDPOINT is not: start scripts/sqs-test-env.sh")
        }
        var env = environment
        env["AWS_ENDPOINT_URL_SQS"] = endpoint
        if env["AWS_REGION"] == nil { env["AWS_REGION"] = "us-east-1" }
        var configuration = try SQSQueueProvider.Configuration.fromEnvironment(env)
        if let credentials { configuration.credentials = credentials }
        configuration.requestTimeout = .seconds(20)
        return configuration
    }

    static func makeProvider(credentials: (any AWSCredentialsProvider)? = nil) throws -> SQSQueueProvider {
        try SQSQueueProvider(configuration: configuration(credentials: credentials))
    }

    static func uniqueName(_ hint: String) -> String {
        "t-\(hint)-\(UInt32.random(in: 0...UInt32.max))-\(Int(Date().timeIntervalSince1970) % 100_000)"
    }

    /// Creates a queue (with DLQ) for one test, runs `body`, then deletes both and closes the provider.
    ///
    /// `configure` adjusts the provider's configuration, e.g. `{ $0.visibilityTimeout = nil }` for a test that relies
    /// on the queue's own visibility timeout.
    static func withQueue(
        _ hint: String,
        fifo: Bool = false,
        options: QueueOptions = QueueOptions(),
        configure: (inout SQSQueueProvider.Configuration) -> Void = { _ in },
        _ body: (SQSQueueProvider, String) async throws -> Void
    ) async throws {
        var config = try Self.configuration()
        configure(&config)
        let provider = try SQSQueueProvider(configuration: config)
        let name = uniqueName(hint) + (fifo ? ".fifo" : "")
        var options = options
        options.fifo = fifo
        try await provider.createQueue(name, options: options)
        do {
            try await body(provider, name)
        } catch {
            try? await provider.deleteQueue(name)
            try? await provider.close()
            throw error
        }
        try await provider.deleteQueue(name)
        try await provider.close()
    }

    static func envelope(_ task: String = "test.echo", payload: String = #"{"n":1}"#, dedup: String? = nil) -> Envelope {
        Envelope(task: task, payload: Array(payload.utf8), correlationID: "corr-1", deduplicationKey: dedup,
                 traceContext: ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
    }

    /// Receives until `count` messages arrived or `rounds` polls returned nothing.
    static func drain(_ provider: SQSQueueProvider, _ queue: String, count: Int, rounds: Int = 5) async throws -> [ReceivedMessage] {
        var out: [ReceivedMessage] = []
        var empty = 0
        while out.count < count && empty < rounds {
            let batch = try await provider.receive(from: queue, max: 10, wait: .seconds(1))
            if batch.isEmpty { empty += 1 }
            out += batch
        }
        return out
    }

    /// Sends `count` fresh envelopes to `queue` in one `enqueue` and receives them (see ``drain(_:_:count:rounds:)``).
    static func sendAndReceive(
        _ provider: SQSQueueProvider, _ queue: String, count: Int
    ) async throws -> (sent: [OutgoingMessage], received: [ReceivedMessage]) {
        let sent = (0..<count).map { _ in OutgoingMessage(envelope: envelope()) }
        _ = try await provider.enqueue(sent, to: queue)
        return (sent, try await drain(provider, queue, count: count))
    }

    /// A message of `queue` whose receipt handle SQS never issued, as a stale or bogus receipt looks to SQS.
    static func messageWithBogusReceipt(in queue: String) -> ReceivedMessage {
        ReceivedMessage(
            queue: queue, receipt: Receipt("not-a-receipt-handle"), attempt: 1,
            envelope: .failure(ConveyorError(.malformedEnvelope, "test"))
        )
    }

    /// The URL of `queue`, from a raw `GetQueueUrl`.
    static func queueURL(_ provider: SQSQueueProvider, _ queue: String) async throws -> String {
        try await provider.client.call(SQSAPI.GetQueueURL(queueName: queue)).url
    }

    /// Job ids of received messages whose envelope decoded.
    static func ids(_ messages: [ReceivedMessage]) -> Set<JobID> {
        Set(messages.compactMap { try? $0.envelope.get().id })
    }
}
