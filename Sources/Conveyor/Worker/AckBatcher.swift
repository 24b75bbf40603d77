import Logging
import Synchronization

/// Acknowledges messages in groups: the first caller flushes while later ones add to the next group, so acks
/// that complete together go to the broker in one call.
final class AckBatcher: Sendable {
    private struct State {
        var pending: [ReceivedMessage] = []
        var flushing = false
    }

    private let provider: any QueueProvider
    private let logger: Logger
    private let state = Mutex(State())

    init(provider: any QueueProvider, logger: Logger) {
        self.provider = provider
        self.logger = logger
    }

    func acknowledge(_ message: ReceivedMessage) async {
        let leader = state.withLock { state in
            state.pending.append(message)
            if state.flushing { return false }
            state.flushing = true
            return true
        }
        guard leader else { return }
        while true {
            let batch: [ReceivedMessage]? = state.withLock { state in
                if state.pending.isEmpty {
                    state.flushing = false
                    return nil
                }
                defer { state.pending = [] }
                return state.pending
            }
            guard let batch else { return }
            if batch.allSatisfy({ $0.queue == batch[0].queue }) {
                await flush(batch)
            } else {
                for queue in Set(batch.map(\.queue)) {
                    await flush(batch.filter { $0.queue == queue })
                }
            }
        }
    }

    private func flush(_ batch: [ReceivedMessage]) async {
        do {
            try await provider.acknowledge(batch)
        } catch {
            logger.debug(
                "acknowledgement failed; the messages return after their visibility timeout",
                metadata: ["error.message": .string(String(describing: error)), "conveyor.queue": .string(batch[0].queue)]
            )
        }
    }
}
