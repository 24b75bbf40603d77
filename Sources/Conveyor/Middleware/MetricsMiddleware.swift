import Foundation
import Metrics

/// The worker's swift-metrics: `conveyor_queue_wait_seconds` (queue) when an attempt starts,
/// `conveyor_jobs_total` (task, outcome) and `conveyor_job_duration_seconds` (task) when it ends.
///
/// The worker's chain calls ``attemptStarted(_:)`` on entry (``AttemptStartObserver``) rather than entering
/// ``handle(_:next:)``, and ``record(_:_:duration:)`` when the attempt ended.
struct MetricsMiddleware: JobMiddleware, AttemptStartObserver {
    let metrics: WorkerMetrics

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        attemptStarted(job)
        try await next(job)
    }

    /// Records the job's queue wait.
    func attemptStarted(_ job: JobContext) {
        if let wait = metrics.queueWait[job.queue] {
            // The enqueue time comes from the broker or, failing that, from the producer's `created_at`, which may
            // be anything (Go's zero time): record it only when it converts to nanoseconds.
            let waited = Date().timeIntervalSince(job.job?.message.enqueuedAt ?? job.envelope.createdAt)
            if waited >= 0, let nanoseconds = Int64(exactly: (waited * 1e9).rounded()) { wait.recordNanoseconds(nanoseconds) }
        }
    }

    /// Counts an ended attempt: the worker calls this with the job's own per-task handles (created once per run,
    /// no lookup by name and no ``WorkerEvent`` built per job), in place of ``jobEnded(_:)``.
    func record(_ kind: WorkerEvent.Kind, _ task: TaskMetrics, duration: Duration?) {
        switch kind {
        case .succeeded: task.succeeded.increment()
        case .retried: task.retried.increment()
        case .deadLettered: task.deadLettered.increment()
        case .cancelled: task.cancelled.increment()
        default: task.failed.increment()
        }
        if let duration { task.duration.recordNanoseconds(duration.nanoseconds) }
    }
}
