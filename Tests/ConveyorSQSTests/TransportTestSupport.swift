import Foundation
import Synchronization

/// Fails when `body` does not finish within `limit` (a wait-for-event that must fail fast, not hang).
struct CredentialsDeadlineExceeded: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "did not finish within \(limit)" }
}

func credentialsWithinDeadline<T: Sendable>(
    _ limit: Duration = .seconds(30), _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw CredentialsDeadlineExceeded(limit: limit) }
        return value
    }
}

/// A counter closures running on other threads share.
final class CredentialsTestCounter: Sendable {
    private let value = Atomic<Int>(0)

    /// Adds one; returns the new count.
    @discardableResult func increment() -> Int { value.add(1, ordering: .relaxed).newValue }

    var count: Int { value.load(ordering: .relaxed) }
}
