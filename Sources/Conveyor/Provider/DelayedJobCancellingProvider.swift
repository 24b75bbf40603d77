/// A provider that can remove a delayed job before it becomes visible.
///
/// Only brokers that can address a message that is still waiting can do this: the memory provider can. Amazon SQS
/// cannot (a delayed message has no receipt handle until it is received) and RabbitMQ cannot (messages waiting in
/// the delay levels can only be consumed in order, not removed by id); neither conforms. See the *Scheduling*
/// article for the limits.
public protocol DelayedJobCancellingProvider: QueueProvider {
    /// Removes the delayed (not yet visible) job `id` from `queue`. Returns `true` when a job was removed, `false`
    /// when no delayed job with that id waits there (it already became visible, ran, or never existed).
    func cancelDelayed(_ id: JobID, in queue: String) async throws -> Bool
}
