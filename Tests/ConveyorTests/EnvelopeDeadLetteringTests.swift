import Conveyor
import Foundation
import Testing

/// The dead-letter and redrive transformations every provider shares (`Envelope.deadLettered`, `Envelope.redriven`).
@Suite("Envelope dead-lettering")
struct EnvelopeDeadLetteringTests {
    static let job = Envelope(
        id: JobID("job-1"), task: "mail.send", payload: Array(#"{"to":"a@b"}"#.utf8),
        createdAt: Date(timeIntervalSince1970: 1_700_000_000), attemptOffset: 2,
        headers: ["x-tenant": "acme"]
    )

    @Test("dead-lettering records reason, code, source queue, attempt and time in the headers")
    func deadLetteredRecordsTheFailure() {
        let at = Date(timeIntervalSince1970: 1_700_000_123)
        let copy = Self.job.deadLettered(FailureReason(code: "timeout", message: "ran 300 s"), from: "mail", attempt: 5, at: at)
        #expect(copy.headers[Envelope.HeaderKey.deadLetterReason] == "ran 300 s")
        #expect(copy.headers[Envelope.HeaderKey.deadLetterCode] == "timeout")
        #expect(copy.headers[Envelope.HeaderKey.deadLetterSourceQueue] == "mail")
        #expect(copy.headers[Envelope.HeaderKey.deadLetterAttempt] == "5")
        #expect(copy.headers[Envelope.HeaderKey.deadLetteredAt] == "2023-11-14T22:15:23Z")
        #expect(copy.headers["x-tenant"] == "acme")
        #expect(copy.id == Self.job.id && copy.payload == Self.job.payload && copy.attemptOffset == 2)
    }

    @Test("redriving a dead-lettered copy gives back the job, started over")
    func redriveUndoesDeadLettering() throws {
        var retried = Self.job
        retried.headers[Envelope.HeaderKey.lastError] = "timeout: ran 300 s"
        let dead = retried.deadLettered(FailureReason(code: "timeout", message: "ran 300 s"), from: "mail", attempt: 5, at: Date())
        let redriven = dead.redriven()
        var expected = Self.job
        expected.attemptOffset = 0
        #expect(redriven == expected)
        // The codec round trip keeps it that way (what a broker carries).
        #expect(try EnvelopeCodec.decode(EnvelopeCodec.encode(redriven)) == expected)
        #expect(Set(Envelope.deadLetterHeaderKeys).isDisjoint(with: redriven.headers.keys))
    }
}
