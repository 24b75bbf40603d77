import Conveyor
import Crypto
import Foundation

extension SQSQueueProvider: EventBroadcastingProvider {
    /// The tag that marks an event subscription queue.
    static let eventSubscriptionTag = "conveyor-event-subscription"
    /// How long the list of a queue's subscription queues is trusted before it is listed again (10 s): a new observer
    /// starts receiving within that, and a queue nobody observes costs one `ListQueues` per 10 s per process.
    public static let eventSubscriberRefresh: Duration = .seconds(10)

    /// The name prefix of `queue`'s subscription queues: `conveyor-events-<8 hex of the queue name's SHA-256>-`.
    static func eventSubscriptionPrefix(of queue: String) -> String {
        let name = queue.hasPrefix("https://") || queue.hasPrefix("http://") ? (queue.split(separator: "/").last.map(String.init) ?? queue) : queue
        let digest = SHA256.hash(data: Array(name.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "conveyor-events-\(digest)-"
    }

    /// True when `queue` had subscription queues at the last listing, or when that listing is over 10 s old.
    public func mayHaveEventSubscribers(_ queue: String) -> Bool {
        let now = ContinuousClock.now
        return eventSubscribers.withLock { subscribers in
            guard let known = subscribers[queue], now - known.listedAt < Self.eventSubscriberRefresh else { return true }
            return !known.urls.isEmpty
        }
    }

    /// Sends one broadcast envelope of `events` to each subscription queue of `queue`, listing them first
    /// (`ListQueues` by prefix) when the last listing is over 10 s old. A subscription queue that is gone is
    /// forgotten; other failures are thrown after every subscriber was tried.
    public func broadcastEvents(_ events: [JobEvent], of queue: String) async throws {
        guard !events.isEmpty else { return }
        try checkOpen()
        let now = ContinuousClock.now
        var urls = eventSubscribers.withLock { subscribers -> [String]? in
            guard let known = subscribers[queue], now - known.listedAt < Self.eventSubscriberRefresh else { return nil }
            return known.urls
        }
        if urls == nil {
            let listed = try await client.call(SQSAPI.ListQueues(namePrefix: Self.eventSubscriptionPrefix(of: queue), maxResults: 100))
            eventSubscribers.withLock { $0[queue] = (listed, now) }
            urls = listed
        }
        guard let urls, !urls.isEmpty else { return }
        let message = OutgoingMessage(envelope: JobEvent.broadcastEnvelope(events))
        var failure: (any Error)?
        for url in urls {
            do {
                _ = try await enqueue([message], to: url)
            } catch let error as ConveyorError where error.code == .queueNotFound {
                eventSubscribers.withLock { $0[queue]?.urls.removeAll { $0 == url } }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Creates the subscription queue `conveyor-events-<8 hex>-<16 hex>` for `queue` (messages kept one hour,
    /// tagged with a heartbeat, deleted by another observer when the heartbeat is over 10 minutes old) and returns
    /// its URL. Workers and producers in this process see it at once, those of other processes within 10 s.
    public func subscribeToEvents(of queue: String) async throws -> String {
        let name = TemporaryQueueName.make(String(Self.eventSubscriptionPrefix(of: queue).dropLast()))
        let url = try await createTemporaryQueue(name, tag: Self.eventSubscriptionTag)
        eventSubscribers.withLock { $0[queue] = nil }
        return url
    }

    /// Deletes the subscription queue.
    public func unsubscribeFromEvents(_ address: String) async throws {
        try await deleteReplyQueue(address)
    }

    /// Refreshes the subscription queue's heartbeat tag.
    public func refreshEventSubscription(_ address: String) async throws {
        try await refreshReplyQueue(address)
    }
}
