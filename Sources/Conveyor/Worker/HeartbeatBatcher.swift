/// Extends the visibility of running and held jobs' messages in rounds from the settler's task: heartbeats that
/// fall due together (their instants are aligned to whole seconds, see
/// `ExecutorSlotStateMachine.heartbeat(after:every:)`) go to the broker in one call per queue and duration (SQS
/// `ChangeMessageVisibilityBatch`). Submitting never waits for the broker, so a slow round delays neither a job's
/// timeout nor the next round of heartbeats.
final class HeartbeatBatcher: Sendable {
    struct Pending: Sendable {
        var message: ReceivedMessage
        var duration: Duration
    }

    let lane: FlushLane<Pending>

    init(provider: any QueueProvider, failures: SettleFailureLog) {
        // Timers that fire at the same instant run one after another: the lane yields so that they join.
        lane = FlushLane(patience: .milliseconds(250), maximumRounds: 16, yieldsFirst: true) { batch in
            var groups: [String: (Duration, [ReceivedMessage])] = [:]
            for item in batch {
                let key = "\(item.message.queue)\u{0}\(item.duration)"
                groups[key, default: (item.duration, [])].1.append(item.message)
            }
            // One call per queue and duration, side by side: a slow queue holds back no other.
            await withTaskGroup(of: Void.self) { calls in
                for (_, group) in groups {
                    calls.addTask {
                        do {
                            try await provider.extendVisibility(group.1, by: group.0)
                        } catch {
                            failures.record("extending a job's visibility", group.1, error: error, consequence: "it may be delivered again while it runs")
                        }
                    }
                }
            }
        }
    }

    /// Queues the extension of `messages` by `duration`; returns at once.
    func extend(_ messages: [ReceivedMessage], by duration: Duration) {
        lane.submit(messages.map { Pending(message: $0, duration: duration) })
    }
}
