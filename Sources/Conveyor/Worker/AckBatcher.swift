/// Acknowledges messages in rounds from the settler's task: acknowledgements submitted while a round is in flight
/// go together in the next one, one call per queue.
final class AckBatcher: Sendable {
    let lane: FlushLane<ReceivedMessage>

    init(provider: any QueueProvider, failures: SettleFailureLog) {
        lane = FlushLane(patience: .seconds(1), maximumRounds: 8) { batch in
            for group in Self.byQueue(batch) {
                do {
                    try await provider.acknowledge(group)
                } catch {
                    failures.record("acknowledging a finished job", group, error: error, consequence: "it runs again after its visibility timeout")
                }
            }
        }
    }

    /// Queues the acknowledgement of `message`; returns at once.
    func acknowledge(_ message: ReceivedMessage) {
        lane.submit([message])
    }

    /// `batch` split by queue (one group, without copying, in the common case of a single queue).
    static func byQueue(_ batch: [ReceivedMessage]) -> [[ReceivedMessage]] {
        if batch.allSatisfy({ $0.queue == batch[0].queue }) { return [batch] }
        return Set(batch.map(\.queue)).map { queue in batch.filter { $0.queue == queue } }
    }
}
