@testable import Conveyor
import Foundation
import Testing

/// The wire form of job events and of the envelope's reply fields (docs/wire-format.md, "Replies and events").
@Suite("Job events on the wire")
struct JobEventWireTests {
    @Test func everyFieldSurvivesTheWire() throws {
        let event = JobEvent(
            kind: .retrying, jobID: JobID("j-1"), task: "resize", queue: "images", attempt: 2,
            at: Date(timeIntervalSince1970: 1_764_086_663.25), progress: 0.25, note: "hé \"quoted\"",
            output: Array(#"{"w":1,"list":[1,2]}"#.utf8), reason: FailureReason(code: "task_error", message: "boom"),
            retryAfter: .milliseconds(1500)
        )
        let back = try JobEvent(json: event.json)
        #expect(back == event)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(event.json)) as? [String: Any])
        #expect(object["kind"] as? String == "retrying" && object["id"] as? String == "j-1" && object["attempt"] as? Int == 2)
        #expect(object["at"] as? String == "2025-11-25T16:04:23.250Z")
        #expect(object["retry_after_ms"] as? Int == 1500 && object["reason_code"] as? String == "task_error")
        #expect((object["output"] as? [String: Any])?["w"] as? Int == 1)
    }

    @Test func aReplyIsAnEnvelopeOfTheReplyTask() throws {
        let event = JobEvent(kind: .succeeded, jobID: JobID("j"), task: "t", queue: "q", attempt: 1, output: Array("42".utf8))
        let envelope = try EnvelopeCodec.decode(EnvelopeCodec.encode(event.replyEnvelope))
        #expect(envelope.task == JobEvent.replyTask)
        #expect(try JobEvent(json: envelope.payload).output == Array("42".utf8))
    }

    @Test func outOfRangeNumbersNeverTrap() {
        let valid = EnvelopeCodec.encode(Envelope(task: "t", payload: Array("1".utf8)))
        #expect(!valid.isEmpty)
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"progress","id":"j","progress":NaN}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"progress","id":"j","progress":1.5}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"started","id":"j","attempt":1e300}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"started","id":"j","attempt":0}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"started","id":"j","attempt":2.5}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"retrying","id":"j","retry_after_ms":-1}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"retrying","id":"j","retry_after_ms":1e308}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"started"}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(#"{"kind":"started","id":"j","at":"yesterday"}"#.utf8)) }
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array("[]".utf8)) }
        // Written from odd values, an event still reads back: a NaN progress is left out, long text is cut.
        let odd = JobEvent(kind: .progress, jobID: JobID("j"), task: "t", queue: "q", attempt: Int(Int32.max), progress: .nan,
                           note: String(repeating: "é", count: 5_000), retryAfter: .seconds(Int64.max))
        let back = try? JobEvent(json: odd.json)
        #expect(back?.progress == nil)
        #expect((back?.note?.utf8.count ?? .max) <= JobEvent.maximumTextBytes)
        #expect(back?.retryAfter == .seconds(1_000_000_000_000))
    }

    @Test func theEnvelopeCarriesTheReplyAddressOnlyWhenSet() throws {
        let plain = Envelope(task: "t", payload: Array("{}".utf8))
        #expect(!String(decoding: EnvelopeCodec.encode(plain), as: UTF8.self).contains("reply"))
        let tracked = Envelope(task: "t", payload: Array("{}".utf8), replyTo: "conveyor-replies-1", replyEvents: true)
        let text = String(decoding: EnvelopeCodec.encode(tracked), as: UTF8.self)
        #expect(text.contains(#""reply_to":"conveyor-replies-1","reply_events":true"#))
        let back = try EnvelopeCodec.decode(Array(text.utf8))
        #expect(back.replyTo == "conveyor-replies-1" && back.replyEvents)
        #expect(back.redriven().replyTo == nil && !back.redriven().replyEvents)
        let wrong = #"{"v":1,"id":"j","task":"t","payload":{},"reply_events":"yes"}"#
        #expect(throws: ConveyorError.self) { try EnvelopeCodec.decode(Array(wrong.utf8)) }
        let empty = #"{"v":1,"id":"j","task":"t","payload":{},"reply_to":""}"#
        #expect(try EnvelopeCodec.decode(Array(empty.utf8)).replyTo == nil)
    }

    @Test func progressIsThrottledAndTheLastOneIsKept() {
        let throttle = ProgressThrottle(interval: .milliseconds(250))
        let start = ContinuousClock.now
        func event(_ p: Double) -> JobEvent { JobEvent(kind: .progress, jobID: JobID("j"), task: "t", queue: "q", attempt: 1, progress: p) }
        #expect(throttle.offer(event(0.1), now: start)?.progress == 0.1)
        #expect(throttle.offer(event(0.2), now: start + .milliseconds(100)) == nil)
        #expect(throttle.offer(event(0.3), now: start + .milliseconds(200)) == nil)
        #expect(throttle.offer(event(0.4), now: start + .milliseconds(300))?.progress == 0.4)
        #expect(throttle.offer(event(0.5), now: start + .milliseconds(400)) == nil)
        #expect(throttle.unsent()?.progress == 0.5)
        #expect(throttle.unsent() == nil)
    }
}
