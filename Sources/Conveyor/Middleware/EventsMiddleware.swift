/// Publishes a worker's ``WorkerEvent``s to its subscribers (``Worker/events(bufferingPolicy:)``): started and
/// progressed while an attempt runs, and how each attempt ended. Builds nothing while nobody subscribes.
struct EventsMiddleware: JobMiddleware {
    let hub: EventHub

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        guard hub.isActive else { return try await next(job) }
        let hub = self.hub
        let (id, task, queue, attempt) = (job.jobID, job.taskName, job.queue, job.attempt)
        hub.publish(WorkerEvent(kind: .started, jobID: id, task: task, queue: queue, attempt: attempt))
        let inner = job.progressSink
        try await next(job.withProgressSink { fraction, note in
            inner(fraction, note)
            guard hub.isActive else { return }
            hub.publish(WorkerEvent(kind: .progressed, jobID: id, task: task, queue: queue, attempt: attempt, progress: fraction, note: note))
        })
    }

    func jobEnded(_ event: WorkerEvent) {
        if hub.isActive { hub.publish(event) }
    }
}
