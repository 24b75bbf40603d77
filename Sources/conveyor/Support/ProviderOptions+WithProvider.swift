import Conveyor
import Logging

extension ProviderOptions {
    /// Builds the provider (as ``makeProvider(logger:allowMemory:visibilityTimeout:)``), runs `body` with it and
    /// closes it on every path: after `body` returns (an error from closing is thrown) and after it throws (the
    /// error of `body` is thrown).
    func withProvider<T>(
        logger: Logger, allowMemory: Bool = true, _ body: (any QueueProvider) async throws -> T
    ) async throws -> T {
        let provider = try makeProvider(logger: logger, allowMemory: allowMemory)
        let result: T
        do {
            result = try await body(provider)
        } catch {
            try? await provider.close()
            throw error
        }
        try await provider.close()
        return result
    }
}
