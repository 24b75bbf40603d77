/// Code that runs around every job a ``Worker`` runs: the place for cross-cutting concerns such as idempotency
/// checks, tenant context, custom metrics or logging, without changing the tasks or the worker.
///
/// A worker builds one chain from its own middleware (timeouts, metrics, ``WorkerEvent``s, tracing) followed by
/// ``Worker/Configuration/middleware`` in order; the task's handler is the end of the chain. Each middleware's
/// ``handle(_:next:)`` gets the job's context and calls `next` to run the rest of the chain:
///
/// ```swift
/// struct TenantLogging: JobMiddleware {
///     func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
///         var job = job
///         job.logger[metadataKey: "tenant.id"] = .string(job.envelope.headers["tenant"] ?? "-")
///         try await next(job)
///     }
/// }
///
/// let worker = Worker(
///     provider: provider, registry: registry,
///     configuration: .init(queues: ["default"], middleware: [TenantLogging()])
/// )
/// ```
///
/// What the worker does with the result:
/// - `handle` returns: the attempt succeeded (also when the middleware did not call `next`: a middleware may skip
///   the handler, for example for a job it knows has run already);
/// - `handle` throws: the attempt failed, exactly as if the handler had thrown that error (retried after the
///   task's backoff, or dead-lettered at once for a ``NonRetryableError``);
/// - a job whose task times out, or that is cancelled by a forced shutdown, is cancelled as a whole, middleware
///   included: `next` throws the handler's `CancellationError` (or returns, if the handler ignores cancellation).
///
/// After the worker has decided what happens to an attempt's message, every middleware's ``jobEnded(_:)`` sees
/// one ``WorkerEvent`` (``WorkerEvent/Kind/succeeded``, ``WorkerEvent/Kind/retried``,
/// ``WorkerEvent/Kind/deadLettered`` or ``WorkerEvent/Kind/failed``), also for messages that never reached
/// `handle` (a malformed body or an unknown task is dead-lettered without running).
public protocol JobMiddleware: Sendable {
    /// Runs one attempt of a job: do your work before and after, and call `next` (once) with the context the rest
    /// of the chain and the handler should see.
    ///
    /// - Parameters:
    ///   - job: The attempt's context, as the previous middleware passed it on.
    ///   - next: Runs the rest of the chain and then the task's handler.
    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws

    /// Called once the worker has settled an attempt (acknowledged, returned for a retry, dead-lettered) or could
    /// not; from the worker's executor, so keep it short and do not block. The default does nothing.
    ///
    /// - Parameter event: What became of the attempt; its ``WorkerEvent/task`` and ``WorkerEvent/jobID`` are
    ///   `nil` for a message whose body could not be decoded.
    func jobEnded(_ event: WorkerEvent)
}

extension JobMiddleware {
    /// Does nothing.
    public func jobEnded(_ event: WorkerEvent) {}
}
