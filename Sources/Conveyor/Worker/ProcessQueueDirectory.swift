import Synchronization

/// What this process knows about where jobs go, so that a ``Worker`` can report at start the tasks whose jobs no
/// worker here receives: the queues running workers consume, and the queues that clients send jobs of the
/// `"default"` queue to instead (``ConveyorClient/defaultQueue``). Queue names only, whatever the provider: it errs
/// towards reporting nothing.
final class ProcessQueueDirectory: Sendable {
    /// The directory of the process, which workers and clients use.
    static let shared = ProcessQueueDirectory()

    private struct State {
        /// Queue name → how many running workers consume it.
        var consumers: [String: Int] = [:]
        /// Queues some client sends `"default"` jobs to; it only grows (one entry per name).
        var defaultQueueAliases: Set<String> = []
    }

    private let state = Mutex(State())

    /// A separate directory (tests); workers and clients use ``shared``.
    init() {}

    /// A worker consuming `queues` started.
    func addConsumer(of queues: [String]) {
        state.withLock { state in
            for queue in queues { state.consumers[queue, default: 0] += 1 }
        }
    }

    /// A worker consuming `queues` stopped.
    func removeConsumer(of queues: [String]) {
        state.withLock { state in
            for queue in queues {
                let count = (state.consumers[queue] ?? 1) - 1
                state.consumers[queue] = count > 0 ? count : nil
            }
        }
    }

    /// A client sends jobs of the `"default"` queue to `queue`.
    func noteDefaultQueue(_ queue: String?) {
        guard let queue, queue != "default" else { return }
        state.withLock { _ = $0.defaultQueueAliases.insert(queue) }
    }

    /// True when a client was seen sending `"default"` jobs to `queue`.
    func isDefaultQueueAlias(_ queue: String) -> Bool {
        state.withLock { $0.defaultQueueAliases.contains(queue) }
    }

    /// The tasks of `registry` (with `overrides` applied) whose queue is neither one of `queues` nor consumed by a
    /// running worker: task name → queue. A task on `"default"` counts as consumed when a client sends
    /// `"default"` jobs to a consumed queue.
    func unconsumedQueues(
        of registry: TaskRegistry,
        overrides: [String: TaskOptions],
        consumedHere queues: [String]
    ) -> [String: String] {
        let (consumers, aliases) = state.withLock { ($0.consumers, $0.defaultQueueAliases) }
        func isConsumed(_ queue: String) -> Bool { queues.contains(queue) || consumers[queue] != nil }
        var unconsumed: [String: String] = [:]
        for task in registry.taskNames {
            guard let queue = (overrides[task] ?? registry.options(for: task))?.queue, !isConsumed(queue) else { continue }
            if queue == "default", aliases.contains(where: isConsumed) { continue }
            unconsumed[task] = queue
        }
        return unconsumed
    }
}
