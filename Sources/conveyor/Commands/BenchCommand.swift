import ArgumentParser
import Conveyor
import ConveyorSQS
import Foundation
import Logging
import Synchronization

/// `conveyor bench`: throughput and latency of a provider, end to end through the real client and worker.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure enqueue rate, processing rate and enqueue-to-start latency of a provider.",
        discussion: """
            Phases: (1) enqueue --jobs no-op jobs with --producers concurrent producers; (2) drain them with a \
            worker of --concurrency; (3) produce and consume at once (end to end); (4) on an idle worker, enqueue \
            --latency-samples jobs one at a time and measure enqueue-to-start latency. The last line printed is \
            one JSON object: provider, jobs, enqueue_per_s, process_per_s, latency_p50_ms, latency_p99_ms, …. With \
            --await-results, (5) enqueue jobs with tracking and await their results: one at a time \
            (roundtrip_p50_ms, roundtrip_p99_ms) and --awaits (1,000) at once (roundtrip_per_s), then as many \
            jobs without tracking, enqueued the same way, until the worker started them all (untracked_burst_per_s: \
            throughput with results against without is roundtrip_per_s / untracked_burst_per_s).
            Progress shows on a terminal only.

            Examples:
              conveyor bench --provider memory --jobs 200000 --concurrency 32
              conveyor bench --provider rabbitmq --jobs 20000 | tail -1 | jq .process_per_s
            """
    )

    @OptionGroup var providerOptions: ProviderOptions
    @OptionGroup var logging: LoggingOptions
    @Option(help: "Jobs per throughput phase.") var jobs: Int = 100_000
    @Option(help: "Worker concurrency.") var concurrency: Int = 16
    @Option(name: .customLong("payload-bytes"), help: "Bytes of padding in each job's payload.") var payloadBytes: Int = 100
    @Option(help: "Concurrent producers.") var producers: Int = 4
    @Option(name: .customLong("batch-size"), help: "Jobs per enqueue call.") var batchSize: Int = 100
    @Option(name: .customLong("latency-samples"), help: "Jobs enqueued one at a time for the latency phase.") var latencySamples: Int = 1000
    @Option(help: "Queue to use (default: a new, unique queue, deleted afterwards when the provider can).") var queue: String?
    @Flag(name: .customLong("await-results"), help: "Also measure results: enqueue-to-result round trips one at a time (--latency-samples of them, at least 100), then --awaits jobs awaited at once and, for comparison, as many jobs without tracking.")
    var awaitResults = false
    @Option(help: "Jobs awaited at once in the results phase (--await-results).") var awaits: Int = 1000

    func validate() throws {
        guard jobs >= 1, concurrency >= 1, producers >= 1, batchSize >= 1, payloadBytes >= 0, latencySamples >= 0, awaits >= 1 else {
            throw ValidationError("--jobs, --concurrency, --producers, --batch-size and --awaits must be at least 1")
        }
        // Phase sizes are added and multiplied: bounded so that no count overflows.
        guard jobs <= 100_000_000, latencySamples <= 10_000_000, awaits <= 10_000_000, payloadBytes <= 1 << 30,
            producers <= 10_000, batchSize <= 100_000, concurrency <= Worker.Configuration.maximumConcurrency
        else {
            throw ValidationError(
                "--jobs at most 100000000, --latency-samples and --awaits at most 10000000, --payload-bytes at most 1073741824, --producers at most 10000, --batch-size at most 100000, --concurrency at most \(Worker.Configuration.maximumConcurrency)"
            )
        }
    }

    func run() async throws {
        Logger.bootstrapOnce()
        let logger = logging.makeLogger()
        try await reportingErrors {
            let report = try await providerOptions.withProvider(logger: logger) { provider in
                let queueName = queue ?? "bench-\(UInt32.random(in: 0...UInt32.max))"
                var createdQueue = false
                if queue == nil, let provisioning = provider.provisioning {
                    try await provisioning.createQueue(queueName, options: QueueOptions())
                    createdQueue = true
                }
                let report = try await BenchRunner(
                    provider: provider, queue: queueName, jobs: jobs, concurrency: concurrency,
                    payloadBytes: payloadBytes, producers: producers, batchSize: batchSize,
                    latencySamples: latencySamples, awaitResults: awaitResults, awaits: awaits, logger: logger
                ).run()
                if createdQueue, let provisioning = provider.provisioning {
                    try? await provisioning.deleteQueue(queueName)
                }
                return report
            }
            report.printHuman()
            print(report.json)
        }
    }
}

/// The measured figures.
struct BenchReport {
    var provider: String
    var jobs: Int
    var concurrency: Int
    var payloadBytes: Int
    var enqueuePerSecond: Double
    var processPerSecond: Double
    var endToEndPerSecond: Double
    var latencyP50: Double
    var latencyP99: Double
    var cpuMicrosPerJob: Double
    var peakRSSBytes: Int
    /// With --await-results: enqueue-to-result round trips one at a time (ms), results per second with `awaits`
    /// concurrent awaits, and jobs per second for the same burst without tracking.
    var roundtrip: Roundtrip?
    /// SQS: HTTP requests finished and connections (TLS handshakes for https) opened for them, over the whole run.
    var http: (requests: Int, connections: Int)?

    struct Roundtrip {
        var p50: Double
        var p99: Double
        var awaits: Int
        var perSecond: Double
        var untrackedPerSecond: Double
    }

    func printHuman() {
        func rate(_ r: Double) -> String { String(format: "%10.0f jobs/s", r) }
        print("provider          \(provider)  (jobs \(jobs), concurrency \(concurrency), payload \(payloadBytes) B)")
        print("enqueue           \(rate(enqueuePerSecond))")
        print("process (drain)   \(rate(processPerSecond))")
        print("end to end        \(rate(endToEndPerSecond))")
        print(String(format: "enqueue→start     p50 %.3f ms   p99 %.3f ms", latencyP50, latencyP99))
        print(String(format: "cpu per job       %.2f µs (process, all phases)", cpuMicrosPerJob))
        print("peak RSS          \(peakRSSBytes / 1_048_576) MiB")
        if let http {
            print("http              \(http.requests) requests over \(http.connections) connections")
        }
        if let roundtrip {
            print(String(format: "enqueue→result    p50 %.3f ms   p99 %.3f ms (one at a time)", roundtrip.p50, roundtrip.p99))
            print(String(format: "results           %10.0f jobs/s (%d concurrent awaits)", roundtrip.perSecond, roundtrip.awaits))
            print(String(format: "same, untracked   %10.0f jobs/s (results at %.0f %% of it)", roundtrip.untrackedPerSecond, 100 * roundtrip.perSecond / roundtrip.untrackedPerSecond))
        }
    }

    private var httpJSON: String {
        guard let http else { return "" }
        return #","http_requests":\#(http.requests),"http_connections":\#(http.connections)"#
    }

    private var roundtripJSON: String {
        guard let roundtrip else { return "" }
        func num(_ v: Double) -> String { String(format: "%.3f", v) }
        return #","roundtrip_p50_ms":\#(num(roundtrip.p50)),"roundtrip_p99_ms":\#(num(roundtrip.p99)),"roundtrip_per_s":\#(num(roundtrip.perSecond)),"untracked_burst_per_s":\#(num(roundtrip.untrackedPerSecond))"#
    }

    var json: String {
        func num(_ v: Double) -> String { String(format: "%.3f", v) }
        return #"{"provider":"\#(provider)","jobs":\#(jobs),"concurrency":\#(concurrency),"payload_bytes":\#(payloadBytes),"enqueue_per_s":\#(num(enqueuePerSecond)),"process_per_s":\#(num(processPerSecond)),"e2e_per_s":\#(num(endToEndPerSecond)),"latency_p50_ms":\#(num(latencyP50)),"latency_p99_ms":\#(num(latencyP99)),"cpu_us_per_job":\#(num(cpuMicrosPerJob)),"peak_rss_bytes":\#(peakRSSBytes)\#(roundtripJSON)\#(httpJSON)}"#
    }
}

/// The bench's task: records when it started relative to when its job was enqueued.
struct BenchTask: ConveyorTask {
    struct Input: Codable, Sendable {
        /// Wall-clock nanoseconds at enqueue.
        var t: Int64
        var pad: String
    }
    static let name = "conveyor.bench"
    static let options = TaskOptions(maxAttempts: 1, timeout: nil)
    let probe: BenchProbe

    func run(_ input: Input, context: JobContext) async throws -> NoOutput {
        probe.started(enqueuedAtNanos: input.t)
        return NoOutput()
    }
}

/// Counts started jobs and wakes the bench when a target is reached.
final class BenchProbe: Sendable {
    private struct State {
        var count = 0
        var target = Int.max
        var recordLatency = false
        var latencies: [Double] = []
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    /// Sets the next target and waits until that many jobs have started since the last reset.
    func wait(for target: Int, recordLatency: Bool = false) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                s.recordLatency = recordLatency
                if s.count >= target { return true }
                s.target = target
                s.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    func reset() {
        state.withLock { s in
            s.count = 0
            s.target = .max
            s.latencies = []
        }
    }

    var latencies: [Double] { state.withLock { $0.latencies } }

    func started(enqueuedAtNanos: Int64) {
        let now = ResourceUsage.wallNanoseconds()
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.count += 1
            if s.recordLatency { s.latencies.append(Double(now - enqueuedAtNanos) / 1e6) }
            guard s.count >= s.target, let w = s.waiter else { return nil }
            s.waiter = nil
            s.target = .max
            return w
        }
        waiter?.resume()
    }
}

/// Runs the phases of the benchmark.
struct BenchRunner {
    let provider: any QueueProvider
    let queue: String
    let jobs: Int
    let concurrency: Int
    let payloadBytes: Int
    let producers: Int
    let batchSize: Int
    let latencySamples: Int
    var awaitResults = false
    var awaits = 1000
    let logger: Logger

    func run() async throws -> BenchReport {
        let probe = BenchProbe()
        var registry = TaskRegistry()
        try registry.register(BenchTask(probe: probe))
        let client = ConveyorClient(provider: provider, logger: logger, defaultQueue: queue)
        let pad = String(repeating: "x", count: payloadBytes)
        let options = EnqueueOptions(queue: queue)
        let cpuStart = ResourceUsage.cpuSeconds()

        // Phase 1: enqueue.
        Terminal.progress("enqueue: \(jobs) jobs…")
        let enqueueSeconds = try await timed {
            try await produce(jobs, client: client, pad: pad, options: options)
        }

        // Phase 2: drain with a worker.
        let worker = Worker(
            provider: provider, registry: registry,
            configuration: workerConfiguration, logger: logger
        )
        let processSeconds: Double
        let endToEndSeconds: Double
        var latencies: [Double] = []
        var roundtrip: BenchReport.Roundtrip?
        (processSeconds, endToEndSeconds, latencies) = try await withThrowingTaskGroup(
            of: Void.self, returning: (Double, Double, [Double]).self
        ) { group in
            let start = ContinuousClock.now
            group.addTask { try await worker.run() }
            Terminal.progress("process: draining \(jobs) jobs…")
            await probe.wait(for: jobs)
            let process = (ContinuousClock.now - start).seconds
            probe.reset()

            // Phase 3: produce and consume at once.
            Terminal.progress("end to end: \(jobs) jobs…")
            let e2eStart = ContinuousClock.now
            async let produced: Void = produce(jobs, client: client, pad: pad, options: options)
            await probe.wait(for: jobs)
            try await produced
            let e2e = (ContinuousClock.now - e2eStart).seconds
            probe.reset()

            // Phase 4: latency on an idle worker, one job at a time.
            for i in 0..<latencySamples {
                if i % 100 == 0 { Terminal.progress("latency: \(i)/\(latencySamples)") }
                try await client.enqueue(
                    BenchTask.self, BenchTask.Input(t: ResourceUsage.wallNanoseconds(), pad: pad), options: options)
                await probe.wait(for: i + 1, recordLatency: true)
            }
            let samples = probe.latencies
            if awaitResults { roundtrip = try await measureResults(client: client, probe: probe, pad: pad, options: options) }
            Terminal.endProgress()
            group.cancelAll()
            while let result = await group.nextResult() {
                if case .failure(let error) = result, !(error is CancellationError) { throw error }
            }
            return (process, e2e, samples)
        }
        await client.results.close()
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        let totalJobs = 2 * jobs + latencySamples + (awaitResults ? roundtripSamples + 2 * awaits : 0)
        return BenchReport(
            provider: provider.name, jobs: jobs, concurrency: concurrency, payloadBytes: payloadBytes,
            enqueuePerSecond: Double(jobs) / enqueueSeconds,
            processPerSecond: Double(jobs) / processSeconds,
            endToEndPerSecond: Double(jobs) / endToEndSeconds,
            latencyP50: percentile(0.5), latencyP99: percentile(0.99),
            cpuMicrosPerJob: (ResourceUsage.cpuSeconds() - cpuStart) / Double(totalJobs) * 1e6,
            peakRSSBytes: ResourceUsage.peakRSSBytes(),
            roundtrip: roundtrip,
            http: (provider as? SQSQueueProvider).map { ($0.client.http.counters.finishedTransfers, $0.client.http.counters.openedConnections) }
        )
    }

    var roundtripSamples: Int { max(100, latencySamples) }

    /// Phase 5 (--await-results), on the running worker: round trips one at a time; then `awaits` jobs enqueued in
    /// batches and awaited at once; then, for comparison, the same burst without tracking (until the worker started
    /// them all).
    private func measureResults(client: ConveyorClient, probe: BenchProbe, pad: String, options: EnqueueOptions) async throws -> BenchReport.Roundtrip {
        var trips: [Double] = []
        trips.reserveCapacity(roundtripSamples)
        for i in 0..<roundtripSamples {
            if i % 100 == 0 { Terminal.progress("results: \(i)/\(roundtripSamples) round trips") }
            let start = ContinuousClock.now
            let job = try await client.enqueue(BenchTask.self, BenchTask.Input(t: 0, pad: pad), options: options, tracking: .result)
            _ = try await job.result(timeout: .seconds(120))
            trips.append((ContinuousClock.now - start).seconds * 1000)
        }
        trips.sort()
        Terminal.progress("results: \(awaits) concurrent awaits…")
        let start = ContinuousClock.now
        var handles: [TrackedJob<BenchTask>] = []
        for chunk in stride(from: 0, to: awaits, by: batchSize) {
            let n = min(batchSize, awaits - chunk)
            handles += try await client.enqueue(
                BenchTask.self, (0..<n).map { _ in BenchTask.Input(t: 0, pad: pad) }, options: options, tracking: .result)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for handle in handles { group.addTask { _ = try await handle.result(timeout: .seconds(300)) } }
            try await group.waitForAll()
        }
        let seconds = (ContinuousClock.now - start).seconds
        Terminal.progress("results: \(awaits) jobs without tracking…")
        probe.reset()
        let untrackedStart = ContinuousClock.now
        for chunk in stride(from: 0, to: awaits, by: batchSize) {
            let n = min(batchSize, awaits - chunk)
            _ = try await client.enqueue(BenchTask.self, (0..<n).map { _ in BenchTask.Input(t: 0, pad: pad) }, options: options)
        }
        await probe.wait(for: awaits)
        let untrackedSeconds = (ContinuousClock.now - untrackedStart).seconds
        func percentile(_ p: Double) -> Double { trips[min(trips.count - 1, Int(Double(trips.count) * p))] }
        return BenchReport.Roundtrip(
            p50: percentile(0.5), p99: percentile(0.99), awaits: awaits,
            perSecond: Double(awaits) / seconds, untrackedPerSecond: Double(awaits) / untrackedSeconds
        )
    }

    private var workerConfiguration: Worker.Configuration {
        var configuration = Worker.Configuration()
        configuration.queues = [queue]
        configuration.concurrency = concurrency
        return configuration
    }

    /// Enqueues `count` jobs with `producers` concurrent producers in batches.
    private func produce(_ count: Int, client: ConveyorClient, pad: String, options: EnqueueOptions) async throws {
        let perProducer = (count + producers - 1) / producers
        try await withThrowingTaskGroup(of: Void.self) { group in
            for p in 0..<producers {
                let share = max(0, min(perProducer, count - p * perProducer))
                guard share > 0 else { continue }
                group.addTask {
                    var sent = 0
                    while sent < share {
                        let n = min(batchSize, share - sent)
                        let t = ResourceUsage.wallNanoseconds()
                        let inputs = (0..<n).map { _ in BenchTask.Input(t: t, pad: pad) }
                        _ = try await client.enqueue(BenchTask.self, inputs, options: options)
                        sent += n
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private func timed(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - start).seconds
    }
}
