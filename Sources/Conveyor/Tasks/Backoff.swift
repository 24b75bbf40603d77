import Foundation

/// How long to wait before retrying a failed job.
public struct Backoff: Sendable, Hashable {
    /// Randomisation applied to a computed delay, to spread retries of many failing jobs.
    public struct Jitter: Sendable, Hashable {
        enum Kind: Hashable { case none, full, equal, proportional(Double) }
        let kind: Kind
        /// No randomisation.
        public static let none = Jitter(kind: .none)
        /// Uniform in `0...delay` (AWS "full jitter").
        public static let full = Jitter(kind: .full)
        /// Uniform in `delay/2...delay` (AWS "equal jitter").
        public static let equal = Jitter(kind: .equal)
        /// Uniform in `delay*(1-fraction)...delay*(1+fraction)`.
        public static func proportional(_ fraction: Double) -> Jitter {
            Jitter(kind: .proportional(min(max(fraction, 0), 1)))
        }
    }

    /// The delay before the first retry.
    public var base: Duration
    /// Factor applied per further retry (1 for a fixed backoff).
    public var multiplier: Double
    /// Upper bound of the delay before jitter.
    public var cap: Duration
    /// Randomisation.
    public var jitter: Jitter

    /// The same delay before every retry.
    public static func fixed(_ delay: Duration, jitter: Jitter = .none) -> Backoff {
        Backoff(base: delay, multiplier: 1, cap: delay, jitter: jitter)
    }

    /// `base * multiplier^(retry-1)`, capped at `cap`, then jittered.
    public static func exponential(
        base: Duration,
        multiplier: Double = 2,
        cap: Duration = .seconds(300),
        jitter: Jitter = .full
    ) -> Backoff {
        Backoff(base: base, multiplier: multiplier, cap: cap, jitter: jitter)
    }

    /// Retry at once.
    public static let immediate = Backoff(base: .zero, multiplier: 1, cap: .zero, jitter: .none)

    /// The delay before retry number `retry` (1 for the first retry), using `random` for jitter.
    public func delay(forRetry retry: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let baseSeconds = base.seconds
        let capSeconds = cap.seconds
        // `retry` comes from the provider's attempt count: below 1 (even `Int.min`) counts as the first retry.
        let exponent = Double(max(retry, 1) - 1)
        var seconds = baseSeconds * Foundation.pow(multiplier, exponent)
        if !seconds.isFinite || seconds > capSeconds { seconds = capSeconds }
        switch jitter.kind {
        case .none: break
        case .full: seconds = Double.random(in: 0...max(seconds, 0), using: &random)
        case .equal: seconds = seconds / 2 + Double.random(in: 0...max(seconds / 2, 0), using: &random)
        case .proportional(let f):
            seconds = Double.random(in: (seconds * (1 - f))...max(seconds * (1 + f), seconds * (1 - f)), using: &random)
        }
        // Clamped below Int64.max milliseconds (a cap of ~292 million years), so the conversion cannot trap.
        let milliseconds = (max(seconds, 0) * 1000).rounded()
        return .milliseconds(milliseconds.isFinite ? Int64(min(milliseconds, 9.2e18)) : 0)
    }

    /// The delay before retry number `retry` (1 for the first retry).
    public func delay(forRetry retry: Int) -> Duration {
        var rng = SystemRandomNumberGenerator()
        return delay(forRetry: retry, using: &rng)
    }
}
