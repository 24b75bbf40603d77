import Foundation
import Logging
import Synchronization

/// Follows the job events of one queue (enqueued, started, progress, retrying, succeeded, dead-lettered, failed,
/// interrupted) without taking part in the work: for dashboards, `conveyor events`, and tests. Needs an
/// ``EventBroadcastingProvider`` (memory, RabbitMQ, SQS).
///
/// ```swift
/// let subscription = try await QueueObserver(provider: provider, queue: "images").subscribe()
/// for try await event in subscription.events {
///     print(event)
/// }
/// ```
///
/// Each subscription is a temporary queue of its own that the broker fills with the queue's events, read by one
/// long-polling receive, and removed by ``JobEventSubscription/close()`` (or by the broker once nobody reads it).
/// Events are best effort: a subscription sees the events broadcast while it exists; workers of other processes
/// start sending to a new subscription within seconds (RabbitMQ: 5 s, SQS: 10 s), and events are not replayed.
public struct QueueObserver: Sendable {
    /// The provider the queue lives on.
    public let provider: any QueueProvider
    /// The observed queue.
    public let queue: String
    /// Whether the workers' heartbeats (``JobEvent/Kind/workerHeartbeat``) come with the job events. Default false.
    public let includesWorkerHeartbeats: Bool
    private let logger: Logger

    /// Creates an observer; nothing happens until ``subscribe()``. With `includesWorkerHeartbeats`, the events also
    /// carry the heartbeat each worker of the queue sends every ``WorkerHeartbeat/interval`` (what a dashboard's
    /// workers page needs).
    public init(
        provider: any QueueProvider, queue: String, includesWorkerHeartbeats: Bool = false,
        logger: Logger = Logger(label: "conveyor.observer")
    ) {
        self.provider = provider
        self.queue = queue
        self.includesWorkerHeartbeats = includesWorkerHeartbeats
        self.logger = logger
    }

    /// Subscribes to the queue's events: when this returns, the subscription exists and receives what is broadcast.
    /// Throws ``ConveyorError/Code/unsupported`` when the provider cannot broadcast events, and what subscribing
    /// throws.
    public func subscribe() async throws -> JobEventSubscription {
        guard let broadcasting = provider.broadcasting else {
            throw ConveyorError(.unsupported, "the \(provider.name) provider cannot broadcast job events; use the memory, RabbitMQ or SQS provider")
        }
        let address = try await broadcasting.subscribeToEvents(of: queue)
        return JobEventSubscription(
            provider: provider, broadcasting: broadcasting, queue: queue, address: address,
            includesWorkerHeartbeats: includesWorkerHeartbeats, logger: logger)
    }
}

/// One subscription to a queue's job events (``QueueObserver/subscribe()``).
public final class JobEventSubscription: Sendable {
    /// The observed queue.
    public let queue: String
    /// The address of the subscription's own queue.
    public let address: String
    /// The events as they come, until ``close()`` or the provider closes (then it throws
    /// ``ConveyorError/Code/closed``). Iterate it once.
    public let events: AsyncThrowingStream<JobEvent, any Error>
    private let reader: Task<Void, Never>
    private let broadcasting: any EventBroadcastingProvider
    private let logger: Logger
    private let closed = Mutex(false)

    init(
        provider: any QueueProvider, broadcasting: any EventBroadcastingProvider, queue: String, address: String,
        includesWorkerHeartbeats: Bool, logger: Logger
    ) {
        self.queue = queue
        self.address = address
        self.broadcasting = broadcasting
        self.logger = logger
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: JobEvent.self)
        self.events = stream
        // The reader lives until close() cancels it, the stream is dropped, or the provider closes.
        let reading = TemporaryQueueReader(
            provider: provider, address: address, wait: .seconds(20), what: "job events", logger: logger,
            refresh: { try await broadcasting.refreshEventSubscription(address) },
            retryDelay: { _ in .seconds(1) }
        )
        self.reader = Task {
            let closed = await reading.run { messages in
                for message in messages {
                    guard case .success(let envelope) = message.envelope, envelope.task == JobEvent.eventsTask else { continue }
                    for event in JobEvent.broadcastEvents(envelope.payload)
                    where includesWorkerHeartbeats || event.kind != .workerHeartbeat {
                        continuation.yield(event)
                    }
                }
            }
            continuation.finish(throwing: closed)
        }
        let reader = self.reader
        continuation.onTermination = { _ in reader.cancel() }
    }

    /// Stops receiving, ends ``events`` and deletes the subscription's queue.
    public func close() async {
        let wasClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !wasClosed else { return }
        reader.cancel()
        await reader.value
        do {
            try await broadcasting.unsubscribeFromEvents(address)
        } catch {
            logger.debug("could not end the event subscription", metadata: ["conveyor.queue": "\(address)", "error.message": "\(error)"])
        }
    }
}
