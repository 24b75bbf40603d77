import Synchronization

/// Receives tickets (permits, tokens) from one queue for the jobs of one worker waiting for them.
///
/// A push-consuming provider (RabbitMQ) buffers deliveries for a queue once it receives from it; tickets buffered
/// in a worker that no longer waits for them would be lost to every other worker. So when the last waiter leaves,
/// the receiver asks the provider to stop prefetching, which hands the buffered tickets back to the queue
/// (``PrefetchingQueueProvider/stopPrefetching(from:)``); the next wait starts again.
final class TicketReceiver: Sendable {
    let provider: any QueueProvider
    let queue: String
    private let waiters = Mutex(0)

    /// `capacity`: most tickets this worker holds at once plus those it may wait for (sizes a push consumer's
    /// prefetch).
    init(provider: any QueueProvider, queue: String, capacity: Int) {
        self.provider = provider
        self.queue = queue
        provider.prefetching?.prepareToReceive(from: queue, capacity: max(1, capacity))
    }

    /// How many jobs of this worker wait for a ticket right now.
    var waiting: Int { waiters.withLock { $0 } }

    /// One ticket message, or `nil` when none came within `wait`.
    func receive(wait: Duration) async throws -> ReceivedMessage? {
        waiters.withLock { $0 += 1 }
        do {
            let messages = try await provider.receive(from: queue, max: 1, wait: wait)
            await leave()
            return messages.first
        } catch {
            await leave()
            throw error
        }
    }

    private func leave() async {
        let last = waiters.withLock { count in
            count -= 1
            return count == 0
        }
        if last, let prefetching = provider.prefetching {
            await prefetching.stopPrefetching(from: queue)
        }
    }
}
