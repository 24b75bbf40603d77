@testable import Conveyor
import Testing

/// The worker's dispatch rules on their own: events in, actions out; executors and receivers are numbers.
@Suite("Dispatch state machine")
struct DispatchStateMachineTests {
    private struct TestJob: DispatchableJob, Equatable {
        var id: Int
        var task: String = "t"
        var limit: Int?
        var receivedAt: ContinuousClock.Instant = DispatchStateMachineTests.t0
        var queue = "q"

        var concurrencyLimit: (task: String, limit: Int)? { limit.map { (task, $0) } }
    }

    private typealias Machine = DispatchStateMachine<TestJob, Int, Int>

    /// An arbitrary origin; nothing here waits.
    private static let t0 = ContinuousClock.now

    private func take(_ machine: inout Machine, queueing executor: Int? = nil) -> TestJob? {
        if case .job(let job, _) = machine.executorWantsJob(queueing: executor) { return job }
        return nil
    }

    private func ids(_ pairs: [(Int, TestJob?)]) -> [Int?] { pairs.map { $0.1?.id } }

    // MARK: Buffer and receivers

    @Test func aFullBufferRefusesBatchesUntilFinishedJobsFreeOneAndAdmitsReceiversInOrder() {
        // Capacity: 2 running + 1 receiver × batch of 2 = 4.
        var machine = Machine(concurrency: 2, batchSize: 2, receivers: 1)
        #expect(machine.capacity == 4)
        let granted = machine.reserveBatch()
        #expect(granted == 2)
        let granted2 = machine.reserveBatch()
        #expect(granted2 == 2)
        let granted3 = machine.reserveBatch(queueing: 1)
        #expect(granted3 == nil)
        let granted4 = machine.reserveBatch(queueing: 2)
        #expect(granted4 == nil)
        #expect(Array(machine.receiverWaiters) == [1, 2])

        var actions = machine.deliver([TestJob(id: 1), TestJob(id: 2)], reserved: 2)
        #expect(actions.receivers.isEmpty && actions.executors.isEmpty && actions.release.isEmpty)
        #expect(actions.running == 0)
        actions = machine.deliver([TestJob(id: 3), TestJob(id: 4)], reserved: 2)
        #expect(actions.receivers.isEmpty)
        #expect(machine.buffer.map(\.id) == [1, 2, 3, 4])

        let first = take(&machine), second = take(&machine)
        #expect(first?.id == 1 && second?.id == 2)
        #expect(machine.running == 2)

        // One finished job frees one message: not a batch.
        actions = machine.finish(first!)
        #expect(actions.receivers.isEmpty)
        #expect(actions.running == 1)
        // A second one frees a batch: the first receiver in line gets it, the second keeps waiting.
        actions = machine.finish(second!)
        #expect(actions.receivers.map(\.0) == [1])
        #expect(actions.receivers.map(\.1) == [2])
        #expect(Array(machine.receiverWaiters) == [2])
        // Room or not, a newcomer does not overtake a waiting receiver.
        let granted5 = machine.reserveBatch()
        #expect(granted5 == nil)

        // A receive that came back empty gives its reservation back: the second receiver's turn.
        actions = machine.deliver([], reserved: 2)
        #expect(actions.receivers.map(\.0) == [2])
        #expect(machine.receiverWaiters.isEmpty)
        #expect(machine.outstanding == machine.capacity)
    }

    @Test func aBatchLargerThanTheCapacityIsClampedToIt() {
        let machine = Machine(concurrency: 1, batchSize: 10, receivers: 0)
        #expect(machine.capacity == 1)
        #expect(machine.batchSize == 1)
    }

    @Test func deliveredJobsGoToIdleExecutorsFirst() {
        var machine = Machine(concurrency: 2, batchSize: 2, receivers: 1)
        let granted = machine.reserveBatch()
        #expect(granted == 2)
        guard case .wait = machine.executorWantsJob(queueing: 10) else { Issue.record("expected to wait"); return }
        guard case .wait = machine.executorWantsJob(queueing: 11) else { Issue.record("expected to wait"); return }
        let actions = machine.deliver([TestJob(id: 1)], reserved: 2)
        #expect(actions.executors.count == 1)
        #expect(ids(actions.executors) == [1])
        #expect(actions.running == 1)
        #expect(machine.idleExecutors.count == 1)
        #expect(machine.buffer.isEmpty)
    }

    // MARK: Per-task limits

    @Test func aTaskAtItsLimitIsHeldBackAndReleasedInOrderWithoutBlockingOtherTasks() {
        var machine = Machine(concurrency: 4, batchSize: 4, receivers: 1)
        let granted = machine.reserveBatch()
        #expect(granted == 4)
        let a1 = TestJob(id: 1, task: "a", limit: 1), a2 = TestJob(id: 2, task: "a", limit: 1)
        let b1 = TestJob(id: 3, task: "b"), a3 = TestJob(id: 4, task: "a", limit: 1)
        _ = machine.deliver([a1, a2, b1, a3], reserved: 4)

        #expect(take(&machine) == a1)
        // a2 is held back; b1, of another task, runs.
        #expect(take(&machine) == b1)
        #expect(machine.blocked["a"].map { Array($0) } == [a2])
        // a3 is held back too; nothing runnable is left.
        guard case .wait = machine.executorWantsJob(queueing: 7) else { Issue.record("expected to wait"); return }
        #expect(machine.blocked["a"].map { Array($0) } == [a2, a3])
        #expect(machine.blockedCount == 2)
        #expect(machine.runningPerTask["a"] == 1)

        // b1 ending frees nothing for "a".
        var actions = machine.finish(b1)
        #expect(actions.executors.isEmpty)
        // a1 ending lets the oldest held-back job of "a" run, on the waiting executor.
        actions = machine.finish(a1)
        #expect(actions.executors.map(\.0) == [7])
        #expect(ids(actions.executors) == [2])
        #expect(machine.blocked["a"].map { Array($0) } == [a3])
        // No executor waits: a3 goes back to the buffer, at its head, and runs next.
        actions = machine.finish(a2)
        #expect(actions.executors.isEmpty)
        #expect(machine.blocked["a"] == nil)
        #expect(machine.blockedCount == 0)
        #expect(take(&machine) == a3)
        _ = machine.finish(a3)
        #expect(machine.running == 0)
        #expect(machine.runningPerTask["a"] == 0)
    }

    @Test func heldJobsAreTheBufferedAndHeldBackOnesReceivedBeforeTheCutoff() {
        var machine = Machine(concurrency: 4, batchSize: 4, receivers: 1)
        let granted = machine.reserveBatch()
        #expect(granted == 4)
        let t0 = Self.t0
        let running = TestJob(id: 1, task: "a", limit: 1, receivedAt: t0)
        let heldBack = TestJob(id: 2, task: "a", limit: 1, receivedAt: t0 + .seconds(1))
        let old = TestJob(id: 3, receivedAt: t0), recent = TestJob(id: 4, receivedAt: t0 + .seconds(5))
        _ = machine.deliver([running, heldBack], reserved: 4)
        #expect(take(&machine) == running)
        guard case .wait = machine.executorWantsJob() else { Issue.record("expected to wait"); return }
        _ = machine.deliver([old, recent], reserved: 0)
        #expect(machine.heldJobs(receivedBefore: t0 + .seconds(2)).map(\.id).sorted() == [2, 3])
        #expect(machine.heldJobs(receivedBefore: t0 + .seconds(5)).map(\.id).sorted() == [2, 3, 4])
    }

    // MARK: Drain

    @Test func drainingReleasesBufferedAndHeldBackJobsAndStopsReceivers() {
        var machine = Machine(concurrency: 2, batchSize: 2, receivers: 1)
        let granted = machine.reserveBatch()
        #expect(granted == 2)
        let granted2 = machine.reserveBatch()
        #expect(granted2 == 2)
        let granted3 = machine.reserveBatch(queueing: 5)
        #expect(granted3 == nil)
        let a1 = TestJob(id: 1, task: "a", limit: 1), a2 = TestJob(id: 2, task: "a", limit: 1)
        _ = machine.deliver([a1, a2], reserved: 2)
        #expect(take(&machine) == a1)
        guard case .wait = machine.executorWantsJob() else { Issue.record("expected to wait"); return }
        _ = machine.deliver([TestJob(id: 3), TestJob(id: 4)], reserved: 2)
        #expect(machine.buffer.map(\.id) == [3, 4])
        #expect(machine.blockedCount == 1)

        let actions = machine.beginDrain()
        #expect(actions.release.map(\.id).sorted() == [2, 3, 4])
        #expect(actions.receivers.map(\.0) == [5])
        #expect(actions.receivers.map(\.1) == [0])
        #expect(actions.running == nil)
        #expect(machine.buffer.isEmpty && machine.blocked.isEmpty && machine.blockedCount == 0)
        // Only the running job is still held.
        #expect(machine.outstanding == 1)
        #expect(machine.heldJobs(receivedBefore: Self.t0 + .seconds(60)).isEmpty)

        // Afterwards receivers stop and executors exit.
        let granted4 = machine.reserveBatch(queueing: 6)
        #expect(granted4 == 0)
        guard case .none = machine.executorWantsJob(queueing: 8) else { Issue.record("expected none"); return }
        #expect(machine.idleExecutors.isEmpty && machine.receiverWaiters.isEmpty)
        // The job still running finishes normally and nothing is handed out.
        let finished = machine.finish(a1)
        #expect(finished.executors.isEmpty && finished.receivers.isEmpty)
        #expect(machine.outstanding == 0)
    }

    @Test func withdrawingTakesBackTheMatchingWaitingJobsAndAdmitsReceivers() {
        var machine = Machine(concurrency: 2, batchSize: 2, receivers: 1)
        #expect(machine.reserveBatch() == 2)
        #expect(machine.reserveBatch() == 2)
        #expect(machine.reserveBatch(queueing: 5) == nil)
        // Job ids: even ones are of the queue being paused. Task "a" (limit 1) holds job 2 back behind job 1.
        let a1 = TestJob(id: 1, task: "a", limit: 1), a2 = TestJob(id: 2, task: "a", limit: 1)
        _ = machine.deliver([a1, a2], reserved: 2)
        #expect(take(&machine) == a1)
        guard case .wait = machine.executorWantsJob() else { Issue.record("expected to wait"); return }
        _ = machine.deliver([TestJob(id: 3), TestJob(id: 4)], reserved: 2)
        #expect(machine.blockedCount == 1)
        #expect(machine.outstanding == 4)

        let actions = machine.withdraw { $0.id.isMultiple(of: 2) }
        #expect(actions.release.map(\.id).sorted() == [2, 4])
        #expect(machine.buffer.map(\.id) == [3])
        #expect(machine.blocked.isEmpty && machine.blockedCount == 0)
        // Two places freed: the waiting receiver gets its batch; the running job and job 3 stay.
        #expect(actions.receivers.map(\.0) == [5])
        #expect(machine.outstanding == 4)
        #expect(take(&machine)?.id == 3)
        #expect(machine.withdraw { _ in true }.release.isEmpty, "running jobs are never withdrawn")
    }

    @Test func aPausedQueuesDeliveriesAreReleasedUntilItResumes() {
        var machine = Machine(concurrency: 1, batchSize: 2, receivers: 2)
        #expect(machine.reserveBatch() == 2)
        _ = machine.deliver([TestJob(id: 1, queue: "a"), TestJob(id: 2, queue: "b")], reserved: 2)
        #expect(take(&machine)?.id == 1)
        #expect(machine.pause("b").release.map(\.id) == [2])
        #expect(machine.reserveBatch() == 2)
        let late = machine.deliver([TestJob(id: 3, queue: "b"), TestJob(id: 4, queue: "a")], reserved: 2)
        #expect(late.release.map(\.id) == [3], "a paused queue's late delivery goes back")
        #expect(machine.buffer.map(\.id) == [4])
        #expect(machine.outstanding == 2)  // job 1 running, job 4 buffered
        machine.resume("b")
        #expect(machine.reserveBatch() == 2)
        let resumed = machine.deliver([TestJob(id: 5, queue: "b")], reserved: 2)
        #expect(resumed.release.isEmpty)
        #expect(machine.buffer.map(\.id) == [4, 5])
    }

    @Test func drainingSendsIdleExecutorsAwayAndReturnsLateDeliveries() {
        var machine = Machine(concurrency: 2, batchSize: 2, receivers: 1)
        let granted = machine.reserveBatch()
        #expect(granted == 2)
        guard case .wait = machine.executorWantsJob(queueing: 1) else { Issue.record("expected to wait"); return }
        guard case .wait = machine.executorWantsJob(queueing: 2) else { Issue.record("expected to wait"); return }

        let actions = machine.beginDrain()
        #expect(actions.executors.map(\.0).sorted() == [1, 2])
        #expect(ids(actions.executors) == [nil, nil])
        #expect(actions.release.isEmpty)

        // The receive in flight ends after the drain began: its jobs go back, its reservation is returned.
        let late = machine.deliver([TestJob(id: 9)], reserved: 2)
        #expect(late.release.map(\.id) == [9])
        #expect(late.running == nil)
        #expect(machine.buffer.isEmpty)
        #expect(machine.outstanding == 0)
    }

    // MARK: Shutdown and grace

    @Test func aShutdownRequestWakesTheWaitingSupervisorOnce() {
        var machine = Machine(concurrency: 1, batchSize: 1, receivers: 1)
        let waits = machine.registerShutdownWaiter()
        #expect(waits)
        let wakes = machine.requestShutdown(immediate: false)
        #expect(wakes)
        #expect(machine.shutdownRequested)
        #expect(!machine.graceExpired)
        // Nobody waits any more; a later waiter does not wait at all.
        let wakes2 = machine.requestShutdown(immediate: false)
        #expect(!wakes2)
        let waits2 = machine.registerShutdownWaiter()
        #expect(!waits2)
    }

    @Test func aRequestBeforeTheSupervisorWaitsIsNotLost() {
        var machine = Machine(concurrency: 1, batchSize: 1, receivers: 1)
        let wakes = machine.requestShutdown(immediate: false)
        #expect(!wakes)
        let waits = machine.registerShutdownWaiter()
        #expect(!waits)
    }

    @Test func theIdleWaiterWakesWhenTheLastRunningJobEndsDuringTheDrain() {
        var machine = Machine(concurrency: 2, batchSize: 2, receivers: 1)
        let granted = machine.reserveBatch()
        #expect(granted == 2)
        _ = machine.deliver([TestJob(id: 1), TestJob(id: 2)], reserved: 2)
        let first = take(&machine)!, second = take(&machine)!
        _ = machine.requestShutdown(immediate: false)
        _ = machine.beginDrain()
        let waits = machine.registerIdleWaiter()
        #expect(waits)
        let finished = machine.finish(first)
        #expect(!finished.wakeIdleWaiter)
        let last = machine.finish(second)
        #expect(last.wakeIdleWaiter)
        #expect(last.running == 0)
        #expect(!machine.idleWaiting)
    }

    @Test func theIdleWaiterDoesNotWaitWhenNothingRuns() {
        var machine = Machine(concurrency: 1, batchSize: 1, receivers: 1)
        _ = machine.beginDrain()
        let waits = machine.registerIdleWaiter()
        #expect(!waits)
    }

    @Test func anExpiredGraceWakesTheIdleWaiterWhileJobsStillRun() {
        var machine = Machine(concurrency: 1, batchSize: 1, receivers: 1)
        let granted = machine.reserveBatch()
        #expect(granted == 1)
        _ = machine.deliver([TestJob(id: 1)], reserved: 1)
        let job = take(&machine)!
        _ = machine.requestShutdown(immediate: false)
        _ = machine.beginDrain()
        let waits = machine.registerIdleWaiter()
        #expect(waits)
        let wakes = machine.expireGrace()
        #expect(wakes)
        #expect(machine.graceExpired)
        #expect(machine.running == 1)
        // The waiter was resumed once; the job ending later wakes nobody.
        let finished = machine.finish(job)
        #expect(!finished.wakeIdleWaiter)
    }

    @Test func anImmediateShutdownSkipsTheGracePeriod() {
        var machine = Machine(concurrency: 1, batchSize: 1, receivers: 1)
        let granted = machine.reserveBatch()
        #expect(granted == 1)
        _ = machine.deliver([TestJob(id: 1)], reserved: 1)
        _ = take(&machine)
        let waits = machine.registerShutdownWaiter()
        #expect(waits)
        let wakes = machine.requestShutdown(immediate: true)
        #expect(wakes)
        #expect(machine.graceExpired)
        _ = machine.beginDrain()
        // A job runs, yet the supervisor does not wait for it.
        let waits2 = machine.registerIdleWaiter()
        #expect(!waits2)
    }
}
