import CRabbitMQ
import Conveyor
import Foundation

extension RabbitMQQueueProvider: EventBroadcastingProvider {
    /// How long a queue whose events nobody received is left alone before the next broadcast tries again (5 s).
    static let eventSilencePeriod: Duration = .seconds(5)

    /// True unless the last broadcast for `queue` was returned for want of a subscriber less than 5 s ago.
    public func mayHaveEventSubscribers(_ queue: String) -> Bool {
        let now = ContinuousClock.now
        return eventSilence.withLock { silence in
            guard let until = silence[queue] else { return true }
            return until <= now
        }
    }

    /// Publishes one broadcast envelope of `events` to the `conveyor.events` direct exchange with routing key
    /// `queue` (mandatory, confirmed). RabbitMQ returns it when no subscription is bound: then no event of `queue` is
    /// broadcast for 5 s, so a queue nobody observes costs one publish per 5 s per process.
    public func broadcastEvents(_ events: [JobEvent], of queue: String) async throws {
        guard !events.isEmpty else { return }
        try checkOpen()
        let envelope = JobEvent.broadcastEnvelope(events)
        var message = publication(for: envelope, body: EnvelopeCodec.encode(envelope), queue: queue, delay: .zero, attempt: nil)
        message.exchange = RabbitMQTopology.eventsExchange
        message.routingKey = queue
        message.queue = nil
        message.needsExchanges = true
        message.unroutableCode = .queueNotFound
        do {
            try await publisher.publish([message])
            eventSilence.withLock { $0[queue] = nil }
        } catch let error as ConveyorError where error.code == .queueNotFound {
            let until = ContinuousClock.now + Self.eventSilencePeriod
            eventSilence.withLock { $0[queue] = until }
        }
    }

    /// Declares a subscription queue `conveyor-events-<16 hex>` (as a reply queue: classic, not durable, deleted
    /// by RabbitMQ 5 minutes after its last consumer left) bound to `conveyor.events` with routing key `queue`.
    /// When the queue is declared again on a new connection (its node was lost), it is bound again.
    public func subscribeToEvents(of queue: String) async throws -> String {
        try await declareReplyQueue(named: TemporaryQueueName.make("conveyor-events"), events: queue)
    }

    /// Deletes the subscription queue.
    public func unsubscribeFromEvents(_ address: String) async throws {
        try await deleteReplyQueue(address)
    }
}
