import Metrics
import Synchronization

/// Request metrics of a broker provider, shared by the providers of this package:
/// `conveyor_broker_request_duration_seconds` (provider, operation) and `conveyor_broker_request_errors_total`
/// (provider, operation, code). Operations are a small fixed set named by the provider (SQS actions, AMQP
/// operations) and codes are ``ConveyorError/Code`` values, so the dimensions stay bounded. Handles are created
/// once per operation, never per request. Cancellation (an interrupted long poll) is not an error.
package final class BrokerRequestMetrics: Sendable {
    private struct Handles {
        var timers: [String: Metrics.Timer] = [:]
        var errors: [String: Counter] = [:]
    }

    private let provider: String
    private let handles = Mutex(Handles())

    /// Metrics for the provider named `provider` (`"sqs"`, `"rabbitmq"`).
    package init(provider: String) {
        self.provider = provider
    }

    /// Runs `body` and records its duration, and its error code when it throws.
    package func measure<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        do {
            let result = try await body()
            timer(operation).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
            return result
        } catch {
            timer(operation).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
            if !(error is CancellationError) {
                let code = (error as? ConveyorError)?.code.rawValue ?? "other"
                self.error(operation, code: code).increment()
            }
            throw error
        }
    }

    private func timer(_ operation: String) -> Metrics.Timer {
        handles.withLock { handles in
            if let timer = handles.timers[operation] { return timer }
            let timer = Metrics.Timer(
                label: "conveyor_broker_request_duration_seconds",
                dimensions: [("provider", provider), ("operation", operation)],
                preferredDisplayUnit: .seconds
            )
            handles.timers[operation] = timer
            return timer
        }
    }

    private func error(_ operation: String, code: String) -> Counter {
        handles.withLock { handles in
            let key = operation + "\u{0}" + code
            if let counter = handles.errors[key] { return counter }
            let counter = Counter(
                label: "conveyor_broker_request_errors_total",
                dimensions: [("provider", provider), ("operation", operation), ("code", code)]
            )
            handles.errors[key] = counter
            return counter
        }
    }
}
