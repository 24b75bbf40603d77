/// A worker's middleware, outermost first, and the way through them to a task's handler.
struct MiddlewareChain: Sendable {
    let middleware: [any JobMiddleware]

    /// Runs `job` through the middleware from `index` on, then `handler`.
    func run(
        _ job: JobContext,
        from index: Int = 0,
        handler: (JobContext) async throws -> Void
    ) async throws {
        guard index < middleware.count else { return try await handler(job) }
        try await middleware[index].handle(job) { job in
            try await run(job, from: index + 1, handler: handler)
        }
    }

    /// Tells every middleware how an attempt ended.
    func jobEnded(_ event: WorkerEvent) {
        for middleware in middleware { middleware.jobEnded(event) }
    }
}
