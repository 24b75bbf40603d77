import Logging
import ServiceLifecycle
import Synchronization

/// Receives jobs from a ``QueueProvider`` and runs them with the tasks of a ``TaskRegistry``.
///
/// A worker is a swift-service-lifecycle `Service`: run it in a `ServiceGroup` next to the rest of the
/// application.
///
/// ```swift
/// var registry = TaskRegistry()
/// try registry.register(SendEmail(mailer: mailer))
/// let worker = Worker(provider: provider, registry: registry, configuration: .init(queues: ["default"]), logger: logger)
/// let group = ServiceGroup(services: [provider, worker], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
///
/// What it does:
/// - the visibility timeout of each queue is the provider's (``QueueProvider/visibilityTimeout(of:)``, read when the
///   worker starts): the provider asks for it on receive and the worker heartbeats by it, so the two cannot differ;
/// - ``Configuration/receiversPerQueue`` long-polling receivers per queue (by default enough to fill every
///   executor in one round) each ask for ``Configuration/batchSize`` messages at a time, and only when a whole
///   batch fits in ``Configuration/concurrency`` plus one batch per receiver (no over-fetching); a
///   ``PrefetchingQueueProvider`` (RabbitMQ) is told that capacity so that its prefetch window matches it;
/// - a fixed pool of ``Configuration/concurrency`` executors runs jobs; a job whose task is at its
///   ``TaskOptions/concurrency`` limit waits in the worker's local buffer (it does not block other tasks' jobs);
///   the visibility of such held-back (and otherwise buffered) messages is extended too, every 70 % of the queue's
///   visibility timeout, so that they are not delivered again while they wait;
/// - success acknowledges (acknowledgements that complete together go in one call); an error retries after the
///   task's ``TaskOptions/backoff`` until ``TaskOptions/maxAttempts`` (the envelope's `max_attempts` wins), then
///   dead-letters; a ``NonRetryableError``, an unknown task, an undecodable payload, a malformed body or an
///   unsupported envelope version dead-letter at once, with the reason;
/// - a job running past its ``TaskOptions/timeout`` is cancelled and counts as a failed attempt
///   (``ConveyorError/Code/timeout``); while a job runs on a provider with visibility timeouts, the worker extends
///   the message's visibility every 70 % of the queue's visibility timeout, counted from receipt (at most 12
///   hours after receipt); heartbeats due together go in one call (SQS `ChangeMessageVisibilityBatch`);
/// - a job whose ``Envelope/notBefore`` is still ahead (a delay longer than the broker's native maximum) is sent
///   again, unchanged, with the remaining delay (capped at the native maximum) and the received copy acknowledged,
///   without the handler seeing it;
/// - on graceful shutdown it stops receiving, gives messages that have not started back to the broker, lets
///   running jobs finish for up to ``Configuration/shutdownGracePeriod``, then cancels them and returns their
///   messages for redelivery (``ReleasingQueueProvider/release(_:)``, which counts an attempt or not as the
///   provider's ``ReleasingQueueProvider/releaseCountsAsAttempt`` says, or else `fail(retryAfter: .zero)`, which
///   does); `run()` returns when every job is settled. Cancelling the
///   task that runs the worker does the same without the grace period; the acknowledgements, failures and
///   releases of jobs that ended are still sent (from a task of the worker's own, for up to
///   ``Configuration/settleTimeout``), so a job that succeeded does not run again;
/// - broker calls that settle jobs (acknowledgements, heartbeats, failures) go out from that task too: a slow or
///   failing call delays neither the executors nor a job's timeout nor other heartbeats, and a job whose message
///   cannot be settled is logged at warning once (later failures for it at debug).
///
/// Observability: a consumer span `conveyor.process <task>` per job (continuing the producer's trace from the
/// envelope), swift-metrics `conveyor_jobs_total` (task, outcome: succeeded, retried, dead_lettered, failed),
/// `conveyor_job_duration_seconds` (task), `conveyor_queue_wait_seconds` (queue), `conveyor_jobs_in_flight`;
/// debug logs per job, info logs on start and stop; and ``WorkerEvent``s through ``events(bufferingPolicy:)``.
/// At start it logs at warning each registered task whose jobs no worker of the process receives (see
/// ``unconsumedTaskQueues()``).
///
/// Extending: ``Configuration/middleware`` runs code of your own around every job (``JobMiddleware``); the
/// worker's timeouts, metrics, events and tracing are middleware of the same kind, ahead of yours.
///
/// A worker runs once: calling ``run()`` again throws.
public final class Worker: Service, Sendable {
    /// The configuration the worker runs with.
    public let configuration: Configuration
    /// The provider jobs come from.
    public let provider: any QueueProvider

    private enum Phase {
        case idle(shutdownRequested: Bool)
        case running(WorkerRuntime)
        case finished
    }

    private let registry: TaskRegistry
    private let logger: Logger
    /// Where the worker says which queues it consumes, and learns which others are consumed.
    private let directory: ProcessQueueDirectory
    private let hub = EventHub()
    private let phase = Mutex(Phase.idle(shutdownRequested: false))

    /// Creates a worker. The configuration is checked when the worker runs.
    ///
    /// - Parameters:
    ///   - provider: Where jobs come from and are settled.
    ///   - registry: The tasks this worker runs; jobs of other tasks are dead-lettered as unknown.
    ///   - configuration: Queues, concurrency and timings; see ``Configuration``.
    ///   - logger: The worker's logger (info on start and stop, debug per job); defaults to `conveyor.worker`.
    public convenience init(
        provider: any QueueProvider,
        registry: TaskRegistry,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "conveyor.worker")
    ) {
        self.init(provider: provider, registry: registry, configuration: configuration, logger: logger, directory: .shared)
    }

    /// Creates a worker that reports its queues to `directory` instead of the process's (tests).
    init(
        provider: any QueueProvider,
        registry: TaskRegistry,
        configuration: Configuration,
        logger: Logger,
        directory: ProcessQueueDirectory
    ) {
        self.provider = provider
        self.registry = registry
        self.configuration = configuration
        self.logger = logger
        self.directory = directory
    }

    /// A new stream of this worker's events, in the order they happen. Each call makes an independent
    /// subscriber; events are built only while at least one subscriber listens. The stream finishes when the
    /// worker stops (at once when it already has) or when its consumer stops iterating.
    ///
    /// - Parameter bufferingPolicy: What to do when the consumer falls behind; by default the newest 10 000
    ///   events are kept.
    public func events(
        bufferingPolicy: AsyncStream<WorkerEvent>.Continuation.BufferingPolicy = .bufferingNewest(10_000)
    ) -> AsyncStream<WorkerEvent> {
        hub.subscribe(bufferingPolicy: bufferingPolicy)
    }

    /// The registered tasks whose jobs no worker of this process receives, by task name: the queue each task
    /// routes to (its ``TaskOptions/queue``, or that of its ``Configuration/taskOptionOverrides``) when that queue
    /// is neither in ``Configuration/queues`` nor consumed by another ``Worker`` running in this process. A task
    /// on `"default"` counts as received when a ``ConveyorClient`` created in this process sends jobs of
    /// `"default"` to a consumed queue (``ConveyorClient/defaultQueue``).
    ///
    /// Jobs of these tasks wait in their queue unless a producer names another queue per job
    /// (``EnqueueOptions/queue``) or a worker elsewhere consumes it. The worker logs each at warning when it starts.
    public func unconsumedTaskQueues() -> [String: String] {
        directory.unconsumedQueues(
            of: registry, overrides: configuration.taskOptionOverrides, consumedHere: configuration.queues)
    }

    /// Starts a graceful shutdown, as a `ServiceGroup` does on its graceful-shutdown signal: stop receiving,
    /// finish running jobs within the grace period, then return from ``run()``. Before ``run()`` starts, it makes
    /// ``run()`` return at once.
    public func triggerGracefulShutdown() {
        let runtime: WorkerRuntime? = phase.withLock { phase in
            switch phase {
            case .idle:
                phase = .idle(shutdownRequested: true)
                return nil
            case .running(let runtime):
                return runtime
            case .finished:
                return nil
            }
        }
        runtime?.dispatcher.requestShutdown(immediate: false)
    }

    /// Runs until graceful shutdown (or cancellation) and every in-flight job is settled. Throws
    /// ``ConveyorError/Code/invalidConfiguration`` for a bad configuration or a second call.
    public func run() async throws {
        try configuration.validate()
        let runtime = WorkerRuntime(
            provider: provider,
            registry: registry,
            configuration: configuration,
            logger: logger,
            hub: hub
        )
        let shutdownEarly: Bool = try phase.withLock { phase in
            guard case .idle(let requested) = phase else {
                throw ConveyorError(.invalidConfiguration, "this Worker has already run; create a new Worker to run again")
            }
            phase = .running(runtime)
            return requested
        }
        if shutdownEarly { runtime.dispatcher.requestShutdown(immediate: false) }
        logger.info(
            "worker started",
            metadata: [
                "conveyor.provider": .string(provider.name),
                "conveyor.queues": .string(configuration.queues.joined(separator: ",")),
                "conveyor.concurrency": .stringConvertible(configuration.concurrency),
            ]
        )
        directory.addConsumer(of: configuration.queues)
        defer { directory.removeConsumer(of: configuration.queues) }
        for (task, queue) in unconsumedTaskQueues().sorted(by: { $0.key < $1.key }) {
            logger.warning(
                "task \(task) routes to queue \(queue), which this worker does not consume (nor does another worker of this process); add the queue to Worker.Configuration.queues or route the task to a consumed queue",
                metadata: ["job.task": .string(task), "conveyor.queue": .string(queue)]
            )
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await runtime.run()
            } onGracefulShutdown: {
                runtime.dispatcher.requestShutdown(immediate: false)
            }
        } onCancel: {
            runtime.dispatcher.requestShutdown(immediate: true)
        }
        phase.withLock { $0 = .finished }
        hub.finish()
        logger.info("worker stopped", metadata: ["conveyor.provider": .string(provider.name)])
    }
}
