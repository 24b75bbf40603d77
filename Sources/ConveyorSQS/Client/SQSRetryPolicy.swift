import Conveyor

/// How SQS requests that failed for a transient reason (5xx, throttling, connection errors) are retried: capped
/// exponential backoff with full jitter.
public struct SQSRetryPolicy: Sendable, Hashable {
    /// Total attempts including the first. Default 5.
    public var maxAttempts: Int
    /// Backoff before the first retry, doubled each time (before jitter). Default 50 ms.
    public var baseDelay: Duration
    /// Largest backoff. Default 5 s.
    public var maxDelay: Duration

    /// Creates a retry policy.
    public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(5)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// No retries.
    public static let none = SQSRetryPolicy(maxAttempts: 1)

    /// The backoff before retry number `retry` (1-based): a random duration in [0, min(maxDelay, base·2^(retry-1))].
    package func delay(beforeRetry retry: Int) -> Duration {
        let exponent = min(retry - 1, 20)
        let factor = 1 << exponent
        // Compared before multiplying, so that no configuration can overflow.
        let ceiling = baseDelay > maxDelay / factor ? maxDelay : baseDelay * factor
        return .nanoseconds(Int64.random(in: 0...max(0, ceiling.nanoseconds)))
    }
}
