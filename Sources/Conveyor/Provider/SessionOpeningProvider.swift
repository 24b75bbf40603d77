/// A provider whose receives keep messages on its connection beyond the call (a push consumer's prefetch buffer,
/// RabbitMQ), and that can open a short-lived provider of its own for a pass that reads a whole queue and settles
/// or releases what it read.
///
/// The ``JobScheduler`` reads its registry queue that way: receive every message, then release the ones it keeps.
/// On such a provider, once the scheduler has consumed the registry queue, further registry messages would stay
/// buffered on the scheduler's connection where other processes cannot list them. Each registry access therefore
/// runs on a session from ``openSession()``, closed afterwards, which returns everything it did not acknowledge.
/// Providers whose receives take only what they return (memory, SQS) do not conform.
public protocol SessionOpeningProvider: QueueProvider {
    /// A new provider with this one's configuration on its own connection, to be closed by the caller after a
    /// short pass.
    func openSession() throws -> any QueueProvider
}
