import Foundation
import Logging
import Synchronization

/// The permits of one task's ``TaskOptions/globalConcurrency`` (or of one of its limit keys) in one worker: acquires
/// one before a job runs and gives it back after.
///
/// The permits are messages in the limit's permit queue (``FlowQueues/permits``), one per unit of the limit. Holding
/// a received permit is holding the right to run one job: the broker keeps it from every other worker until this
/// one gives it back (``ReleasingQueueProvider/release(_:)``) or dies (RabbitMQ returns the unacknowledged delivery
/// when the connection closes; SQS when the permit's visibility timeout passes, which the worker extends while the
/// job runs). No permit is ever created per job, so the limit holds whatever the number of workers.
///
/// The first worker to use a limit seeds its permits from its own configuration (generation 0): a message in
/// ``FlowQueues/seeded`` says it was done, and deduplication keys keep workers that start together from seeding
/// twice. Workers check again every ``checkInterval`` and after an error (the queues were deleted, say), and seed only
/// when there is neither a marker nor a permit. Later changes come from ``ConveyorClient/setGlobalConcurrency(_:for:key:)``,
/// which sends a newer generation of permits (each in a message group of its own on SQS FIFO queues); workers adopt the
/// newest generation they receive and delete older permits as they meet them.
///
/// SQS drops a message at the end of its queue's retention, counted from when it was sent: the permit queue keeps
/// them 14 days, and a worker handing back a permit older than ``renewAfter`` sends a fresh copy after deleting it.
final class PermitPool: Sendable {
    let task: String
    let queues: FlowQueues
    let configuredLimit: Int
    let provider: any QueueProvider
    let logger: Logger
    let receiver: TicketReceiver

    /// How often a worker checks again that the limit is seeded.
    static let checkInterval: Duration = .seconds(300)
    /// Age after which a permit handed back is renewed (deleted, then sent again), before its queue's retention ends.
    static let renewAfter: TimeInterval = 86_400
    /// The retention of the permit and seed-marker queues on brokers that drop old messages (SQS's longest).
    static let retention: Duration = .seconds(1_209_600)

    private struct State {
        /// When the seeding was last checked; `nil`: to check before the next receive.
        var checked: ContinuousClock.Instant?
        /// The check under way, which concurrent acquisitions wait for instead of checking too.
        var checking: Task<Void, any Error>?
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

    /// Checks, at most once at a time and once per ``checkInterval``, that the limit's queues exist and it is seeded.
    func prepare() async throws {
        let now = ContinuousClock.now
        let check = state.withLock { state -> Task<Void, any Error>? in
            if let checking = state.checking { return checking }
            if let checked = state.checked, now - checked < Self.checkInterval { return nil }
            let queues = self.queues
            let provider = self.provider
            let limit = configuredLimit
            let checking = Task { try await Self.seed(queues: queues, provider: provider, generation: 0, limit: limit, onlyIfUnseeded: true) }
            state.checking = checking
            return checking
        }
        guard let check else { return }
        do {
            try await check.value
            state.withLock { state in
                state.checked = ContinuousClock.now
                state.checking = nil
            }
        } catch {
            state.withLock { $0.checking = nil }
            throw error
        }
    }

    /// Sends the permits of `generation` (`limit` of them) and the seed marker, unless, with `onlyIfUnseeded`, a
    /// marker or a permit is there (a missing marker next to permits is sent again); deduplication keys make a
    /// repeated or concurrent seeding of one generation a no-op.
    static func seed(queues: FlowQueues, provider: any QueueProvider, generation: Int64, limit: Int, onlyIfUnseeded: Bool) async throws {
        let options = QueueOptions(deadLetterQueue: false, messageRetention: retention)
        if let provisioning = provider.provisioning {
            try await provisioning.createQueue(queues.permits, options: options)
            try await provisioning.createQueue(queues.seeded, options: options)
        }
        let marker = FlowTicket(kind: "seeded", generation: generation).message(deduplicationKey: "seeded", groupID: "seeded")
        if onlyIfUnseeded {
            let seeded = try await provider.stats(of: queues.seeded)
            let permits = try await provider.stats(of: queues.permits)
            let hasPermits = permits.ready + permits.inFlight + permits.delayed > 0
            if seeded.ready + seeded.inFlight + seeded.delayed > 0 { return }
            if hasPermits {
                _ = try await provider.enqueue([marker], to: queues.seeded)
                return
            }
        }
        let permits = (0..<limit).map { index in
            FlowTicket.permit(generation: generation, limit: limit, index: index)
                .message(deduplicationKey: "permit-g\(generation)-\(index)", groupID: "permit-g\(generation)-\(index)")
        }
        for start in stride(from: 0, to: permits.count, by: 100) {
            _ = try await provider.enqueue(Array(permits[start..<min(start + 100, permits.count)]), to: queues.permits)
        }
        _ = try await provider.enqueue([marker], to: queues.seeded)
    }

    /// Makes `permits` available to other workers at once: released where the provider can
    /// (``ReleasingQueueProvider``), else failed with no delay.
    static func handBack(_ permits: [ReceivedMessage], to provider: any QueueProvider) async throws {
        if let releasing = provider.releasing {
            try await releasing.release(permits)
            return
        }
        for permit in permits {
            try await provider.fail(permit, reason: FailureReason(code: "permit", message: "permit returned"), retryAfter: .zero)
        }
    }

    /// A permit of the newest generation, or `nil` when none came within `wait`. Permits of older generations and
    /// messages that are not permits are deleted on the way.
    func acquire(wait: Duration) async throws -> ReceivedMessage? {
        try await prepare()
        let deadline = ContinuousClock.now + wait
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return nil }
            let received: ReceivedMessage?
            do {
                received = try await receiver.receive(wait: remaining)
            } catch {
                // Deleted queues, a broker that lost them: check the seeding before the next receive.
                state.withLock { $0.checked = nil }
                throw error
            }
            guard let message = received else { return nil }
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
                logger.info("global concurrency limit changed", metadata: ["conveyor.task": .string(task), "flow.limit": .stringConvertible(limit)])
            }
            return message
        }
    }

    /// Gives a permit back: to the queue for the next job (renewed when it is older than ``renewAfter``), or deleted
    /// when a newer generation replaced it.
    func release(_ permit: ReceivedMessage) async {
        let generation = state.withLock { $0.generation }
        do {
            guard let ticket = FlowTicket(permit), ticket.generation >= generation, let index = ticket.index else {
                try await provider.acknowledge([permit])
                return
            }
            if case .success(let envelope) = permit.envelope, Date().timeIntervalSince(envelope.createdAt) > Self.renewAfter {
                // Deleted first: a worker that dies between the two requests lowers the limit by one until it is set
                // again, rather than raising it.
                try await provider.acknowledge([permit])
                let copy = FlowTicket.permit(generation: ticket.generation, limit: ticket.limit ?? 1, index: index)
                    .message(deduplicationKey: nil, groupID: "permit-g\(ticket.generation)-\(index)")
                _ = try await provider.enqueue([copy], to: queues.permits)
                return
            }
            try await Self.handBack([permit], to: provider)
        } catch {
            logger.info(
                "could not give a permit back; the broker returns it when its visibility timeout passes or the connection closes",
                metadata: ["conveyor.task": .string(task), "error.message": .string(String(describing: error))]
            )
        }
    }
}
