import Logging

/// Sends the worker's settlements — acknowledgements, heartbeats, failures, releases and re-sends — from a task of
/// its own, which ``WorkerRuntime`` starts outside the worker's task tree: cancelling the task that runs the
/// ``Worker`` does not cancel the calls that settle jobs which already ended (their messages would otherwise run
/// again). After such a cancellation the runtime gives the settler ``Worker/Configuration/settleTimeout``, then
/// cancels it.
///
/// Acknowledgements and heartbeats are coalesced into rounds (``AckBatcher``, ``HeartbeatBatcher``); other calls
/// run one by one, side by side. Rounds and calls never wait on one another's failures.
final class Settler: Sendable {
    struct Operation: Sendable {
        var run: @Sendable () async -> Void
    }

    let acks: AckBatcher
    let heartbeats: HeartbeatBatcher
    let failures: SettleFailureLog
    private let operations: FlushLane<Operation>

    init(provider: any QueueProvider, logger: Logger) {
        let failures = SettleFailureLog(logger: logger)
        self.failures = failures
        self.acks = AckBatcher(provider: provider, failures: failures)
        self.heartbeats = HeartbeatBatcher(provider: provider, failures: failures)
        self.operations = FlushLane(patience: .zero, maximumRounds: 1024) { batch in
            await withTaskGroup(of: Void.self) { group in
                for operation in batch {
                    group.addTask { await operation.run() }
                }
            }
        }
    }

    /// Runs `operation` on the settler's task and waits for its result (without cancelling it when the caller is
    /// cancelled). After ``finish()`` it runs in the caller's task.
    func perform<T: Sendable>(_ operation: @escaping @Sendable () async -> T) async -> T {
        let result: T? = await withUnsafeContinuation { (continuation: UnsafeContinuation<T?, Never>) in
            let accepted = operations.submit([Operation { continuation.resume(returning: await operation()) }])
            if !accepted { continuation.resume(returning: nil) }
        }
        if let result { return result }
        return await operation()
    }

    /// Sends everything submitted until ``finish()``; then lets the acknowledgements and heartbeats that the last
    /// operations submitted go out, and returns.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.acks.lane.run() }
            group.addTask { await self.heartbeats.lane.run() }
            group.addTask {
                await self.operations.run()
                self.acks.lane.finish()
                self.heartbeats.lane.finish()
            }
        }
    }

    /// No more settlements will come (every executor has stopped).
    func finish() {
        operations.finish()
    }
}
