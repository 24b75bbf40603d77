import Foundation

extension MemoryQueueProvider: EventBroadcastingProvider {
    /// Whether `queue` has a subscription now (exact: it is in this process).
    public func mayHaveEventSubscribers(_ queue: String) -> Bool {
        guard eventSubscriptionCount.load(ordering: .relaxed) > 0 else { return false }
        return eventSubscriptions.withLock { !($0[queue]?.isEmpty ?? true) }
    }

    /// Enqueues one broadcast envelope of `events` to each subscription queue of `queue`.
    public func broadcastEvents(_ events: [JobEvent], of queue: String) async throws {
        guard !events.isEmpty else { return }
        let addresses = eventSubscriptions.withLock { $0[queue] ?? [] }
        guard !addresses.isEmpty else { return }
        let message = OutgoingMessage(envelope: JobEvent.broadcastEnvelope(events))
        for address in addresses {
            try? await sendReply(message, to: address)
        }
    }

    /// Creates an in-process subscription queue for `queue`'s events.
    public func subscribeToEvents(of queue: String) async throws -> String {
        let address = try await createReplyQueue(named: TemporaryQueueName.make("conveyor-events"))
        eventSubscriptions.withLock { subscriptions in
            if subscriptions[queue, default: []].insert(address).inserted { eventSubscriptionCount.add(1, ordering: .relaxed) }
        }
        return address
    }

    /// Removes the subscription and deletes its queue.
    public func unsubscribeFromEvents(_ address: String) async throws {
        eventSubscriptions.withLock { subscriptions in
            for queue in Array(subscriptions.keys) {
                if subscriptions[queue]?.remove(address) != nil { eventSubscriptionCount.subtract(1, ordering: .relaxed) }
                if subscriptions[queue]?.isEmpty == true { subscriptions[queue] = nil }
            }
        }
        try await deleteQueue(address)
    }
}
