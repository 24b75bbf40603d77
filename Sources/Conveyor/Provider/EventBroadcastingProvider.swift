/// A provider that carries the job events of a queue to any number of observers (dashboards, `conveyor events`,
/// ``QueueObserver``) that take no part in the work.
///
/// Workers and producers broadcast events in batches with ``broadcastEvents(_:of:)``, but only while
/// ``mayHaveEventSubscribers(_:)`` says someone may listen, so that a queue nobody observes costs at most one
/// broker request per refresh interval. An observer subscribes with ``subscribeToEvents(of:)``, which returns the
/// address of a temporary queue of its own, reads it with ``QueueProvider/receive(from:max:wait:)``, and ends with
/// ``unsubscribeFromEvents(_:)``. Each broadcast message is an envelope of task ``JobEvent/eventsTask`` whose payload
/// is a JSON array of job events (`docs/wire-format.md`, "Replies and events").
public protocol EventBroadcastingProvider: QueueProvider {
    /// Whether `queue` may have event subscribers: answered from what the provider last learned, without I/O; `true`
    /// when it is time to look again (the next ``broadcastEvents(_:of:)`` then finds out).
    func mayHaveEventSubscribers(_ queue: String) -> Bool

    /// Sends `events` of `queue` to its subscribers as one message each, and learns whether there are any.
    func broadcastEvents(_ events: [JobEvent], of queue: String) async throws

    /// Creates a subscription to `queue`'s events and returns the address of the queue that receives them. It is
    /// removed by ``unsubscribeFromEvents(_:)``, or by the broker after it has been left unread for a while.
    func subscribeToEvents(of queue: String) async throws -> String

    /// Ends the subscription at `address`; one already gone is not an error.
    func unsubscribeFromEvents(_ address: String) async throws

    /// Marks the subscription at `address` as still read, where the broker needs it (SQS: a heartbeat tag). Called
    /// about every ``ReplyingProviderDefaults/heartbeatInterval``. The default does nothing.
    func refreshEventSubscription(_ address: String) async throws
}

extension EventBroadcastingProvider {
    /// Does nothing.
    public func refreshEventSubscription(_ address: String) async throws {}
}
