import Foundation

extension Envelope.HeaderKey {
    /// When a hopping job is due, in the broker's clock (Unix milliseconds). Set on the first hop by providers that
    /// conform to ``BrokerTimestampingProvider``.
    public static let hopDueAt = "x-conveyor-due-ms"
    /// The delay (milliseconds) the current copy of a hopping job was sent with.
    public static let hopDelay = "x-conveyor-hop-ms"
    /// How many times a hopping job has been re-sent so far.
    public static let hops = "x-conveyor-hops"
}

/// Decides whether a received job with a ``Envelope/notBefore`` is due, and how long the next hop waits.
///
/// Without broker timestamps the due time is `notBefore` against the local clock. With a
/// ``BrokerTimestampingProvider`` (SQS), the due time is moved into the broker's clock once — `notBefore` plus the
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

    /// Decides for `envelope`, received as `message`, at local time `now`.
    package static func decide(
        _ envelope: Envelope,
        message: ReceivedMessage,
        brokerTimestamps: Bool,
        cap: Duration?,
        now: Date = Date()
    ) -> Decision {
        guard let notBefore = envelope.notBefore else { return .due }
        var copy = envelope
        var remainingMilliseconds = (notBefore.timeIntervalSince(now) * 1000).rounded(.up)
        if brokerTimestamps, let sent = message.enqueuedAt {
            let sentMilliseconds = (sent.timeIntervalSince1970 * 1000).rounded(.down)
            let dueMilliseconds: Double
            if let stored = envelope.headers[Envelope.HeaderKey.hopDueAt].flatMap(Double.init) {
                dueMilliseconds = stored
            } else {
                // First receive: the producer asked for `notBefore - createdAt` after sending; in broker time that is
                // `sent + (notBefore - createdAt)`, whatever the producer's clock said.
                let delay = (notBefore.timeIntervalSince(envelope.createdAt) * 1000).rounded(.up)
                dueMilliseconds = sentMilliseconds + max(delay, 0)
            }
            let hop = envelope.headers[Envelope.HeaderKey.hopDelay].flatMap(Double.init) ?? 0
            let brokerNowLowerBound = sentMilliseconds + hop
            remainingMilliseconds = dueMilliseconds - brokerNowLowerBound
            copy.headers[Envelope.HeaderKey.hopDueAt] = String(Int64(dueMilliseconds))
        }
        guard remainingMilliseconds > 0 else { return .due }
        var seconds = Int64((remainingMilliseconds / 1000).rounded(.up))
        if let cap {
            let capSeconds = max(cap.components.seconds, 1)
            seconds = min(seconds, capSeconds)
        }
        seconds = max(seconds, 1)
        copy.headers[Envelope.HeaderKey.hopDelay] = String(seconds * 1000)
        copy.headers[Envelope.HeaderKey.hops] = String((envelope.headers[Envelope.HeaderKey.hops].flatMap(Int.init) ?? 0) + 1)
        copy.deduplicationKey = nil
        return .hop(delay: .seconds(seconds), envelope: copy)
    }
}
