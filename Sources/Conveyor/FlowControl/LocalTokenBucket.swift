/// A process-scoped ``RateLimit`` as a value: a token bucket that holds up to `burst` tokens and gains `count` per
/// `interval`, continuously. Pure (time is passed in), so it is tested without clocks or I/O.
struct LocalTokenBucket: Sendable {
    let rate: RateLimit
    private(set) var tokens: Double
    private var updated: ContinuousClock.Instant

    init(rate: RateLimit, now: ContinuousClock.Instant) {
        self.rate = rate
        self.tokens = Double(rate.effectiveBurst)
        self.updated = now
    }

    private var perSecond: Double {
        let (seconds, attoseconds) = rate.interval.components
        return Double(rate.count) / (Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// Takes a token and returns `nil`, or returns how long until one is there (and takes nothing).
    mutating func take(now: ContinuousClock.Instant) -> Duration? {
        if now > updated {
            let (seconds, attoseconds) = (now - updated).components
            let elapsed = Double(seconds) + Double(attoseconds) / 1e18
            tokens = min(Double(rate.effectiveBurst), tokens + elapsed * perSecond)
            updated = now
        }
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return .nanoseconds(Int64(((1 - tokens) / perSecond * 1e9).rounded(.up)))
    }
}
