import Synchronization

/// A continuation that is resumed at most once, from whichever side comes first (the connection thread, a
/// cancellation handler, a timeout). Resuming before the continuation is installed stores the result.
final class Once<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var pending: Result<T, any Error>?
        var done = false
    }
    private let state = Mutex(State())

    init() {}

    /// Installs the continuation (resuming it at once if a result is already there).
    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let pending: Result<T, any Error>? = state.withLock { s in
            if let p = s.pending { s.pending = nil; return p }
            s.continuation = continuation
            return nil
        }
        if let pending { continuation.resume(with: pending) }
    }

    /// Resumes with `result` unless already resumed. Returns false if it was already resumed.
    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        let continuation: CheckedContinuation<T, any Error>?? = state.withLock { s in
            if s.done { return .none }
            s.done = true
            if let c = s.continuation { s.continuation = nil; return .some(c) }
            s.pending = result
            return .some(nil)
        }
        switch continuation {
        case .none: return false
        case .some(let c): c?.resume(with: result); return true
        }
    }

    /// True once resumed.
    var isDone: Bool { state.withLock { $0.done } }
}
