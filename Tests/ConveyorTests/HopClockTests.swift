import Conveyor
import Foundation
import Testing

@Suite("Hop clock")
struct HopClockTests {
    private func message(sentAt: Date?) -> ReceivedMessage {
        ReceivedMessage(queue: "q", receipt: Receipt(), attempt: 1, envelope: .failure(ConveyorError(.closed, "unused")), enqueuedAt: sentAt)
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
}
