import Foundation

// The dead-letter and redrive transformations of an envelope, in one place for every provider: a provider that
// dead-letters a job records the failure with `deadLettered(...)`, and one that redrives it starts it over with
// `redriven()`, so the headers added by one are exactly the headers removed by the other.

extension Envelope {
    /// The headers ``deadLettered(_:from:attempt:at:)`` adds and ``redriven()`` removes, with
    /// ``HeaderKey/lastError`` (a retried job's last error, which a redriven job no longer has).
    public static let deadLetterHeaderKeys: [String] = [
        HeaderKey.deadLetterReason, HeaderKey.deadLetterCode, HeaderKey.deadLetterSourceQueue,
        HeaderKey.deadLetterAttempt, HeaderKey.deadLetteredAt, HeaderKey.lastError,
    ]

    /// The copy of this envelope to put in `queue`'s dead-letter queue: the failure recorded in its headers
    /// (``HeaderKey/deadLetterReason`` = `reason.message`, ``HeaderKey/deadLetterCode``,
    /// ``HeaderKey/deadLetterSourceQueue`` = `queue`, ``HeaderKey/deadLetterAttempt`` = `attempt`,
    /// ``HeaderKey/deadLetteredAt`` = `date` in ISO 8601). Shorten `reason.message` first where the broker limits the
    /// size; everything else is unchanged.
    public func deadLettered(_ reason: FailureReason, from queue: String, attempt: Int, at date: Date) -> Envelope {
        var copy = self
        copy.headers[HeaderKey.deadLetterReason] = reason.message
        copy.headers[HeaderKey.deadLetterCode] = reason.code
        copy.headers[HeaderKey.deadLetterSourceQueue] = queue
        copy.headers[HeaderKey.deadLetterAttempt] = String(attempt)
        copy.headers[HeaderKey.deadLetteredAt] = ISO8601DateFormatter().string(from: date)
        return copy
    }

    /// The copy of a dead-lettered envelope to send back to its queue: it starts over (``attemptOffset`` 0), the
    /// headers in ``deadLetterHeaderKeys`` are removed, and so is ``replyTo`` (its producer was sent the job's final
    /// outcome when it was dead-lettered); the job's own headers stay.
    public func redriven() -> Envelope {
        var copy = self
        copy.attemptOffset = 0
        copy.replyTo = nil
        copy.replyEvents = false
        for key in Self.deadLetterHeaderKeys { copy.headers[key] = nil }
        return copy
    }
}
