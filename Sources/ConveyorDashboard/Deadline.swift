import Conveyor
import Synchronization

/// Runs `body` and gives up waiting for it after `limit`: a broker that is down makes a provider wait for its
/// reconnection, and a page must then show an error instead of hanging. The work is cancelled when the deadline
/// passes but not awaited (a provider may finish it later); the caller gets ``ConveyorError/Code/timeout``.
func withDeadline<T: Sendable>(
    _ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withCheckedThrowingContinuation { continuation in
        race.start(continuation)
        let work = Task {
            do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
        }
        let timer = Task {
            do { try await Task.sleep(for: limit) } catch { return }
            if race.finish(.failure(ConveyorError(.timeout, "the broker did not answer within \(limit) (\(what)); is it up?"))) {
                work.cancel()
            }
        }
        // The timer goes as soon as the work ends.
        Task {
            _ = await work.result
            timer.cancel()
        }
    }
}

/// The continuation of ``withDeadline(_:_:_:)``, resumed by whichever of the work and the timer ends first.
final class DeadlineRace<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    /// Resumes with `result` unless already resumed; returns whether this call resumed.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        guard let waiting = continuation.withLock({ state -> CheckedContinuation<T, any Error>? in
            defer { state = nil }
            return state
        }) else { return false }
        waiting.resume(with: result)
        return true
    }
}
