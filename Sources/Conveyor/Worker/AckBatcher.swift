import Logging

/// Acknowledges messages in groups: the first caller flushes while later ones add to the next group, so acks
/// that complete together go to the broker in one call per queue.
final class AckBatcher: Sendable {
    private let coalescer: Coalescer<ReceivedMessage>

    init(provider: any QueueProvider, logger: Logger) {
        coalescer = Coalescer { batch in
            for group in Self.byQueue(batch) {
                do {
                    try await provider.acknowledge(group)
                } catch {
                    logger.debug(
                        "acknowledgement failed; the messages return after their visibility timeout",
                        metadata: ["error.message": .string(String(describing: error)), "conveyor.queue": .string(group[0].queue)]
                    )
                }
            }
        }
    }

    func acknowledge(_ message: ReceivedMessage) async {
        await coalescer.submit([message])
    }

    /// `batch` split by queue (one group, without copying, in the common case of a single queue).
    static func byQueue(_ batch: [ReceivedMessage]) -> [[ReceivedMessage]] {
        if batch.allSatisfy({ $0.queue == batch[0].queue }) { return [batch] }
        return Set(batch.map(\.queue)).map { queue in batch.filter { $0.queue == queue } }
    }
}
