import Conveyor
import Foundation
import Logging
import Synchronization

/// Caches the credentials of a refreshing source (the container endpoint, instance metadata, the provider chain)
/// and refreshes them before they expire.
///
/// - One refresh at a time: callers that arrive while it runs wait for it (each waiter can be cancelled on its own;
///   the refresh goes on for the others).
/// - Credentials are refreshed from ``Configuration/refreshMargin`` before they expire; credentials without an
///   expiry are kept.
/// - When a refresh fails while the cached credentials are still valid, the failure is logged at warning (no
///   secret) and the cached credentials are returned; the next attempt waits ``Configuration/retryBackoff``. Once
///   they have expired, a failed refresh throws a ``ConveyorError`` that says so.
package final class CredentialsCache: Sendable {
    /// Timing, clock and logger.
    package struct Configuration: Sendable {
        /// How long before their expiry credentials are refreshed. Default: 5 minutes.
        package var refreshMargin: Duration = .seconds(300)
        /// How long still-valid credentials are used after a failed refresh (or after a refresh that returned
        /// credentials already due for refresh) before the next attempt. Default: 10 seconds.
        package var retryBackoff: Duration = .seconds(10)
        /// The current time. Default: the system clock.
        package var now: @Sendable () -> Date = { Date() }
        /// Where failed refreshes are logged (warning). Default: label `conveyor.sqs.credentials`.
        package var logger = Logger(label: "conveyor.sqs.credentials")

        /// The defaults.
        package init() {}
    }

    private struct State {
        var cached: AWSCredentials?
        /// No refresh before this time while the cached credentials are valid (set after a failed refresh).
        var retryAfter: Date?
        var refreshing = false
        var waiters: [UInt64: CheckedContinuation<AWSCredentials, any Error>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let source: String
    private let configuration: Configuration
    private let state = Mutex(State())

    /// A cache for the credentials of `source` (a description for logs and errors, e.g. `"container credentials"`).
    package init(source: String, configuration: Configuration = Configuration()) {
        self.source = source
        self.configuration = configuration
    }

    /// The cached credentials while they are not due for refresh; otherwise the result of a refresh by `fetch`
    /// (shared with concurrent callers), or the still-valid cached credentials when that refresh fails.
    package func credentials(fetch: @escaping @Sendable () async throws -> AWSCredentials) async throws -> AWSCredentials {
        enum Action { case resume(Result<AWSCredentials, any Error>), wait, refresh }
        let id = state.withLock { state in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<AWSCredentials, any Error>) in
                let now = configuration.now()
                let action: Action = state.withLock { state in
                    if let cached = state.cached, isValid(cached, at: now) {
                        if !isDue(cached, at: now) { return .resume(.success(cached)) }
                        if let retryAfter = state.retryAfter, now < retryAfter { return .resume(.success(cached)) }
                    }
                    // Checked under the lock, so the cancellation handler either ran before (and the task is marked
                    // cancelled) or runs after the waiter is registered (and removes it).
                    if Task.isCancelled { return .resume(.failure(CancellationError())) }
                    state.waiters[id] = continuation
                    if state.refreshing { return .wait }
                    state.refreshing = true
                    return .refresh
                }
                switch action {
                case .resume(let result):
                    continuation.resume(with: result)
                case .wait:
                    break
                case .refresh:
                    // Unstructured, so that cancelling the caller that started it does not fail the others.
                    Task { await self.refresh(fetch) }
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private func refresh(_ fetch: @Sendable () async throws -> AWSCredentials) async {
        let result: Result<AWSCredentials, any Error>
        do {
            result = .success(try await fetch())
        } catch {
            result = .failure(error)
        }
        let now = configuration.now()
        let retryAfter = now.addingTimeInterval(configuration.retryBackoff.seconds)
        var keptAfterFailure: (credentials: AWSCredentials, error: any Error)?
        let (waiters, outcome): ([CheckedContinuation<AWSCredentials, any Error>], Result<AWSCredentials, any Error>) =
            state.withLock { state in
                state.refreshing = false
                let waiters = Array(state.waiters.values)
                state.waiters.removeAll()
                switch result {
                case .success(let fresh):
                    state.cached = fresh
                    // A source that hands out credentials already due (IMDS does, shortly before it rotates them) is
                    // asked again after the backoff, not on every call.
                    state.retryAfter = isDue(fresh, at: now) ? retryAfter : nil
                    return (waiters, .success(fresh))
                case .failure(let error):
                    if let cached = state.cached, isValid(cached, at: now) {
                        state.retryAfter = retryAfter
                        keptAfterFailure = (cached, error)
                        return (waiters, .success(cached))
                    }
                    return (waiters, .failure(failure(error, expired: state.cached)))
                }
            }
        if let (credentials, error) = keptAfterFailure {
            configuration.logger.warning(
                "refreshing AWS credentials failed; using the cached credentials until they expire",
                metadata: [
                    "aws.credentials.source": "\(source)",
                    "aws.credentials.expiration": "\(credentials.expiration.map { ISO8601DateFormatter().string(from: $0) } ?? "-")",
                    "aws.credentials.retry_in": "\(configuration.retryBackoff)",
                    "error.message": "\(Self.safeDescription(error))",
                ]
            )
        }
        for waiter in waiters { waiter.resume(with: outcome) }
    }

    /// The error for a failed refresh with no valid credentials left: the source's own error when there never were
    /// any; otherwise one that says the credentials expired (retryable: the source may answer again).
    private func failure(_ error: any Error, expired: AWSCredentials?) -> any Error {
        guard let expired, let expiration = expired.expiration else { return error }
        let code = (error as? ConveyorError)?.code ?? .invalidConfiguration
        return ConveyorError(
            code,
            "\(source): the cached AWS credentials expired at \(ISO8601DateFormatter().string(from: expiration)) and refreshing them failed: \(Self.safeDescription(error))",
            retryable: true
        )
    }

    /// A ``ConveyorError``'s message (which never holds a secret), or the error's type.
    private static func safeDescription(_ error: any Error) -> String {
        if let error = error as? ConveyorError { return error.message }
        if error is CancellationError { return "cancelled" }
        return "\(type(of: error))"
    }

    private func isValid(_ credentials: AWSCredentials, at now: Date) -> Bool {
        guard let expiration = credentials.expiration else { return true }
        return now < expiration
    }

    private func isDue(_ credentials: AWSCredentials, at now: Date) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        return now >= expiration.addingTimeInterval(-configuration.refreshMargin.seconds)
    }
}
