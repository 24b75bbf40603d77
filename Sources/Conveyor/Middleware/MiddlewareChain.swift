/// A worker's middleware, outermost first, and the way through them to a task's handler.
struct MiddlewareChain: Sendable {
    let middleware: [any JobMiddleware]
    /// Per middleware, a check that says it has nothing to do for a job (the event middleware while nobody
    /// subscribes, the reply middleware for untracked jobs): the chain then goes past it without entering it,
    /// sparing an async frame per job.
    private let idle: [(@Sendable (JobContext) -> Bool)?]
    /// Worker middleware that only note that an attempt starts (metrics): called in order when the chain is entered,
    /// without an async frame of their own.
    private let starters: [any AttemptStartObserver]

    init(middleware: [any JobMiddleware], idle: [(@Sendable (JobContext) -> Bool)?] = [], starters: [any AttemptStartObserver] = []) {
        self.middleware = middleware
        self.starters = starters
        self.idle = idle + Array(repeating: nil, count: max(0, middleware.count - idle.count))
    }

    /// Runs `job` through the middleware from `index` on, then `handler`.
    func run(
        _ job: JobContext,
        from index: Int = 0,
        handler: (JobContext) async throws -> Void
    ) async throws {
        if index == 0 {
            for starter in starters { starter.attemptStarted(job) }
        }
        var index = index
        while index < middleware.count, let isIdle = idle[index], isIdle(job) { index += 1 }
        guard index < middleware.count else { return try await handler(job) }
        try await middleware[index].handle(job) { [index] job in
            try await run(job, from: index + 1, handler: handler)
        }
    }

    /// Tells every middleware how an attempt ended.
    func jobEnded(_ event: WorkerEvent) {
        for middleware in middleware { middleware.jobEnded(event) }
    }
}

/// Worker middleware whose only work before the handler is synchronous bookkeeping (``MetricsMiddleware``): the
/// chain calls it on entry instead of entering it, which spares an async frame per job.
protocol AttemptStartObserver: Sendable {
    func attemptStarted(_ job: JobContext)
}
