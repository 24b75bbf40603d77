import Foundation

extension Envelope.HeaderKey {
    /// When a hopping job is due, in the broker's clock (Unix milliseconds). Set on the first hop by providers with
    /// ``ProviderCapabilities/brokerTimestamps``.
    package static let hopDueAt = "x-conveyor-due-ms"
    /// The delay (milliseconds) the current copy of a hopping job was sent with.
    package static let hopDelay = "x-conveyor-hop-ms"
    /// How many times a hopping job has been re-sent so far.
    package static let hops = "x-conveyor-hops"
}

/// Decides whether a received job with a ``Envelope/notBefore`` is due, and how long the next hop waits.
///
/// Without broker timestamps the due time is `notBefore` against the local clock. With
/// ``ProviderCapabilities/brokerTimestamps`` (SQS), the due time is moved into the broker's clock once — `notBefore` plus the
/// offset between the broker's `SentTimestamp` and the producer's `created_at` — and every later decision uses
/// only broker time: a copy sent at broker time `sent` with delay `hop` is visible no earlier than `sent + hop`,
/// which is therefore a lower bound of the broker's "now". Both bounds err towards late, never early.
package struct HopClock {
    /// What to do with a job.
    package enum Decision: Equatable {
        /// Run it now.
        case due
        /// Send this copy again after `delay` (whole seconds, at least 1 s, at most the cap).
        case hop(delay: Duration, envelope: Envelope)
    }

    /// Largest due time or hop delay, in milliseconds, that a hop header may carry (about year 33,000): a header
    /// outside `0...maximumMilliseconds`, not a number, or not finite is ignored, as if absent.
    static let maximumMilliseconds: Double = 1e15

    /// Largest difference, in milliseconds (one day), between a job's `created_at` and the broker's time of its
    /// first send that is taken as the producer's clock skew when moving `not_before` into the broker's clock.
    static let maximumProducerSkew: Double = 86_400_000

    /// The value of the reserved header `key` as milliseconds, or `nil` when it is absent or absurd.
    static func milliseconds(_ envelope: Envelope, _ key: String) -> Double? {
        guard let value = envelope.headers[key].flatMap(Double.init), value.isFinite,
            value >= 0, value <= maximumMilliseconds
        else { return nil }
        return value.rounded()
    }

    /// `date` as whole milliseconds since 1970, clamped to `0...maximumMilliseconds` (dates from RFC 3339 and broker
    /// timestamps are finite, but may be far out).
    static func milliseconds(since1970 date: Date, rounding rule: FloatingPointRoundingRule) -> Double {
        let value = (date.timeIntervalSince1970 * 1000).rounded(rule)
        guard value.isFinite else { return 0 }
        return min(max(value, 0), maximumMilliseconds)
    }

    /// Decides for `envelope`, received as `message`, at local time `now`.
    ///
    /// Never traps: the reserved hop headers (``Envelope/HeaderKey/hopDueAt``, ``Envelope/HeaderKey/hopDelay``,
    /// ``Envelope/HeaderKey/hops``) come from the message, so absurd values (negative, not finite, out of range) are
    /// ignored, and every date is clamped before it is converted to an integer.
    package static func decide(
        _ envelope: Envelope,
        message: ReceivedMessage,
        brokerTimestamps: Bool,
        cap: Duration?,
        now: Date = Date()
    ) -> Decision {
        guard let notBefore = envelope.notBefore else { return .due }
        var copy = envelope
        let notBeforeMilliseconds = milliseconds(since1970: notBefore, rounding: .up)
        var remainingMilliseconds = notBeforeMilliseconds - milliseconds(since1970: now, rounding: .down)
        if brokerTimestamps, let sent = message.enqueuedAt {
            let sentMilliseconds = milliseconds(since1970: sent, rounding: .down)
            let dueMilliseconds: Double
            if let stored = milliseconds(envelope, Envelope.HeaderKey.hopDueAt) {
                dueMilliseconds = stored
            } else {
                // First receive: the producer asked for `notBefore - createdAt` after sending; in broker time that is
                // `sent + (notBefore - createdAt)`, whatever the producer's clock said. A `createdAt` further than
                // ``maximumProducerSkew`` from `sent` is no reading of the producer's clock at sending (Go's zero
                // time, a job kept for days in an outbox): `notBefore` is then taken in broker time, instead of
                // holding a job due in the past for decades.
                let createdMilliseconds = milliseconds(since1970: envelope.createdAt, rounding: .down)
                let plausible = abs(sentMilliseconds - createdMilliseconds) <= maximumProducerSkew
                let delay = notBeforeMilliseconds - (plausible ? createdMilliseconds : sentMilliseconds)
                dueMilliseconds = min(sentMilliseconds + max(delay, 0), maximumMilliseconds)
            }
            let hop = milliseconds(envelope, Envelope.HeaderKey.hopDelay) ?? 0
            let brokerNowLowerBound = sentMilliseconds + hop
            remainingMilliseconds = dueMilliseconds - brokerNowLowerBound
            // In range by construction: `dueMilliseconds` is within 0...maximumMilliseconds.
            copy.headers[Envelope.HeaderKey.hopDueAt] = String(Int64(dueMilliseconds))
        }
        guard remainingMilliseconds > 0 else { return .due }
        // `remainingMilliseconds` is at most `maximumMilliseconds`, so the seconds fit in Int64 and `* 1000` too.
        var seconds = Int64((remainingMilliseconds / 1000).rounded(.up))
        if let cap {
            let capSeconds = max(cap.components.seconds, 1)
            seconds = min(seconds, capSeconds)
        }
        seconds = max(seconds, 1)
        copy.headers[Envelope.HeaderKey.hopDelay] = String(seconds * 1000)
        let hops = envelope.headers[Envelope.HeaderKey.hops].flatMap(Int.init).map { max($0, 0) } ?? 0
        copy.headers[Envelope.HeaderKey.hops] = String(hops == .max ? hops : hops + 1)
        copy.deduplicationKey = nil
        return .hop(delay: .seconds(seconds), envelope: copy)
    }
}
