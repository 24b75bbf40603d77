/// A provider that can hand received messages back at once, without failing them.
///
/// A ``Worker`` releases messages it received but never started (it began to shut down) and, on forced
/// shutdown, messages whose jobs it cancelled. Without this capability it calls
/// ``QueueProvider/fail(_:reason:retryAfter:)`` with `retryAfter: .zero`, which counts as an attempt.
///
/// Whether a release counts as a delivery attempt depends on the broker, and ``releaseCountsAsAttempt`` says
/// which: the memory provider does not count it; SQS counts every receive (`ApproximateReceiveCount`), released
/// or not; RabbitMQ requeues the delivery, which comes back `redelivered` (classic queues) or with a higher
/// `x-delivery-count` (quorum queues). Where a release counts, a job that keeps meeting shutdowns uses up its
/// attempts and a broker-side redelivery limit (an SQS redrive policy's `maxReceiveCount`, a quorum queue's
/// `x-delivery-limit`) counts the release too. The conformance suite checks the declared value: it releases a
/// first delivery and expects the next one to have attempt 1, or 2 when a release counts.
public protocol ReleasingQueueProvider: QueueProvider {
    /// Whether releasing a message counts as a delivery attempt: `true` when the next delivery of a released first
    /// delivery has ``ReceivedMessage/attempt`` 2 (and the broker's redelivery limit counts the release), `false`
    /// when it still has attempt 1.
    var releaseCountsAsAttempt: Bool { get }

    /// Makes `messages` available again at once, to be delivered again; ``releaseCountsAsAttempt`` says whether
    /// their attempt number grows. Stale receipts are ignored.
    func release(_ messages: [ReceivedMessage]) async throws
}
