import Conveyor
import ConveyorRabbitMQ
import Foundation
import Logging
import Testing

/// Environment of the RabbitMQ integration tests.
enum RabbitMQTestEnvironment {
    /// `CONVEYOR_AMQP_URL`, e.g. `amqp://guest:guest@127.0.0.1:5672/`.
    static let url = ProcessInfo.processInfo.environment["CONVEYOR_AMQP_URL"]
    /// Integration tests run when the URL is set, and must fail (not skip) on CI without it.
    static let enabled = url != nil || ProcessInfo.processInfo.environment["CI"] != nil

    /// The URL, or a recorded failure when CI runs without it.
    static func requireURL() throws -> String {
        guard let url else {
            Issue.record("CI is set but CONVEYOR_AMQP_URL is not: start RabbitMQ with scripts/rabbitmq-start.sh and set CONVEYOR_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/")
            throw ConveyorError(.invalidConfiguration, "CONVEYOR_AMQP_URL is not set")
        }
        return url
    }

    static func configuration(_ tweak: (inout RabbitMQQueueProvider.Configuration) -> Void = { _ in }) throws -> RabbitMQQueueProvider.Configuration {
        var configuration = try RabbitMQQueueProvider.Configuration(url: requireURL(), connectionName: "conveyor-tests")
        configuration.reconnectBackoff = .init(initial: .milliseconds(100), maximum: .seconds(1))
        tweak(&configuration)
        return configuration
    }

    static func provider(_ tweak: (inout RabbitMQQueueProvider.Configuration) -> Void = { _ in }) throws -> RabbitMQQueueProvider {
        try RabbitMQQueueProvider(configuration: configuration(tweak), logger: Logger(label: "conveyor.rabbitmq.tests"))
    }

    /// A unique queue name.
    static func queueName(_ hint: String) -> String {
        "conveyor-test-\(hint)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `rabbitmqctl` with the local node's settings (see scripts/rabbitmq-start.sh).
    @discardableResult
    static func rabbitmqctl(_ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["rabbitmqctl"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["RABBITMQ_NODENAME"] = environment["RABBITMQ_NODENAME"] ?? "rabbit@localhost"
        environment["ERL_EPMD_ADDRESS"] = "127.0.0.1"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw ConveyorError(.brokerError, "rabbitmqctl \(arguments.joined(separator: " ")) failed: \(output)")
        }
        return output
    }
}

/// A job envelope with a small JSON payload.
func testEnvelope(_ n: Int = 0, task: String = "test.echo", priority: Int = 0) -> Envelope {
    Envelope(task: task, payload: Array(#"{"n":\#(n)}"#.utf8), correlationID: "corr-\(n)", priority: priority, traceContext: ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
}

extension QueueProvider {
    /// Receives until `count` messages arrived or `timeout` passed.
    func receive(from queue: String, count: Int, timeout: Duration = .seconds(20)) async throws -> [ReceivedMessage] {
        var out: [ReceivedMessage] = []
        let deadline = ContinuousClock.now + timeout
        while out.count < count, ContinuousClock.now < deadline {
            out += try await receive(from: queue, max: count - out.count, wait: .seconds(1))
        }
        return out
    }
}

/// Runs `body` with `provider` and a fresh queue named after `hint`, deleting the queue and closing the provider
/// afterwards (also when `body` throws).
func withTestQueue(
    _ hint: String,
    provider: RabbitMQQueueProvider,
    _ body: (RabbitMQQueueProvider, String) async throws -> Void
) async throws {
    let queue = RabbitMQTestEnvironment.queueName(hint)
    do {
        try await body(provider, queue)
    } catch {
        try? await provider.deleteQueue(queue)
        try? await provider.close()
        throw error
    }
    try await provider.deleteQueue(queue)
    try await provider.close()
}

/// The value of `task`, or `CancellationError` as soon as the calling task is cancelled (e.g. by a test's time
/// limit) while `task` still runs; `task` is left to finish on its own.
func valueOrCancellation<T: Sendable>(of task: Task<T, any Error>) async throws -> T {
    let (values, continuation) = AsyncThrowingStream<T, any Error>.makeStream()
    Task {
        do {
            continuation.yield(try await task.value)
            continuation.finish()
        } catch {
            continuation.finish(throwing: error)
        }
    }
    for try await value in values { return value }
    throw CancellationError()
}
