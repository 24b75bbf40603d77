import Conveyor
import Foundation
import Testing

@Suite("Hop clock")
struct HopClockTests {
    private func message(sentAt: Date?) -> ReceivedMessage {
        ReceivedMessage(queue: "q", receipt: Receipt(0), attempt: 1, envelope: .failure(ConveyorError(.closed, "unused")), enqueuedAt: sentAt)
    }

    @Test func dueJobsRunAndJobsWithoutNotBeforeAreDue() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let plain = Envelope(task: "t", payload: Array("{}".utf8))
        #expect(HopClock.decide(plain, message: message(sentAt: nil), brokerTimestamps: false, cap: .seconds(900), now: now) == .due)
        let past = Envelope(task: "t", payload: Array("{}".utf8), notBefore: now.addingTimeInterval(-1))
        #expect(HopClock.decide(past, message: message(sentAt: nil), brokerTimestamps: false, cap: .seconds(900), now: now) == .due)
    }

    @Test func localClockHopsAreCappedAndRoundedUp() throws {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let envelope = Envelope(task: "t", payload: Array("{}".utf8), deduplicationKey: "k", notBefore: now.addingTimeInterval(7200.2))
        guard case .hop(let delay, let copy) = HopClock.decide(envelope, message: message(sentAt: nil), brokerTimestamps: false, cap: .seconds(900), now: now) else {
            Issue.record("expected a hop")
            return
        }
        #expect(delay == .seconds(900))
        #expect(copy.deduplicationKey == nil)
        #expect(copy.headers[Envelope.HeaderKey.hopDelay] == "900000")
        guard case .hop(let last, _) = HopClock.decide(envelope, message: message(sentAt: nil), brokerTimestamps: false, cap: .seconds(900), now: now.addingTimeInterval(7199.9)) else {
            Issue.record("expected a hop")
            return
        }
        #expect(last == .seconds(1))
    }

    /// The broker's clock decides: a worker whose clock runs an hour ahead does not run the job early.
    @Test func brokerTimestampsWinOverASkewedLocalClock() {
        let producerNow = Date(timeIntervalSince1970: 1_000_000)
        var envelope = Envelope(task: "t", payload: Array("{}".utf8), createdAt: producerNow, notBefore: producerNow.addingTimeInterval(12))
        envelope.headers[Envelope.HeaderKey.hopDelay] = "3000"
        // The broker accepted it at the producer's time; the worker's clock is an hour ahead.
        let workerNow = producerNow.addingTimeInterval(3600 + 3)
        var sent = producerNow
        var copy = envelope
        var hops = 0
        var waited: Int64 = 3
        while case .hop(let delay, let next) = HopClock.decide(copy, message: message(sentAt: sent), brokerTimestamps: true, cap: .seconds(3), now: workerNow) {
            hops += 1
            // The copy is sent at broker time sent + previous hop and becomes visible `delay` later.
            sent = sent.addingTimeInterval(Double(copy.headers[Envelope.HeaderKey.hopDelay].flatMap(Int64.init) ?? 0) / 1000)
            waited += delay.components.seconds
            copy = next
            #expect(hops < 10)
            if hops >= 10 { break }
        }
        #expect(hops == 3)
        #expect(waited >= 12)
        // Without broker timestamps the skewed clock would have run it at once.
        #expect(HopClock.decide(envelope, message: message(sentAt: producerNow), brokerTimestamps: false, cap: .seconds(3), now: workerNow) == .due)
    }

    /// Reserved hop headers come from the message, so any producer can set them: absurd values are ignored (the
    /// job is decided as if they were absent) and never trap. Each of these trapped in `decide` before.
    @Test(arguments: [
        (Envelope.HeaderKey.hops, "9223372036854775807"),
        (Envelope.HeaderKey.hops, "-5"),
        (Envelope.HeaderKey.hops, "x"),
        (Envelope.HeaderKey.hopDelay, "-inf"),
        (Envelope.HeaderKey.hopDelay, "inf"),
        (Envelope.HeaderKey.hopDelay, "nan"),
        (Envelope.HeaderKey.hopDelay, "1e300"),
        (Envelope.HeaderKey.hopDelay, "-1e300"),
        (Envelope.HeaderKey.hopDueAt, "nan"),
        (Envelope.HeaderKey.hopDueAt, "1e300"),
        (Envelope.HeaderKey.hopDueAt, "-1e300"),
        (Envelope.HeaderKey.hopDueAt, "inf"),
        (Envelope.HeaderKey.hopDueAt, "9223372036854775807"),
    ])
    func absurdHopHeadersAreIgnored(header: String, value: String) throws {
        let now = Date(timeIntervalSince1970: 1_000_000)
        var envelope = Envelope(task: "t", payload: Array("{}".utf8), createdAt: now, notBefore: now.addingTimeInterval(60))
        envelope.headers[header] = value
        for brokerTimestamps in [false, true] {
            let decision = HopClock.decide(envelope, message: message(sentAt: now), brokerTimestamps: brokerTimestamps, cap: .seconds(900), now: now)
            guard case .hop(let delay, let copy) = decision else {
                Issue.record("a job due in 60 s must hop (header \(header)=\(value), broker timestamps \(brokerTimestamps))")
                continue
            }
            #expect(delay >= .seconds(1) && delay <= .seconds(900))
            let hops = try #require(copy.headers[Envelope.HeaderKey.hops].flatMap(Int.init))
            #expect(hops >= 1)
            if brokerTimestamps {
                let due = try #require(copy.headers[Envelope.HeaderKey.hopDueAt].flatMap(Int64.init))
                #expect(due == 1_000_060_000, "the due time comes from not_before when the stored one is absurd")
            }
        }
    }

    /// With broker timestamps (SQS), a `created_at` that is no reading of the producer's clock (Go's zero time, year
    /// 9999) does not move `not_before` by decades: it is taken in broker time. Found by WorkerFuzzTests (SQS,
    /// seed 20251125): a job with `created_at` 0000-01-01 (read as 1970, the clamp) and a `not_before` in the
    /// past would have hopped every 15 minutes for 56 years; one created 2024-02-29 due in 2 s, for 2 years.
    @Test func anImplausibleCreatedAtDoesNotHoldAJobForDecades() throws {
        let sent = Date(timeIntervalSince1970: 1_800_000_000)
        for created in ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "2024-02-29T12:00:00-23:59", "9999-12-31T23:59:59.999Z"] {
            let createdAt = try #require(RFC3339.parse(created))
            let past = Envelope(task: "t", payload: Array("{}".utf8), createdAt: createdAt, notBefore: sent.addingTimeInterval(-1))
            #expect(HopClock.decide(past, message: message(sentAt: sent), brokerTimestamps: true, cap: .seconds(900), now: sent) == .due, "created_at \(created)")
            let soon = Envelope(task: "t", payload: Array("{}".utf8), createdAt: createdAt, notBefore: sent.addingTimeInterval(2.5))
            guard case .hop(let delay, let copy) = HopClock.decide(soon, message: message(sentAt: sent), brokerTimestamps: true, cap: .seconds(900), now: sent) else {
                Issue.record("a job due in 2.5 s must hop (created_at \(created))")
                continue
            }
            #expect(delay == .seconds(3), "created_at \(created)")
            #expect(copy.headers[Envelope.HeaderKey.hopDueAt] == "1800000002500", "created_at \(created)")
        }
        // A plausible skew (the producer's clock an hour behind the broker's) still moves the due time.
        let behind = Envelope(task: "t", payload: Array("{}".utf8), createdAt: sent.addingTimeInterval(-3600), notBefore: sent.addingTimeInterval(-3590))
        guard case .hop(let delay, _) = HopClock.decide(behind, message: message(sentAt: sent), brokerTimestamps: true, cap: .seconds(900), now: sent) else {
            Issue.record("a job asked for 10 s after its creation must hop")
            return
        }
        #expect(delay == .seconds(10))
    }

    /// A not_before or created_at at the ends of the RFC 3339 range decides without trapping.
    @Test func extremeDatesDecideWithoutTrapping() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let zero = RFC3339.parse("0001-01-01T00:00:00Z")!
        let end = RFC3339.parse("9999-12-31T23:59:59.999Z")!
        for (created, notBefore) in [(zero, end), (end, zero), (zero, zero), (end, end)] {
            let envelope = Envelope(task: "t", payload: Array("{}".utf8), createdAt: created, notBefore: notBefore)
            for sent in [nil, now, zero, end] {
                for brokerTimestamps in [false, true] {
                    for cap in [nil, Duration.seconds(900)] {
                        _ = HopClock.decide(envelope, message: message(sentAt: sent), brokerTimestamps: brokerTimestamps, cap: cap, now: now)
                    }
                }
            }
        }
    }
}
