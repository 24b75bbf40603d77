import Foundation
import Logging
import Metrics
import Synchronization
import Tracing

/// A registered task as one worker run sees it: handler, effective options, metric handles.
final class TaskEntry: Sendable {
    let name: String
    let handler: AnyTaskHandler
    let options: TaskOptions
    let metrics: TaskMetrics
    /// The per-task concurrency limit, if any.
    let limit: Int?

    init(handler: AnyTaskHandler, options: TaskOptions) {
        self.name = handler.name
        self.handler = handler
        self.options = options
        self.metrics = TaskMetrics(task: handler.name)
        self.limit = options.concurrency.map { max($0, 1) }
    }
}

/// What running a job produced, before the message is settled.
enum Outcome: Sendable {
    case succeeded(Duration)
    case failed(any Error, Duration)
    /// Dead-letter without running (malformed body, unknown task).
    case rejected(FailureReason)
    /// Not due yet: send a copy with this delay and acknowledge the received one.
    case hop(Duration, Envelope)
}

/// Why an executor child task returned.
enum ExecutorExit: Sendable {
    /// The worker drains: no more jobs.
    case drained
    /// The running job was cancelled (timeout or forced shutdown); the parent settles it.
    case cancelled(Job, Outcome, ExecutorSlot.CancelReason)
}

/// Everything one run of a ``Worker`` needs; built when ``Worker/run()`` starts.
final class WorkerRuntime: Sendable {
    let provider: any QueueProvider
    let configuration: Worker.Configuration
    let logger: Logger
    let hub: EventHub
    let entries: [String: TaskEntry]
    let metrics: WorkerMetrics
    let scheduler: JobDispatcher
    let slots: [ExecutorSlot]
    let settler: Settler
    /// ``Worker/Configuration/clock``: job timeouts and heartbeats follow it.
    let clock: InjectedClock
    let maximumNativeDelay: Duration?
    let tracer: (any Tracer)?
    let instrument: any Instrument

    init(provider: any QueueProvider, registry: TaskRegistry, configuration: Worker.Configuration, logger: Logger, hub: EventHub) {
        self.provider = provider
        self.configuration = configuration
        self.logger = logger
        self.hub = hub
        self.clock = InjectedClock(configuration.clock)
        var entries: [String: TaskEntry] = [:]
        for name in registry.taskNames {
            guard let handler = registry.handler(for: name) else { continue }
            entries[name] = TaskEntry(handler: handler, options: configuration.taskOptionOverrides[name] ?? handler.options)
        }
        self.entries = entries
        let metrics = WorkerMetrics(queues: configuration.queues)
        self.metrics = metrics
        let inFlight = metrics.inFlight
        self.scheduler = JobDispatcher(
            concurrency: configuration.concurrency,
            batchSize: configuration.batchSize,
            receivers: configuration.queues.count * configuration.effectiveReceiversPerQueue,
            onRunningChange: { inFlight.record($0) }
        )
        self.slots = (0..<configuration.concurrency).map { _ in ExecutorSlot() }
        self.settler = Settler(provider: provider, logger: logger)
        self.maximumNativeDelay = provider.capabilities.maximumNativeDelay
        let tracer = InstrumentationSystem.tracer
        self.tracer = tracer is NoOpTracer ? nil : tracer
        self.instrument = InstrumentationSystem.instrument
    }

    // MARK: Structure

    /// Runs receivers, executors and the shutdown sequence; returns when all are done and every settlement has
    /// been sent.
    ///
    /// The settler runs in a task of its own, outside this task's tree, so that cancelling the worker's task does
    /// not cancel the acknowledgements and releases of jobs that already ended; after such a cancellation it gets
    /// ``Worker/Configuration/settleTimeout`` and is then cancelled.
    func run() async {
        let settling = Task { await self.settler.run() }
        let settleTimeout = configuration.settleTimeout
        let deadline = Mutex<Task<Void, Never>?>(nil)
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                for slot in slots {
                    group.addTask { await self.runSlot(slot) }
                }
                group.addTask { await self.supervise() }
                await group.waitForAll()
            }
        } onCancel: {
            let timer = Task {
                try? await Task.sleep(for: settleTimeout)
                settling.cancel()
            }
            deadline.withLock { $0 = timer }
        }
        settler.finish()
        await settling.value
        deadline.withLock { $0 }?.cancel()
    }

    /// Receives until shutdown is requested, then drains within the grace period.
    private func supervise() async {
        await withTaskGroup(of: Void.self) { group in
            for queue in configuration.queues {
                group.addTask { await self.serve(queue) }
            }
            await scheduler.waitForShutdownRequest()
            logger.debug("worker draining", metadata: ["conveyor.provider": .string(provider.name)])
            let held = scheduler.beginDrain()
            group.cancelAll()
            await release(held)
            await group.waitForAll()
        }
        if !scheduler.skipGracePeriod {
            let grace = configuration.shutdownGracePeriod
            let scheduler = self.scheduler
            let idle = await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do { try await Task.sleep(for: grace) } catch { return }
                    scheduler.graceExpired()
                }
                let idle = await scheduler.waitUntilIdleOrGraceExpired()
                group.cancelAll()
                return idle
            }
            if idle { return }
            logger.debug("shutdown grace period over; cancelling running jobs")
        }
        for slot in slots { slot.requestCancel(.shutdown) }
    }

    /// One queue: learns its visibility timeout from the provider, then runs its receivers and the heartbeat of
    /// its held jobs until the drain begins.
    private func serve(_ queue: String) async {
        guard let visibilityTimeout = await visibilityTimeout(of: queue) else { return }
        let receivers = configuration.effectiveReceiversPerQueue
        if let prefetching = provider as? any PrefetchingQueueProvider {
            prefetching.prepareToReceive(from: queue, capacity: configuration.concurrency + configuration.batchSize * receivers)
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<receivers {
                group.addTask { await self.receiveLoop(queue, visibilityTimeout: visibilityTimeout) }
            }
            if let visibilityTimeout {
                group.addTask { await self.heartbeatHeldJobs(of: queue, visibilityTimeout: visibilityTimeout) }
            }
        }
    }

    /// The provider's visibility timeout of `queue` (`.some(nil)`: none), asked until it answers; `nil` when the
    /// worker stops first.
    private func visibilityTimeout(of queue: String) async -> Duration?? {
        var errorDelay: Duration = .milliseconds(100)
        while !Task.isCancelled {
            do {
                let timeout = try await provider.visibilityTimeout(of: queue)
                if let timeout, timeout <= .zero {
                    logger.warning(
                        "the provider reports a visibility timeout that is not positive; heartbeats are off for this queue",
                        metadata: ["conveyor.queue": .string(queue), "conveyor.visibility_timeout": .stringConvertible(timeout)]
                    )
                    return .some(nil)
                }
                return .some(timeout)
            } catch {
                if let error = error as? ConveyorError, error.code == .closed { return nil }
                logger.info(
                    "reading the queue's visibility timeout failed; retrying",
                    metadata: ["conveyor.queue": .string(queue), "error.message": .string(String(describing: error)), "retry.after": .stringConvertible(errorDelay)]
                )
                do { try await Task.sleep(for: errorDelay) } catch { return nil }
                errorDelay = min(errorDelay * 2, .seconds(10))
            }
        }
        return nil
    }

    /// One queue's receive loop.
    private func receiveLoop(_ queue: String, visibilityTimeout: Duration?) async {
        var errorDelay: Duration = .milliseconds(100)
        // A cancelled receive returns at once without suspending: stop here rather than spin on it until the
        // supervisor has begun the drain.
        while !Task.isCancelled {
            let reserved = await scheduler.reserveBatch()
            if reserved == 0 { return }
            let messages: [ReceivedMessage]
            do {
                messages = try await provider.receive(from: queue, max: reserved, wait: configuration.receiveWait)
                errorDelay = .milliseconds(100)
            } catch {
                _ = scheduler.deliver([], reserved: reserved)
                if Task.isCancelled { return }
                if let error = error as? ConveyorError, error.code == .closed {
                    logger.info("provider closed; worker stops", metadata: ["conveyor.queue": .string(queue)])
                    scheduler.requestShutdown(immediate: false)
                    return
                }
                logger.info(
                    "receive failed; retrying",
                    metadata: ["conveyor.queue": .string(queue), "error.message": .string(String(describing: error)), "retry.after": .stringConvertible(errorDelay)]
                )
                do { try await Task.sleep(for: errorDelay) } catch { return }
                errorDelay = min(errorDelay * 2, .seconds(10))
                continue
            }
            if messages.isEmpty {
                _ = scheduler.deliver([], reserved: reserved)
                continue
            }
            let now = clock.now
            var jobs: [Job] = []
            jobs.reserveCapacity(messages.count)
            for message in messages {
                var entry: TaskEntry?
                if case .success(let envelope) = message.envelope { entry = entries[envelope.task] }
                jobs.append(Job(message: message, entry: entry, receivedAt: now, visibilityTimeout: visibilityTimeout))
            }
            let rejected = scheduler.deliver(jobs, reserved: reserved)
            if !rejected.isEmpty { await release(rejected) }
        }
    }

    /// Keeps messages of `queue` that wait in the local buffer (or behind a per-task limit) invisible: every
    /// interval (70 % of the visibility timeout), extends those that would otherwise expire before the next round
    /// (held for longer than the visibility timeout less one interval), up to 12 hours after receipt. Running jobs
    /// are heartbeated by their executor slot. Ends when the drain begins.
    private func heartbeatHeldJobs(of queue: String, visibilityTimeout: Duration) async {
        let interval = visibilityTimeout * 0.7
        let slack = visibilityTimeout - interval
        while true {
            do { try await clock.sleep(for: interval) } catch { return }
            let now = clock.now
            let held = scheduler.heldJobs(receivedBefore: now - slack)
                .filter { $0.message.queue == queue && now - $0.receivedAt < .seconds(12 * 3600) }
            guard !held.isEmpty else { continue }
            logger.debug(
                "extending the visibility of jobs waiting in the worker",
                metadata: ["conveyor.queue": .string(queue), "job.count": .stringConvertible(held.count)]
            )
            settler.heartbeats.extend(held.map(\.message), by: visibilityTimeout)
        }
    }

    /// Gives messages that never started back to the broker (without counting an attempt where it can), from the
    /// settler's task.
    private func release(_ jobs: [Job]) async {
        guard !jobs.isEmpty else { return }
        let provider = self.provider
        let failures = settler.failures
        let messages = jobs.map(\.message)
        await settler.perform {
            if let releasing = provider as? any ReleasingQueueProvider {
                do {
                    try await releasing.release(messages)
                } catch {
                    failures.record("returning a job that did not start", messages, error: error, consequence: "it returns after its visibility timeout")
                }
                return
            }
            for message in messages {
                do {
                    try await provider.fail(
                        message,
                        reason: FailureReason(code: "shutdown", message: "the worker shut down before the job started"),
                        retryAfter: .zero
                    )
                } catch {
                    failures.record("returning a job that did not start", [message], error: error, consequence: "it returns after its visibility timeout")
                }
            }
        }
    }

    /// One executor slot: runs an executor child task and its timers; restarts the child after a cancellation.
    private func runSlot(_ slot: ExecutorSlot) async {
        while true {
            slot.reset()
            let exit = await withTaskGroup(of: ExecutorExit?.self, returning: ExecutorExit.self) { group in
                group.addTask {
                    let exit = await self.executorLoop(slot)
                    slot.executorExited()
                    return exit
                }
                var cancelled = false
                while true {
                    let signals = await slot.nextSignals()
                    if signals.executorExited { break }
                    if signals.cancel && !cancelled {
                        cancelled = true
                        group.cancelAll()
                    }
                    var arms: [(at: ContinuousClock.Instant, generation: UInt64)] = []
                    if let arm = signals.arm { arms.append(arm) }
                    if signals.timerFired && !cancelled {
                        let (action, rearm) = slot.checkTimer(now: clock.now)
                        switch action {
                        case .none:
                            break
                        case .cancel:
                            cancelled = true
                            group.cancelAll()
                        case .extend(let message, let duration):
                            settler.heartbeats.extend([message], by: duration)
                        }
                        if let rearm { arms.append(rearm) }
                    }
                    if !cancelled {
                        for arm in arms {
                            group.addTask {
                                do { try await self.clock.sleep(until: arm.at) } catch { return nil }
                                slot.timerFired(generation: arm.generation)
                                return nil
                            }
                        }
                    }
                }
                group.cancelAll()
                var exit = ExecutorExit.drained
                while let result = await group.next() {
                    if let result { exit = result }
                }
                return exit
            }
            switch exit {
            case .drained:
                return
            case .cancelled(let job, let outcome, let reason):
                await settle(job, outcome, cancelReason: reason)
                if Task.isCancelled { return }
            }
        }
    }

    /// Takes jobs and runs them until the worker drains or the running job is cancelled.
    private func executorLoop(_ slot: ExecutorSlot) async -> ExecutorExit {
        while let job = await scheduler.next() {
            let outcome = await execute(job, slot: slot)
            if let reason = slot.end() ?? (Task.isCancelled ? .shutdown : nil) {
                return .cancelled(job, outcome, reason)
            }
            await settle(job, outcome, cancelReason: nil)
        }
        return .drained
    }

    // MARK: One job

    /// Progress sink of jobs started while nobody subscribed to events.
    private static let ignoreProgress: @Sendable (Double, String?) -> Void = { _, _ in }

    private func execute(_ job: Job, slot: ExecutorSlot) async -> Outcome {
        let envelope: Envelope
        switch job.message.envelope {
        case .failure(let error):
            return .rejected(FailureReason(error))
        case .success(let decoded):
            envelope = decoded
        }
        guard let entry = job.entry else {
            return .rejected(FailureReason(ConveyorError.unknownTask(envelope.task)))
        }
        if envelope.notBefore != nil, case .hop(let delay, let copy) = HopClock.decide(
            envelope, message: job.message, brokerTimestamps: provider is any BrokerTimestampingProvider, cap: maximumNativeDelay
        ) {
            return .hop(delay, copy)
        }
        let start = clock.now
        let queue = job.message.queue
        let attempt = job.message.attempt
        if let wait = metrics.queueWait[queue] {
            // The enqueue time comes from the broker or, failing that, from the producer's `created_at`, which may be
            // anything (Go's zero time): record it only when it converts to nanoseconds.
            let waited = Date().timeIntervalSince(job.message.enqueuedAt ?? envelope.createdAt)
            if waited >= 0, let nanoseconds = Int64(exactly: (waited * 1e9).rounded()) { wait.recordNanoseconds(nanoseconds) }
        }
        let maxAttempts = envelope.maxAttempts ?? entry.options.maxAttempts
        slot.begin(job, timeoutAt: entry.options.timeout.map { start + $0 }, now: start)
        let hub = self.hub
        let progress: @Sendable (Double, String?) -> Void
        if hub.isActive {
            hub.publish(WorkerEvent(kind: .started, jobID: envelope.id, task: envelope.task, queue: queue, attempt: attempt))
            progress = { fraction, note in
                guard hub.isActive else { return }
                hub.publish(
                    WorkerEvent(kind: .progressed, jobID: envelope.id, task: envelope.task, queue: queue, attempt: attempt, progress: fraction, note: note)
                )
            }
        } else {
            progress = Self.ignoreProgress
        }
        let context = JobContext(
            envelope: envelope,
            queue: queue,
            attempt: attempt,
            maxAttempts: maxAttempts,
            logger: logger,
            progress: progress
        )
        do {
            if let tracer {
                var serviceContext = ServiceContext.topLevel
                let carrier = envelope.traceContext.isEmpty ? job.message.brokerTraceContext : envelope.traceContext
                instrument.extract(carrier, into: &serviceContext, using: TraceContextExtractor())
                try await tracer.withSpan("conveyor.process \(envelope.task)", context: serviceContext, ofKind: .consumer) { span in
                    span.attributes["messaging.destination.name"] = queue
                    span.attributes["messaging.message.id"] = envelope.id.rawValue
                    span.attributes["conveyor.attempt"] = attempt
                    _ = try await entry.handler.run(payload: envelope.payload, context: context, encodeOutput: false)
                }
            } else {
                _ = try await entry.handler.run(payload: envelope.payload, context: context, encodeOutput: false)
            }
            return .succeeded(clock.now - start)
        } catch {
            return .failed(error, clock.now - start)
        }
    }

    /// Settles a job's message according to its outcome, records metrics and events, and frees its slot.
    private func settle(_ job: Job, _ outcome: Outcome, cancelReason: ExecutorSlot.CancelReason?) async {
        let message = job.message
        let taskMetrics = job.entry?.metrics ?? metrics.unknown
        switch outcome {
        case .succeeded(let duration):
            taskMetrics.succeeded.increment()
            taskMetrics.duration.recordNanoseconds(duration.nanoseconds)
            publish(.succeeded, job, duration: duration)
            logger.debug("job succeeded", metadata: jobMetadata(job))
            scheduler.finish(job)
            settler.acks.acknowledge(message)

        case .hop(let delay, var copy):
            copy.deduplicationKey = nil
            let outgoing = OutgoingMessage(envelope: copy, delay: delay)
            let provider = self.provider
            let failure: (any Error)? = await settler.perform {
                do {
                    try await provider.enqueue(outgoing, to: message.queue)
                    return nil
                } catch {
                    return error
                }
            }
            if let failure {
                logger.debug("could not re-send a job that is not due yet; returning it", metadata: jobMetadata(job, ["error.message": .string(String(describing: failure))]))
                await failMessage(job, reason: FailureReason(code: "not_due", message: "the job is not due yet"), retryAfter: delay)
            } else {
                logger.debug("job not due yet; sent again", metadata: jobMetadata(job, ["job.delay": .stringConvertible(delay)]))
                settler.acks.acknowledge(message)
            }
            scheduler.finish(job)

        case .rejected(let reason):
            taskMetrics.deadLettered.increment()
            publish(.deadLettered, job, error: reason.description)
            logger.debug("job dead-lettered", metadata: jobMetadata(job, ["error.message": .string(reason.description)]))
            await failMessage(job, reason: reason, retryAfter: nil)
            scheduler.finish(job)

        case .failed(let error, let duration):
            taskMetrics.duration.recordNanoseconds(duration.nanoseconds)
            if cancelReason == .shutdown {
                taskMetrics.failed.increment()
                publish(.failed, job, duration: duration, error: "cancelled: the worker shut down")
                logger.debug("job cancelled by shutdown; returning it", metadata: jobMetadata(job))
                if provider is any ReleasingQueueProvider {
                    await release([job])
                } else {
                    await failMessage(job, reason: FailureReason(code: "shutdown", message: "cancelled: the worker shut down"), retryAfter: .zero)
                }
                scheduler.finish(job)
                return
            }
            let reason: FailureReason
            let deadLetterNow: Bool
            if cancelReason == .timeout {
                let limit = job.entry?.options.timeout.map { "\($0)" } ?? "?"
                reason = FailureReason(ConveyorError(.timeout, "the job ran longer than its timeout of \(limit) and was cancelled"))
                deadLetterNow = false
            } else {
                (reason, deadLetterNow) = classify(error)
            }
            let envelope = try? message.envelope.get()
            let maxAttempts = envelope?.maxAttempts ?? job.entry?.options.maxAttempts ?? 1
            if deadLetterNow || message.attempt >= maxAttempts {
                taskMetrics.deadLettered.increment()
                publish(.deadLettered, job, duration: duration, error: reason.description)
                logger.debug("job dead-lettered", metadata: jobMetadata(job, ["error.message": .string(reason.description)]))
                await failMessage(job, reason: reason, retryAfter: nil)
            } else {
                let delay = (job.entry?.options.backoff ?? .immediate).delay(forRetry: message.attempt)
                taskMetrics.retried.increment()
                publish(.retried, job, duration: duration, error: reason.description, retryAfter: delay)
                logger.debug(
                    "job failed; will retry",
                    metadata: jobMetadata(job, ["error.message": .string(reason.description), "retry.after": .stringConvertible(delay)])
                )
                await failMessage(job, reason: reason, retryAfter: delay)
            }
            scheduler.finish(job)
        }
    }

    /// The failure reason of a handler error, and whether it dead-letters at once.
    private func classify(_ error: any Error) -> (FailureReason, deadLetterNow: Bool) {
        switch error {
        case let error as NonRetryableError:
            return (FailureReason(code: "non_retryable", message: Self.truncate(error.message)), true)
        case let error as ConveyorError:
            let immediate: Set<ConveyorError.Code> = [.payloadDecodingFailed, .unknownTask, .malformedEnvelope, .unsupportedEnvelopeVersion]
            return (FailureReason(code: error.code.rawValue, message: Self.truncate(error.message)), immediate.contains(error.code))
        case is CancellationError:
            return (FailureReason(code: "cancelled", message: "the job was cancelled"), false)
        default:
            return (FailureReason(code: "task_error", message: Self.truncate(String(describing: error))), false)
        }
    }

    private static func truncate(_ text: String) -> String {
        text.count <= 1000 ? text : String(text.prefix(1000)) + "…"
    }

    /// Fails the job's message (retry or dead letter) from the settler's task.
    private func failMessage(_ job: Job, reason: FailureReason, retryAfter: Duration?) async {
        let provider = self.provider
        let message = job.message
        let failure: (any Error)? = await settler.perform {
            do {
                try await provider.fail(message, reason: reason, retryAfter: retryAfter)
                return nil
            } catch {
                return error
            }
        }
        guard let failure else { return }
        job.entry?.metrics.failed.increment()
        publish(.failed, job, error: "could not settle the message: \(failure)")
        settler.failures.record(
            retryAfter == nil ? "dead-lettering a job" : "returning a failed job for retry", [message], error: failure,
            consequence: "it returns after its visibility timeout"
        )
    }

    private func publish(
        _ kind: WorkerEvent.Kind,
        _ job: Job,
        duration: Duration? = nil,
        error: String? = nil,
        retryAfter: Duration? = nil
    ) {
        guard hub.isActive else { return }
        let envelope = try? job.message.envelope.get()
        hub.publish(
            WorkerEvent(
                kind: kind,
                jobID: envelope?.id,
                task: envelope?.task,
                queue: job.message.queue,
                attempt: job.message.attempt,
                duration: duration,
                error: error,
                retryAfter: retryAfter
            )
        )
    }

    private func jobMetadata(_ job: Job, _ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = extra
        metadata["conveyor.queue"] = .string(job.message.queue)
        metadata["job.attempt"] = .stringConvertible(job.message.attempt)
        if case .success(let envelope) = job.message.envelope {
            metadata["job.id"] = .string(envelope.id.rawValue)
            metadata["job.task"] = .string(envelope.task)
            if let correlationID = envelope.correlationID { metadata["correlation.id"] = .string(correlationID) }
        }
        return metadata
    }
}

extension Duration {
    /// The duration in nanoseconds, saturating at the ends of `Int64` (about 292 years).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflowSum) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowSum ? (seconds < 0 ? .min : .max) : sum
    }
}
