import Synchronization

/// Receives tickets (permits, tokens) from one queue for the jobs of one worker waiting for them.
///
/// A push-consuming provider (RabbitMQ) buffers deliveries for a queue once it receives from it; tickets buffered
/// in a worker that no longer waits for them would be lost to every other worker. So when nothing has waited for
/// ``linger``, the receiver asks the provider to stop prefetching, which hands the buffered tickets back to the queue
/// (``PrefetchingQueueProvider/stopPrefetching(from:)``); the next wait starts consuming again. A wait that begins
/// while such a stop is under way waits for it first, so that its receive starts a new consumer instead of relying
/// on the one being cancelled.
final class TicketReceiver: Sendable {
    let provider: any QueueProvider
    let queue: String
    /// How long a push consumer stays after the last wait, so that a worker taking tickets one after the other does
    /// not cancel and restart it for each.
    static let linger: Duration = .milliseconds(250)

    private struct State {
        var waiters = 0
        /// Bumped by every wait, so that a lingering stop sees that someone came.
        var epoch: UInt64 = 0
        /// A stop is waiting out ``TicketReceiver/linger``.
        var lingering = false
        /// A stop is cancelling the consumer now; waits that begin meanwhile are resumed when it is done.
        var stopping = false
        var afterStop: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// `capacity`: most tickets this worker holds at once plus those it may wait for (sizes a push consumer's
    /// prefetch).
    init(provider: any QueueProvider, queue: String, capacity: Int) {
        self.provider = provider
        self.queue = queue
        provider.prefetching?.prepareToReceive(from: queue, capacity: max(1, capacity))
    }

    /// One ticket message, or `nil` when none came within `wait`.
    func receive(wait: Duration) async throws -> ReceivedMessage? {
        let mustWait = state.withLock { state -> Bool in
            state.waiters += 1
            state.epoch &+= 1
            return state.stopping
        }
        if mustWait {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    guard state.stopping else { return true }
                    state.afterStop.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        do {
            let messages = try await provider.receive(from: queue, max: 1, wait: wait)
            leave()
            return messages.first
        } catch {
            leave()
            throw error
        }
    }

    private func leave() {
        guard let prefetching = provider.prefetching else {
            state.withLock { $0.waiters -= 1 }
            return
        }
        let start = state.withLock { state -> UInt64? in
            state.waiters -= 1
            guard state.waiters == 0, !state.lingering, !state.stopping else { return nil }
            state.lingering = true
            return state.epoch
        }
        guard let epoch = start else { return }
        let queue = self.queue
        // Waits out the linger, then stops the consumer unless a wait came meanwhile.
        Task { [self] in
            try? await Task.sleep(for: Self.linger)
            let idle = state.withLock { state -> Bool in
                state.lingering = false
                guard state.waiters == 0, state.epoch == epoch else { return false }
                state.stopping = true
                return true
            }
            guard idle else { return }
            await prefetching.stopPrefetching(from: queue)
            let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.stopping = false
                defer { state.afterStop = [] }
                return state.afterStop
            }
            for continuation in waiting { continuation.resume() }
        }
    }
}
