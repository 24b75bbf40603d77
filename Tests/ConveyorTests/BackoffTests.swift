import Conveyor
import Testing

@Suite("Backoff")
struct BackoffTests {
    static let samples = 2_000

    @Test("fixed: the same delay before every retry")
    func fixed() {
        let backoff = Backoff.fixed(.seconds(5))
        for retry in 1...10 {
            #expect(backoff.delay(forRetry: retry) == .seconds(5))
        }
    }

    @Test("exponential without jitter: base * multiplier^(retry-1)")
    func exponentialGrowth() {
        let backoff = Backoff.exponential(base: .seconds(1), multiplier: 2, cap: .seconds(3600), jitter: .none)
        #expect((1...6).map { backoff.delay(forRetry: $0) } == [1, 2, 4, 8, 16, 32].map { Duration.seconds($0) })
        let triple = Backoff.exponential(base: .milliseconds(100), multiplier: 3, cap: .seconds(3600), jitter: .none)
        #expect((1...4).map { triple.delay(forRetry: $0) } == [100, 300, 900, 2700].map { Duration.milliseconds($0) })
    }

    @Test("exponential: retry numbers below 1 count as the first retry")
    func retryBelowOne() {
        let backoff = Backoff.exponential(base: .seconds(2), multiplier: 2, cap: .seconds(60), jitter: .none)
        #expect(backoff.delay(forRetry: 0) == .seconds(2))
        #expect(backoff.delay(forRetry: -3) == .seconds(2))
        // The retry number is the provider's attempt count, which a hostile broker property can make `Int.min`:
        // `retry - 1` trapped there. Found by WorkerFuzzTests (memory, seed 20251125).
        #expect(backoff.delay(forRetry: .min) == .seconds(2))
        #expect(Backoff.fixed(.milliseconds(50)).delay(forRetry: .min) == .milliseconds(50))
    }

    @Test("exponential: the delay is capped, also when the growth overflows")
    func cap() {
        let backoff = Backoff.exponential(base: .seconds(1), multiplier: 2, cap: .seconds(10), jitter: .none)
        #expect(backoff.delay(forRetry: 4) == .seconds(8))
        #expect(backoff.delay(forRetry: 5) == .seconds(10))
        #expect(backoff.delay(forRetry: 50) == .seconds(10))
        #expect(backoff.delay(forRetry: 5_000) == .seconds(10))  // 2^4999 is infinite as a Double
    }

    @Test("full jitter stays within 0...delay")
    func fullJitter() {
        var random = SplitMix64(seed: 1)
        let backoff = Backoff.exponential(base: .seconds(1), multiplier: 2, cap: .seconds(300), jitter: .full)
        for retry in 1...4 {
            let delay = Duration.seconds(1 << (retry - 1))
            let values = (0..<Self.samples).map { _ in backoff.delay(forRetry: retry, using: &random) }
            #expect(values.allSatisfy { $0 >= .zero && $0 <= delay })
            #expect(Set(values).count > 1)  // actually randomised
        }
    }

    @Test("full jitter on a capped delay stays within 0...cap")
    func fullJitterCapped() {
        var random = SplitMix64(seed: 2)
        let backoff = Backoff.exponential(base: .seconds(1), multiplier: 10, cap: .seconds(30), jitter: .full)
        let values = (0..<Self.samples).map { _ in backoff.delay(forRetry: 8, using: &random) }
        #expect(values.allSatisfy { $0 >= .zero && $0 <= .seconds(30) })
    }

    @Test("equal jitter stays within delay/2...delay")
    func equalJitter() {
        var random = SplitMix64(seed: 3)
        let backoff = Backoff.fixed(.seconds(8), jitter: .equal)
        let values = (0..<Self.samples).map { _ in backoff.delay(forRetry: 3, using: &random) }
        #expect(values.allSatisfy { $0 >= .seconds(4) && $0 <= .seconds(8) })
        #expect(Set(values).count > 1)
    }

    @Test("proportional jitter stays within delay*(1-f)...delay*(1+f)")
    func proportionalJitter() {
        var random = SplitMix64(seed: 4)
        let backoff = Backoff.fixed(.seconds(10), jitter: .proportional(0.2))
        let values = (0..<Self.samples).map { _ in backoff.delay(forRetry: 1, using: &random) }
        #expect(values.allSatisfy { $0 >= .seconds(8) && $0 <= .seconds(12) })
        #expect(Set(values).count > 1)
    }

    @Test("proportional jitter clamps its fraction to 0...1")
    func proportionalClamped() {
        var random = SplitMix64(seed: 5)
        let wide = Backoff.fixed(.seconds(10), jitter: .proportional(5))
        let wideValues = (0..<Self.samples).map { _ in wide.delay(forRetry: 1, using: &random) }
        #expect(wideValues.allSatisfy { $0 >= .zero && $0 <= .seconds(20) })
        let negative = Backoff.fixed(.seconds(10), jitter: .proportional(-1))
        #expect((0..<100).allSatisfy { _ in negative.delay(forRetry: 1, using: &random) == .seconds(10) })
    }

    @Test("the system generator's jitter stays within its bounds too")
    func systemRandomBounds() {
        let backoff = Backoff.exponential(base: .seconds(2), multiplier: 2, cap: .seconds(300), jitter: .full)
        #expect((0..<Self.samples).allSatisfy { _ in
            let delay = backoff.delay(forRetry: 2)
            return delay >= .zero && delay <= .seconds(4)
        })
    }

    @Test("immediate: zero before every retry")
    func immediate() {
        var random = SplitMix64(seed: 6)
        for retry in 1...10 {
            #expect(Backoff.immediate.delay(forRetry: retry) == .zero)
            #expect(Backoff.immediate.delay(forRetry: retry, using: &random) == .zero)
        }
    }
}
