import Synchronization
import Testing

/// The value of `task`, a receive waiting far longer than this: when it has not returned within 20 s, nothing woke
/// it, and this records `what` as an issue and throws, without waiting for the task (it may ignore cancellation).
func woken<T: Sendable, Failure: Error>(
    _ task: Task<T, Failure>,
    _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> T {
    let first = FirstResult<T>()
    let result = await withCheckedContinuation { continuation in
        first.wait(continuation)
        let timer = Task {
            do { try await Task.sleep(for: .seconds(20)) } catch { return }
            first.finish(nil)
        }
        Task {
            let result = await task.result.mapError { $0 as any Error }
            timer.cancel()
            first.finish(result)
        }
    }
    task.cancel()
    return try #require(result, "not woken within 20 s: \(what)", sourceLocation: sourceLocation).get()
}

/// Resumes one continuation with whichever result comes first.
final class FirstResult<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Result<T, any Error>?, Never>?>(nil)

    func wait(_ continuation: CheckedContinuation<Result<T, any Error>?, Never>) {
        self.continuation.withLock { $0 = continuation }
    }

    func finish(_ result: Result<T, any Error>?) {
        continuation.withLock { $0.take() }?.resume(returning: result)
    }
}
