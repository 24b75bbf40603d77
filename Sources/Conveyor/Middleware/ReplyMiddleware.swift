import Foundation
import Synchronization

/// Sends a tracked job's started and progress events to its producer's reply queue (``Envelope/replyTo``, for jobs
/// enqueued with ``Tracking/events``); the worker sends the retrying and final events when it settles the attempt,
/// before acknowledging (``ReplySender``). Passed by for every other job.
///
/// Progress is throttled to one event per ``progressInterval`` per job; the last progress is always sent, before
/// the attempt's outcome. Events of one job are sent in order: started, progress, then (from the settlement)
/// retrying or the final outcome.
struct ReplyMiddleware: JobMiddleware {
    let sender: ReplySender
    /// Shortest time between two progress events of one job (250 ms: at most four per second).
    static let progressInterval: Duration = .milliseconds(250)

    /// Whether the middleware has nothing to do for `job`.
    static func isIdle(for job: JobContext) -> Bool {
        job.envelope.replyTo == nil || !job.envelope.replyEvents
    }

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        guard let address = job.envelope.replyTo, job.envelope.replyEvents else { return try await next(job) }
        let sender = self.sender
        let (id, task, queue, attempt) = (job.jobID, job.taskName, job.queue, job.attempt)
        await sender.send(JobEvent(kind: .started, jobID: id, task: task, queue: queue, attempt: attempt), to: address)
        let throttle = ProgressThrottle(interval: Self.progressInterval)
        let (stream, continuation) = AsyncStream<JobEvent>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let inner = job.progressSink
        let tracked = job.withProgressSink { fraction, note in
            inner(fraction, note)
            let event = JobEvent(kind: .progress, jobID: id, task: task, queue: queue, attempt: attempt, progress: fraction, note: note)
            if let event = throttle.offer(event) { continuation.yield(event) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in stream { await sender.send(event, to: address) }
            }
            do {
                try await next(tracked)
            } catch {
                continuation.finish()
                await Self.drain(&group)
                if let last = throttle.unsent() { await sender.send(last, to: address) }
                throw error
            }
            continuation.finish()
            await Self.drain(&group)
            if let last = throttle.unsent() { await sender.send(last, to: address) }
        }
    }

    private static func drain(_ group: inout ThrowingTaskGroup<Void, any Error>) async {
        while (try? await group.next()) != nil {}
    }
}

/// One job's progress throttle: lets an event through when the last one let through is at least `interval` old,
/// and keeps the latest one held back so that it is sent at the end.
final class ProgressThrottle: Sendable {
    private struct State {
        var lastPassed: ContinuousClock.Instant?
        var held: JobEvent?
    }

    private let interval: Duration
    private let state = Mutex(State())

    init(interval: Duration) {
        self.interval = interval
    }

    /// `event` when it may go now; otherwise nil (it is held until a later one passes or ``unsent()``).
    func offer(_ event: JobEvent, now: ContinuousClock.Instant = .now) -> JobEvent? {
        state.withLock { state in
            if let last = state.lastPassed, now - last < interval {
                state.held = event
                return nil
            }
            state.lastPassed = now
            state.held = nil
            return event
        }
    }

    /// The latest event held back, if any (taking it).
    func unsent() -> JobEvent? {
        state.withLock { state in
            defer { state.held = nil }
            return state.held
        }
    }
}
