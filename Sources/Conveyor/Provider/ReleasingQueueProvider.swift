/// A provider that can hand received messages back without counting a delivery attempt.
///
/// A ``Worker`` releases messages it received but never started (it began to shut down) and, on forced
/// shutdown, messages whose jobs it cancelled. Without this capability it calls
/// ``QueueProvider/fail(_:reason:retryAfter:)`` with `retryAfter: .zero`, which on some brokers counts as an
/// attempt (a job that keeps meeting shutdowns could then dead-letter without having failed).
public protocol ReleasingQueueProvider: QueueProvider {
    /// Makes `messages` available again at once, as if they had not been received; their attempt number does
    /// not grow where the broker allows it (SQS counts every receive in `ApproximateReceiveCount` regardless).
    /// Stale receipts are ignored.
    func release(_ messages: [ReceivedMessage]) async throws
}
