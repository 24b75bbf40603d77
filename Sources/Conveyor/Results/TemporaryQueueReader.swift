import Logging

/// Reads one of Conveyor's temporary queues (a producer's reply queue, an observer's event subscription) until its
/// task is cancelled or the provider closes: long polls, hands each batch to the caller, acknowledges it, refreshes
/// the queue's heartbeat about every ``ReplyingProviderDefaults/heartbeatInterval``, and waits `retryDelay(n)` after
/// the `n`-th failure in a row.
struct TemporaryQueueReader: Sendable {
    let provider: any QueueProvider
    let address: String
    let wait: Duration
    /// Names what is read in logs ("replies", "job events").
    let what: String
    let logger: Logger
    let refresh: @Sendable () async throws -> Void
    let retryDelay: @Sendable (Int) -> Duration

    /// Reads until cancelled (returns nil) or the provider closes (returns its error).
    func run(_ deliver: ([ReceivedMessage]) -> Void) async -> ConveyorError? {
        var failures = 0
        var lastHeartbeat = ContinuousClock.now
        while !Task.isCancelled {
            do {
                let messages = try await provider.receive(from: address, max: 10, wait: wait)
                failures = 0
                if ContinuousClock.now - lastHeartbeat >= ReplyingProviderDefaults.heartbeatInterval {
                    lastHeartbeat = ContinuousClock.now
                    try await refresh()
                }
                deliver(messages)
                if !messages.isEmpty { try await provider.acknowledge(messages) }
            } catch let error as ConveyorError where error.code == .closed {
                return error
            } catch {
                // Cancelled (close()): whatever the interrupted call threw.
                if Task.isCancelled || error is CancellationError { return nil }
                failures += 1
                let delay = retryDelay(failures)
                logger.info("receiving \(what) failed; trying again", metadata: [
                    "conveyor.queue": "\(address)", "error.message": "\(error)", "retry.after": "\(delay)",
                ])
                try? await Task.sleep(for: delay)
            }
        }
        return nil
    }
}
