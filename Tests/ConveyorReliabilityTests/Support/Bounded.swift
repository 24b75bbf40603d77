import Synchronization

/// The result of `operation`, or `nil` when it takes longer than `limit` (it is then cancelled and left to end
/// on its own, so that a call that ignores cancellation cannot hang the caller).
func bounded<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
    let once = BoundedOnce<T>()
    return try await withCheckedThrowingContinuation { continuation in
        once.continuation.withLock { $0 = continuation }
        let work = Task { try await operation() }
        Task { once.resume(await work.result.map { Optional($0) }) }
        Task {
            try? await Task.sleep(for: limit)
            work.cancel()
            once.resume(.success(nil))
        }
    }
}

/// The continuation of ``bounded(_:_:)``, resumed by whichever of the operation and the timer ends first.
final class BoundedOnce<T: Sendable>: Sendable {
    let continuation = Mutex<CheckedContinuation<T?, any Error>?>(nil)

    func resume(_ result: Result<T?, any Error>) { continuation.withLock { $0.take() }?.resume(with: result) }
}
