import ServiceLifecycle

extension QueueProvider {
    /// Runs as a service: waits until the service group shuts down gracefully (or the task is cancelled), then
    /// ``close()``s the provider.
    ///
    /// A `ServiceGroup` shuts its services down in the reverse of their order, waiting for each, so list the
    /// provider before the services that use it; they finish settling their jobs before it closes:
    ///
    /// ```swift
    /// let group = ServiceGroup(services: [provider, worker], gracefulShutdownSignals: [.sigterm], logger: logger)
    /// try await group.run()
    /// ```
    ///
    /// Outside a service group it waits until its task is cancelled. Providers rarely need to implement it.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled: close all the same.
        }
        try await close()
    }
}
