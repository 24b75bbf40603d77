extension Worker {
    /// How a ``Worker`` receives and runs jobs. Every property has a documented default.
    public struct Configuration: Sendable {
        /// Queues to receive from, one long-polling receiver each. Default `["default"]`.
        public var queues: [String]
        /// Most jobs running at once in this worker, across all tasks and queues, 1 to ``maximumConcurrency``.
        /// Default 16.
        public var concurrency: Int
        /// Most messages asked for per receive. The worker holds at most `concurrency + batchSize ×
        /// receiversPerQueue` received messages per queue (running or waiting locally) and a receiver asks only
        /// when a whole batch fits. 1 to ``maximumBatchSize``. Default 10.
        public var batchSize: Int
        /// Receives in flight at once per queue (several long polls, as SQS needs to keep many executors busy).
        /// `nil` (the default) picks enough receivers to fill every executor in one round:
        /// `concurrency / batchSize` rounded up, between 1 and 8. At most ``maximumReceiversPerQueue``.
        public var receiversPerQueue: Int?
        /// Longest a receive waits for a message (long poll). Default 20 s.
        public var receiveWait: Duration
        /// On graceful shutdown, how long in-flight jobs may run on before they are cancelled and their messages
        /// returned for redelivery. Default 30 s.
        public var shutdownGracePeriod: Duration
        /// After the task that runs the worker is cancelled (rather than shut down gracefully), how long the worker
        /// may still spend sending the acknowledgements, failures and releases of jobs that have ended, so that they
        /// do not run again. Default 10 s.
        public var settleTimeout: Duration
        /// Per-task options that replace a task's ``ConveyorTask/options`` in this worker, keyed by task name
        /// (e.g. a lower ``TaskOptions/concurrency`` on a small machine); checked as a task's options are when the
        /// worker runs. Default empty.
        public var taskOptionOverrides: [String: TaskOptions]
        /// The clock that job timeouts, visibility heartbeats and the time jobs wait in the worker follow. A test
        /// clock (one that moves only when the test advances it, such as swift-clocks' `TestClock`), given to the
        /// ``MemoryQueueProvider`` too (``MemoryQueueProvider/Configuration/clock``), tests timeouts and
        /// heartbeats deterministically and at once. Receive waits follow the provider's clock; the shutdown
        /// grace period, ``settleTimeout``, ``pauseCheckInterval`` and retries of failing broker calls stay in real
        /// time.
        /// Default `ContinuousClock()`.
        public var clock: any Clock<Duration>
        /// Middleware around every job this worker runs, outermost first, inside the worker's own (timeouts,
        /// metrics, ``WorkerEvent``s, tracing); the task's handler is the end of the chain. See ``JobMiddleware``.
        /// Default empty.
        public var middleware: [any JobMiddleware]
        /// How often the worker reads whether each of its queues is paused (``ConveyorClient/pause(_:)``) and its
        /// cancellation markers (``ConveyorClient/cancel(_:in:expiresAfter:)``), with a provider that can
        /// (``PausingProvider``, ``CancellingProvider``): per queue per interval, RabbitMQ declares the two marker
        /// queues (and reads the cancellation markers when their count changed), SQS sends one `ListQueueTags`;
        /// nothing per job. A worker stops taking jobs from a paused queue within about this interval, starts
        /// again as soon after a resume, and cancels a running job as soon after its cancellation. Default 1 s.
        public var pauseCheckInterval: Duration = .seconds(1)

        /// The largest ``concurrency`` accepted: 10,000.
        public static let maximumConcurrency = 10_000
        /// The largest ``batchSize`` accepted: 10,000.
        public static let maximumBatchSize = 10_000
        /// The largest ``receiversPerQueue`` accepted: 1,000.
        public static let maximumReceiversPerQueue = 1_000

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            queues: [String] = ["default"],
            concurrency: Int = 16,
            batchSize: Int = 10,
            receiversPerQueue: Int? = nil,
            receiveWait: Duration = .seconds(20),
            shutdownGracePeriod: Duration = .seconds(30),
            settleTimeout: Duration = .seconds(10),
            taskOptionOverrides: [String: TaskOptions] = [:],
            clock: any Clock<Duration> = ContinuousClock(),
            middleware: [any JobMiddleware] = []
        ) {
            self.queues = queues
            self.concurrency = concurrency
            self.batchSize = batchSize
            self.receiversPerQueue = receiversPerQueue
            self.receiveWait = receiveWait
            self.shutdownGracePeriod = shutdownGracePeriod
            self.settleTimeout = settleTimeout
            self.taskOptionOverrides = taskOptionOverrides
            self.clock = clock
            self.middleware = middleware
        }

        /// The receivers per queue this configuration runs (``receiversPerQueue`` or its automatic value).
        var effectiveReceiversPerQueue: Int {
            receiversPerQueue ?? min(8, max(1, (concurrency + batchSize - 1) / max(batchSize, 1)))
        }

        func validate() throws {
            guard !queues.isEmpty else {
                throw ConveyorError(.invalidConfiguration, "Worker.Configuration.queues is empty; name at least one queue")
            }
            guard Set(queues).count == queues.count else {
                throw ConveyorError(.invalidConfiguration, "Worker.Configuration.queues lists a queue twice")
            }
            // Upper bounds too: the worker allocates one executor per unit of concurrency and sizes buffers from
            // concurrency + batchSize × receivers, which must neither exhaust memory nor overflow.
            guard (1...Self.maximumConcurrency).contains(concurrency) else {
                throw ConveyorError(.invalidConfiguration, "Worker.Configuration.concurrency must be 1 to \(Self.maximumConcurrency) (is \(concurrency))")
            }
            guard (1...Self.maximumBatchSize).contains(batchSize) else {
                throw ConveyorError(.invalidConfiguration, "Worker.Configuration.batchSize must be 1 to \(Self.maximumBatchSize) (is \(batchSize))")
            }
            if let receiversPerQueue, !(1...Self.maximumReceiversPerQueue).contains(receiversPerQueue) {
                throw ConveyorError(
                    .invalidConfiguration,
                    "Worker.Configuration.receiversPerQueue must be 1 to \(Self.maximumReceiversPerQueue) (is \(receiversPerQueue))"
                )
            }
            guard pauseCheckInterval > .zero else {
                throw ConveyorError(.invalidConfiguration, "Worker.Configuration.pauseCheckInterval must be positive (is \(pauseCheckInterval))")
            }
            guard receiveWait >= .zero, shutdownGracePeriod >= .zero, settleTimeout >= .zero else {
                throw ConveyorError(.invalidConfiguration, "Worker.Configuration.receiveWait, shutdownGracePeriod and settleTimeout must not be negative")
            }
            for (task, options) in taskOptionOverrides.sorted(by: { $0.key < $1.key }) {
                try options.validate("Worker.Configuration.taskOptionOverrides[\"\(task)\"]")
            }
        }
    }
}
