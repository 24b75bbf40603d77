/// Gives each attempt of a task with a ``TaskOptions/timeout`` its deadline, counted from when the attempt enters
/// the chain (so the timeout covers the other middleware too). The executor slot that runs the job enforces it:
/// one timer per slot serves the deadline and the message's visibility heartbeats, and cancels the attempt when
/// the deadline passes; the attempt then fails with ``ConveyorError/Code/timeout``.
struct TimeoutMiddleware: JobMiddleware {
    /// Timeouts by task name (tasks without one are absent).
    let timeouts: [String: Duration]
    /// ``Worker/Configuration/clock``.
    let clock: InjectedClock

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        if let timeout = timeouts[job.taskName], let slot = job.slot {
            slot.setTimeout(at: clock.now + timeout)
        }
        try await next(job)
    }
}
