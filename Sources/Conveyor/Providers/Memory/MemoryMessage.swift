import Foundation

/// One message held by the memory provider. A reference type so that moving it between the ready, delayed,
/// in-flight and dead-letter structures costs one pointer; it is only touched while the provider's lock is held.
final class MemoryMessage {
    /// The job, or why its raw body could not be decoded.
    let envelope: Result<Envelope, ConveyorError>
    /// The raw body when decoding failed.
    let rawBody: [UInt8]?
    /// Priority level, 0...9.
    let priority: Int
    /// `envelope.attemptOffset`, or 0 for malformed bodies.
    let attemptOffset: Int
    /// When the provider accepted the message.
    let enqueuedAt: Date
    /// How many times it has been handed to a receiver.
    var receiveCount: Int

    init(envelope: Result<Envelope, ConveyorError>, rawBody: [UInt8]?, enqueuedAt: Date, receiveCount: Int = 0) {
        self.envelope = envelope
        self.rawBody = rawBody
        switch envelope {
        case .success(let envelope):
            self.priority = min(max(envelope.priority, 0), 9)
            self.attemptOffset = min(max(envelope.attemptOffset, 0), Envelope.maximumAttemptOffset)
        case .failure:
            self.priority = 0
            self.attemptOffset = 0
        }
        self.enqueuedAt = enqueuedAt
        self.receiveCount = receiveCount
    }

    /// The attempt number of the current delivery.
    var attempt: Int { receiveCount + attemptOffset }
}

/// A message waiting for its delay (or retry delay) to pass.
struct MemoryDelayedEntry: Comparable {
    var due: ContinuousClock.Instant
    /// Tie-breaker that keeps equal due times in arrival order.
    var order: UInt64
    var message: MemoryMessage

    static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.due == rhs.due ? lhs.order < rhs.order : lhs.due < rhs.due
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.due == rhs.due && lhs.order == rhs.order
    }
}

/// A received, unsettled message.
struct MemoryInFlightEntry {
    var message: MemoryMessage
    /// When it becomes visible again.
    var deadline: ContinuousClock.Instant
}

/// When the in-flight message with delivery number `sequence` times out. Entries are not removed when the
/// message is settled or its visibility extended; they are recognised as stale by comparing with the in-flight
/// table, and swept.
struct MemoryExpiry: Comparable {
    var deadline: ContinuousClock.Instant
    var sequence: UInt64

    static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.deadline == rhs.deadline ? lhs.sequence < rhs.sequence : lhs.deadline < rhs.deadline
    }
}

/// A dead-lettered message with why and when.
struct MemoryDeadLetterEntry {
    var message: MemoryMessage
    var reason: FailureReason
    var attempts: Int
}

/// A receive call suspended until messages arrive, its wait passes, it is cancelled or the provider closes.
struct MemoryWaiter {
    var id: UInt64
    var max: Int
    var deadline: ContinuousClock.Instant
    var continuation: CheckedContinuation<[ReceivedMessage], any Error>
}

/// Work the provider does after releasing its lock.
enum MemoryAction {
    /// Resume a suspended receive.
    case resume(CheckedContinuation<[ReceivedMessage], any Error>, Result<[ReceivedMessage], any Error>)
    /// Start the wake-up timer `id` of `queue`, firing at `at`.
    case startTimer(queue: String, id: UInt64, at: ContinuousClock.Instant)
    /// Cancel a superseded timer.
    case cancelTimer(Task<Void, Never>)
}
