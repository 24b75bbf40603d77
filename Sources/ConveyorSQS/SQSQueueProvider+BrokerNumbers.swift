import Conveyor
import Foundation

/// Numbers that come from SQS (receive counts, timestamps, queue attributes, message attributes) are text that is
/// checked before use: nothing SQS or another producer sends can trap, overflow or make a job vanish.
extension SQSQueueProvider {
    /// The attempt of a message whose receive count (plus attempt offset) is absurd or overflows: past any sensible
    /// `maxAttempts`, so the worker dead-letters it through its normal path, and far enough from `Int.max` that
    /// arithmetic on it (`attempt + 1`, backoff exponents) cannot overflow.
    package static let maximumAttempt = Int(Int32.max)

    /// Latest accepted `SentTimestamp`: 9999-12-31T23:59:59.999Z in Unix milliseconds.
    static let latestBrokerTimestamp = 253_402_300_799_999.0

    /// `text` as an integer clamped to `range`: integers as written, decimals and exponents rounded toward zero,
    /// anything beyond the range (including `±inf` and integers too long for `Int`) at its nearest bound; `nil` for
    /// text that is not a number (empty, `nan`, words).
    static func clampedInteger(_ text: String?, to range: ClosedRange<Int>) -> Int? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let value = Int(text) { return Swift.min(Swift.max(value, range.lowerBound), range.upperBound) }
        guard let value = Double(text), !value.isNaN else { return nil }
        if value <= Double(range.lowerBound) { return range.lowerBound }
        if value >= Double(range.upperBound) { return range.upperBound }
        return Int(value)  // strictly inside the range, so it converts
    }

    /// `ApproximateReceiveCount` as a count from 1: missing or not a number → 1 (a first delivery), zero or negative
    /// → 1, over ``maximumAttempt`` (e.g. `9223372036854775807`, `1e300`) → ``maximumAttempt``.
    static func receiveCount(_ text: String?) -> Int {
        clampedInteger(text, to: 1...maximumAttempt) ?? 1
    }

    /// `receiveCount + offset` without overflow, from 1 to ``maximumAttempt``.
    static func attempt(receiveCount: Int, offset: Int) -> Int {
        let (sum, overflow) = receiveCount.addingReportingOverflow(Swift.max(offset, 0))
        if overflow || sum > maximumAttempt { return maximumAttempt }
        return Swift.max(sum, 1)
    }

    /// A `SentTimestamp` (Unix milliseconds) as a date, or `nil` when it is not a finite number between 1970 and the
    /// year 9999 (such a date would break the arithmetic of queue-wait metrics and hop timing).
    static func brokerTimestamp(_ text: String?) -> Date? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), let milliseconds = Double(text), milliseconds.isFinite,
            milliseconds >= 0, milliseconds <= latestBrokerTimestamp
        else { return nil }
        return Date(timeIntervalSince1970: milliseconds / 1000)
    }

    /// A message count from `GetQueueAttributes`: missing, not a number or negative → 0; too large → `Int.max`.
    static func count(_ text: String?) -> Int {
        clampedInteger(text, to: 0...Int.max) ?? 0
    }

    /// `a + b` for counts, `Int.max` when it overflows.
    static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    /// Range SQS allows for `MaximumMessageSize` (1 KiB to 1 MiB).
    static let maximumMessageSizeRange = 1_024...1_048_576

    /// A queue's `MaximumMessageSize`, or `nil` when it is not an integer SQS allows (then the default applies).
    static func maximumMessageSize(_ text: String?) -> Int? {
        guard let text, let value = Int(text.trimmingCharacters(in: .whitespaces)), maximumMessageSizeRange.contains(value)
        else { return nil }
        return value
    }
}
