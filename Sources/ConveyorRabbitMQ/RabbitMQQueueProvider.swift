import CRabbitMQ
import Conveyor
import Foundation
import Logging
import Synchronization

/// A ``Conveyor/QueueProvider`` for RabbitMQ over librabbitmq (rabbitmq-c).
///
/// - **Connections and threads**: publishing and consuming use two separate AMQP connections, each owned by
///   one thread of the provider (librabbitmq is blocking and not thread-safe). Threads start on first use and
///   stop in ``close()``. Async callers are resumed through continuations; Swift's cooperative pool never blocks.
/// - **Publishing**: persistent messages (`delivery_mode` 2) with publisher confirms, pipelined:
///   ``enqueue(_:to:)`` returns once the broker confirmed every message of the call; nacks and unroutable
///   (returned, `mandatory`) messages throw ``Conveyor/ConveyorError/Code/notConfirmed``. Properties:
///   `content_type` `application/json`, `message_id` = job id, `correlation_id`, `timestamp`, `priority`;
///   headers `x-conveyor-task`, `x-conveyor-attempt` (retry copies), `traceparent`/`tracestate`.
/// - **Consuming**: `basic.consume` with manual acks and `basic.qos` prefetch
///   (``Configuration/prefetch``, by default twice the capacity the worker announces for the queue).
/// - **Topology** (declared idempotently on first use of a queue, see ``RabbitMQTopology``): the work queue,
///   its dead-letter queue `<queue>.dlq`, and 28 binary delay levels for delays without head-of-line blocking.
/// - **Retries**: ``fail(_:reason:retryAfter:)`` publishes a copy into the delay levels (attempt + 1), waits
///   for its confirm and only then acks the original. Dead-lettering publishes to `<queue>.dlq` with the
///   headers `x-conveyor-dead-letter-reason` and `x-conveyor-dead-letter-code`, then acks.
/// - **Releasing**: ``release(_:)`` rejects deliveries with requeue (`basic.reject`); no copy is published. The
///   broker counts the redelivery, so a release counts as an attempt (``releaseCountsAsAttempt``).
/// - **Visibility**: RabbitMQ has no visibility timeout. An unacknowledged message is redelivered when its
///   channel or connection closes; ``extendVisibility(_:by:)`` is a no-op. The broker closes a channel whose
///   delivery stays unacknowledged longer than `consumer_timeout` (30 minutes by default in RabbitMQ 3.10;
///   raise it in `rabbitmq.conf` for longer jobs) and the provider then reconnects.
/// - **Reconnect**: a lost connection is reopened with capped, jittered backoff
///   (``Configuration/reconnectBackoff``); topology is declared again and consuming resumes. Deliveries of
///   the lost connection are dropped from the local buffer and their receipts become stale (acks for them are
///   ignored; the broker redelivers them). Unconfirmed publishes are published again (at least once).
/// - **Deduplication**: RabbitMQ has none natively; keys are claimed with per-key lock queues for
///   ``Configuration/deduplicationWindow`` (5 minutes by default) from the first send of a key.
/// - **Untrusted numbers**: attempts computed from headers a producer sets (`x-conveyor-attempt`,
///   `x-delivery-count`) and the envelope's `attempt_offset` are clamped to 1...2^31-1, so an absurd value
///   cannot trap; such a job dead-letters through the worker's max-attempts path when it fails. A `timestamp`
///   property after the year 9999 is ignored.
public final class RabbitMQQueueProvider: QueueProvider, DeadLetterQueueProvider, QueueProvisioningProvider, PrefetchingQueueProvider,
    ReleasingQueueProvider, SessionOpeningProvider
{
    /// `"rabbitmq"`.
    public let name = "rabbitmq"
    /// Priorities when ``Configuration/maxPriority`` is set on classic queues; no visibility timeout; delays up
    /// to 2^28-1 s natively; deduplication by lock queues (``Configuration/deduplicationWindow``); 16 MiB messages; queues declared on first use.
    public let capabilities: ProviderCapabilities
    /// The configuration the provider was created with.
    public let configuration: Configuration

    let logger: Logger
    let url: AMQPURL
    let topology: RabbitMQTopology
    let publisher: AMQPPublisher
    let consumer: AMQPConsumer
    /// Request latency and errors per operation (`conveyor_broker_request_*{provider="rabbitmq"}`).
    let requestMetrics = BrokerRequestMetrics(provider: "rabbitmq")
    private let closed = Atomic<Bool>(false)
    /// When the delayed messages this provider published become due, per queue (for ``stats(of:)``).
    private let delayedDue = Mutex<[String: [ContinuousClock.Instant]]>([:])
    /// Queues whose last event broadcast was returned (no observer), until when to stop trying.
    let eventSilence = Mutex<[String: ContinuousClock.Instant]>([:])
    /// The cancellation markers last read per queue (see `RabbitMQQueueProvider+Cancelling.swift`).
    let cancellationReadings = Mutex<[String: CancellationReading]>([:])

    /// Creates a provider. No connection is opened until the first operation.
    ///
    /// Throws ``Conveyor/ConveyorError/Code/invalidConfiguration`` for an invalid combination of options, e.g.
    /// ``Configuration/maxPriority`` with quorum queues (quorum queues reject `x-max-priority`).
    public init(configuration: Configuration, logger: Logger = Logger(label: "conveyor.rabbitmq")) throws(ConveyorError) {
        let nodes = try configuration.validated()
        let url = nodes[0]
        self.configuration = configuration
        self.url = url
        self.logger = logger
        self.topology = RabbitMQTopology(
            queueType: configuration.queueType, maxPriority: configuration.maxPriority,
            deduplicationMilliseconds: Self.deduplicationMilliseconds(configuration.deduplicationWindow) ?? 300_000
        )
        self.capabilities = ProviderCapabilities(
            priorities: configuration.maxPriority != nil && configuration.queueType == .classic,
            visibilityTimeout: false,
            maximumNativeDelay: RabbitMQTopology.maximumDelay,
            deduplication: true,
            deduplicationWindow: configuration.deduplicationWindow,
            maximumMessageBytes: EnvelopeCodec.maximumBodyBytes,
            declaresQueuesOnUse: true
        )
        let settings = AMQPSettings(
            nodes: nodes,
            heartbeatSeconds: Int32(configuration.heartbeat.components.seconds),
            connectionName: configuration.connectionName,
            connectTimeout: configuration.connectTimeout,
            backoff: configuration.reconnectBackoff,
            caCertificatePath: url.caCertificatePath ?? configuration.tlsCACertificatePath,
            certificatePath: url.certificatePath ?? configuration.tlsCertificatePath,
            keyPath: url.keyPath ?? configuration.tlsKeyPath,
            verifiesPeer: url.verifiesPeer ?? configuration.tlsVerifiesPeer,
            authMechanism: url.authMechanism ?? configuration.authMechanism
        )
        // Each connection tries the nodes of a cluster in an order of its own, so that processes spread over them.
        var publisherSettings = settings
        publisherSettings.connectionName += " (publisher)"
        publisherSettings.nodes.shuffle()
        var consumerSettings = settings
        consumerSettings.connectionName += " (consumer)"
        consumerSettings.nodes.shuffle()
        self.publisher = AMQPPublisher(
            connection: AMQPConnection(role: "publisher", settings: publisherSettings, logger: logger),
            topology: TopologyCache(topology: topology),
            declaresQueues: configuration.declaresQueuesOnFirstUse
        )
        self.consumer = AMQPConsumer(
            connection: AMQPConnection(role: "consumer", settings: consumerSettings, logger: logger),
            topology: TopologyCache(topology: topology),
            declaresQueues: configuration.declaresQueuesOnFirstUse,
            prefetch: configuration.prefetch
        )
    }

    func checkOpen() throws(ConveyorError) {
        if closed.load(ordering: .relaxed) { throw ConveyorError(.closed, "the RabbitMQ provider is closed") }
    }

    // MARK: QueueProvider

    /// Publishes `messages` to `queue` and returns after the broker confirmed all of them. Delayed messages go
    /// through the delay levels (whole seconds, rounded up).
    public func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        try checkOpen()
        guard !messages.isEmpty else { return [] }
        let duplicates = try await claimDeduplicationKeys(messages, queue: queue)
        var publications: [AMQPPublication] = []
        publications.reserveCapacity(messages.count)
        for (index, message) in messages.enumerated() where !duplicates.contains(index) {
            let body = EnvelopeCodec.encode(message.envelope)
            guard body.count <= EnvelopeCodec.maximumBodyBytes else {
                throw ConveyorError(.messageTooLarge, "job \(message.envelope.id) is \(body.count) bytes, over the \(EnvelopeCodec.maximumBodyBytes)-byte limit")
            }
            publications.append(publication(for: message.envelope, body: body, queue: queue, delay: message.delay, attempt: nil))
        }
        do {
            try await requestMetrics.measure("publish") { try await publisher.publish(publications) }
        } catch {
            let claimed = messages.enumerated().compactMap { index, message in
                duplicates.contains(index) ? nil : message.deduplicationKey
            }
            if !claimed.isEmpty { await releaseDeduplicationKeys(claimed, queue: queue) }
            throw error
        }
        recordDelays(messages.enumerated().filter { !duplicates.contains($0.offset) }.map(\.element.delay), queue: queue)
        return messages.enumerated().map { index, message in
            EnqueueResult(jobID: message.envelope.id, deduplicated: duplicates.contains(index), brokerMessageID: message.envelope.id.rawValue)
        }
    }

    private func recordDelays(_ delays: [Duration], queue: String) {
        let now = ContinuousClock.now
        let due = delays.compactMap { d in RabbitMQTopology.delaySeconds(d) > 0 ? now + .seconds(RabbitMQTopology.delaySeconds(d)) : nil }
        guard !due.isEmpty else { return }
        delayedDue.withLock { map in
            var list = map[queue, default: []]
            if list.count > 4096 { list.removeAll { $0 <= now } }
            list.append(contentsOf: due)
            map[queue] = list
        }
    }

    private func delayedCount(_ queue: String) -> Int {
        let now = ContinuousClock.now
        return delayedDue.withLock { map in
            guard var list = map[queue] else { return 0 }
            list.removeAll { $0 <= now }
            map[queue] = list.isEmpty ? nil : list
            return list.count
        }
    }

    func publication(for envelope: Envelope, body: [UInt8], queue: String, delay: Duration, attempt: Int?, extraHeaders: [AMQPValue.Entry] = []) -> AMQPPublication {
        var headers: [AMQPValue.Entry] = [AMQPValue.Entry(key: AMQPHeader.task, value: .string(envelope.task))]
        if let attempt { headers.append(AMQPValue.Entry(key: AMQPHeader.attempt, value: .int(Int64(attempt)))) }
        if let tp = envelope.traceContext["traceparent"] { headers.append(AMQPValue.Entry(key: AMQPHeader.traceparent, value: .string(tp))) }
        if let ts = envelope.traceContext["tracestate"] { headers.append(AMQPValue.Entry(key: AMQPHeader.tracestate, value: .string(ts))) }
        headers.append(contentsOf: extraHeaders)
        var p = AMQPPublication(
            exchange: "",
            routingKey: queue,
            body: body,
            messageID: envelope.id.rawValue,
            correlationID: envelope.correlationID,
            priority: UInt8(clamping: min(max(envelope.priority, 0), configuration.maxPriority ?? 9)),
            timestamp: AMQPDelivery.timestamp(of: envelope.createdAt),
            headers: headers,
            queue: queue
        )
        let seconds = RabbitMQTopology.delaySeconds(delay)
        if seconds > 0 {
            p.exchange = RabbitMQTopology.delayEntryExchange
            p.routingKey = RabbitMQTopology.delayRoutingKey(seconds: seconds, queue: queue)
            p.needsDelayLevels = true
        }
        return p
    }

    /// Waits until a delivery of `queue` is buffered or `wait` passed, then returns up to `max` of them. The
    /// first receive on a queue declares it (unless disabled) and starts a push consumer with prefetch
    /// ``Configuration/prefetch`` or `max`.
    public func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try checkOpen()
        return try await consumer.receive(from: queue, max: max, wait: wait)
    }

    /// Sizes the prefetch of `queue` to twice `capacity` (at most 65 535) unless ``Configuration/prefetch`` is
    /// set; takes effect when consuming starts, i.e. before the first receive of `queue`.
    public func prepareToReceive(from queue: String, capacity: Int) {
        consumer.prepare(queue, prefetch: Swift.min(65_535, Swift.min(Swift.max(1, capacity), 32_768) * 2))
    }

    /// Cancels `queue`'s consumer and requeues the deliveries buffered for it and not yet received (a paused queue);
    /// the next receive of `queue` consumes again.
    public func stopPrefetching(from queue: String) async {
        await consumer.stopConsuming(queue)
    }

    /// Acks the deliveries. Receipts from an older connection (redelivered since) are ignored.
    public func acknowledge(_ messages: [ReceivedMessage]) async throws {
        try checkOpen()
        guard !messages.isEmpty else { return }
        let (generation, tags) = try consumer.settleLocally(messages)
        try await requestMetrics.measure("ack") { try await consumer.settle(tags: tags, generation: generation) }
    }

    /// `true`: a requeued delivery comes back `redelivered` (classic queues) or with a higher `x-delivery-count`
    /// (quorum queues), so a released first delivery comes back as attempt 2; see ``release(_:)``.
    public var releaseCountsAsAttempt: Bool { true }

    /// Hands the deliveries back to their queue at once with `basic.reject` and `requeue`: the broker puts them
    /// back in their original position and no copy is published. Stale receipts (the connection was lost since,
    /// so the broker redelivers them anyway) and receipts already settled are ignored.
    ///
    /// The attempt a released message comes back with is the broker's redelivery count, the same as after a
    /// crash, because AMQP cannot tell a requeue from a lost connection:
    /// - classic queues mark the requeued message `redelivered`, which counts as one attempt more than the
    ///   released delivery had unless that one was already `redelivered` (classic queues do not count
    ///   redeliveries). So a fresh message released comes back as attempt 2, and releasing it again keeps 2;
    /// - quorum queues add one to `x-delivery-count` for every release (and count it toward
    ///   `x-delivery-limit`).
    public func release(_ messages: [ReceivedMessage]) async throws {
        try checkOpen()
        guard !messages.isEmpty else { return }
        let (generation, tags) = try consumer.settleLocally(messages)
        try await requestMetrics.measure("release") { try await consumer.settle(tags: tags, generation: generation, reject: true) }
    }

    /// With `retryAfter`, publishes a copy (attempt + 1) through the delay levels, waits for its confirm, then
    /// acks the original. With `nil`, publishes it to `<queue>.dlq` with reason headers, then acks. A stale
    /// receipt (the connection was lost since) does nothing: the broker redelivers the original.
    ///
    /// When the copy cannot be published (refused, unroutable, the publishing channel closed, the call
    /// cancelled), the original is handed back to its queue at once (`basic.reject` with requeue, as
    /// ``release(_:)``) and the error is thrown: RabbitMQ has no visibility timeout, so a delivery left
    /// unacknowledged would hold a prefetch slot until the channel closes. The message comes back as a
    /// redelivery and is failed again (at least once: a copy whose confirm was lost may also arrive).
    public func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        try checkOpen()
        guard consumer.isCurrent(message) else {
            logger.debug("fail() for a stale receipt ignored; the broker redelivers the message", metadata: ["conveyor.queue": "\(message.queue)"])
            return
        }
        let publication: AMQPPublication
        if let retryAfter {
            publication = retryPublication(message, reason: reason, delay: retryAfter)
        } else {
            publication = deadLetterPublication(message, reason: reason)
        }
        do {
            try await requestMetrics.measure(retryAfter == nil ? "dead_letter" : "retry") {
                try await publisher.publish([publication])
            }
        } catch {
            await requeueAfterFailedSettle(message, error: error)
            throw error
        }
        if let retryAfter { recordDelays([retryAfter], queue: message.queue) }
        let (generation, tags) = try consumer.settleLocally([message])
        try await requestMetrics.measure("ack") { try await consumer.settle(tags: tags, generation: generation) }
    }

    /// Rejects `message` with requeue after its retry or dead-letter copy could not be published (see
    /// ``fail(_:reason:retryAfter:)``). Best effort: if this fails too, the connection is closed or lost and
    /// the broker redelivers the message anyway.
    private func requeueAfterFailedSettle(_ message: ReceivedMessage, error: any Error) async {
        logger.debug(
            "could not publish the retry or dead-letter copy; requeueing the original",
            metadata: ["conveyor.queue": .string(message.queue), "error.message": .string("\(error)")]
        )
        do {
            let (generation, tags) = try consumer.settleLocally([message])
            try await consumer.settle(tags: tags, generation: generation, reject: true)
        } catch {
            logger.debug(
                "could not requeue the original; the broker redelivers it when the connection closes",
                metadata: ["conveyor.queue": .string(message.queue), "error.message": .string("\(error)")]
            )
        }
    }

    private func retryPublication(_ message: ReceivedMessage, reason: FailureReason, delay: Duration) -> AMQPPublication {
        switch message.envelope {
        case .success(var envelope):
            // The x-conveyor-attempt header carries the attempt itself; the envelope's offset (which other readers use)
            // stays within what the codec accepts, so a clamped, absurd attempt does not make the copy malformed.
            envelope.attemptOffset = min(message.attempt, Envelope.maximumAttemptOffset)
            envelope.headers[Envelope.HeaderKey.lastError] = String(reason.description.prefix(500))
            return publication(for: envelope, body: EnvelopeCodec.encode(envelope), queue: message.queue, delay: delay, attempt: AMQPDelivery.nextAttempt(after: message.attempt))
        case .failure:
            var p = publication(
                for: Envelope(id: JobID("unknown"), task: "", payload: []), body: message.rawBody ?? [],
                queue: message.queue, delay: delay, attempt: AMQPDelivery.nextAttempt(after: message.attempt)
            )
            p.messageID = nil
            p.headers.removeAll { $0.key == AMQPHeader.task }
            return p
        }
    }

    private func deadLetterPublication(_ message: ReceivedMessage, reason: FailureReason) -> AMQPPublication {
        let dlq = RabbitMQTopology.deadLetterQueue(of: message.queue)
        let extra = [
            AMQPValue.Entry(key: AMQPHeader.deadLetterReason, value: .string(String(reason.message.prefix(1000)))),
            AMQPValue.Entry(key: AMQPHeader.deadLetterCode, value: .string(reason.code)),
        ]
        var p: AMQPPublication
        switch message.envelope {
        case .success(let original):
            let shortened = FailureReason(code: reason.code, message: String(reason.message.prefix(1000)))
            let envelope = original.deadLettered(shortened, from: message.queue, attempt: message.attempt, at: Date())
            p = publication(for: envelope, body: EnvelopeCodec.encode(envelope), queue: message.queue, delay: .zero, attempt: message.attempt, extraHeaders: extra)
        case .failure:
            p = publication(for: Envelope(id: JobID("unknown"), task: "", payload: []), body: message.rawBody ?? [], queue: message.queue, delay: .zero, attempt: message.attempt, extraHeaders: extra)
            p.messageID = nil
            p.headers.removeAll { $0.key == AMQPHeader.task }
        }
        p.routingKey = dlq
        return p
    }

    /// A no-op: RabbitMQ has no visibility timeout. An unacknowledged delivery stays with this consumer until it
    /// is settled or the channel closes; RabbitMQ closes channels whose deliveries stay unacknowledged longer
    /// than `consumer_timeout` (30 minutes by default), after which the message is redelivered.
    public func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        try checkOpen()
    }

    /// Counts from a passive `queue.declare` of `queue` and `<queue>.dlq`. `ready` adds the deliveries this
    /// provider holds in its prefetch buffer (not yet received); `inFlight` counts this provider's received and
    /// unsettled deliveries (other consumers' unacknowledged messages are in neither). `delayed` counts the
    /// delayed messages and retries this provider published to `queue` whose delay has not passed yet: the
    /// delay levels are shared by every queue of the vhost and RabbitMQ cannot count their messages per queue,
    /// so other processes' delayed messages are not included (approximate).
    public func stats(of queue: String) async throws -> QueueStats {
        try checkOpen()
        let (buffered, inFlight) = consumer.localCounts(queue)
        var stats = try await requestMetrics.measure("stats") {
            try await publisher.connection.perform { c, s throws(ConveyorError) in
                let ready = try Self.count(queue, c, s)
                let dead = (try? Self.count(RabbitMQTopology.deadLetterQueue(of: queue), c, s)) ?? 0
                return QueueStats(ready: ready + buffered, inFlight: inFlight, delayed: 0, deadLettered: dead)
            }
        }
        stats.delayed = delayedCount(queue)
        return stats
    }

    static func count(_ queue: String, _ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) -> Int {
        let arena = AMQPArena()
        let ok = amqp_queue_declare(s, 2, arena.bytes(queue), 1, 0, 0, 0, amqp_table_t())
        try c.check(amqp_get_rpc_reply(s), channel: 2, "queue \(queue)")
        return Int(ok?.pointee.message_count ?? 0)
    }

    /// A new provider with this one's configuration and logger, on connections of its own: closing it returns every
    /// message it received and did not settle (its prefetch buffer included) to the queues.
    public func openSession() throws -> any QueueProvider {
        try RabbitMQQueueProvider(configuration: configuration, logger: logger)
    }

    /// Closes both connections. Pending receives return empty; later calls throw
    /// ``Conveyor/ConveyorError/Code/closed``.
    public func close() async throws {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        consumer.close()
        await consumer.connection.shutdown()
        await publisher.connection.shutdown()
    }

    // MARK: QueueProvisioningProvider

    /// Declares `queue`, `<queue>.dlq` and their bindings. `options.fifo` is unsupported (RabbitMQ has no
    /// deduplication); `maxReceiveCount` becomes `x-delivery-limit` on quorum queues and is ignored on classic
    /// queues; `visibilityTimeout` does not apply.
    public func createQueue(_ queue: String, options: QueueOptions) async throws {
        try checkOpen()
        if options.fifo {
            throw ConveyorError(.unsupported, "RabbitMQ has no FIFO queues with deduplication; create \(queue) without fifo")
        }
        try await publisher.connection.perform { [publisher] c, s throws(ConveyorError) in
            publisher.topology.options[queue] = options
            publisher.topology.declaredQueues.remove(queue)
            try publisher.topology.ensureQueue(queue, c, s)
        }
    }

    /// Stops consuming `queue`, then deletes it, `<queue>.dlq`, its pause marker `conveyor.paused.<queue>` and its
    /// cancellation markers `conveyor.cancelled.<queue>`. Missing queues are not an error.
    public func deleteQueue(_ queue: String) async throws {
        try checkOpen()
        await consumer.forget(queue)
        try await publisher.connection.perform { [publisher] c, s throws(ConveyorError) in
            let arena = AMQPArena()
            // With its marker queues (RabbitMQQueueProvider+Pausing.swift, +Cancelling.swift), when their names fit.
            let markers = [try? Self.pauseMarkerQueue(of: queue), try? Self.cancellationMarkerQueue(of: queue)].compactMap { $0 }
            for name in [queue, RabbitMQTopology.deadLetterQueue(of: queue)] + markers {
                amqp_queue_delete(s, 2, arena.bytes(name), 0, 0)
                try c.check(amqp_get_rpc_reply(s), channel: 2, "deleting queue \(name)")
            }
            publisher.topology.declaredQueues.remove(queue)
            publisher.topology.options[queue] = nil
        }
    }
}
