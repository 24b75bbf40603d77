/// Options of a task: how often and how fast to retry, how long a job may run, how many may run at once.
public struct TaskOptions: Sendable, Hashable {
    /// Attempts before the job is dead-lettered, including the first. Default 3.
    public var maxAttempts: Int
    /// Delay before each retry. Default: exponential from 1 s, ×2 per retry, capped at 5 minutes, full jitter.
    public var backoff: Backoff
    /// Longest a single attempt may run before it is cancelled and counted as failed. Default 5 minutes;
    /// `nil` means no limit.
    public var timeout: Duration?
    /// Most jobs of this task a worker runs at once (`nil`: only the worker's global limit). Default `nil`.
    public var concurrency: Int?
    /// Default priority, 0 (lowest) to 9 (highest). Default 0.
    public var priority: Int
    /// The queue jobs go to when the caller names none. Default `"default"`.
    public var queue: String
    /// The message group of jobs sent to a FIFO queue (SQS `MessageGroupId`) when
    /// ``EnqueueOptions/groupID`` is `nil`: jobs of one group run in order, one at a time. Default `nil`: the
    /// provider's default group. Brokers without message groups ignore it.
    public var groupID: String?

    /// Creates options; every parameter has the default documented on its property.
    public init(
        maxAttempts: Int = 3,
        backoff: Backoff = .exponential(base: .seconds(1), multiplier: 2, cap: .seconds(300), jitter: .full),
        timeout: Duration? = .seconds(300),
        concurrency: Int? = nil,
        priority: Int = 0,
        queue: String = "default",
        groupID: String? = nil
    ) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        precondition((0...9).contains(priority), "priority must be between 0 and 9")
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.timeout = timeout
        self.concurrency = concurrency
        self.priority = priority
        self.queue = queue
        self.groupID = groupID
    }
}
