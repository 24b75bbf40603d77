import Conveyor
import Foundation
import Testing

@testable import ConveyorDashboard

/// The live state the dashboard keeps from job events, fed events by hand with explicit times.
@Suite("LiveBoard")
struct LiveBoardTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func event(_ kind: JobEvent.Kind, _ id: String, attempt: Int = 1, progress: Double? = nil, reason: FailureReason? = nil) -> JobEvent {
        JobEvent(kind: kind, jobID: JobID(id), task: "t", queue: "q", attempt: attempt, at: start, progress: progress, note: progress.map { "at \($0)" }, reason: reason)
    }

    @Test("started, progress and an end: the job is running with its progress, then gone; failures are kept, newest last, at most the configured number")
    func runningAndFailures() {
        let board = LiveBoard(queues: ["q"], recentFailures: 2)
        board.record(Self.event(.started, "a"), of: "q", now: Self.start)
        board.record(Self.event(.progress, "a", progress: 0.5), of: "q", now: Self.start)
        #expect(board.snapshot("q")?.running[JobID("a")]?.progress == 0.5)
        #expect(board.snapshot("q")?.running[JobID("a")]?.note == "at 0.5")
        board.record(Self.event(.retrying, "a", reason: FailureReason(code: "task_error", message: "one")), of: "q", now: Self.start)
        #expect(board.snapshot("q")?.running.isEmpty == true)
        board.record(Self.event(.started, "a", attempt: 2), of: "q", now: Self.start)
        board.record(Self.event(.deadLettered, "a", attempt: 2, reason: FailureReason(code: "task_error", message: "two")), of: "q", now: Self.start)
        board.record(Self.event(.deadLettered, "b", reason: FailureReason(code: "unknown_task", message: "three")), of: "q", now: Self.start)
        board.record(Self.event(.cancelled, "c", reason: FailureReason(code: "cancelled", message: "not a failure")), of: "q", now: Self.start)
        let snapshot = board.snapshot("q")
        #expect(snapshot?.running.isEmpty == true)
        #expect(snapshot?.failures.map(\.message) == ["two", "three"])
        // Events of a queue the dashboard does not show are ignored.
        board.record(Self.event(.started, "z"), of: "other", now: Self.start)
        #expect(board.snapshot("other") == nil)
    }

    @Test("jobs per second count the ends of the last 10 s")
    func rate() {
        let board = LiveBoard(queues: ["q"], recentFailures: 10)
        for index in 0..<20 {
            board.record(Self.event(.succeeded, "s\(index)"), of: "q", now: Self.start.addingTimeInterval(Double(index)))
        }
        // Ends at 0...19 s; at 19 s the window holds those from 9 s on.
        #expect(board.jobsPerSecond("q", now: Self.start.addingTimeInterval(19)) == 1.1)
        #expect(board.jobsPerSecond("q", now: Self.start.addingTimeInterval(100)) == 0)
    }

    @Test("running jobs are capped: past the cap the oldest start is forgotten")
    func runningCap() {
        let board = LiveBoard(queues: ["q"], recentFailures: 10)
        for index in 0..<(LiveBoard.maximumRunning + 5) {
            var started = Self.event(.started, "r\(index)")
            started.at = Self.start.addingTimeInterval(Double(index))
            board.record(started, of: "q", now: Self.start)
        }
        let running = board.snapshot("q")?.running ?? [:]
        #expect(running.count == LiveBoard.maximumRunning)
        #expect(running[JobID("r0")] == nil)
        #expect(running[JobID("r\(LiveBoard.maximumRunning + 4)")] != nil)
    }

    @Test("workers are listed from their last heartbeat and forgotten after the expiry")
    func workers() {
        let board = LiveBoard(queues: ["q"], recentFailures: 10)
        let beat = WorkerHeartbeat(workerID: "w1", host: "h", pid: 42, queues: ["q"], concurrency: 4, busy: 1, startedAt: Self.start)
        board.record(JobEvent(heartbeat: beat, queue: "q"), of: "q", now: Self.start)
        var later = beat
        later.busy = 3
        board.record(JobEvent(heartbeat: later, queue: "q"), of: "q", now: Self.start.addingTimeInterval(5))
        let seen = board.workers(expiry: .seconds(30), now: Self.start.addingTimeInterval(10))
        #expect(seen.count == 1)
        #expect(seen.first?.heartbeat.busy == 3)
        #expect(board.workers(expiry: .seconds(30), now: Self.start.addingTimeInterval(36)).isEmpty)
    }

    @Test("listeners get each event of their queue until they stop")
    func listeners() async {
        let board = LiveBoard(queues: ["q"], recentFailures: 10)
        guard let (id, events) = board.listen("q") else {
            Issue.record("no listener")
            return
        }
        board.record(Self.event(.started, "a"), of: "q", now: Self.start)
        board.record(Self.event(.succeeded, "a"), of: "q", now: Self.start)
        board.stopListening("q", id: id)
        var kinds: [JobEvent.Kind] = []
        for await event in events { kinds.append(event.kind) }
        #expect(kinds == [.started, .succeeded])
        #expect(board.listen("elsewhere") == nil)
    }
}

/// Form fields and the redirect that drops `?token=`.
@Suite("FormFields")
struct FormFieldsTests {
    @Test("repeated names are kept, + and percent escapes decoded; a bad escape drops only its field")
    func parsing() {
        let fields = FormFields(body: "id=a&id=b%2Fc&note=two+words&bad=%zz&%zz=1&empty")
        #expect(fields.all("id") == ["a", "b/c"])
        #expect(fields.first("note") == "two words")
        #expect(fields.first("bad") == "")
        #expect(fields.first("empty") == "")
        #expect(FormFields(query: nil).pairs.isEmpty)
    }

    @Test("the redirect after ?token= keeps the path and the other parameters, and never leaves the site")
    func redirect() {
        #expect(FormFields.path("/jobs/queues/q", without: "token", query: "token=x&tab=2") == "/jobs/queues/q?tab=2")
        #expect(FormFields.path("/", without: "token", query: "token=x") == "/")
        #expect(FormFields.path("//evil.example/x", without: "token", query: "token=x") == "/")
        #expect(FormFields.path("/\\evil.example", without: "token", query: "token=x") == "/")
    }
}
