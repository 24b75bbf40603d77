/// Gives each attempt of a task with a ``TaskOptions/timeout`` its deadline, counted from when the attempt enters
/// the chain (so the timeout covers the other middleware too). The executor slot that runs the job enforces it:
/// one timer per slot serves the deadline and the message's visibility heartbeats, and cancels the attempt when
/// the deadline passes; the attempt then fails with ``ConveyorError/Code/timeout``.
struct TimeoutMiddleware: JobMiddleware {
    /// ``Worker/Configuration/clock``.
    let clock: InjectedClock

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        // The task's effective options (overrides included) come with the job: no lookup by name per job.
        if let timeout = job.job?.entry?.options.timeout, let slot = job.slot {
            slot.setTimeout(at: clock.now + timeout)
        }
        try await next(job)
    }
}
