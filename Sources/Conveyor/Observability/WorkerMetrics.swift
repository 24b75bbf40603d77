import Metrics

/// Metric handles of one task, created once per worker run (never per job).
final class TaskMetrics: Sendable {
    let succeeded: Counter
    let retried: Counter
    let deadLettered: Counter
    let failed: Counter
    let cancelled: Counter
    let duration: Metrics.Timer

    init(task: String) {
        func jobs(_ outcome: String) -> Counter {
            Counter(label: "conveyor_jobs_total", dimensions: [("task", task), ("outcome", outcome)])
        }
        succeeded = jobs("succeeded")
        retried = jobs("retried")
        deadLettered = jobs("dead_lettered")
        failed = jobs("failed")
        cancelled = jobs("cancelled")
        duration = Metrics.Timer(label: "conveyor_job_duration_seconds", dimensions: [("task", task)], preferredDisplayUnit: .seconds)
    }
}

/// The worker's shared metric handles (per-task handles live in each task's entry): `conveyor_jobs_total` (task, outcome), `conveyor_job_duration_seconds` (task),
/// `conveyor_queue_wait_seconds` (queue) and `conveyor_jobs_in_flight`.
final class WorkerMetrics: Sendable {
    /// Label used for messages whose task is unknown or whose body could not be decoded.
    static let unknownTaskLabel = "_unknown"

    let unknown: TaskMetrics
    let queueWait: [String: Metrics.Timer]
    let inFlight: Gauge

    init(queues: [String]) {
        self.unknown = TaskMetrics(task: Self.unknownTaskLabel)
        var queueWait: [String: Metrics.Timer] = [:]
        for queue in queues {
            queueWait[queue] = Metrics.Timer(label: "conveyor_queue_wait_seconds", dimensions: [("queue", queue)], preferredDisplayUnit: .seconds)
        }
        self.queueWait = queueWait
        self.inFlight = Gauge(label: "conveyor_jobs_in_flight")
    }
}
