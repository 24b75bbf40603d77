#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// The `conveyor` binary, end to end: help, exit codes, demo, bench. No broker needed.
@Suite("conveyor CLI")
struct CLITests {
    @Test("worker --help has examples and the metrics options")
    func workerHelp() async throws {
        let worker = try await CLIProcess.run(["worker", "--help"])
        #expect(worker.status == 0, "\(worker)")
        #expect(worker.stdout.contains("Examples"))
        #expect(worker.stdout.contains("--metrics-port"))
        #expect(worker.stdout.contains("--metrics-bind"))
    }

    @Test("bad usage exits 2, an unreachable broker exits 3")
    func exitCodes() async throws {
        let missingTask = try await CLIProcess.run(["enqueue", "--provider", "rabbitmq", "--queue", "q"])
        #expect(missingTask.status == 2, "\(missingTask)")
        let badProvider = try await CLIProcess.run(["stats", "--provider", "carrier-pigeon"])
        #expect(badProvider.status == 2, "\(badProvider)")
        #expect(badProvider.stderr.contains("unknown provider"))
        let badPayload = try await CLIProcess.run(["enqueue", "--provider", "rabbitmq", "--task", "noop", "--payload", "{nope"])
        #expect(badPayload.status == 2, "\(badPayload)")
        let badSchedulePayload = try await CLIProcess.run(
            ["schedule", "add", "nightly", "--provider", "memory", "--schedule", "@daily", "--task", "noop", "--payload", "{nope"])
        #expect(badSchedulePayload.status == 2, "\(badSchedulePayload)")
        #expect(badSchedulePayload.stderr.contains("--payload is not valid JSON"), "\(badSchedulePayload)")
        let badQueueType = try await CLIProcess.run(["stats", "--provider", "rabbitmq", "--queue-type", "stream", "--queue", "q"])
        #expect(badQueueType.status == 2, "\(badQueueType)")
        #expect(badQueueType.stderr.contains("unknown RabbitMQ queue type 'stream'"), "\(badQueueType)")
        // Durations past what a Duration holds are refused (these trapped the process before: exit 132).
        for huge in ["1e300", "99999999999999999999d", "inf"] {
            let hugeDelay = try await CLIProcess.run(["enqueue", "--provider", "memory", "--task", "noop", "--delay", huge])
            #expect(hugeDelay.status == 2, "--delay \(huge): \(hugeDelay)")
        }
        // Counts past what the worker or the bench can hold are refused (these trapped the process before: exit 132).
        for huge in [["worker", "--provider", "memory", "--queue", "q", "--concurrency", "9223372036854775807"],
                     ["bench", "--provider", "memory", "--jobs", "9223372036854775807"]] {
            let refused = try await CLIProcess.run(huge)
            #expect(refused.status == 2, "\(huge): \(refused)")
        }
        let memoryStats = try await CLIProcess.run(["stats", "--provider", "memory"])
        #expect(memoryStats.status == 2, "\(memoryStats)")

        // Nothing listens on port 1.
        let unreachable = try await CLIProcess.run(
            ["stats", "--provider", "rabbitmq", "--url", "amqp://guest:guest@127.0.0.1:1/", "--queue", "q"])
        #expect(unreachable.status == 3, "\(unreachable)")
        #expect(!unreachable.stderr.contains("guest:guest"), "the password must not be printed")
        let unreachableSQS = try await CLIProcess.run(
            ["stats", "--provider", "sqs", "--endpoint", "http://127.0.0.1:1", "--region", "us-east-1", "--queue", "q"],
            environment: ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-that-must-not-leak"])
        #expect(unreachableSQS.status == 3, "\(unreachableSQS)")
        #expect(!unreachableSQS.stderr.contains("secret-that-must-not-leak"))
    }

    @Test("rabbitmq without --url or AMQP_URL exits 3 and says to set AMQP_URL (no guest fallback)")
    func rabbitMQWithoutURL() async throws {
        // Empty counts as unset, so an AMQP_URL in the test's own environment does not leak in.
        let result = try await CLIProcess.run(["stats", "--provider", "rabbitmq", "--queue", "q"], environment: ["AMQP_URL": ""])
        #expect(result.status == 3, "\(result)")
        #expect(result.stderr.contains("AMQP_URL is not set"), "\(result)")
        #expect(!result.stderr.contains("guest"), "\(result)")
    }

    @Test("demo runs on the memory provider and exits 0")
    func demo() async throws {
        let result = try await CLIProcess.run(["demo"])
        #expect(result.status == 0, "\(result)")
    }

    @Test("bench's last line is one JSON object with the documented keys")
    func benchJSON() async throws {
        let result = try await CLIProcess.run(["bench", "--provider", "memory", "--jobs", "2000", "--concurrency", "4"])
        #expect(result.status == 0, "\(result)")
        let last = try #require(result.lines.last)
        let object = try #require(jsonObject(last), "\(last)")
        for key in ["provider", "jobs", "enqueue_per_s", "process_per_s", "latency_p50_ms", "latency_p99_ms"] {
            #expect(object[key] != nil, "missing \(key) in \(last)")
        }
        #expect(object["provider"] as? String == "memory")
        #expect(object["jobs"] as? Int == 2000)
        // Piped: no progress escape sequences on stderr.
        #expect(!result.stderr.contains("\u{1B}[2K"))
    }

    @Test("bench --await-results adds the round trips, results per second and the same burst untracked")
    func benchResultsJSON() async throws {
        let result = try await CLIProcess.run([
            "bench", "--provider", "memory", "--jobs", "200", "--latency-samples", "10", "--await-results", "--awaits", "300",
        ])
        #expect(result.status == 0, "\(result)")
        let last = try #require(result.lines.last)
        let object = try #require(jsonObject(last), "\(last)")
        for key in ["roundtrip_p50_ms", "roundtrip_p99_ms", "roundtrip_per_s", "untracked_burst_per_s"] {
            #expect((object[key] as? Double ?? 0) > 0, "missing or zero \(key) in \(last)")
        }
        #expect(result.stdout.contains("300 concurrent awaits"), "\(result.stdout)")
    }

    @Test("flow-limit options out of range or malformed are usage errors (exit 2) that say what to write")
    func limitUsage() async throws {
        for (arguments, fragment) in [
            (["worker", "--provider", "memory", "--global-concurrency", "sleep=0"], "global-concurrency"),
            (["worker", "--provider", "memory", "--global-concurrency", "sleep=99999999999999999999"], "global-concurrency"),
            (["worker", "--provider", "memory", "--global-concurrency", "nosuch=3"], "built-in task"),
            (["worker", "--provider", "memory", "--rate-limit", "sleep=5/fortnight"], "rate-limit"),
            (["worker", "--provider", "memory", "--rate-limit", "sleep=0/s"], "rate-limit"),
            (["worker", "--provider", "memory", "--rate-limit", "sleep=5/s,burst=-1"], "rate-limit"),
            (["worker", "--provider", "memory", "--rate-limit", "sleep=5/10ms"], "rate-limit"),
            (["limit", "set", "sleep", "--provider", "rabbitmq"], "--concurrency, --rate or both"),
            (["limit", "set", "sleep", "--provider", "rabbitmq", "--concurrency", "10001"], "--concurrency must be"),
            (["limit", "set", "sleep", "--provider", "rabbitmq", "--rate", "1e9/s"], "--rate must be"),
            (["enqueue", "--provider", "rabbitmq", "--task", "sleep", "--limit-key", String(repeating: "k", count: 257)], "--limit-key"),
        ] {
            let result = try await CLIProcess.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result)")
            #expect(result.stderr.contains(fragment), "\(arguments): \(result)")
        }
    }
}
