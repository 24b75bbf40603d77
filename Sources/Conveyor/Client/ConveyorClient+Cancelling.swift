extension ConveyorClient {
    /// How long a cancellation marker lives by default: 7 days.
    public static let defaultCancellationLifetime: Duration = .seconds(7 * 86_400)
    /// The longest lifetime a cancellation marker may be given: 365 days.
    public static let maximumCancellationLifetime: Duration = .seconds(365 * 86_400)

    /// Cancels the job `id` of `queue`: a waiting or delayed job never runs, and a running one has its task
    /// cancelled (cooperatively: the handler sees `Task.isCancelled` or a `CancellationError` from what it awaits) and
    /// is not retried. Either way the worker that meets it settles it without dead-lettering it and publishes a
    /// ``JobEvent/Kind/cancelled`` event; a tracked job's ``TrackedJob/result(timeout:)`` throws a ``JobFailure`` of
    /// that kind.
    ///
    /// The cancellation is a marker kept in the broker for `expiresAfter` (7 days by default): workers read the
    /// markers of their queues about every ``Worker/Configuration/pauseCheckInterval``, so a running job stops within
    /// about that interval, and a job delayed past the marker's expiry runs. A job that already ended is not affected.
    /// The *FlowControl* article gives each provider's limits (SQS keeps at most about 48 markers per queue).
    ///
    /// Throws ``ConveyorError/Code/unsupported`` on the inline provider, and
    /// ``ConveyorError/Code/invalidParameter`` for a lifetime that is not positive or is longer than 365 days.
    public func cancel(_ id: JobID, in queue: String, expiresAfter: Duration = defaultCancellationLifetime) async throws {
        try await cancel([id], in: queue, expiresAfter: expiresAfter)
    }

    /// Cancels the jobs `ids` of `queue`; see ``cancel(_:in:expiresAfter:)``.
    public func cancel(_ ids: [JobID], in queue: String, expiresAfter: Duration = defaultCancellationLifetime) async throws {
        guard expiresAfter > .zero, expiresAfter <= Self.maximumCancellationLifetime else {
            throw ConveyorError(.invalidParameter, "a cancellation's lifetime must be more than 0 and at most 365 days, not \(expiresAfter)")
        }
        if let empty = ids.first(where: { $0.rawValue.isEmpty }) {
            throw ConveyorError(.invalidParameter, "cannot cancel job \"\(empty)\": a job id is not empty")
        }
        guard !ids.isEmpty else { return }
        guard let cancelling = provider.cancelling else {
            throw ConveyorError(.unsupported, "the \(provider.name) provider cannot cancel jobs; use the memory, RabbitMQ or SQS provider")
        }
        try await cancelling.cancel(ids, in: queue, lifetime: expiresAfter)
    }
}
