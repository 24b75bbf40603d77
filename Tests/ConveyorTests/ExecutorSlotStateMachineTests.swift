@testable import Conveyor
import Testing

/// An executor slot's deadline rules on their own: time is a parameter, timers are their arming instants.
@Suite("Executor slot state machine")
struct ExecutorSlotStateMachineTests {
    private struct TestJob: HeartbeatedJob {
        var id: Int
        var receivedAt: ContinuousClock.Instant
        var visibilityTimeout: Duration?
    }

    private typealias Machine = ExecutorSlotStateMachine<TestJob>

    /// An arbitrary origin, also the heartbeat epoch; nothing here waits.
    private let t0 = ContinuousClock.now

    /// A machine whose parent waits for signals, as it does while a job runs.
    private func waitingMachine() -> Machine {
        var machine = Machine(epoch: t0)
        let signals = machine.nextSignals()
        #expect(signals == nil)
        return machine
    }

    private func extended(_ action: Machine.TimerAction) -> (id: Int, by: Duration)? {
        if case .extend(let job, let duration) = action { return (job.id, duration) }
        return nil
    }

    private func isCancel(_ action: Machine.TimerAction) -> Bool {
        if case .cancel = action { return true }
        return false
    }

    private func isNone(_ action: Machine.TimerAction) -> Bool {
        if case .none = action { return true }
        return false
    }

    // MARK: Timeouts

    @Test func aTimeoutBeforeTheFirstHeartbeatCancelsTheJob() {
        var machine = waitingMachine()
        // Heartbeats every 21 s; the timeout comes first.
        let job = TestJob(id: 1, receivedAt: t0, visibilityTimeout: .seconds(30))
        let signals = machine.begin(job, timeoutAt: t0 + .seconds(10))
        #expect(signals?.arm?.at == t0 + .seconds(10))
        #expect(signals?.arm?.generation == 1)
        #expect(signals?.cancel == false)

        // A timer that fires early finds nothing due and is re-armed for the timeout.
        let early = machine.checkTimer(now: t0 + .seconds(5))
        #expect(isNone(early.0))
        #expect(early.arm?.at == t0 + .seconds(10))
        #expect(early.arm?.generation == 2)

        let due = machine.checkTimer(now: t0 + .seconds(10))
        #expect(isCancel(due.0))
        #expect(due.arm == nil)
        #expect(machine.cancelReason == .timeout)
        // Once cancelled, nothing else is due.
        let check = machine.checkTimer(now: t0 + .seconds(25))
        #expect(isNone(check.0))
        let reason = machine.end()
        #expect(reason == .timeout)
    }

    @Test func aTimeoutSetAfterTheStartArmsTheTimerWhenItComesFirst() {
        var machine = waitingMachine()
        // Heartbeats every 21 s: the start arms the timer for the first one.
        let job = TestJob(id: 1, receivedAt: t0, visibilityTimeout: .seconds(30))
        let started = machine.begin(job)
        #expect(started?.arm?.at == t0 + .seconds(21))
        #expect(machine.nextSignals() == nil)
        // The timeout middleware then sets a deadline before it: the timer is re-armed for the deadline.
        let set = machine.setTimeout(at: t0 + .seconds(10))
        #expect(set?.arm?.at == t0 + .seconds(10))
        #expect(set?.arm?.generation == 2)
        #expect(machine.nextSignals() == nil)
        // A deadline after the armed instant arms nothing; the timer finds it when it comes.
        #expect(machine.setTimeout(at: t0 + .seconds(15)) == nil)
        let early = machine.checkTimer(now: t0 + .seconds(10))
        #expect(isNone(early.0))
        #expect(early.arm?.at == t0 + .seconds(15))
        let due = machine.checkTimer(now: t0 + .seconds(15))
        #expect(isCancel(due.0))
        #expect(machine.end() == .timeout)
        // With no job running, a deadline is ignored.
        #expect(machine.setTimeout(at: t0 + .seconds(20)) == nil)
        #expect(machine.running == nil)
    }

    @Test func aJobWithoutTimeoutOrHeartbeatsArmsNothing() {
        var machine = waitingMachine()
        let started = machine.begin(TestJob(id: 1, receivedAt: t0), timeoutAt: nil)
        #expect(started == nil)
        #expect(machine.armedAt == nil)
        let reason = machine.end()
        #expect(reason == nil)
    }

    // MARK: Heartbeats

    @Test func heartbeatsAreCountedFromReceiptAndRearmedFromWhenTheyFired() {
        var machine = waitingMachine()
        // Received at t0, started 15 s later: the first heartbeat is due 21 s after receipt, not after the start.
        let job = TestJob(id: 7, receivedAt: t0, visibilityTimeout: .seconds(30))
        let signals = machine.begin(job, timeoutAt: nil)
        #expect(signals?.arm?.at == t0 + .seconds(21))

        let first = machine.checkTimer(now: t0 + .seconds(21))
        #expect(extended(first.0)?.id == 7)
        #expect(extended(first.0)?.by == .seconds(30))
        #expect(first.arm?.at == t0 + .seconds(42))

        // A late timer: the next beat is 21 s after it fired, rounded down to a whole second after the epoch.
        let late = machine.checkTimer(now: t0 + .milliseconds(42_500))
        #expect(extended(late.0)?.id == 7)
        #expect(late.arm?.at == t0 + .seconds(63))
    }

    @Test func aHeartbeatAlreadyDueAtTheStartIsArmedInThePast() {
        var machine = waitingMachine()
        let job = TestJob(id: 1, receivedAt: t0, visibilityTimeout: .seconds(30))
        // Started 40 s after receipt: the beat due at 21 s fires at once.
        let started = machine.begin(job, timeoutAt: t0 + .seconds(100))
        #expect(started?.arm?.at == t0 + .seconds(21))
        let check = machine.checkTimer(now: t0 + .seconds(40))
        #expect(extended(check.0)?.by == .seconds(30))
        #expect(check.arm?.at == t0 + .seconds(61))
    }

    @Test func shortIntervalsAreNotRounded() {
        var machine = waitingMachine()
        let job = TestJob(id: 1, receivedAt: t0 + .milliseconds(300), visibilityTimeout: .seconds(1))
        let started = machine.begin(job, timeoutAt: nil)
        #expect(started?.arm?.at == t0 + .milliseconds(1000))
    }

    @Test func heartbeatsStopTwelveHoursAfterReceipt() {
        var machine = waitingMachine()
        let job = TestJob(id: 1, receivedAt: t0, visibilityTimeout: .seconds(10 * 3600))
        let started = machine.begin(job, timeoutAt: nil)
        #expect(started?.arm?.at == t0 + .seconds(7 * 3600))
        // 5 h are left until the 12 h limit: the extension stops there, and no further beat is armed.
        let check = machine.checkTimer(now: t0 + .seconds(7 * 3600))
        #expect(extended(check.0)?.by == .seconds(5 * 3600))
        #expect(check.arm == nil)
        #expect(machine.running?.nextHeartbeat == nil)
    }

    @Test func aBeatPastTheTwelveHourLimitExtendsNothing() {
        var machine = waitingMachine()
        let job = TestJob(id: 1, receivedAt: t0, visibilityTimeout: .seconds(30))
        _ = machine.begin(job, timeoutAt: nil)
        let nearLimit = machine.checkTimer(now: t0 + .seconds(12 * 3600 - 10))
        #expect(extended(nearLimit.0)?.by == .seconds(10))
        #expect(nearLimit.arm == nil)

        var other = waitingMachine()
        _ = other.begin(job, timeoutAt: nil)
        let past = other.checkTimer(now: t0 + .seconds(12 * 3600))
        #expect(isNone(past.0))
        #expect(past.arm == nil)
    }

    // MARK: Timer generations

    @Test func aStaleTimerIsIgnored() {
        var machine = waitingMachine()
        let first = machine.begin(TestJob(id: 1, receivedAt: t0), timeoutAt: t0 + .seconds(60))
        #expect(first?.arm?.generation == 1)
        _ = machine.end()
        let signals = machine.nextSignals()
        #expect(signals == nil)
        // A later job with an earlier deadline re-arms: the first timer is stale from now on.
        let second = machine.begin(TestJob(id: 2, receivedAt: t0), timeoutAt: t0 + .seconds(10))
        #expect(second?.arm?.at == t0 + .seconds(10))
        #expect(second?.arm?.generation == 2)
        let signals2 = machine.nextSignals()
        #expect(signals2 == nil)

        let fired = machine.timerFired(generation: 1)
        #expect(fired == nil)
        #expect(machine.pending.isEmpty)
        let fired2 = machine.timerFired(generation: 2)
        #expect(fired2?.timerFired == true)
    }

    @Test func aLaterDeadlineDoesNotRearmAnEarlierTimer() {
        var machine = waitingMachine()
        let started = machine.begin(TestJob(id: 1, receivedAt: t0), timeoutAt: t0 + .seconds(10))
        #expect(started?.arm?.generation == 1)
        _ = machine.end()
        let signals = machine.nextSignals()
        #expect(signals == nil)
        let started2 = machine.begin(TestJob(id: 2, receivedAt: t0), timeoutAt: t0 + .seconds(60))
        #expect(started2 == nil)
        #expect(machine.armedAt == t0 + .seconds(10))
        // The armed timer finds the second job's timeout not due and re-arms for it.
        let fired = machine.timerFired(generation: 1)
        #expect(fired?.timerFired == true)
        let check = machine.checkTimer(now: t0 + .seconds(10))
        #expect(isNone(check.0))
        #expect(check.arm?.at == t0 + .seconds(60))
    }

    // MARK: Signals and cancellation

    @Test func signalsWaitForTheParentWhenItIsNotWaiting() {
        var machine = Machine(epoch: t0)
        let exited = machine.executorExited()
        #expect(exited == nil)
        let signals = machine.nextSignals()
        #expect(signals?.executorExited == true)
        // Taken: the parent waits again, and the next signal goes straight to it.
        let signals2 = machine.nextSignals()
        #expect(signals2 == nil)
        let exited2 = machine.executorExited()
        #expect(exited2?.executorExited == true)
    }

    @Test func aShutdownCancelsTheRunningJobOnce() {
        var machine = waitingMachine()
        _ = machine.begin(TestJob(id: 1, receivedAt: t0), timeoutAt: nil)
        let cancelled = machine.requestCancel(.shutdown)
        #expect(cancelled?.cancel == true)
        let signals = machine.nextSignals()
        #expect(signals == nil)
        let cancelled2 = machine.requestCancel(.shutdown)
        #expect(cancelled2 == nil)
        let reason = machine.end()
        #expect(reason == .shutdown)
    }

    @Test func aShutdownCancelsAJobThatStartsAfterTheRequest() {
        var machine = waitingMachine()
        // Idle: nothing to cancel now, but the request is remembered.
        let cancelled = machine.requestCancel(.shutdown)
        #expect(cancelled == nil)
        let signals = machine.begin(TestJob(id: 1, receivedAt: t0, visibilityTimeout: .seconds(30)), timeoutAt: t0 + .seconds(5))
        #expect(signals?.cancel == true)
        #expect(signals?.arm == nil)
        let reason = machine.end()
        #expect(reason == .shutdown)
    }

    @Test func aCancellationByIDCancelsOnlyTheMatchingRunningJob() {
        var machine = waitingMachine()
        // Idle: nothing matches, nothing is remembered.
        let idle = machine.requestCancel(.cancelled) { _ in true }
        #expect(idle == nil)
        _ = machine.begin(TestJob(id: 1, receivedAt: t0), timeoutAt: nil)
        let other = machine.requestCancel(.cancelled) { $0.id == 2 }
        #expect(other == nil)
        #expect(machine.cancelReason == nil)
        let cancelled = machine.requestCancel(.cancelled) { $0.id == 1 }
        #expect(cancelled?.cancel == true)
        // Already cancelling: a second reading does not signal again.
        _ = machine.nextSignals()
        let again = machine.requestCancel(.cancelled) { $0.id == 1 }
        #expect(again == nil)
        let reason = machine.end()
        #expect(reason == .cancelled)
    }

    @Test func aTimeoutCancelRequestWhileIdleIsNotRemembered() {
        var machine = waitingMachine()
        let cancelled = machine.requestCancel(.timeout)
        #expect(cancelled == nil)
        let started = machine.begin(TestJob(id: 1, receivedAt: t0), timeoutAt: nil)
        #expect(started == nil)
        let reason = machine.end()
        #expect(reason == nil)
    }

    @Test func resetClearsTheCancellationForTheNextExecutor() {
        var machine = waitingMachine()
        _ = machine.begin(TestJob(id: 1, receivedAt: t0), timeoutAt: t0 + .seconds(1))
        let check = machine.checkTimer(now: t0 + .seconds(1))
        #expect(isCancel(check.0))
        machine.reset()
        #expect(machine.cancelReason == nil)
        let signals = machine.nextSignals()
        #expect(signals == nil)
        let restarted = machine.begin(TestJob(id: 2, receivedAt: t0), timeoutAt: t0 + .seconds(9))
        #expect(restarted?.arm?.at == t0 + .seconds(9))
        let reason = machine.end()
        #expect(reason == nil)
    }
}
