import Conveyor
import Testing

/// `Duration.nanoseconds`, the one saturating conversion the worker, the metrics, the SQS retry policy and the
/// HTTP transport use: whole nanoseconds toward zero, `Int64.min`/`Int64.max` past its ends, never a trap.
@Suite struct DurationNanosecondsTests {
    @Test func wholeDurationsConvertExactly() {
        #expect(Duration.zero.nanoseconds == 0)
        #expect(Duration.seconds(1).nanoseconds == 1_000_000_000)
        #expect(Duration.seconds(-1).nanoseconds == -1_000_000_000)
        #expect(Duration.milliseconds(1500).nanoseconds == 1_500_000_000)
        #expect(Duration.nanoseconds(Int64.max).nanoseconds == .max)
        #expect(Duration.nanoseconds(Int64.min).nanoseconds == .min)
    }

    @Test func fractionsOfANanosecondAreDroppedTowardZero() {
        let almostTwo = Duration(secondsComponent: 0, attosecondsComponent: 1_999_999_999)
        #expect(almostTwo.nanoseconds == 1)
        #expect((.zero - almostTwo).nanoseconds == -1)
        #expect((.seconds(3) + almostTwo).nanoseconds == 3_000_000_001)
        // Just under one nanosecond past the largest value: dropped, not rounded into an overflow.
        let underOne = Duration(secondsComponent: 0, attosecondsComponent: 999_999_999)
        #expect((.nanoseconds(Int64.max) + underOne).nanoseconds == .max)
        #expect((.nanoseconds(Int64.min) - underOne).nanoseconds == .min)
    }

    @Test func saturatesPastTheEndsOfInt64() {
        // The sum of whole seconds and nanoseconds overflows.
        #expect((.nanoseconds(Int64.max) + .nanoseconds(1)).nanoseconds == .max)
        #expect((.nanoseconds(Int64.min) - .nanoseconds(1)).nanoseconds == .min)
        // The whole seconds alone overflow.
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
        #expect(Duration.seconds(Int64.min).nanoseconds == .min)
        // Past even `Int64` whole seconds, where `Duration.components` itself would trap.
        #expect((.seconds(Int64.max) + .seconds(Int64.max)).nanoseconds == .max)
        #expect((.seconds(Int64.min) + .seconds(Int64.min)).nanoseconds == .min)
    }
}
