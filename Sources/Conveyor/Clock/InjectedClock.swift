/// A `Clock` chosen in a configuration (``MemoryQueueProvider/Configuration/clock``,
/// ``Worker/Configuration/clock``), seen as a `ContinuousClock`: its instants are `ContinuousClock` instants that
/// move as the chosen clock moves. So the state machines that keep deadlines stay plain values over
/// `ContinuousClock.Instant`, and a test clock (one that only moves when the test advances it) drives them
/// without their code being generic.
package struct InjectedClock: Sendable {
    /// The real `ContinuousClock`: instants and sleeps unchanged.
    package static let continuous = InjectedClock(ContinuousClock())

    private let origin: ContinuousClock.Instant
    private let elapsed: @Sendable () -> Duration
    private let sleepUntilOffset: @Sendable (Duration) async throws -> Void

    /// Wraps `clock`; its current instant maps to `ContinuousClock.now`.
    package init(_ clock: any Clock<Duration>) {
        self.init(opened: clock)
    }

    private init<C: Clock<Duration>>(opened clock: C) {
        let start = clock.now
        origin = ContinuousClock.now
        elapsed = { start.duration(to: clock.now) }
        sleepUntilOffset = { offset in try await clock.sleep(until: start.advanced(by: offset), tolerance: nil) }
    }

    /// The chosen clock's current instant.
    package var now: ContinuousClock.Instant {
        origin.advanced(by: elapsed())
    }

    /// Sleeps until the chosen clock reaches `deadline`; throws `CancellationError` when the task is cancelled.
    package func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await sleepUntilOffset(origin.duration(to: deadline))
    }

    /// Sleeps for `duration` of the chosen clock; throws `CancellationError` when the task is cancelled.
    package func sleep(for duration: Duration) async throws {
        try await sleep(until: now.advanced(by: duration))
    }
}
