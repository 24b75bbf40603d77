@testable import Conveyor
import Foundation
import Metrics
import MetricsTestKit
import Testing

/// The process-wide test metrics backend, bootstrapped once on first use. Metrics created before it (by other
/// tests) go to the no-op backend; every test here creates its worker afterwards and uses its own task and queue
/// names, so parallel tests do not share series.
enum TestMetricsBackend {
    static let shared: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()
}

@Suite("Worker metrics")
struct MetricsTests {
    enum Fine: ProbeTag {
        static let name = "metrics-fine"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1) }
    }

    enum Flaky: ProbeTag {
        static let name = "metrics-flaky"
        static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: quickBackoff) }
    }

    enum Poison: ProbeTag {
        static let name = "metrics-poison"
        static var options: TaskOptions { TaskOptions(maxAttempts: 2, backoff: quickBackoff) }
    }

    @Test("jobs are counted by task and outcome, with their duration and queue wait")
    func outcomes() async throws {
        let metrics = TestMetricsBackend.shared
        let provider = MemoryQueueProvider()
        let queue = "metrics-\(UUID().uuidString)"
        let registry = try TaskRegistry([
            Probe<Fine>(),
            Probe<Flaky> { input, context in
                if context.attempt == 1 { throw ProbeError.boom }
                return ProbeOutput(doubled: input.value * 2)
            },
        ])
        var withPoison = registry
        try withPoison.register(Probe<Poison> { _, _ in throw ProbeError.boom })
        var configuration = Worker.Configuration.test()
        configuration.queues = [queue]
        let worker = Worker(provider: provider, registry: withPoison, configuration: configuration, logger: testLogger)
        let stream = worker.events()
        let client = ConveyorClient(provider: provider)
        try await withRunningWorker(worker) {
            try await client.enqueue(Probe<Fine>.self, (0..<3).map { ProbeInput(value: $0) }, options: EnqueueOptions(queue: queue))
            try await client.enqueue(Probe<Flaky>.self, ProbeInput(value: 1), options: EnqueueOptions(queue: queue))
            try await client.enqueue(Probe<Poison>.self, ProbeInput(value: 1), options: EnqueueOptions(queue: queue))
            _ = await EventLog(stream).wait { events in
                events.filter { $0.kind == .succeeded }.count == 4 && events.contains { $0.kind == .deadLettered }
            }
        }
        func jobs(_ task: String, _ outcome: String) throws -> Int64 {
            try metrics.expectCounter("conveyor_jobs_total", [("task", task), ("outcome", outcome)]).totalValue
        }
        #expect(try jobs(Fine.name, "succeeded") == 3)
        #expect(try jobs(Flaky.name, "retried") == 1)
        #expect(try jobs(Flaky.name, "succeeded") == 1)
        #expect(try jobs(Poison.name, "retried") == 1)
        #expect(try jobs(Poison.name, "dead_lettered") == 1)
        #expect(try jobs(Fine.name, "dead_lettered") == 0)
        #expect(try metrics.expectTimer("conveyor_job_duration_seconds", [("task", Fine.name)]).values.count == 3)
        #expect(try metrics.expectTimer("conveyor_job_duration_seconds", [("task", Flaky.name)]).values.count == 2)
        // One queue-wait sample per attempt that started: 3 + 2 + 2.
        #expect(try metrics.expectTimer("conveyor_queue_wait_seconds", [("queue", queue)]).values.count == 7)
        #expect(try !metrics.expectGauge("conveyor_jobs_in_flight").values.isEmpty)
    }
}

@Suite("Broker request metrics")
struct BrokerRequestMetricsTests {
    @Test("requests are timed by provider and operation; errors are counted by code, cancellation is not")
    func requests() async throws {
        let metrics = TestMetricsBackend.shared
        let provider = "test-\(UUID().uuidString)"
        let requests = BrokerRequestMetrics(provider: provider)
        _ = try await requests.measure("send") { 1 }
        await #expect(throws: ConveyorError.self) {
            try await requests.measure("send") { () async throws -> Int in throw ConveyorError(.throttled, "slow down") }
        }
        await #expect(throws: CancellationError.self) {
            try await requests.measure("receive") { () async throws -> Int in throw CancellationError() }
        }
        let timer = try metrics.expectTimer("conveyor_broker_request_duration_seconds", [("provider", provider), ("operation", "send")])
        #expect(timer.values.count == 2)
        let errors = try metrics.expectCounter(
            "conveyor_broker_request_errors_total", [("provider", provider), ("operation", "send"), ("code", ConveyorError.Code.throttled.rawValue)]
        )
        #expect(errors.totalValue == 1)
        #expect(throws: (any Error).self) {
            try metrics.expectCounter("conveyor_broker_request_errors_total", [("provider", provider), ("operation", "receive"), ("code", "other")])
        }
    }
}

enum ProbeError: Error { case boom }
