import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs recurring jobs (``ScheduledJob``) on any provider, without a database: the schedule's state lives in the
/// broker as messages.
///
/// Each slot of a schedule goes through two queues:
/// 1. A *firing* (task ``fireTask``) waits in ``Configuration/timerQueue`` until the slot (delayed natively, and
///    by hops where the broker's delays are bounded).
/// 2. When due, any scheduler instance turns it into a *claim* (task ``claimTask``) sent to the claim queue
///    (``claimQueue``, the provider's deduplicating queue for ``Configuration/claimQueue``) with the deduplication
///    key `Schedule.slotKey(scheduleID:slot:)`. The broker keeps only the first claim per key (memory: dedup window;
///    SQS: a FIFO claim queue; RabbitMQ: lock queues),
///    so copies of a firing — from several instances, repeated registrations or two versions of the definition
///    running side by side during a deploy — collapse into one.
/// 3. Processing the claim applies the ``MissedSlotPolicy``, enqueues the job for its slot (deduplication key
///    `Schedule.slotKey(scheduleID:slot:)`) and the firing of the next slot.
///
/// Definitions are also kept in ``Configuration/registryQueue`` so that `conveyor schedule list|add|remove` works
/// without a database. A claim runs under the definition this instance knows (passed to
/// ``init(provider:jobs:configuration:logger:)`` or ``register(_:)``), else under the registry's newest one, else
/// under the one it carries; only a removed schedule's claims are dropped. So a definition change never ends a
/// schedule: whichever version processes a slot's one claim runs it and sends the next firing. When the versions'
/// schedules differ, a slot of the other version's schedule is not run by this one, which fires at its own next
/// slot instead.
public final class JobScheduler: Service, Sendable {
    /// Task name of firing messages waiting in the timer queue.
    public static let fireTask = "conveyor.schedule.fire"
    /// Task name of claim messages in the claim queue.
    public static let claimTask = "conveyor.schedule.claim"
    /// Task name of definitions in the registry queue.
    public static let definitionTask = "conveyor.schedule.definition"
    /// Header of a scheduled job: the schedule id.
    public static let scheduleHeader = "x-conveyor-schedule"
    /// Header of a scheduled job: its slot (RFC 3339).
    public static let slotHeader = "x-conveyor-slot"

    /// Where the scheduler keeps its messages and how it decides.
    public struct Configuration: Sendable {
        /// Queue of firings waiting for their slot. Default `"conveyor-schedules"`.
        public var timerQueue: String
        /// Base name of the queue of claims, which must honour deduplication keys: the scheduler uses the provider's
        /// ``QueueProvider/deduplicatingQueueName(_:)`` for it (``JobScheduler/claimQueue``): on SQS the FIFO queue
        /// `<name>.fifo` (a name that already ends with `.fifo` is kept), elsewhere the name itself. Default
        /// `"conveyor-schedules-claims"`.
        public var claimQueue: String
        /// Queue of schedule definitions for listing and removal. Default `"conveyor-schedules-registry"`.
        public var registryQueue: String
        /// A firing processed more than this after its slot counts as missed. Default 60 s.
        public var grace: Duration
        /// Long-poll wait of each receive. Default 5 s.
        public var receiveWait: Duration
        /// Create the three queues at start when the provider can (``QueueProvisioningProvider``). Default `true`.
        public var createsQueues: Bool
        /// The clock (tests inject a shifted one). Default `Date()`.
        public var now: @Sendable () -> Date
        /// Makes a provider for one registry access, closed afterwards.
        ///
        /// No longer needed: a provider that needs short-lived connections for the registry says so by conforming to
        /// ``SessionOpeningProvider`` (RabbitMQ does), and the scheduler opens them itself. When set, it is used
        /// instead.
        @available(*, deprecated, message: "providers that need it open registry sessions themselves (SessionOpeningProvider); remove this setting")
        public var registryProvider: (@Sendable () throws -> any QueueProvider)? {
            get { _registrySession }
            set { _registrySession = newValue }
        }
        /// Storage of the deprecated ``registryProvider``, read without the warning by the scheduler itself.
        var _registrySession: (@Sendable () throws -> any QueueProvider)?

        /// Creates a configuration; every parameter has the documented default.
        public init(
            timerQueue: String = "conveyor-schedules",
            claimQueue: String = "conveyor-schedules-claims",
            registryQueue: String = "conveyor-schedules-registry",
            grace: Duration = .seconds(60),
            receiveWait: Duration = .seconds(5),
            createsQueues: Bool = true,
            now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.timerQueue = timerQueue
            self.claimQueue = claimQueue
            self.registryQueue = registryQueue
            self.grace = grace
            self.receiveWait = receiveWait
            self.createsQueues = createsQueues
            self.now = now
        }

        /// Creates a configuration with the deprecated ``registryProvider``.
        @available(*, deprecated, message: "providers that need it open registry sessions themselves (SessionOpeningProvider); drop registryProvider")
        public init(
            timerQueue: String = "conveyor-schedules",
            claimQueue: String = "conveyor-schedules-claims",
            registryQueue: String = "conveyor-schedules-registry",
            grace: Duration = .seconds(60),
            receiveWait: Duration = .seconds(5),
            createsQueues: Bool = true,
            now: @escaping @Sendable () -> Date = { Date() },
            registryProvider: (@Sendable () throws -> any QueueProvider)?
        ) {
            self.init(
                timerQueue: timerQueue, claimQueue: claimQueue, registryQueue: registryQueue, grace: grace,
                receiveWait: receiveWait, createsQueues: createsQueues, now: now
            )
            self._registrySession = registryProvider
        }
    }

    /// The broker.
    public let provider: any QueueProvider
    /// The configuration.
    public let configuration: Configuration
    /// The queue claims go to: the provider's deduplicating queue for ``Configuration/claimQueue``
    /// (``QueueProvider/deduplicatingQueueName(_:)``).
    public var claimQueue: String { provider.deduplicatingQueueName(configuration.claimQueue) }
    let logger: Logger
    let local: Mutex<[String: ScheduledJob]>
    /// The registry as last read for claims of schedules this instance does not own, and when (it is reused for
    /// ``registrySnapshotLifetime``).
    let registrySnapshot = Mutex<(read: ContinuousClock.Instant, records: [ScheduleRecord])?>(nil)
    /// How long a registry snapshot answers "removed or replaced?" for claims of schedules this instance does not own.
    static let registrySnapshotLifetime: Duration = .seconds(10)
    private let prepared = Mutex(false)

    /// Creates a scheduler for `jobs`; they are registered when ``run()`` starts.
    public init(
        provider: any QueueProvider,
        jobs: [ScheduledJob] = [],
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "conveyor.scheduler")
    ) {
        self.provider = provider
        self.configuration = configuration
        self.logger = logger
        self.local = Mutex(Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last }))
    }

    /// The definitions this instance owns.
    public var jobs: [ScheduledJob] {
        local.withLock { Array($0.values) }.sorted { $0.id < $1.id }
    }

    /// Registers the owned jobs, then processes firings and claims until cancelled or a graceful shutdown.
    public func run() async throws {
        for job in jobs {
            try await publish(job)
        }
        try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.loop(self.configuration.timerQueue) { try await self.processFiring($0) } }
                group.addTask { try await self.loop(self.claimQueue) { try await self.processClaim($0) } }
                try await group.waitForAll()
            }
        }
    }

    /// Adds or replaces `job` on this instance and in the registry, and sends the firing of its next slot.
    /// Registering an unchanged definition again is idempotent (at most a duplicate firing that the claim queue
    /// drops).
    public func register(_ job: ScheduledJob) async throws {
        local.withLock { $0[job.id] = job }
        try await publish(job)
    }

    /// Writes `job` to the registry (unless there already) and sends its next firing.
    func publish(_ job: ScheduledJob) async throws {
        try await prepareQueues()
        try await putInRegistry(job)
        let now = configuration.now()
        guard let slot = job.schedule.nextFireDate(after: now) else {
            logger.debug("schedule has no further slot", metadata: ["conveyor.schedule": .string(job.id)])
            return
        }
        try await sendFiring(job, slot: slot, now: now)
    }

    // MARK: Processing

    private func loop(_ queue: String, _ process: @escaping @Sendable (ReceivedMessage) async throws -> Void) async throws {
        while !Task.isCancelled {
            let messages: [ReceivedMessage]
            do {
                messages = try await provider.receive(from: queue, max: 10, wait: configuration.receiveWait)
            } catch is CancellationError {
                return
            } catch let error as ConveyorError where error.code == .closed {
                return
            } catch {
                logger.debug("receiving schedule messages failed", metadata: ["conveyor.queue": .string(queue), "error": .string("\(error)")])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            for message in messages {
                do {
                    try await process(message)
                } catch {
                    logger.debug("processing a schedule message failed; retrying", metadata: ["conveyor.queue": .string(queue), "error": .string("\(error)")])
                    try? await provider.fail(message, reason: FailureReason(code: "schedule_error", message: "\(error)"), retryAfter: .seconds(1))
                }
            }
        }
    }

    /// Decodes a message of `task`, dead-lettering it with the reason when it is not one.
    private func decodeRecord(of message: ReceivedMessage, task: String) async throws -> (Envelope, ScheduleRecord)? {
        do {
            let envelope = try message.envelope.get()
            guard envelope.task == task else {
                throw ConveyorError(.unknownTask, "\(message.queue) holds only \(task) messages, not \(envelope.task)")
            }
            return (envelope, try ScheduleRecord(decoding: envelope.payload))
        } catch {
            let reason = (error as? ConveyorError).map(FailureReason.init) ?? FailureReason(code: "malformed", message: "\(error)")
            try await provider.fail(message, reason: reason, retryAfter: nil)
            return nil
        }
    }

    /// A firing: hop if not due, else send the claim.
    func processFiring(_ message: ReceivedMessage) async throws {
        guard let decoded = try await decodeRecord(of: message, task: Self.fireTask) else { return }
        let (envelope, record) = decoded
        switch HopClock.decide(
            envelope, message: message, brokerTimestamps: provider.capabilities.brokerTimestamps,
            cap: provider.capabilities.maximumNativeDelay, now: configuration.now()
        ) {
        case .hop(let delay, let copy):
            try await provider.enqueue(OutgoingMessage(envelope: copy, delay: delay), to: configuration.timerQueue)
        case .due:
            let job = record.definition
            let claim = Envelope(
                task: Self.claimTask,
                payload: envelope.payload,
                createdAt: configuration.now(),
                deduplicationKey: Schedule.slotKey(scheduleID: job.id, slot: record.date)
            )
            let result = try await provider.enqueue(OutgoingMessage(envelope: claim, groupID: job.id), to: claimQueue)
            if result.deduplicated {
                logger.debug("duplicate firing dropped", metadata: slotMetadata(job, record.date))
            }
        }
        try await provider.acknowledge(message)
    }

    /// A claim: run the slot per the missed-slot policy and send the next firing, both under the definition that
    /// ``definition(for:)`` chooses.
    func processClaim(_ message: ReceivedMessage) async throws {
        guard let record = try await decodeRecord(of: message, task: Self.claimTask)?.1 else { return }
        guard let job = try await definition(for: record.definition) else {
            logger.debug("firing of a removed schedule dropped", metadata: slotMetadata(record.definition, record.date))
            try await provider.acknowledge(message)
            return
        }
        let now = configuration.now()
        var decision = job.missedSlotPolicy.decide(slot: record.date, now: now, schedule: job.schedule, grace: configuration.grace)
        if job.schedule != record.definition.schedule, let slot = decision.run, !job.schedule.isSlot(slot) {
            // A slot of another version's schedule: this version does not run it, and goes on from its own next slot.
            decision = MissedSlotPolicy.Decision(run: nil, next: job.schedule.nextFireDate(after: max(slot, now)))
        }
        if let slot = decision.run {
            let envelope = Envelope(
                task: job.task,
                payload: job.payload,
                createdAt: now,
                deduplicationKey: Schedule.slotKey(scheduleID: job.id, slot: slot),
                headers: [Self.scheduleHeader: job.id, Self.slotHeader: RFC3339.format(slot)]
            )
            try await provider.enqueue(OutgoingMessage(envelope: envelope), to: job.queue)
            logger.debug("scheduled job enqueued", metadata: slotMetadata(job, slot))
        } else {
            logger.debug("missed slot skipped", metadata: slotMetadata(job, record.date))
        }
        if let next = decision.next {
            try await sendFiring(job, slot: next, now: now)
        }
        try await provider.acknowledge(message)
    }

    /// The definition a claim of `claimed` runs under: the one this instance owns; else the registry's newest
    /// (`nil` when that is a removal); else `claimed` itself. Versions differ during a rolling deploy, and each
    /// instance then runs the slot under its own, so the chain of firings goes on whichever instance claims it.
    func definition(for claimed: ScheduledJob) async throws -> ScheduledJob? {
        if let owned = local.withLock({ $0[claimed.id] }) {
            return owned
        }
        let now = ContinuousClock.now
        let records: [ScheduleRecord]
        if let snapshot = registrySnapshot.withLock({ $0 }), now - snapshot.read < Self.registrySnapshotLifetime {
            records = snapshot.records
        } else {
            records = try await registryRecords()
            registrySnapshot.withLock { $0 = (now, records) }
        }
        guard let latest = records.last(where: { $0.definition.id == claimed.id }) else { return claimed }
        return latest.removed ? nil : latest.definition
    }

    /// Sends the firing of `slot`, delayed until then (hopping where the broker's delays are bounded).
    func sendFiring(_ job: ScheduledJob, slot: Date, now: Date) async throws {
        let remaining = slot.timeIntervalSince(now)
        var seconds = remaining > 0 ? Int64(remaining.rounded(.up)) : 0
        if let cap = provider.capabilities.maximumNativeDelay { seconds = min(seconds, max(cap.components.seconds, 1)) }
        let envelope = Envelope(
            task: Self.fireTask,
            payload: ScheduleRecord(definition: job, date: slot).encode(),
            createdAt: now,
            notBefore: slot,
            headers: [Envelope.HeaderKey.hopDelay: String(seconds * 1000)]
        )
        try await provider.enqueue(OutgoingMessage(envelope: envelope, delay: .seconds(seconds)), to: configuration.timerQueue)
    }

    private func slotMetadata(_ job: ScheduledJob, _ slot: Date) -> Logger.Metadata {
        ["conveyor.schedule": .string(job.id), "conveyor.slot": .string(RFC3339.format(slot)), "job.task": .string(job.task)]
    }

    // MARK: Queues

    /// Creates the scheduler's queues once, when the provider can and ``Configuration/createsQueues`` is set.
    func prepareQueues() async throws {
        guard configuration.createsQueues, !prepared.withLock({ $0 }), let provisioning = provider.provisioning else { return }
        try await provisioning.createQueue(configuration.timerQueue, options: QueueOptions())
        try await provisioning.createQueue(configuration.registryQueue, options: QueueOptions())
        // The deduplicating queue's name is enough for the provider to create it deduplicating (SQS: `.fifo`).
        try await provisioning.createQueue(claimQueue, options: QueueOptions())
        prepared.withLock { $0 = true }
    }
}
