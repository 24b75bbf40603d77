/// A provider that pushes messages to its consumer ahead of ``QueueProvider/receive(from:max:wait:)`` (RabbitMQ's
/// `basic.qos` prefetch) and sizes that window to what the consumer can hold.
///
/// A ``Worker`` calls ``prepareToReceive(from:capacity:)`` for each of its queues before its first receive, so
/// that the broker keeps enough messages on the way to keep every executor busy without a round trip per job.
public protocol PrefetchingQueueProvider: QueueProvider {
    /// Tells the provider that a consumer of `queue` holds up to `capacity` received messages at once (running
    /// and waiting locally). A prefetch configured on the provider itself takes precedence. Calls after the
    /// first receive of `queue` may be ignored.
    func prepareToReceive(from queue: String, capacity: Int)

    /// Stops pushing `queue`'s messages ahead of `receive` and hands back those pushed and not yet received, because
    /// the consumer will not receive from `queue` for a while (it is paused): pushed messages would stay
    /// unacknowledged meanwhile. The next receive of `queue` starts pushing again. Does nothing by default.
    func stopPrefetching(from queue: String) async
}

extension PrefetchingQueueProvider {
    /// Does nothing.
    public func stopPrefetching(from queue: String) async {}
}
