import Logging
import Synchronization

/// Extends the visibility of running jobs' messages in groups: heartbeats that fall due together (their
/// instants are aligned to whole seconds, see ``ExecutorSlot``) go to the broker in one call per queue and
/// duration (SQS `ChangeMessageVisibilityBatch`). The first caller flushes after letting the others join.
final class HeartbeatBatcher: Sendable {
    private struct Pending {
        var message: ReceivedMessage
        var duration: Duration
    }

    private struct State {
        var pending: [Pending] = []
        var flushing = false
    }

    private let provider: any QueueProvider
    private let logger: Logger
    private let state = Mutex(State())

    init(provider: any QueueProvider, logger: Logger) {
        self.provider = provider
        self.logger = logger
    }

    /// Extends `message` by `duration`, together with the heartbeats due at the same time. Failures are logged:
    /// a message whose visibility could not be extended may be delivered again.
    func extend(_ message: ReceivedMessage, by duration: Duration) async {
        await extend([message], by: duration)
    }

    /// Extends `messages` by `duration`, together with the heartbeats due at the same time.
    func extend(_ messages: [ReceivedMessage], by duration: Duration) async {
        guard !messages.isEmpty else { return }
        let leader = state.withLock { state in
            for message in messages { state.pending.append(Pending(message: message, duration: duration)) }
            if state.flushing { return false }
            state.flushing = true
            return true
        }
        guard leader else { return }
        // Timers that fire at the same instant run one after another: let them add their messages first.
        await Task.yield()
        while true {
            let batch: [Pending]? = state.withLock { state in
                if state.pending.isEmpty {
                    state.flushing = false
                    return nil
                }
                defer { state.pending = [] }
                return state.pending
            }
            guard let batch else { return }
            var groups: [String: (Duration, [ReceivedMessage])] = [:]
            for item in batch {
                let key = "\(item.message.queue)\u{0}\(item.duration)"
                groups[key, default: (item.duration, [])].1.append(item.message)
            }
            for (_, group) in groups {
                do {
                    try await provider.extendVisibility(group.1, by: group.0)
                } catch {
                    logger.debug(
                        "heartbeat failed",
                        metadata: ["error.message": .string(String(describing: error)), "conveyor.queue": .string(group.1[0].queue)]
                    )
                }
            }
        }
    }
}
