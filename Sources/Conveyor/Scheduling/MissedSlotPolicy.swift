import Foundation

/// What a scheduler does with slots that were missed, for example because no scheduler instance ran at the time
/// or a firing message was processed late.
///
/// A slot counts as missed when its firing is processed more than a grace period after the slot.
/// Use ``decide(slot:now:schedule:grace:)`` to apply the policy.
public struct MissedSlotPolicy: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case skip
        case runOnce
    }

    let kind: Kind

    /// Missed slots are not run; the schedule continues with the first slot after now.
    public static let skip = MissedSlotPolicy(kind: .skip)

    /// However many slots were missed, the job runs once (for the missed slot whose firing is being processed,
    /// so its deduplication key is unchanged); the schedule then continues with the first slot after now.
    public static let runOnce = MissedSlotPolicy(kind: .runOnce)

    /// `skip` or `run-once`.
    public var description: String {
        switch kind {
        case .skip: "skip"
        case .runOnce: "run-once"
        }
    }

    /// The outcome of processing a firing: which slot to run now, if any, and the slot of the next firing.
    public struct Decision: Sendable, Hashable {
        /// The slot to enqueue the job for now (use `Schedule.slotKey(scheduleID:slot:)` as its deduplication
        /// key), or `nil` to run nothing.
        public var run: Date?
        /// The slot the next firing is for, or `nil` if the schedule has no further slot.
        public var next: Date?

        /// Creates a decision.
        public init(run: Date?, next: Date?) {
            self.run = run
            self.next = next
        }
    }

    /// Decides what to do when the firing for `slot` is processed at `now`.
    ///
    /// - On time (`now <= slot + grace`): run `slot`; the next firing is the schedule's first slot after `slot`
    ///   (if that one is already past too, its own firing applies the policy when processed).
    /// - Late: ``skip`` runs nothing, ``runOnce`` runs `slot`; either way the next firing is the first slot
    ///   after `now`, so the missed slots in between are not run.
    ///
    /// The result depends only on its arguments, so every scheduler instance reaches the same decision.
    public func decide(slot: Date, now: Date, schedule: Schedule, grace: Duration = .seconds(60)) -> Decision {
        if now.timeIntervalSince(slot) <= grace.seconds {
            return Decision(run: slot, next: schedule.nextFireDate(after: slot))
        }
        let next = schedule.nextFireDate(after: now)
        switch kind {
        case .skip: return Decision(run: nil, next: next)
        case .runOnce: return Decision(run: slot, next: next)
        }
    }
}
