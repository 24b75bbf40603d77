import Foundation

/// A provider that keeps cancellation markers of jobs in the broker, so that every worker of a queue, in any
/// process, sees them: a waiting or delayed job that a worker meets while its marker lives is settled as cancelled
/// without running, and a running one is cancelled cooperatively. See ``ConveyorClient/cancel(_:in:expiresAfter:)``.
///
/// A marker expires after the lifetime it was given; a worker reads the markers of its queues about every
/// ``Worker/Configuration/pauseCheckInterval``, with the paused state, so a queue without markers costs no broker
/// request per job.
public protocol CancellingProvider: QueueProvider {
    /// Records a cancellation marker for each of `ids` in `queue`, which expires `lifetime` from now.
    func cancel(_ ids: [JobID], in queue: String, lifetime: Duration) async throws

    /// The unexpired cancellation markers of `queue`: job id and the marker's expiry.
    func cancellations(in queue: String) async throws -> [JobID: Date]

    /// Called by the worker once it settled job `id` of `queue` as cancelled, so that a provider that holds few
    /// markers (SQS: queue tags) can drop it early. The default does nothing: the marker expires.
    func cancellationSettled(_ id: JobID, in queue: String) async throws
}

extension CancellingProvider {
    /// Does nothing: the marker expires.
    public func cancellationSettled(_ id: JobID, in queue: String) async throws {}
}
