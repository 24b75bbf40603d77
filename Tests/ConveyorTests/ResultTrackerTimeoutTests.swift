import Conveyor
import Testing

/// Awaiting a result with a timeout, on the memory provider: the timeout stops the waiting only, many timed awaits
/// share the tracker's one timer, and each fails or succeeds on its own.
@Suite("Result timeouts", .timeLimit(.minutes(1)))
struct ResultTrackerTimeoutTests {
    struct Double: ConveyorTask {
        static let name = "test.double"
        func run(_ input: Int, context: JobContext) async throws -> Int { input * 2 }
    }

    @Test("a timed-out await throws timeout; the job goes on and a later await gets its result")
    func timeoutStopsOnlyTheWaiting() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        let job = try await client.enqueue(Double.self, 21, tracking: .result)
        // No worker yet: the job cannot finish.
        await #expect(throws: ConveyorError.self) { _ = try await job.result(timeout: .milliseconds(100)) }
        do {
            _ = try await job.result(timeout: .milliseconds(50))
        } catch let error as ConveyorError {
            #expect(error.code == .timeout)
            #expect(error.message.contains(job.id.rawValue))
        }
        let worker = Worker(provider: provider, registry: try TaskRegistry([Double()]), configuration: .test(), logger: testLogger)
        let output = try await withRunningWorker(worker) { try await job.result(timeout: .seconds(30)) }
        #expect(output == 42)
        await client.results.close()
    }

    @Test("many timed awaits: the short ones time out, the long ones get their results")
    func manyTimedAwaits() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        let jobs = try await client.enqueue(Double.self, Array(0..<200), tracking: .result)
        let (timeouts, timedOut) = AsyncStream<Int>.makeStream()
        let outcomes = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for (i, job) in jobs.enumerated() {
                // Even jobs wait 30 s, odd ones 20 to 120 ms: the timer is armed again and again, earlier and later.
                let timeout: Duration = i.isMultiple(of: 2) ? .seconds(30) : .milliseconds(20 + (i * 37) % 100)
                group.addTask {
                    do {
                        return (i, try await job.result(timeout: timeout))
                    } catch let error as ConveyorError where error.code == .timeout {
                        timedOut.yield(i)
                        return (i, nil)
                    }
                }
            }
            // The worker starts once every odd await has timed out (an even one timing out would fail below).
            var count = 0
            for await _ in timeouts {
                count += 1
                if count == 100 { break }
            }
            let worker = Worker(provider: provider, registry: try TaskRegistry([Double()]), configuration: .test(), logger: testLogger)
            let running = Task { try await worker.run() }
            var outcomes: [Int: Int?] = [:]
            for try await (i, output) in group { outcomes[i] = output }
            worker.triggerGracefulShutdown()
            try await running.value
            return outcomes
        }
        #expect(outcomes.count == 200)
        for (i, output) in outcomes {
            #expect(output == (i.isMultiple(of: 2) ? i * 2 : nil), "job \(i)")
        }
        #expect(client.results.pendingCount == 0)
        await client.results.close()
    }
}
