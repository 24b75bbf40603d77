/// Options of a task: how often and how fast to retry, how long a job may run, how many may run at once.
///
/// Out-of-range values are reported, not trapped: ``TaskRegistry/register(_:)`` and
/// ``ConveyorClient/enqueue(_:_:options:)`` throw ``ConveyorError/Code/invalidConfiguration`` for a task whose
/// options are invalid, and a ``Worker`` refuses to run with invalid ``Worker/Configuration/taskOptionOverrides``.
public struct TaskOptions: Sendable, Hashable {
    /// Attempts before the job is dead-lettered, including the first; at least 1. Default 3.
    public var maxAttempts: Int
    /// Delay before each retry. Default: exponential from 1 s, ×2 per retry, capped at 5 minutes, full jitter.
    public var backoff: Backoff
    /// Longest a single attempt may run before it is cancelled and counted as failed; positive. Default 5
    /// minutes; `nil` means no limit.
    public var timeout: Duration?
    /// Most jobs of this task a worker runs at once, at least 1 (`nil`: only the worker's global limit). Default
    /// `nil`.
    public var concurrency: Int?
    /// Default priority, 0 (lowest) to 9 (highest). Default 0.
    public var priority: Int
    /// The queue jobs go to when the caller names none. Default `"default"`.
    public var queue: String
    /// The message group of jobs sent to a FIFO queue (SQS `MessageGroupId`) when
    /// ``EnqueueOptions/groupID`` is `nil`: jobs of one group run in order, one at a time. Default `nil`: the
    /// provider's default group. Brokers without message groups ignore it.
    public var groupID: String?
    /// Most jobs of this task running at once across every worker on the same broker, 1...10,000 (`nil`: no
    /// global limit). Held as permits in a queue of the broker; see the Flow control article. Default `nil`.
    public var globalConcurrency: Int?
    /// How many jobs of this task may start per interval, per process or across every worker (``RateLimit/scope``).
    /// Default `nil`: no limit.
    public var rateLimit: RateLimit?

    /// Creates options; every parameter has the default documented on its property. Values are checked where
    /// the options are used (see ``TaskOptions``), so this never traps.
    public init(
        maxAttempts: Int = 3,
        backoff: Backoff = .exponential(base: .seconds(1), multiplier: 2, cap: .seconds(300), jitter: .full),
        timeout: Duration? = .seconds(300),
        concurrency: Int? = nil,
        priority: Int = 0,
        queue: String = "default",
        groupID: String? = nil,
        globalConcurrency: Int? = nil,
        rateLimit: RateLimit? = nil
    ) {
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.timeout = timeout
        self.concurrency = concurrency
        self.priority = priority
        self.queue = queue
        self.groupID = groupID
        self.globalConcurrency = globalConcurrency
        self.rateLimit = rateLimit
    }

    /// Largest ``globalConcurrency``: 10,000 permits.
    public static let maximumGlobalConcurrency = 10_000
}

extension TaskOptions {
    /// Throws ``ConveyorError/Code/invalidConfiguration`` naming the first invalid value and what to use instead;
    /// `owner` says whose options these are, e.g. `task "send-email"`.
    func validate(_ owner: @autoclosure () -> String) throws(ConveyorError) {
        func invalid(_ problem: String) -> ConveyorError {
            ConveyorError(.invalidConfiguration, "\(owner()): TaskOptions.\(problem)")
        }
        guard maxAttempts >= 1 else {
            throw invalid("maxAttempts is \(maxAttempts); it must be at least 1 (1 runs a job once, without retries)")
        }
        guard (0...9).contains(priority) else {
            throw invalid("priority is \(priority); use 0 (lowest) to 9 (highest)")
        }
        if let concurrency, concurrency < 1 {
            throw invalid("concurrency is \(concurrency); it must be at least 1, or nil for only the worker's limit")
        }
        if let globalConcurrency, !(1...Self.maximumGlobalConcurrency).contains(globalConcurrency) {
            throw invalid("globalConcurrency is \(globalConcurrency); use 1...\(Self.maximumGlobalConcurrency), or nil for no global limit")
        }
        try rateLimit?.validate("\(owner()): TaskOptions")
        if let timeout, timeout <= .zero {
            throw invalid("timeout is \(timeout); it must be positive, or nil for no limit")
        }
    }
}
