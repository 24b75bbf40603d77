import Conveyor
import Foundation
import Synchronization

/// The queue a conformance case runs on, with helpers that tolerate brokers' eventual consistency: they retry
/// until the expected state appears or a generous deadline passes (deadlines only guard against hangs; the
/// suite makes no timing assertions).
struct ConformanceContext: Sendable {
    let harness: ConformanceHarness
    let queue: String

    var provider: any QueueProvider { harness.provider }

    /// Runs `body` on a fresh queue and removes the queue afterwards, also when `body` throws.
    static func onFreshQueue(
        _ harness: ConformanceHarness,
        hint: String,
        _ body: (ConformanceContext) async throws -> Void
    ) async throws {
        let queue = try await harness.makeQueue(hint)
        let context = ConformanceContext(harness: harness, queue: queue)
        do {
            try await body(context)
        } catch {
            try? await harness.removeQueue(queue)
            throw error
        }
        try await harness.removeQueue(queue)
    }

    /// The result of `task`, or nil (and `task` cancelled) when it has not finished within `limit`. Returns at the
    /// limit even when `task` ignores its cancellation, so that a wake-up that never comes fails the case instead
    /// of hanging it.
    static func result<T: Sendable>(of task: Task<T, any Error>, within limit: Duration) async -> Result<T, any Error>? {
        let first = FirstResult<T>()
        let outcome = await withCheckedContinuation { continuation in
            first.wait(continuation)
            let timer = Task {
                do { try await Task.sleep(for: limit) } catch { return }
                first.finish(nil)
            }
            Task {
                let result = await task.result
                timer.cancel()
                first.finish(result)
            }
        }
        if case .none = outcome { task.cancel() }
        return outcome
    }

    // MARK: Checks

    func require(
        _ condition: Bool,
        _ message: @autoclosure () -> String,
        fileID: String = #fileID,
        line: Int = #line
    ) throws(ConformanceFailure) {
        if !condition { throw ConformanceFailure("[\(queue)] \(message())", fileID: fileID, line: line) }
    }

    func failure(_ message: String, fileID: String = #fileID, line: Int = #line) -> ConformanceFailure {
        ConformanceFailure("[\(queue)] \(message)", fileID: fileID, line: line)
    }

    /// Polls `check` until it is true or `within` has passed; then fails with `what` and the last observation.
    func eventually(
        within: Duration = .seconds(10),
        _ what: String,
        fileID: String = #fileID,
        line: Int = #line,
        _ check: () async throws -> (ok: Bool, observed: String)
    ) async throws {
        let deadline = ContinuousClock.now + within
        while true {
            let (ok, observed) = try await check()
            if ok { return }
            guard ContinuousClock.now < deadline else {
                throw failure("\(what) not reached within \(within); last seen: \(observed)", fileID: fileID, line: line)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Waits until `stats` satisfies `check`.
    func eventuallyStats(
        _ what: String,
        fileID: String = #fileID,
        line: Int = #line,
        _ check: @escaping @Sendable (QueueStats) -> Bool
    ) async throws {
        try await eventually(what, fileID: fileID, line: line) {
            let stats = try await provider.stats(of: queue)
            return (check(stats), "\(stats)")
        }
    }

    // MARK: Messages

    /// The queue's only dead letter, checked to decode to job `sent`; `when` says when it was listed, for the
    /// failure message.
    func onlyDeadLetter(
        in dlq: any DeadLetterQueueProvider, is sent: Envelope, _ when: String, fileID: String = #fileID, line: Int = #line
    ) async throws -> DeadLetter {
        let letters = try await dlq.deadLetters(of: queue, limit: 10)
        try require(letters.count == 1, "\(letters.count) dead letters \(when), expected 1", fileID: fileID, line: line)
        let letter = letters[0]
        guard case .success(let envelope) = letter.envelope else {
            throw failure("the dead letter does not decode: \(letter.envelope)", fileID: fileID, line: line)
        }
        try require(envelope.id == sent.id, "dead letter is job \(envelope.id), expected \(sent.id)", fileID: fileID, line: line)
        return letter
    }

    /// A distinct envelope for this queue.
    func envelope(_ task: String = "conformance.task", priority: Int = 0, dedup: String? = nil, index: Int = 0) -> Envelope {
        Envelope(
            task: task,
            payload: Array(#"{"index":\#(index)}"#.utf8),
            deduplicationKey: dedup,
            priority: priority
        )
    }

    @discardableResult
    func enqueue(_ envelope: Envelope, delay: Duration = .zero, fileID: String = #fileID, line: Int = #line) async throws -> EnqueueResult {
        let results = try await provider.enqueue([OutgoingMessage(envelope: envelope, delay: delay)], to: queue)
        try require(results.count == 1, "enqueue of one message returned \(results.count) results", fileID: fileID, line: line)
        try require(
            results[0].jobID == envelope.id,
            "enqueue result has job id \(results[0].jobID), expected \(envelope.id)",
            fileID: fileID,
            line: line
        )
        return results[0]
    }

    /// One receive call; checks the `max` bound and the queue name of what came back.
    func receive(max: Int = 10, wait: Duration, fileID: String = #fileID, line: Int = #line) async throws -> [ReceivedMessage] {
        let messages = try await provider.receive(from: queue, max: max, wait: wait)
        try require(messages.count <= max, "receive(max: \(max)) returned \(messages.count) messages", fileID: fileID, line: line)
        for message in messages {
            try require(message.queue == queue, "received message names queue \"\(message.queue)\"", fileID: fileID, line: line)
        }
        return messages
    }

    /// Receives until `count` messages have arrived (not acknowledging them) or `within` has passed.
    func receive(
        count: Int,
        within: Duration = .seconds(8),
        max: Int = 10,
        fileID: String = #fileID,
        line: Int = #line
    ) async throws -> [ReceivedMessage] {
        let deadline = ContinuousClock.now + within
        var collected: [ReceivedMessage] = []
        while collected.count < count {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                throw failure("expected \(count) messages within \(within), received \(collected.count)", fileID: fileID, line: line)
            }
            let wait = Swift.min(remaining, .seconds(2))
            collected += try await receive(max: Swift.min(max, count - collected.count), wait: wait, fileID: fileID, line: line)
        }
        try require(collected.count == count, "expected \(count) messages, received \(collected.count)", fileID: fileID, line: line)
        return collected
    }

    /// Receives one message within `within`.
    func receiveOne(within: Duration = .seconds(8), fileID: String = #fileID, line: Int = #line) async throws -> ReceivedMessage {
        try await receive(count: 1, within: within, max: 1, fileID: fileID, line: line)[0]
    }

    /// A receive that must come back empty.
    func expectNothing(wait: Duration, _ why: String, fileID: String = #fileID, line: Int = #line) async throws {
        let messages = try await receive(wait: wait, fileID: fileID, line: line)
        try require(
            messages.isEmpty,
            "\(why), but receive returned \(messages.count) message(s): \(messages.map(describe))",
            fileID: fileID,
            line: line
        )
    }

    /// The decoded envelope of `message`, or a failure.
    func envelope(of message: ReceivedMessage, fileID: String = #fileID, line: Int = #line) throws -> Envelope {
        switch message.envelope {
        case .success(let envelope): return envelope
        case .failure(let error): throw failure("received an undecodable message: \(error)", fileID: fileID, line: line)
        }
    }

    func describe(_ message: ReceivedMessage) -> String {
        switch message.envelope {
        case .success(let envelope): "\(envelope.id) (attempt \(message.attempt))"
        case .failure(let error): "undecodable (\(error.code))"
        }
    }
}

/// Resumes one continuation with whichever result comes first.
private final class FirstResult<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Result<T, any Error>?, Never>?>(nil)

    func wait(_ continuation: CheckedContinuation<Result<T, any Error>?, Never>) {
        self.continuation.withLock { $0 = continuation }
    }

    func finish(_ result: Result<T, any Error>?) {
        continuation.withLock { $0.take() }?.resume(returning: result)
    }
}
