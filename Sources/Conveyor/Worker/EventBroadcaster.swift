import Logging
import Synchronization

/// Gathers a worker's job events for the queues that may have observers and broadcasts them in batches
/// (``EventBroadcastingProvider``). Nothing is gathered for a queue nobody observes; ``run()`` sleeps until an event
/// comes, then waits ``gatherDelay`` to batch the events that follow.
final class EventBroadcaster: Sendable {
    private struct State {
        var pending: [String: [JobEvent]] = [:]
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    /// How long a batch gathers after its first event.
    static let gatherDelay: Duration = .milliseconds(50)
    /// Events kept per queue while a broadcast is slow; older ones are dropped first.
    static let maximumPending = 10_000

    let broadcasting: (any EventBroadcastingProvider)?
    let logger: Logger
    private let state = Mutex(State())

    init(provider: any QueueProvider, logger: Logger) {
        self.broadcasting = provider.broadcasting
        self.logger = logger
    }

    /// Whether events of `queue` should be built and added now.
    func wants(_ queue: String) -> Bool {
        broadcasting?.mayHaveEventSubscribers(queue) ?? false
    }

    /// Adds `event` to the next batch of its queue.
    func add(_ event: JobEvent) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.finished else { return nil }
            var events = state.pending.removeValue(forKey: event.queue) ?? []
            if events.count >= Self.maximumPending { events.removeFirst(events.count - Self.maximumPending + 1) }
            events.append(event)
            state.pending[event.queue] = events
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Adds a worker event as observers see it; one without a job id (an undecodable message) is left out.
    func add(_ event: WorkerEvent) {
        guard let jobID = event.jobID else { return }
        let kind: JobEvent.Kind
        switch event.kind {
        case .started: kind = .started
        case .progressed: kind = .progress
        case .retried: kind = .retrying
        case .succeeded: kind = .succeeded
        case .deadLettered: kind = .deadLettered
        case .cancelled: kind = .cancelled
        default: kind = .interrupted
        }
        var reason: FailureReason?
        if let error = event.error {
            let parts = error.split(separator: ":", maxSplits: 1)
            reason = parts.count == 2
                ? FailureReason(code: String(parts[0]), message: String(parts[1].drop { $0 == " " }))
                : FailureReason(code: "error", message: error)
        }
        add(JobEvent(
            kind: kind, jobID: jobID, task: event.task ?? "", queue: event.queue, attempt: max(1, event.attempt),
            progress: event.progress, note: event.note, reason: reason, retryAfter: event.retryAfter
        ))
    }

    /// Broadcasts batches until ``finish()``, then what is left.
    func run() async {
        guard let broadcasting else { return }
        while true {
            // Sleeps until an event comes or the worker finishes.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.finished || !state.pending.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            let done = state.withLock { $0.finished }
            if !done { try? await Task.sleep(for: Self.gatherDelay) }
            let batches = state.withLock { state in
                defer { state.pending = [:] }
                return state.pending
            }
            for (queue, events) in batches {
                for start in stride(from: 0, to: events.count, by: 100) {
                    do {
                        try await broadcasting.broadcastEvents(Array(events[start..<min(start + 100, events.count)]), of: queue)
                    } catch {
                        logger.debug("broadcasting job events failed", metadata: ["conveyor.queue": "\(queue)", "error.message": "\(error)"])
                    }
                }
            }
            if done { return }
        }
    }

    /// Ends ``run()`` after one last batch.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
