/// A provider that can carry a job's outcome and events back to the process that enqueued it, through a temporary
/// reply queue of that process (see ``ResultTracker``).
///
/// A producer creates one reply queue per ``ResultTracker`` with ``createReplyQueue(named:)`` and puts the address
/// it returns in the ``Envelope/replyTo`` of the jobs it tracks; the worker sends the replies with
/// ``sendReply(_:to:)``; the producer reads them with ``QueueProvider/receive(from:max:wait:)`` on the address and
/// deletes the queue with ``deleteReplyQueue(_:)``. A reply queue that its producer left behind (the process
/// crashed) must go away by itself after it has been idle for a while (RabbitMQ: `x-expires`; SQS: any process
/// deletes reply queues whose heartbeat tag is stale).
public protocol ReplyingProvider: QueueProvider {
    /// Creates a temporary reply queue with a name derived from `name` and returns its address, as workers will send
    /// to it. It has no dead-letter queue. `name` is `<prefix>-<unique part without dashes>`
    /// (``ResultTracker/Configuration/replyQueuePrefix``): a provider may look for other reply queues by the prefix.
    func createReplyQueue(named name: String) async throws -> String

    /// Sends `message` (a reply envelope) to the reply queue at `address`. It never creates the queue: when the
    /// broker can tell that the queue no longer exists it throws ``ConveyorError/Code/queueNotFound``; a message
    /// over the broker's size limit throws ``ConveyorError/Code/messageTooLarge``.
    func sendReply(_ message: OutgoingMessage, to address: String) async throws

    /// Deletes the reply queue at `address`; a queue that is already gone is not an error.
    func deleteReplyQueue(_ address: String) async throws

    /// Marks the reply queue at `address` as still in use, where the broker needs it to tell live reply queues from
    /// those of crashed producers (SQS: a heartbeat tag). Called about every ``ReplyingProviderDefaults/heartbeatInterval``
    /// while the queue is read. The default does nothing.
    func refreshReplyQueue(_ address: String) async throws
}

extension ReplyingProvider {
    /// Does nothing.
    public func refreshReplyQueue(_ address: String) async throws {}
}

/// Timing shared by reply queue owners and providers.
public enum ReplyingProviderDefaults {
    /// How often a reply queue's owner calls ``ReplyingProvider/refreshReplyQueue(_:)``: every minute.
    public static let heartbeatInterval: Duration = .seconds(60)
}
