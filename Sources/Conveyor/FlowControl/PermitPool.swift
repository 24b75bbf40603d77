import Logging
import Synchronization

/// The permits of one task's ``TaskOptions/globalConcurrency`` in one worker: acquires one before a job runs and
/// gives it back after.
///
/// The permits are messages in the task's permit queue (``FlowQueues/permits``), one per unit of the limit. Holding
/// a received permit is holding the right to run one job: the broker keeps it from every other worker until this
/// one gives it back (``ReleasingQueueProvider/release(_:)``) or dies (RabbitMQ returns the unacknowledged delivery
/// when the connection closes; SQS when the permit's visibility timeout passes, which the worker extends while the
/// job runs). No permit is ever created per job, so the limit holds whatever the number of workers.
///
/// The first worker to use a limit seeds its permits from its own configuration (generation 0), once: a message in
/// ``FlowQueues/seeded`` says it was done, and deduplication keys keep workers that start together from seeding
/// twice. Later changes come from ``ConveyorClient/setGlobalConcurrency(_:for:)``, which sends a newer generation of
/// permits; workers adopt the newest generation they receive and delete older permits as they meet them.
final class PermitPool: Sendable {
    let task: String
    let queues: FlowQueues
    let configuredLimit: Int
    let provider: any QueueProvider
    let logger: Logger
    let receiver: TicketReceiver

    private struct State {
        var prepared = false
        /// The newest generation seen.
        var generation: Int64 = 0
        var limit: Int
    }
    private let state: Mutex<State>

    init(task: String, key: String?, limit: Int, provider: any QueueProvider, capacity: Int, logger: Logger) {
        self.task = task
        self.queues = FlowQueues(task: task, key: key, provider: provider)
        self.configuredLimit = limit
        self.provider = provider
        self.logger = logger
        self.receiver = TicketReceiver(provider: provider, queue: queues.permits, capacity: capacity)
        self.state = Mutex(State(limit: limit))
    }

    /// The limit of the newest generation this worker has seen.
    var currentLimit: Int { state.withLock { $0.limit } }

    /// Creates the queues and seeds the permits if nobody did; once per run (again after a failure).
    func prepare() async throws {
        guard !state.withLock({ $0.prepared }) else { return }
        try await Self.seed(queues: queues, provider: provider, generation: 0, limit: configuredLimit, onlyIfUnseeded: true)
        state.withLock { $0.prepared = true }
    }

    /// Sends the permits of `generation` (`limit` of them) unless, with `onlyIfUnseeded`, the seed marker says it
    /// was done; deduplication keys make a repeated or concurrent seeding of one generation a no-op.
    static func seed(queues: FlowQueues, provider: any QueueProvider, generation: Int64, limit: Int, onlyIfUnseeded: Bool) async throws {
        if let provisioning = provider.provisioning {
            try await provisioning.createQueue(queues.permits, options: QueueOptions(deadLetterQueue: false))
            try await provisioning.createQueue(queues.seeded, options: QueueOptions(deadLetterQueue: false))
        }
        if onlyIfUnseeded {
            let marker = try await provider.stats(of: queues.seeded)
            if marker.ready + marker.inFlight + marker.delayed > 0 { return }
        }
        let permits = (0..<limit).map { index in
            FlowTicket.permit(generation: generation, limit: limit, index: index)
                .message(deduplicationKey: "permit-g\(generation)-\(index)", groupID: "permit-\(index)")
        }
        for start in stride(from: 0, to: permits.count, by: 100) {
            _ = try await provider.enqueue(Array(permits[start..<min(start + 100, permits.count)]), to: queues.permits)
        }
        let marker = FlowTicket(kind: "seeded", generation: generation).message(deduplicationKey: "seeded", groupID: "seeded")
        _ = try await provider.enqueue([marker], to: queues.seeded)
    }

    /// A permit of the newest generation, or `nil` when none came within `wait`. Permits of older generations and
    /// messages that are not permits are deleted on the way.
    func acquire(wait: Duration) async throws -> ReceivedMessage? {
        try await prepare()
        let deadline = ContinuousClock.now + wait
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, let message = try await receiver.receive(wait: remaining) else { return nil }
            guard let ticket = FlowTicket(message), ticket.isValidPermit, let limit = ticket.limit else {
                logger.info("deleting a message of the permit queue that is not a permit", metadata: ["conveyor.queue": .string(queues.permits)])
                try? await provider.acknowledge([message])
                continue
            }
            let (stale, changed) = state.withLock { state -> (Bool, Bool) in
                if ticket.generation < state.generation { return (true, false) }
                let changed = ticket.generation > state.generation && ticket.limit != state.limit
                if ticket.generation > state.generation {
                    state.generation = ticket.generation
                    state.limit = limit
                }
                return (false, changed)
            }
            if stale {
                try? await provider.acknowledge([message])
                continue
            }
            if changed {
                logger.info(
                    "global concurrency limit changed",
                    metadata: ["conveyor.task": .string(task), "flow.limit": .stringConvertible(limit)]
                )
            }
            return message
        }
    }

    /// Gives a permit back: to the queue for the next job, or deleted when a newer generation replaced it.
    func release(_ permit: ReceivedMessage) async {
        let generation = state.withLock { $0.generation }
        do {
            if let ticket = FlowTicket(permit), ticket.generation >= generation {
                if let releasing = provider.releasing {
                    try await releasing.release([permit])
                } else {
                    try await provider.fail(permit, reason: FailureReason(code: "permit", message: "permit returned"), retryAfter: .zero)
                }
            } else {
                try await provider.acknowledge([permit])
            }
        } catch {
            logger.info(
                "could not give a permit back; the broker returns it when its visibility timeout passes or the connection closes",
                metadata: ["conveyor.task": .string(task), "error.message": .string(String(describing: error))]
            )
        }
    }
}
