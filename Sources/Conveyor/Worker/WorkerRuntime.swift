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
    /// The handler returned; `output` is its JSON output when the job is tracked (``Envelope/replyTo``).
    case succeeded(Duration, output: [UInt8]?)
    case failed(any Error, Duration)
    /// Dead-letter without running (malformed body, unknown task).
    case rejected(FailureReason)
    /// Cancelled by its id before it started: acknowledge without running.
    case cancelled
    /// Not due yet: send a copy with this delay and acknowledge the received one.
    case hop(Duration, Envelope)
    /// No permit or token of its flow limit: send a copy (same attempt) with this delay and acknowledge the received one.
    case deferred(Duration, Envelope)
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
    let dispatcher: JobDispatcher
    /// Which queues are paused, as last read from the broker.
    let pauses = PauseGate()
    /// The cancellation markers of the worker's queues, as last read from the broker.
    let cancellations = CancellationBook()
    let slots: [ExecutorSlot]
    let settler: Settler
    /// ``Worker/Configuration/clock``: job timeouts and heartbeats follow it.
    let clock: InjectedClock
    let maximumNativeDelay: Duration?
    /// The worker's middleware (timeouts, events, replies, tracing when a tracer is bootstrapped; metrics noted on entry), then the user's.
    let chain: MiddlewareChain
    /// The chain's metrics middleware, which counts ended attempts from the job's own handles.
    let metricsMiddleware: MetricsMiddleware
    /// The middleware that see how attempts ended through ``JobMiddleware/jobEnded(_:)``: events, then the user's.
    let endObservers: MiddlewareChain
    /// Sends tracked jobs' events and outcomes to their producers.
    let replies: ReplySender
    /// Broadcasts job events of observed queues.
    let broadcaster: EventBroadcaster
    /// Global concurrency and rate limits of the tasks that have them.
    let flow: FlowGate
    /// Jobs running now, for heartbeats.
    let running: RunningCount
    /// This worker in its heartbeats (``WorkerHeartbeat``); `busy` is filled in when one is sent.
    let heartbeat: WorkerHeartbeat

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
        self.flow = FlowGate(entries: entries.values, provider: provider, concurrency: configuration.concurrency, logger: logger)
        let metrics = WorkerMetrics(queues: configuration.queues)
        self.metrics = metrics
        let inFlight = metrics.inFlight
        let running = RunningCount()
        self.running = running
        self.dispatcher = JobDispatcher(
            concurrency: configuration.concurrency,
            batchSize: configuration.batchSize,
            receivers: configuration.queues.count * configuration.effectiveReceiversPerQueue,
            onRunningChange: { count in
                inFlight.record(count)
                running.count.store(count, ordering: .relaxed)
            }
        )
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        let host = ProcessInfo.processInfo.hostName
        self.heartbeat = WorkerHeartbeat(
            workerID: "\(host)-\(pid)-\(String(UInt32.random(in: .min ... .max), radix: 16))", host: host, pid: pid,
            queues: configuration.queues, concurrency: configuration.concurrency, busy: 0, startedAt: Date())
        self.slots = (0..<configuration.concurrency).map { _ in ExecutorSlot() }
        self.settler = Settler(provider: provider, logger: logger)
        self.maximumNativeDelay = provider.capabilities.maximumNativeDelay
        let metricsMiddleware = MetricsMiddleware(metrics: metrics)
        self.metricsMiddleware = metricsMiddleware
        let broadcaster = EventBroadcaster(provider: provider, logger: logger)
        self.broadcaster = broadcaster
        let events = EventsMiddleware(hub: hub, broadcaster: broadcaster)
        self.endObservers = MiddlewareChain(middleware: [events] + configuration.middleware)
        // The timeout middleware only when a task has a timeout; the event middleware is passed by while nobody
        // subscribes; tracing only with a tracer.
        var middleware: [any JobMiddleware] = []
        var idle: [(@Sendable (JobContext) -> Bool)?] = []
        if entries.values.contains(where: { $0.options.timeout != nil }) {
            middleware.append(TimeoutMiddleware(clock: clock))
            idle.append(nil)
        }
        let replies = ReplySender(provider: provider, logger: logger)
        self.replies = replies
        middleware += [events, ReplyMiddleware(sender: replies)]
        idle += [events.isIdle(for:), ReplyMiddleware.isIdle(for:)]
        let tracer = InstrumentationSystem.tracer
        if !(tracer is NoOpTracer) {
            middleware.append(TracingMiddleware(tracer: tracer, instrument: InstrumentationSystem.instrument))
        }
        self.chain = MiddlewareChain(middleware: middleware + configuration.middleware, idle: idle, starters: [metricsMiddleware])
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
        let broadcasting = Task { await self.broadcaster.run() }
        let flowing = flow.isEmpty ? nil : Task { await self.flow.run() }
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
        flowing?.cancel()
        await flowing?.value
        settler.finish()
        await settling.value
        broadcaster.finish()
        await broadcasting.value
        deadline.withLock { $0 }?.cancel()
    }

    /// Receives until shutdown is requested, then drains within the grace period.
    private func supervise() async {
        await withTaskGroup(of: Void.self) { group in
            for queue in configuration.queues {
                group.addTask { await self.serve(queue) }
            }
            await dispatcher.waitForShutdownRequest()
            logger.debug("worker draining", metadata: ["conveyor.provider": .string(provider.name)])
            let held = dispatcher.beginDrain()
            group.cancelAll()
            await release(held)
            await group.waitForAll()
        }
        if !dispatcher.skipGracePeriod {
            let grace = configuration.shutdownGracePeriod
            let dispatcher = self.dispatcher
            let idle = await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do { try await Task.sleep(for: grace) } catch { return }
                    dispatcher.graceExpired()
                }
                let idle = await dispatcher.waitUntilIdleOrGraceExpired()
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
        if let prefetching = provider.prefetching {
            prefetching.prepareToReceive(from: queue, capacity: configuration.concurrency + configuration.batchSize * receivers)
        }
        let pausing = provider.pausing
        let cancelling = provider.cancelling
        // A worker started on a paused queue takes nothing from it, and runs none of its cancelled jobs: read both
        // before the first receive.
        var readings = ControlReadings()
        if let pausing { await readPause(of: queue, pausing, &readings.pause) }
        if let cancelling { await readCancellations(of: queue, cancelling, &readings.cancellations) }
        await withTaskGroup(of: Void.self) { group in
            if pausing != nil || cancelling != nil {
                group.addTask { [readings] in await self.watchControl(of: queue, pausing, cancelling, readings) }
            }
            for _ in 0..<receivers {
                group.addTask { await self.receiveLoop(queue, visibilityTimeout: visibilityTimeout) }
            }
            if let visibilityTimeout {
                group.addTask { await self.heartbeatHeldJobs(of: queue, visibilityTimeout: visibilityTimeout) }
            }
            if broadcaster.broadcasting != nil {
                group.addTask { await self.announce(to: queue) }
            }
        }
    }

    /// Sends this worker's heartbeat to `queue`'s observers every ``WorkerHeartbeat/interval`` while it may have
    /// some, until the drain begins.
    private func announce(to queue: String) async {
        while !Task.isCancelled {
            if broadcaster.wants(queue) {
                var beat = heartbeat
                beat.busy = running.count.load(ordering: .relaxed)
                broadcaster.add(JobEvent(heartbeat: beat, queue: queue))
            }
            do { try await Task.sleep(for: WorkerHeartbeat.interval) } catch { return }
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
            if pauses.isPaused(queue) {
                await pauses.waitUntilOpen(queue)
                continue
            }
            let reserved = await dispatcher.reserveBatch()
            if reserved == 0 { return }
            if pauses.isPaused(queue) {
                // Paused while this receiver waited for room (the pause's withdrawal makes room): no receive.
                _ = dispatcher.deliver([], reserved: reserved)
                continue
            }
            let messages: [ReceivedMessage]
            do {
                messages = try await provider.receive(from: queue, max: reserved, wait: configuration.receiveWait)
                errorDelay = .milliseconds(100)
            } catch {
                _ = dispatcher.deliver([], reserved: reserved)
                if Task.isCancelled { return }
                if let error = error as? ConveyorError, error.code == .closed {
                    logger.info("provider closed; worker stops", metadata: ["conveyor.queue": .string(queue)])
                    dispatcher.requestShutdown(immediate: false)
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
                _ = dispatcher.deliver([], reserved: reserved)
                continue
            }
            if pauses.isPaused(queue) {
                // Paused while this receive was out: the jobs go back unstarted, and so does what this receive's
                // provider may have pushed since the pause stopped it.
                _ = dispatcher.deliver([], reserved: reserved)
                await provider.prefetching?.stopPrefetching(from: queue)
                let now = clock.now
                await release(messages.map { Job(message: $0, entry: nil, receivedAt: now, visibilityTimeout: visibilityTimeout) })
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
            let rejected = dispatcher.deliver(jobs, reserved: reserved)
            if !rejected.isEmpty { await release(rejected) }
        }
    }

    /// Whether reading one kind of a queue's control state (`what`: its paused state, its cancellation markers) failed
    /// last time: the first failure of a run is logged at info, and the recovery too.
    struct ControlReading {
        let what: String
        var failing = false

        mutating func succeeded(_ queue: String, _ logger: Logger) {
            guard failing else { return }
            failing = false
            logger.info("reading \(what) works again", metadata: ["conveyor.queue": .string(queue)])
        }

        mutating func failed(_ queue: String, _ error: any Error, _ logger: Logger) {
            guard !failing else { return }
            failing = true
            logger.info(
                "reading \(what) failed; the worker keeps its last reading and tries again",
                metadata: ["conveyor.queue": .string(queue), "error.message": .string(String(describing: error))]
            )
        }
    }

    /// The two readings of a queue's control state.
    struct ControlReadings {
        var pause = ControlReading(what: "whether the queue is paused")
        var cancellations = ControlReading(what: "the queue's cancellations")
    }

    /// Reads whether `queue` is paused into ``pauses``. On a failure the last reading stays (not paused at first);
    /// the first failure of a run is logged at info, and the recovery too.
    private func readPause(of queue: String, _ pausing: any PausingProvider, _ reading: inout ControlReading) async {
        do {
            let paused = try await pausing.isPaused(queue)
            reading.succeeded(queue, logger)
            // Resumed: the dispatcher takes the queue's jobs again before its receivers wake.
            if !paused { dispatcher.resume(queue: queue) }
            guard pauses.set(queue, paused: paused) else { return }
            logger.info(paused ? "queue paused: taking no new jobs from it" : "queue resumed", metadata: ["conveyor.queue": .string(queue)])
            if paused {
                // From here the dispatcher gives back the queue's jobs it holds or is handed, and the provider
                // stops pushing them.
                let withdrawn = dispatcher.pause(queue: queue)
                await provider.prefetching?.stopPrefetching(from: queue)
                await release(withdrawn)
            }
        } catch {
            if Task.isCancelled { return }
            reading.failed(queue, error, logger)
        }
    }

    /// Reads whether `queue` is paused and its cancellation markers every ``Worker/Configuration/pauseCheckInterval``
    /// until the drain begins.
    private func watchControl(
        of queue: String, _ pausing: (any PausingProvider)?, _ cancelling: (any CancellingProvider)?, _ readings: ControlReadings
    ) async {
        var readings = readings
        while true {
            // ±10 % jitter, so that a fleet of workers started together does not check in step.
            let interval = configuration.pauseCheckInterval * Double.random(in: 0.9...1.1)
            do { try await Task.sleep(for: interval) } catch { return }
            if let pausing { await readPause(of: queue, pausing, &readings.pause) }
            if let cancelling { await readCancellations(of: queue, cancelling, &readings.cancellations) }
        }
    }

    /// Reads `queue`'s cancellation markers into ``cancellations`` and cancels its running jobs that have one. On a
    /// failure the last reading stays; the first failure of a run is logged at info, and the recovery too.
    private func readCancellations(of queue: String, _ cancelling: any CancellingProvider, _ reading: inout ControlReading) async {
        do {
            let markers = try await cancelling.cancellations(in: queue)
            reading.succeeded(queue, logger)
            cancellations.set(queue, markers)
            guard !markers.isEmpty else { return }
            // Every reading, not only new markers: a job that passed its start check just before a marker was
            // recorded is caught by the next one.
            let now = Date()
            for slot in slots {
                slot.requestCancel(.cancelled) { job in
                    guard job.message.queue == queue, case .success(let envelope) = job.message.envelope,
                        let expiry = markers[envelope.id]
                    else { return false }
                    return expiry > now
                }
            }
        } catch {
            if Task.isCancelled { return }
            reading.failed(queue, error, logger)
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
            let held = dispatcher.heldJobs(receivedBefore: now - slack)
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
    func release(_ jobs: [Job]) async {
        guard !jobs.isEmpty else { return }
        let provider = self.provider
        let failures = settler.failures
        let messages = jobs.map(\.message)
        await settler.perform {
            if let releasing = provider.releasing {
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
        while let job = await dispatcher.next() {
            let outcome = await execute(job, slot: slot)
            if let reason = slot.end() ?? (Task.isCancelled ? .shutdown : nil) {
                return .cancelled(job, outcome, reason)
            }
            await settle(job, outcome, cancelReason: nil)
        }
        return .drained
    }

    // MARK: One job

    /// Runs one attempt: decides whether the message can run here and now, then passes it through the middleware
    /// chain to the task's handler.
    private func execute(_ job: Job, slot: ExecutorSlot) async -> Outcome {
        let envelope: Envelope
        switch job.message.envelope {
        case .failure(let error):
            return .rejected(FailureReason(error))
        case .success(let decoded):
            envelope = decoded
        }
        if cancellations.isCancelled(envelope.id, in: job.message.queue) { return .cancelled }
        guard let entry = job.entry else {
            return .rejected(FailureReason(ConveyorError.unknownTask(envelope.task)))
        }
        if envelope.notBefore != nil, case .hop(let delay, let copy) = HopClock.decide(
            envelope, message: job.message, brokerTimestamps: provider.capabilities.brokerTimestamps, cap: maximumNativeDelay
        ) {
            return .hop(delay, copy)
        }
        var lease: FlowGate.Lease?
        if flow.limits(entry.name) {
            switch await flow.admit(entry.name, key: envelope.headers[Envelope.HeaderKey.limitKey]) {
            case .admitted(let admitted):
                lease = admitted
            case .deferred(var delay, let reason, let release):
                if let release { await settler.perform { await self.flow.release(release) } }
                // Each deferral of the same job waits a quarter second more (at most 2 s more): the header comes from
                // the message, so it is bounded before use.
                let deferrals = envelope.headers[Envelope.HeaderKey.limitDeferrals].flatMap(Int.init).map { min(max($0, 0), 1_000) } ?? 0
                delay += .milliseconds(250 * min(deferrals, 8))
                logger.debug("job waits for its flow limit; sent back", metadata: [
                    "conveyor.queue": .string(job.message.queue), "conveyor.task": .string(entry.name), "job.id": .string(envelope.id.rawValue),
                    "job.delay": .stringConvertible(delay), "flow.reason": .string(reason),
                ])
                // The copy keeps the attempt it would have run as: waiting for a limit is no attempt.
                var copy = envelope
                copy.attemptOffset = min(max(job.message.attempt - 1, 0), Envelope.maximumAttemptOffset)
                copy.headers[Envelope.HeaderKey.limitDeferrals] = String(deferrals + 1)
                return .deferred(delay, copy)
            }
        }
        let outcome = await run(job, envelope: envelope, entry: entry, slot: slot)
        if let lease { await settler.perform { await self.flow.release(lease) } }
        return outcome
    }

    /// Passes an admitted job through the middleware chain to its handler.
    private func run(_ job: Job, envelope: Envelope, entry: TaskEntry, slot: ExecutorSlot) async -> Outcome {
        let start = clock.now
        slot.begin(job)
        var context = JobContext(
            envelope: envelope,
            queue: job.message.queue,
            attempt: job.message.attempt,
            maxAttempts: envelope.maxAttempts ?? entry.options.maxAttempts,
            logger: logger
        )
        context.job = job
        context.slot = slot
        let tracked = envelope.replyTo != nil
        var output: [UInt8]?
        do {
            try await chain.run(context) { context in
                output = try await entry.handler.run(payload: context.envelope.payload, context: context, encodeOutput: tracked)
            }
            return .succeeded(clock.now - start, output: output)
        } catch {
            return .failed(error, clock.now - start)
        }
    }
}

/// The number of jobs a worker runs now, shared with the dispatcher's callback.
final class RunningCount: Sendable {
    let count = Atomic<Int>(0)
}
