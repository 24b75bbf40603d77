import Logging

/// Extends the visibility of running jobs' messages in groups: heartbeats that fall due together (their
/// instants are aligned to whole seconds, see ``ExecutorSlot``) go to the broker in one call per queue and
/// duration (SQS `ChangeMessageVisibilityBatch`). The first caller flushes after letting the others join.
final class HeartbeatBatcher: Sendable {
    private struct Pending {
        var message: ReceivedMessage
        var duration: Duration
    }

    private let coalescer: Coalescer<Pending>

    init(provider: any QueueProvider, logger: Logger) {
        // Timers that fire at the same instant run one after another: the leader yields so that they join.
        coalescer = Coalescer(yieldsFirst: true) { batch in
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

    /// Extends `message` by `duration`, together with the heartbeats due at the same time. Failures are logged:
    /// a message whose visibility could not be extended may be delivered again.
    func extend(_ message: ReceivedMessage, by duration: Duration) async {
        await extend([message], by: duration)
    }

    /// Extends `messages` by `duration`, together with the heartbeats due at the same time.
    func extend(_ messages: [ReceivedMessage], by duration: Duration) async {
        await coalescer.submit(messages.map { Pending(message: $0, duration: duration) })
    }
}
