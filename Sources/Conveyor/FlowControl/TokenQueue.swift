import Foundation
import Logging
import Synchronization

/// One task's global ``RateLimit`` in one worker: takes a token before a job starts, and takes part in refilling.
///
/// The tokens are messages in the task's token queue (``FlowQueues/tokens``); starting a job consumes one (receive,
/// then delete). Time is cut into refill slots of one interval, numbered from the Unix epoch, so every worker agrees
/// on them; at each slot every worker with the limit sends a claim with the deduplication key `refill-<slot>` to
/// ``FlowQueues/refills``, so the broker keeps one claim per slot (as the scheduler's claims), and the one worker
/// that receives it tops the token queue up: `count` tokens, fewer if that would leave more than `burst` waiting.
/// So, over any window of one interval, about `count + burst` jobs start at most, whatever the number of workers (the
/// refill reads the waiting tokens from the broker's count, which on SQS is approximate and on RabbitMQ leaves out the
/// few tokens buffered for waiting workers), and a worker that dies only stops taking part.
///
/// Every token carries its generation's rate: a worker adopts the newest it receives, and refills with it when it
/// wins a slot; ``ConveyorClient/setRateLimit(_:for:)`` sends one token of a new generation, which spreads so.
final class TokenQueue: Sendable {
    let task: String
    let queues: FlowQueues
    let provider: any QueueProvider
    let logger: Logger
    let receiver: TicketReceiver

    private struct State {
        var prepared = false
        var generation: Int64 = 0
        var rate: RateLimit
        /// When a job of this worker last waited for a token.
        var used = ContinuousClock.now
    }
    private let state: Mutex<State>

    init(task: String, key: String?, rate: RateLimit, provider: any QueueProvider, logger: Logger) {
        self.task = task
        self.queues = FlowQueues(task: task, key: key, provider: provider)
        self.provider = provider
        self.logger = logger
        // Tokens are deleted as soon as they are received: a small prefetch keeps few of them buffered here.
        self.receiver = TicketReceiver(provider: provider, queue: queues.tokens, capacity: 1)
        self.state = Mutex(State(rate: rate))
    }

    /// The rate of the newest generation this worker has seen.
    var currentRate: RateLimit { state.withLock { $0.rate } }

    func prepare() async throws {
        guard !state.withLock({ $0.prepared }) else { return }
        try await Self.createQueues(queues, provider: provider)
        state.withLock { $0.prepared = true }
    }

    static func createQueues(_ queues: FlowQueues, provider: any QueueProvider) async throws {
        guard let provisioning = provider.provisioning else { return }
        try await provisioning.createQueue(queues.tokens, options: QueueOptions(deadLetterQueue: false))
        try await provisioning.createQueue(queues.refills, options: QueueOptions(deadLetterQueue: false))
    }

    /// Takes one token; `false` when none came within `wait`.
    func take(wait: Duration) async throws -> Bool {
        state.withLock { $0.used = .now }
        try await prepare()
        let deadline = ContinuousClock.now + wait
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, let message = try await receiver.receive(wait: remaining) else { return false }
            try? await provider.acknowledge([message])
            guard let ticket = FlowTicket(message), let rate = ticket.rate else {
                logger.info("deleted a message of the token queue that is not a token", metadata: ["conveyor.queue": .string(queues.tokens)])
                continue
            }
            adopt(ticket.generation, rate)
            return true
        }
    }

    private func adopt(_ generation: Int64, _ rate: RateLimit) {
        let changed = state.withLock { state -> Bool in
            guard generation > state.generation else { return false }
            state.generation = generation
            let changed = state.rate != rate
            state.rate = rate
            return changed
        }
        if changed {
            logger.info(
                "global rate limit changed",
                metadata: ["conveyor.task": .string(task), "flow.rate": .string("\(rate.count) per \(rate.interval), burst \(rate.effectiveBurst)")]
            )
        }
    }

    /// How long until the next refill slot starts (at least 1 millisecond).
    func untilNextSlot() -> Duration {
        let interval = FlowTicket.milliseconds(state.withLock { $0.rate.interval })
        let now = FlowTicket.generationNow()
        return .milliseconds(interval - now % interval)
    }

    /// How long a worker takes part in refills after its jobs last waited for a token: 60 s, or ten intervals when
    /// that is longer. Then the loop ends (the worker forgets the limit until a job needs it again).
    var idleTimeout: Duration { max(.seconds(60), state.withLock { $0.rate.interval } * 10) }

    /// Takes part in every refill slot until cancelled or idle for ``idleTimeout``.
    func refillLoop() async {
        var failing = false
        while true {
            do { try await Task.sleep(for: untilNextSlot()) } catch { return }
            if ContinuousClock.now - state.withLock({ $0.used }) > idleTimeout { return }
            do {
                try await refill()
                if failing {
                    failing = false
                    logger.info("refilling rate-limit tokens works again", metadata: ["conveyor.task": .string(task)])
                }
            } catch {
                if Task.isCancelled { return }
                if !failing {
                    failing = true
                    logger.info(
                        "refilling rate-limit tokens failed; trying again at the next slot",
                        metadata: ["conveyor.task": .string(task), "error.message": .string(String(describing: error))]
                    )
                }
            }
        }
    }

    /// Sends the claim of the current slot, then handles the claims it receives: the broker keeps one claim per slot
    /// (its deduplication key), and the one worker that receives it refills for that slot.
    func refill() async throws {
        try await prepare()
        let (generation, rate) = state.withLock { ($0.generation, $0.rate) }
        let interval = FlowTicket.milliseconds(rate.interval)
        let slot = FlowTicket.generationNow() / interval
        var claim = FlowTicket(kind: "refill", generation: generation)
        claim.slot = slot
        _ = try await provider.enqueue([claim.message(deduplicationKey: "refill-\(slot)", groupID: "refill")], to: queues.refills)
        let received = try await provider.receive(from: queues.refills, max: 10, wait: min(rate.interval / 2, .seconds(1)))
        guard !received.isEmpty else { return }
        try await provider.acknowledge(received)
        let now = FlowTicket.generationNow() / interval
        // A claim of a slot long gone (a worker that was stopped, a delivery that came late) refills nothing.
        let due = received.compactMap { FlowTicket($0)?.slot }.filter { $0 >= now - 1 }
        for _ in due {
            let waiting = try await provider.stats(of: queues.tokens).ready
            let add = min(rate.count, max(0, rate.effectiveBurst - waiting))
            guard add > 0 else { continue }
            let token = FlowTicket.token(generation: generation, rate: rate)
            let messages = (0..<add).map { _ in token.message(deduplicationKey: nil, groupID: nil) }
            for start in stride(from: 0, to: messages.count, by: 100) {
                _ = try await provider.enqueue(Array(messages[start..<min(start + 100, messages.count)]), to: queues.tokens)
            }
        }
    }
}
