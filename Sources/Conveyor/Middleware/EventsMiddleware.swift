/// Publishes a worker's ``WorkerEvent``s to its subscribers (``Worker/events(bufferingPolicy:)``) and, for queues
/// that may have observers, to the broker (``EventBroadcaster``): started and progressed while an attempt runs, and
/// how each attempt ended. Builds nothing while nobody listens.
struct EventsMiddleware: JobMiddleware {
    let hub: EventHub
    let broadcaster: EventBroadcaster
    /// Shortest time between two progress events of one job sent to observers.
    static let broadcastProgressInterval: Duration = .milliseconds(250)

    /// Whether the middleware has nothing to do for `job`.
    func isIdle(for job: JobContext) -> Bool {
        !hub.isActive && !broadcaster.wants(job.queue)
    }

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        let local = hub.isActive
        let remote = broadcaster.wants(job.queue)
        guard local || remote else { return try await next(job) }
        let (hub, broadcaster) = (self.hub, self.broadcaster)
        let (id, task, queue, attempt) = (job.jobID, job.taskName, job.queue, job.attempt)
        let started = WorkerEvent(kind: .started, jobID: id, task: task, queue: queue, attempt: attempt)
        if local { hub.publish(started) }
        if remote { broadcaster.add(started) }
        let throttle = ProgressThrottle(interval: Self.broadcastProgressInterval)
        let inner = job.progressSink
        do {
            try await next(job.withProgressSink { fraction, note in
                inner(fraction, note)
                let event = WorkerEvent(kind: .progressed, jobID: id, task: task, queue: queue, attempt: attempt, progress: fraction, note: note)
                if hub.isActive { hub.publish(event) }
                if broadcaster.wants(queue), let passed = throttle.offer(Self.jobEvent(event, id)) { broadcaster.add(passed) }
            })
        } catch {
            if let last = throttle.unsent() { broadcaster.add(last) }
            throw error
        }
        if let last = throttle.unsent() { broadcaster.add(last) }
    }

    func jobEnded(_ event: WorkerEvent) {
        if hub.isActive { hub.publish(event) }
        if broadcaster.wants(event.queue) { broadcaster.add(event) }
    }

    /// A progress event as the throttle holds it.
    private static func jobEvent(_ event: WorkerEvent, _ id: JobID) -> JobEvent {
        JobEvent(kind: .progress, jobID: id, task: event.task ?? "", queue: event.queue, attempt: event.attempt, progress: event.progress, note: event.note)
    }
}
