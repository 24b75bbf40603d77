import Conveyor
import DequeModule
import Foundation
import Synchronization

/// What the dashboard knows from the queues' live job events: running jobs with their progress, recent failures,
/// jobs ended per second, and live workers. Updated by ``Dashboard/run()``'s subscriptions; read by the pages; and
/// fanned out to the browsers that follow a queue (server-sent events).
///
/// A value behind a `Mutex`: `record` updates it and returns the listeners to notify, which the caller does
/// outside the lock.
final class LiveBoard: Sendable {
    /// A job between its `started` event and its end.
    struct RunningJob: Sendable, Hashable {
        var id: JobID
        var task: String
        var attempt: Int
        var startedAt: Date
        var progress: Double?
        var note: String?
    }

    /// One failed attempt or job.
    struct Failure: Sendable, Hashable {
        var id: JobID
        var task: String
        var kind: JobEvent.Kind
        var attempt: Int
        var at: Date
        var code: String
        var message: String
    }

    /// A worker, from its last heartbeat.
    struct LiveWorker: Sendable, Hashable {
        var heartbeat: WorkerHeartbeat
        var seenAt: Date
    }

    /// One queue's live state.
    struct QueueState: Sendable {
        var running: [JobID: RunningJob] = [:]
        var failures: Deque<Failure> = []
        var endedAt: Deque<Date> = []
        /// Whether a subscription is receiving this queue's events.
        var following = false
        /// Why the last subscription failed, while it is not following.
        var problem: String?
        var listeners: [Int: AsyncStream<JobEvent>.Continuation] = [:]
    }

    /// Running jobs kept per queue: beyond it the oldest are forgotten (their end may have been missed).
    static let maximumRunning = 1_000
    /// Past 1,000 known workers, those not heard from for this long (seconds) are dropped at the next heartbeat.
    static let forgottenAfter: TimeInterval = 600
    /// The window over which jobs per second are counted.
    static let rateWindow: TimeInterval = 10

    private struct State: Sendable {
        var queues: [String: QueueState]
        var workers: [String: LiveWorker] = [:]
        var nextListener = 0
    }

    private let state: Mutex<State>
    private let recentFailures: Int

    init(queues: [String], recentFailures: Int) {
        self.state = Mutex(State(queues: Dictionary(uniqueKeysWithValues: queues.map { ($0, QueueState()) })))
        self.recentFailures = recentFailures
    }

    /// Takes in one event of `queue` and notifies that queue's listeners.
    func record(_ event: JobEvent, of queue: String, now: Date = Date()) {
        let listeners: [AsyncStream<JobEvent>.Continuation] = state.withLock { state in
            if event.kind == .workerHeartbeat {
                if let heartbeat = event.workerHeartbeat {
                    state.workers[heartbeat.workerID] = LiveWorker(heartbeat: heartbeat, seenAt: now)
                    // Workers long gone are forgotten even while nobody reads the list.
                    if state.workers.count > 1_000 {
                        state.workers = state.workers.filter { now.timeIntervalSince($0.value.seenAt) <= Self.forgottenAfter }
                    }
                }
                return []
            }
            guard var queueState = state.queues[queue] else { return [] }
            Self.apply(event, to: &queueState, now: now, recentFailures: recentFailures)
            state.queues[queue] = queueState
            return Array(queueState.listeners.values)
        }
        for listener in listeners { listener.yield(event) }
    }

    /// The state change an event makes.
    static func apply(_ event: JobEvent, to queue: inout QueueState, now: Date, recentFailures: Int) {
        switch event.kind {
        case .started:
            if queue.running.count >= maximumRunning, let oldest = queue.running.values.min(by: { $0.startedAt < $1.startedAt }) {
                queue.running[oldest.id] = nil
            }
            queue.running[event.jobID] = RunningJob(id: event.jobID, task: event.task, attempt: event.attempt, startedAt: event.at)
        case .progress:
            queue.running[event.jobID]?.progress = event.progress
            queue.running[event.jobID]?.note = event.note
        default:
            guard event.kind.isFinal || event.kind == .retrying || event.kind == .interrupted else { return }
            queue.running[event.jobID] = nil
            if event.kind.isFinal {
                queue.endedAt.append(now)
                while let first = queue.endedAt.first, now.timeIntervalSince(first) > rateWindow || queue.endedAt.count > 100_000 {
                    queue.endedAt.removeFirst()
                }
            }
            if let reason = event.reason, event.kind != .cancelled {
                queue.failures.append(Failure(
                    id: event.jobID, task: event.task, kind: event.kind, attempt: event.attempt, at: event.at,
                    code: reason.code, message: reason.message))
                while queue.failures.count > recentFailures { queue.failures.removeFirst() }
            }
        }
    }

    /// Jobs ended per second over the last ``rateWindow``.
    func jobsPerSecond(_ queue: String, now: Date = Date()) -> Double {
        state.withLock { state in
            let ended = state.queues[queue]?.endedAt.reversed().prefix { now.timeIntervalSince($0) <= Self.rateWindow }.count ?? 0
            return Double(ended) / Self.rateWindow
        }
    }

    /// A copy of one queue's state (without its listeners).
    func snapshot(_ queue: String) -> QueueState? {
        state.withLock { state in
            guard var copy = state.queues[queue] else { return nil }
            copy.listeners = [:]
            return copy
        }
    }

    /// Workers whose last heartbeat is younger than `expiry`, by host and pid; older ones are forgotten.
    func workers(expiry: Duration, now: Date = Date()) -> [LiveWorker] {
        state.withLock { state in
            let limit = Double(expiry.components.seconds) + Double(expiry.components.attoseconds) / 1e18
            state.workers = state.workers.filter { now.timeIntervalSince($0.value.seenAt) <= limit }
            return state.workers.values.sorted { ($0.heartbeat.host, $0.heartbeat.pid) < ($1.heartbeat.host, $1.heartbeat.pid) }
        }
    }

    /// Marks whether a subscription follows `queue`, with the problem when it does not.
    func setFollowing(_ queue: String, _ following: Bool, problem: String? = nil) {
        state.withLock { state in
            state.queues[queue]?.following = following
            state.queues[queue]?.problem = following ? nil : problem
        }
    }

    /// A stream of `queue`'s events from now on, until `stopListening` or ``finishAll()``. At most 1,000 events
    /// wait for a slow reader; older ones are dropped.
    func listen(_ queue: String) -> (id: Int, events: AsyncStream<JobEvent>)? {
        state.withLock { state in
            guard state.queues[queue] != nil else { return nil }
            let (stream, continuation) = AsyncStream.makeStream(of: JobEvent.self, bufferingPolicy: .bufferingNewest(1_000))
            let id = state.nextListener
            state.nextListener += 1
            state.queues[queue]?.listeners[id] = continuation
            return (id, stream)
        }
    }

    /// Ends one listener's stream.
    func stopListening(_ queue: String, id: Int) {
        let listener = state.withLock { state in state.queues[queue]?.listeners.removeValue(forKey: id) }
        listener?.finish()
    }

    /// Ends every listener's stream (the dashboard stops).
    func finishAll() {
        let listeners = state.withLock { state in
            var all: [AsyncStream<JobEvent>.Continuation] = []
            for name in state.queues.keys {
                all += state.queues[name]?.listeners.values ?? [:].values
                state.queues[name]?.listeners = [:]
            }
            return all
        }
        for listener in listeners { listener.finish() }
    }
}
