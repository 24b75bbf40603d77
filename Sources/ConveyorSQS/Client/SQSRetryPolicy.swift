import Conveyor
import Synchronization

/// How SQS requests that failed for a transient reason (5xx, throttling, connection errors) are retried: capped
/// exponential backoff with full jitter, and in the ``Mode-swift.enum/standard`` mode a retry quota shared by the
/// client's requests, as the AWS SDKs' `standard` retry mode.
///
/// ``SQSQueueProvider/Configuration/fromEnvironment(_:)`` reads `AWS_RETRY_MODE` and `AWS_MAX_ATTEMPTS` (or the
/// profile's `retry_mode` and `max_attempts`); with neither set the policy stays Conveyor's default (``init(mode:maxAttempts:baseDelay:maxDelay:)``:
/// legacy mode, 5 attempts, 50 ms base, 5 s cap).
public struct SQSRetryPolicy: Sendable, Hashable {
    /// How retries are limited beyond ``maxAttempts``, after the AWS SDKs' `retry_mode`.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Conveyor's own retrying (the default): every retryable error is retried up to ``maxAttempts`` times, with
        /// no quota.
        case legacy
        /// The AWS SDKs' `standard` mode: as `legacy`, plus a retry quota per client (a bucket of 500 tokens; a retry
        /// takes 5, or 10 after a timeout or connection error; a success pays back) that stops retrying while many
        /// requests fail, so that retries do not add to an outage.
        case standard
        /// The AWS SDKs' `adaptive` mode. Conveyor does not implement the SDKs' client-side rate limiter: this mode
        /// behaves as ``standard``.
        case adaptive

        /// Whether this mode keeps a retry quota (`RetryQuota`).
        package var usesQuota: Bool { self != .legacy }
    }

    /// How retries are limited. Default `legacy` (``Mode-swift.enum/legacy``).
    public var mode: Mode
    /// Total attempts including the first, at least 1. Default 5.
    public var maxAttempts: Int
    /// Backoff before the first retry, doubled each time (before jitter). Default 50 ms.
    public var baseDelay: Duration
    /// Largest backoff. Default 5 s.
    public var maxDelay: Duration

    /// Creates a retry policy.
    public init(
        mode: Mode = .legacy, maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(5)
    ) {
        self.mode = mode
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// No retries.
    public static let none = SQSRetryPolicy(maxAttempts: 1)

    /// The AWS SDKs' `standard` mode: 3 attempts by default, backoff of up to 1 s doubled per retry, capped at 20 s,
    /// and the retry quota.
    public static func standard(maxAttempts: Int = 3) -> SQSRetryPolicy {
        SQSRetryPolicy(mode: .standard, maxAttempts: maxAttempts, baseDelay: .seconds(1), maxDelay: .seconds(20))
    }

    /// The backoff before retry number `retry` (1-based): a random duration in [0, min(maxDelay, base·2^(retry-1))].
    package func delay(beforeRetry retry: Int) -> Duration {
        delay(beforeRetry: retry, random: { Int64.random(in: 0...$0) })
    }

    /// ``delay(beforeRetry:)`` with `random(n)` drawing from `0...n` (tests pass a fixed draw).
    package func delay(beforeRetry retry: Int, random: (Int64) -> Int64) -> Duration {
        let exponent = retry <= 1 ? 0 : min(retry - 1, 20)
        let factor = 1 << exponent
        // Compared before multiplying, so that no configuration can overflow.
        let ceiling = baseDelay > maxDelay / factor ? maxDelay : baseDelay * factor
        return .nanoseconds(random(max(0, ceiling.nanoseconds)))
    }
}

// MARK: - Reading the environment and the profile

extension SQSRetryPolicy {
    /// The policy that `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS` in `environment`, or else `retry_mode` / `max_attempts`
    /// in `profile` (the keys of the selected profile of the config file, named `profileName` in errors), give:
    /// - neither set: `base` (Conveyor's default);
    /// - `legacy`: `base` with the attempts given, if any;
    /// - `standard` or `adaptive`: ``standard(maxAttempts:)`` (3 attempts unless given);
    /// - attempts alone: `base` with those attempts.
    ///
    /// Throws ``ConveyorError/Code/invalidConfiguration`` naming the variable (or profile key) for a mode other than
    /// `legacy`, `standard`, `adaptive`, or attempts that are not a whole number from 1 to 100.
    package static func fromEnvironment(
        _ environment: [String: String], profile: [String: String]? = nil, profileName: String = "default",
        base: SQSRetryPolicy = SQSRetryPolicy()
    ) throws(ConveyorError) -> SQSRetryPolicy {
        func setting(variable: String, key: String) -> (text: String, source: String)? {
            if let value = environment[variable]?.trimmingCharacters(in: .whitespaces), !value.isEmpty {
                return (value, variable)
            }
            if let value = profile?[key]?.trimmingCharacters(in: .whitespaces), !value.isEmpty {
                return (value, "\(key) in profile \(profileName)")
            }
            return nil
        }
        var mode: Mode?
        if let found = setting(variable: "AWS_RETRY_MODE", key: "retry_mode") {
            let (text, source) = found
            guard let parsed = Mode(rawValue: text.lowercased()) else {
                throw ConveyorError(
                    .invalidConfiguration,
                    "\(source) is \"\(text.prefix(40))\": set it to legacy, standard or adaptive (e.g. AWS_RETRY_MODE=standard), or unset it for Conveyor's default"
                )
            }
            mode = parsed
        }
        var attempts: Int?
        if let found = setting(variable: "AWS_MAX_ATTEMPTS", key: "max_attempts") {
            let (text, source) = found
            guard text.count <= 3, text.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(text),
                (1...maximumAttempts).contains(number)
            else {
                throw ConveyorError(
                    .invalidConfiguration,
                    "\(source) is \"\(text.prefix(40))\": set it to the total number of attempts per request, a whole number from 1 to \(maximumAttempts) (e.g. AWS_MAX_ATTEMPTS=3; 1 disables retries)"
                )
            }
            attempts = number
        }
        var policy: SQSRetryPolicy
        switch mode {
        case .standard?, .adaptive?:
            policy = .standard(maxAttempts: attempts ?? 3)
            policy.mode = mode ?? .standard
        case .legacy?, nil:
            policy = base
            policy.mode = .legacy
            if let attempts { policy.maxAttempts = attempts }
        }
        return policy
    }

    /// The largest `AWS_MAX_ATTEMPTS` accepted.
    package static let maximumAttempts = 100
}

// MARK: - Retry quota

/// The AWS SDKs' retry quota (`standard` retry mode): a token bucket that retries draw from and successes pay back, so
/// that when many requests fail (an outage, a throttled account) a client soon stops adding retries.
///
/// - it starts full, with ``initialCapacity`` (500) tokens;
/// - a retry costs ``retryCost`` (5), or ``timeoutRetryCost`` (10) after a timeout or a connection error; when the
///   bucket holds less, the request is not retried;
/// - a request that succeeds pays back what its last retry took, or ``noRetryIncrement`` (1) when it needed no retry,
///   never above the capacity.
///
/// A plain value: a client keeps one behind a `Mutex`, shared by its concurrent requests.
package struct RetryQuota: Sendable, Equatable {
    /// Tokens in a full bucket.
    package static let initialCapacity = 500
    /// Tokens a retry takes.
    package static let retryCost = 5
    /// Tokens a retry after a timeout or connection error takes.
    package static let timeoutRetryCost = 10
    /// Tokens a success that needed no retry adds.
    package static let noRetryIncrement = 1

    /// The bucket's size.
    package let capacity: Int
    /// Tokens left.
    package private(set) var available: Int

    /// A full bucket of `capacity` tokens.
    package init(capacity: Int = RetryQuota.initialCapacity) {
        self.capacity = max(0, capacity)
        self.available = self.capacity
    }

    /// Takes the tokens a retry after a failure costs (``timeoutRetryCost`` when `afterTimeoutOrConnectionError`,
    /// else ``retryCost``) and returns them, or returns nil, taking nothing, when the bucket cannot pay: then the
    /// request must not be retried.
    package mutating func acquire(afterTimeoutOrConnectionError: Bool) -> Int? {
        let cost = afterTimeoutOrConnectionError ? Self.timeoutRetryCost : Self.retryCost
        guard available >= cost else { return nil }
        available -= cost
        return cost
    }

    /// Pays back after a success: `lastRetryCost` (what ``acquire(afterTimeoutOrConnectionError:)`` returned for the
    /// retry that succeeded), or ``noRetryIncrement`` when the request needed no retry (nil).
    package mutating func release(lastRetryCost: Int?) {
        let amount = max(0, lastRetryCost ?? Self.noRetryIncrement)
        available = min(capacity, available + min(amount, capacity))
    }
}

// MARK: - One request's retries

/// The retries of one request under a policy and a client's ``RetryQuota``: the loop of ``SQSClient`` and of any
/// other AWS client (STS) in the package.
///
/// ```swift
/// var retries = RetryAttempts(policy: policy)
/// while true {
///     do {
///         let answer = try await attempt()
///         retries.succeeded(quota: quota)
///         return answer
///     } catch {
///         guard let delay = retries.delayBeforeRetry(retryable: ..., afterTimeoutOrConnectionError: ..., quota: quota)
///         else { throw error }   // retries.quotaRefused says whether the quota stopped it
///         try await Task.sleep(for: delay)
///     }
/// }
/// ```
package struct RetryAttempts: Sendable {
    /// The policy.
    package let policy: SQSRetryPolicy
    /// The number of the attempt being made or last made, from 1.
    package private(set) var attempt = 1
    /// Whether the last ``delayBeforeRetry(retryable:afterTimeoutOrConnectionError:quota:)`` refused a retry because
    /// the quota could not pay for it.
    package private(set) var quotaRefused = false
    /// What the last retry took from the quota, paid back on success.
    private var lastRetryCost: Int?

    /// Retries under `policy`, before the first attempt.
    package init(policy: SQSRetryPolicy) {
        self.policy = policy
    }

    /// After attempt ``attempt`` failed: the backoff before the next attempt (and ``attempt`` counts it), or nil when
    /// the request must not be retried: the failure is not `retryable`, the attempts are used up, or (standard and
    /// adaptive modes) `quota` cannot pay for the retry, which ``quotaRefused`` then says. A retry after a timeout or
    /// connection error (`afterTimeoutOrConnectionError`) costs more.
    package mutating func delayBeforeRetry(
        retryable: Bool, afterTimeoutOrConnectionError: Bool, quota: borrowing Mutex<RetryQuota>
    ) -> Duration? {
        quotaRefused = false
        guard retryable, attempt < policy.maxAttempts else { return nil }
        if policy.mode.usesQuota {
            guard let cost = quota.withLock({ $0.acquire(afterTimeoutOrConnectionError: afterTimeoutOrConnectionError) }) else {
                quotaRefused = true
                return nil
            }
            lastRetryCost = cost
        }
        let delay = policy.delay(beforeRetry: attempt)
        attempt += 1
        return delay
    }

    /// After an attempt succeeded: pays the quota back (standard and adaptive modes).
    package func succeeded(quota: borrowing Mutex<RetryQuota>) {
        guard policy.mode.usesQuota else { return }
        quota.withLock { $0.release(lastRetryCost: lastRetryCost) }
    }
}

// MARK: - Which AWS errors are retried

/// The error codes the AWS SDKs retry (their `standard` mode lists), for SQS and for the other AWS services Conveyor
/// calls (STS).
package enum AWSRetryableErrors {
    /// Throttling: the SDKs' list, plus SQS's own (`AWS.SimpleQueueService.RequestThrottled`, `KmsThrottled`,
    /// `OverLimit`).
    package static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
        "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "EC2ThrottledException",
        "AWS.SimpleQueueService.RequestThrottled", "KmsThrottled", "OverLimit",
    ]
    /// Transient failures: the SDKs' list, plus SQS's own 5xx codes.
    package static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
        "InternalError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
    ]
    /// HTTP statuses retried whatever the code.
    package static let transientStatuses: Set<Int> = [500, 502, 503, 504]

    /// Whether an answer with error `code` (the `__type` suffix or query error code) and HTTP `status` is retried.
    /// (Transport failures, timeouts and connection errors, are retried too.)
    package static func isRetryable(code: String, status: Int) -> Bool {
        throttlingCodes.contains(code) || transientCodes.contains(code) || transientStatuses.contains(status) || status == 429
    }
}
