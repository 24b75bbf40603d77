@testable import Conveyor
import Foundation
import Synchronization
import Testing

/// The result tracker's bookkeeping as a value, without a broker: what a delivered event does, duplicates,
/// waiters, subscribers and forgetting.
@Suite("Result tracker state")
struct ResultTrackerStateTests {
    static func event(_ kind: JobEvent.Kind, _ id: JobID, attempt: Int = 1, progress: Double? = nil) -> JobEvent {
        JobEvent(kind: kind, jobID: id, task: "t", queue: "q", attempt: attempt, progress: progress)
    }

    /// The state behind a lock, shared with the tasks that wait.
    final class Shared: Sendable {
        let mutex = Mutex(ResultTrackerState())
        func withLock<T>(_ body: (inout ResultTrackerState) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    /// Waits through `state` for `id`'s final event.
    static func waitResult(_ state: Shared, _ id: JobID) async -> Result<JobEvent, any Error> {
        await Result { () async throws -> JobEvent in
            try await withCheckedThrowingContinuation { waiter in
                let actions = state.withLock { state in state.wait(for: id, token: state.makeToken(), waiter) }
                actions.run()
            }
        }
    }

    @Test func theFirstFinalEventSettlesTheJobAndLaterOnesAreDuplicates() {
        var state = ResultTrackerState()
        let id = JobID("a")
        state.track([id])
        #expect(state.deliver(Self.event(.started, id)).0 == .delivered)
        #expect(state.deliver(Self.event(.succeeded, id)).0 == .delivered)
        #expect(state.deliver(Self.event(.succeeded, id, attempt: 2)).0 == .duplicate)
        #expect(state.deliver(Self.event(.deadLettered, id)).0 == .duplicate)
        #expect(state.deliver(Self.event(.progress, id)).0 == .duplicate)
        #expect(state.entries[id]?.final?.attempt == 1)
        #expect(state.entries[id]?.history.map(\.kind) == [.started, .succeeded])
        #expect(state.pendingCount == 0)
    }

    @Test func eventsOfJobsNotTrackedAreDropped() {
        var state = ResultTrackerState()
        state.track([JobID("mine")])
        #expect(state.deliver(Self.event(.succeeded, JobID("theirs"))).0 == .untracked)
        #expect(state.entries[JobID("theirs")] == nil)
        #expect(state.pendingCount == 1)
    }

    @Test func aWaiterGetsTheFinalEventWhetherItCameBeforeOrAfter() async throws {
        let state = Shared()
        let early = JobID("early")
        let late = JobID("late")
        state.withLock { $0.track([early, late]) }
        state.withLock { $0.deliver(Self.event(.succeeded, early)) }.1.run()
        #expect(try await Self.waitResult(state, early).get().kind == JobEvent.Kind.succeeded)

        let waiting = Task { await Self.waitResult(state, late) }
        while state.withLock({ $0.entries[late]?.waiters.isEmpty ?? true }) { await Task.yield() }
        state.withLock { $0.deliver(Self.event(.deadLettered, late, attempt: 3)) }.1.run()
        let result = try? await waiting.value.get()
        #expect(result?.kind == .deadLettered && result?.attempt == 3)
    }

    @Test func aWaiterThatGivesUpFailsAloneAndTheJobStaysTracked() async throws {
        let state = Shared()
        let id = JobID("j")
        state.withLock { $0.track([id]) }
        let token = state.withLock { $0.makeToken() }
        let waiting = Task {
            await Result { () async throws -> JobEvent in
                try await withCheckedThrowingContinuation { waiter in state.withLock { $0.wait(for: id, token: token, waiter) }.run() }
            }
        }
        while state.withLock({ $0.entries[id]?.waiters.isEmpty ?? true }) { await Task.yield() }
        state.withLock { $0.stopWaiting(for: id, token: token, error: CancellationError()) }.run()
        #expect(await waiting.value.error is CancellationError)
        // Another wait still gets the outcome.
        state.withLock { $0.deliver(Self.event(.succeeded, id)) }.1.run()
        #expect(try await Self.waitResult(state, id).get().kind == JobEvent.Kind.succeeded)
    }

    @Test func aJobNotTrackedIsRefusedAtOnce() async {
        let state = Shared()
        let result = await Self.waitResult(state, JobID("unknown"))
        #expect((result.error as? ConveyorError)?.code == .invalidParameter)
    }

    @Test func aLateSubscriberGetsTheHistoryAndTheStreamEndsAfterTheFinalEvent() async {
        let state = Shared()
        let id = JobID("j")
        state.withLock { $0.track([id]) }
        for event in [Self.event(.started, id), Self.event(.progress, id, progress: 0.5)] {
            state.withLock { $0.deliver(event) }.1.run()
        }
        let (stream, continuation) = AsyncStream<JobEvent>.makeStream()
        state.withLock { state in state.subscribe(to: id, token: state.makeToken(), continuation) }.run()
        state.withLock { $0.deliver(Self.event(.succeeded, id)) }.1.run()
        var kinds: [JobEvent.Kind] = []
        for await event in stream { kinds.append(event.kind) }
        #expect(kinds == [.started, .progress, .succeeded])
    }

    @Test func historyKeepsTheNewestAndFinalEventsWithinItsBound() {
        var state = ResultTrackerState()
        let id = JobID("j")
        state.track([id])
        _ = state.deliver(Self.event(.started, id))
        for step in 0..<200 { _ = state.deliver(Self.event(.progress, id, progress: Double(step) / 200)) }
        _ = state.deliver(Self.event(.succeeded, id))
        let history = state.entries[id]?.history ?? []
        #expect(history.count == ResultTrackerState.maximumHistory)
        #expect(history.first?.kind == .started)
        #expect(history.last?.kind == .succeeded)
        #expect(history.dropLast().last?.progress == 199.0 / 200)
    }

    @Test func theOldestSettledOutcomesAreForgottenBeyondTheLimit() {
        var state = ResultTrackerState(retainedOutcomes: 2)
        let ids = (0..<3).map { JobID("j\($0)") }
        state.track(ids + [JobID("pending")])
        for id in ids { _ = state.deliver(Self.event(.succeeded, id)) }
        #expect(state.entries[ids[0]] == nil)
        #expect(state.entries[ids[1]]?.final != nil && state.entries[ids[2]]?.final != nil)
        #expect(state.entries[JobID("pending")] != nil)
    }

    @Test func closingFailsEveryWaiterAndEndsEveryStream() async {
        let state = Shared()
        let id = JobID("j")
        state.withLock { $0.track([id]) }
        let waiting = Task { await Self.waitResult(state, id) }
        let (stream, continuation) = AsyncStream<JobEvent>.makeStream()
        state.withLock { state in state.subscribe(to: id, token: state.makeToken(), continuation) }.run()
        while state.withLock({ $0.entries[id]?.waiters.isEmpty ?? true }) { await Task.yield() }
        state.withLock { $0.close(ConveyorError(.closed, "closed")) }.run()
        #expect((await waiting.value.error as? ConveyorError)?.code == .closed)
        for await _ in stream { Issue.record("a closed tracker's stream yielded") }
        #expect((await Self.waitResult(state, id).error as? ConveyorError)?.code == .closed)
    }

    @Test func untrackingFailsTheWaitersOfJobsThatWereNotSent() async {
        let state = Shared()
        let id = JobID("j")
        state.withLock { $0.track([id]) }
        let waiting = Task { await Self.waitResult(state, id) }
        while state.withLock({ $0.entries[id]?.waiters.isEmpty ?? true }) { await Task.yield() }
        state.withLock { $0.untrack([id], error: ConveyorError(.connectionFailed, "down")) }.run()
        #expect((await waiting.value.error as? ConveyorError)?.code == .connectionFailed)
        #expect(state.withLock { $0.deliver(Self.event(.succeeded, id)).0 } == .untracked)
    }

    // MARK: - Timeouts (one timer per tracker)

    /// Registers a waiter for `id` with `timeout` at `now`; returns the actions and where its result lands.
    static func timedWait(
        _ state: inout ResultTrackerState, _ id: JobID, _ timeout: Duration, now: ContinuousClock.Instant, into box: ResultBox
    ) async -> ResultTrackerState.Actions {
        // The waiter is a continuation held by a task, which records its result in `box`.
        let (waiters, handOver) = AsyncStream<ResultTrackerState.Waiter>.makeStream()
        Task {
            let result = await Result { () async throws -> JobEvent in
                try await withCheckedThrowingContinuation { waiter in handOver.yield(waiter) }
            }
            box.set(result)
        }
        var iterator = waiters.makeAsyncIterator()
        let waiter = await iterator.next()!
        return state.wait(for: id, token: state.makeToken(), timeout: timeout, now: now, waiter)
    }

    final class ResultBox: Sendable {
        private let value = Mutex<Result<JobEvent, any Error>?>(nil)
        func set(_ result: Result<JobEvent, any Error>) { value.withLock { $0 = result } }
        /// The result, once the waiter was resumed.
        func get() async -> Result<JobEvent, any Error> {
            while true {
                if let result = value.withLock({ $0 }) { return result }
                await Task.yield()
            }
        }
    }

    @Test func aTimedWaiterArmsTheTimerAndFailsWithTimeoutWhenItFires() async throws {
        var state = ResultTrackerState()
        let id = JobID("slow")
        state.track([id])
        let t0 = ContinuousClock.now
        let box = ResultBox()
        let actions = await Self.timedWait(&state, id, .seconds(5), now: t0, into: box)
        let timer = try #require(actions.arm)
        #expect(timer.at == t0 + .seconds(5))
        // Early: nothing is due; the timer is armed again for the same deadline.
        let early = state.expire(now: t0 + .seconds(4), timer: timer)
        #expect(early.resume.isEmpty)
        let rearmed = try #require(early.arm)
        #expect(rearmed.at == timer.at)
        let due = state.expire(now: t0 + .seconds(5), timer: rearmed)
        #expect(due.arm == nil)
        due.run()
        let error = try #require(await box.get().error as? ConveyorError)
        #expect(error.code == .timeout)
        #expect(error.message.contains("slow"))
        #expect(state.timedCounts == (0, 0))
        // The job goes on: its final event still comes and is kept for a later wait.
        #expect(state.deliver(Self.event(.succeeded, id)).0 == .delivered)
    }

    @Test func anEarlierDeadlineSupersedesTheArmedTimerAndTheOldOneDoesNothing() async throws {
        var state = ResultTrackerState()
        let (long, short) = (JobID("long"), JobID("short"))
        state.track([long, short])
        let t0 = ContinuousClock.now
        let longBox = ResultBox()
        let shortBox = ResultBox()
        let first = try #require(await Self.timedWait(&state, long, .seconds(60), now: t0, into: longBox).arm)
        let second = try #require(await Self.timedWait(&state, short, .seconds(1), now: t0, into: shortBox).arm)
        #expect(second.at == t0 + .seconds(1) && second.generation > first.generation)
        // A later deadline does not arm again.
        let laterBox = ResultBox()
        #expect(await Self.timedWait(&state, long, .seconds(90), now: t0, into: laterBox).arm == nil)
        #expect(state.expire(now: t0 + .seconds(120), timer: first).isEmpty, "a superseded timer must do nothing")
        let fired = state.expire(now: t0 + .seconds(1), timer: second)
        fired.run()
        #expect((await shortBox.get().error as? ConveyorError)?.code == .timeout)
        // Armed again for the long waiters, which the final event then settles.
        #expect(fired.arm?.at == t0 + .seconds(60))
        state.deliver(Self.event(.succeeded, long)).1.run()
        #expect(try await longBox.get().get().kind == .succeeded)
        #expect(try await laterBox.get().get().kind == .succeeded)
        #expect(state.timedCounts.waiters == 0)
        // The timer fires for waiters settled since: nothing to fail, nothing armed.
        let stale = state.expire(now: t0 + .seconds(60), timer: try #require(fired.arm))
        #expect(stale.resume.isEmpty && stale.arm == nil)
        #expect(state.timedCounts == (0, 0))
    }

    @Test func deadlinesOfSettledWaitersDoNotPileUp() async throws {
        var state = ResultTrackerState(retainedOutcomes: 100)
        let t0 = ContinuousClock.now
        var boxes: [ResultBox] = []
        for i in 0..<2_000 {
            let id = JobID("job-\(i)")
            state.track([id])
            let box = ResultBox()
            await Self.timedWait(&state, id, .seconds(300), now: t0, into: box).run()
            state.deliver(Self.event(.succeeded, id)).1.run()
            boxes.append(box)
        }
        for box in boxes { #expect(try await box.get().get().kind == .succeeded) }
        let counts = state.timedCounts
        #expect(counts.waiters == 0)
        #expect(counts.deadlines <= 65, "\(counts.deadlines) deadlines kept for no waiter")
    }

}

extension Result {
    fileprivate var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
