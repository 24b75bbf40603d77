#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// `conveyor enqueue --wait` against real brokers: outcomes of succeeded, dead-lettered and timed-out jobs, the
/// built-in `progress` and `echo` tasks' outputs, and the exit status.
@Suite("conveyor enqueue --wait against real brokers", .serialized)
struct CLIResultsTests {
    @Test("RabbitMQ: enqueue --wait --json prints each job's outcome; exit 1 unless all succeeded", .needs(.rabbitMQ))
    func waitRabbitMQ() async throws {
        try await waitForOutcomes(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: enqueue --wait --json prints each job's outcome; exit 1 unless all succeeded", .needs(.sqs))
    func waitSQS() async throws {
        try await waitForOutcomes(try CLIBroker.sqs())
    }

    func waitForOutcomes(_ broker: CLIBroker) async throws {
        let queue = "cli-wait-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }

        // No worker yet: the wait times out, the job stays queued, exit 1.
        let waited = try await broker.run(["enqueue"], ["--queue", queue, "--task", "echo", "--wait", "--timeout", "1s", "--json"])
        #expect(waited.status == 1, "\(waited)")
        #expect(jsonObject(waited.lines.last ?? "")?["status"] as? String == "timed_out", "\(waited)")

        let worker = try CLIProcess(["worker"] + broker.arguments + ["--queue", queue, "--concurrency", "4", "--shutdown-grace", "5s"])
        defer { worker.killIfRunning() }

        let echoed = try await broker.run(
            ["enqueue"], ["--queue", queue, "--task", "echo", "--payload", #"{"a":[1,"é"]}"#, "--count", "3", "--wait", "--timeout", "60s", "--json"])
        #expect(echoed.status == 0, "\(echoed)")
        let outcomes = echoed.lines.compactMap(jsonObject)
        #expect(outcomes.count == 3, "\(echoed)")
        for outcome in outcomes {
            #expect(outcome["status"] as? String == "succeeded")
            #expect(outcome["queue"] as? String == queue)
            #expect(outcome["attempts"] as? Int == 1)
            let output = outcome["output"] as? [String: Any]
            #expect((output?["a"] as? [Any])?.last as? String == "é", "\(outcome)")
        }

        let progressed = try await broker.run(
            ["enqueue"], ["--queue", queue, "--task", "progress", "--payload", #"{"steps":3,"ms":20}"#, "--wait", "--timeout", "60s", "--json"])
        #expect(progressed.status == 0, "\(progressed)")
        #expect((jsonObject(progressed.lines.last ?? "")?["output"] as? [String: Any])?["steps"] as? Int == 3, "\(progressed)")

        let failed = try await broker.run(
            ["enqueue"], ["--queue", queue, "--task", "fail", "--max-attempts", "1", "--wait", "--timeout", "60s", "--json"])
        #expect(failed.status == 1, "\(failed)")
        let failure = try #require(jsonObject(failed.lines.last ?? ""), "\(failed)")
        #expect(failure["status"] as? String == "dead_lettered")
        #expect(failure["reason_code"] as? String == "task_error")
        #expect((failure["reason"] as? String)?.contains("the fail task always fails") == true)
        #expect(failure["attempts"] as? Int == 1)

        // The timed-out job of the start ran once the worker came.
        try await eventually("the queue to be drained") {
            let stats = try await broker.stats(queue)
            return stats["ready"] as? Int == 0 && stats["in_flight"] as? Int == 0
        }
        worker.signal(SIGTERM)
        let stopped = await worker.wait()
        #expect(stopped.status == 0, "\(stopped)")
    }
}

/// `conveyor events` follows a queue's job events from another process, and stops cleanly on SIGINT.
@Suite("conveyor events against real brokers", .serialized)
struct CLIEventsTests {
    @Test("RabbitMQ: events --json shows another process's job from enqueued to succeeded; SIGINT exits 0", .needs(.rabbitMQ))
    func eventsRabbitMQ() async throws {
        try await follow(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: events --json shows another process's job from enqueued to succeeded; SIGINT exits 0", .needs(.sqs))
    func eventsSQS() async throws {
        try await follow(try CLIBroker.sqs())
    }

    func follow(_ broker: CLIBroker) async throws {
        let queue = "cli-events-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }

        let events = try CLIProcess(["events"] + broker.arguments + ["--queue", queue, "--json", "--task", "progress"])
        defer { events.killIfRunning() }
        try await eventually("the subscription to exist") { events.stderrSoFar.contains("following the events of") }
        let worker = try CLIProcess(["worker"] + broker.arguments + ["--queue", queue, "--shutdown-grace", "5s"])
        defer { worker.killIfRunning() }
        _ = try await broker.run(["enqueue"], ["--queue", queue, "--task", "echo", "--wait", "--timeout", "60s"])
        let ran = try await broker.run(
            ["enqueue"], ["--queue", queue, "--task", "progress", "--payload", #"{"steps":2,"ms":10}"#, "--wait", "--timeout", "60s", "--json"])
        #expect(ran.status == 0, "\(ran)")
        let id = try #require(jsonObject(ran.lines.last ?? "")?["id"] as? String)
        // The producer broadcasts "enqueued" after its send returned, the worker its events as it runs: on SQS the
        // enqueued event can come last (CI saw the follower stopped after "succeeded", before it), so wait for both.
        try await eventually("the job's enqueued and succeeded events") {
            let kinds = Set(events.stdoutSoFar.split(separator: "\n").compactMap { line -> String? in
                guard let object = jsonObject(String(line)), object["id"] as? String == id else { return nil }
                return object["kind"] as? String
            })
            return kinds.isSuperset(of: ["enqueued", "succeeded"])
        }
        events.signal(SIGINT)
        let followed = await events.wait()
        #expect(followed.status == 0, "\(followed)")
        let seen = followed.lines.compactMap(jsonObject)
        #expect(seen.allSatisfy { $0["task"] as? String == "progress" && $0["queue"] as? String == queue }, "\(followed)")
        let kinds = Set(seen.filter { $0["id"] as? String == id }.compactMap { $0["kind"] as? String })
        #expect(kinds.isSuperset(of: ["enqueued", "started", "progress", "succeeded"]), "kinds seen: \(kinds)")
        worker.signal(SIGTERM)
        _ = await worker.wait()
    }
}

/// `conveyor job cancel` from another process: a delayed job never runs, a running `sleep` job stops, neither is
/// retried nor dead-lettered, and `conveyor events` shows both as cancelled.
@Suite("conveyor job cancel against real brokers", .serialized)
struct CLICancelTests {
    @Test("RabbitMQ: job cancel stops a running sleep job and a delayed one; events shows cancelled", .needs(.rabbitMQ))
    func cancelRabbitMQ() async throws {
        try await cancel(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: job cancel stops a running sleep job and a delayed one; events shows cancelled", .needs(.sqs))
    func cancelSQS() async throws {
        try await cancel(try CLIBroker.sqs())
    }

    func cancel(_ broker: CLIBroker) async throws {
        let queue = "cli-cancel-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }

        for usage in [[String](), ["--expires-after", "0s", "x"], ["--expires-after", "400d", "x"], ["--expires-after", "1e300", "x"]] {
            let refused = try await broker.run(["job", "cancel"], ["--queue", queue] + usage)
            #expect(refused.status == 2, "job cancel \(usage) is a usage error: \(refused)")
        }

        let events = try CLIProcess(["events"] + broker.arguments + ["--queue", queue, "--json", "--task", "sleep"])
        defer { events.killIfRunning() }
        try await eventually("the subscription to exist") { events.stderrSoFar.contains("following the events of") }
        let delayed = try await broker.run(["enqueue"], ["--queue", queue, "--task", "sleep", "--payload", #"{"ms":10}"#, "--delay", "4s", "--json"])
        let long = try await broker.run(["enqueue"], ["--queue", queue, "--task", "sleep", "--payload", #"{"ms":120000}"#, "--json"])
        let delayedID = try #require(jsonObject(delayed.lines.last ?? "")?["id"] as? String, "\(delayed)")
        let longID = try #require(jsonObject(long.lines.last ?? "")?["id"] as? String, "\(long)")
        let cancelledDelayed = try await broker.run(["job", "cancel"], ["--queue", queue, delayedID])
        #expect(cancelledDelayed.status == 0, "\(cancelledDelayed)")
        #expect(cancelledDelayed.stdout.contains("cancelled \(delayedID)"), "\(cancelledDelayed)")

        let record = FileManager.default.temporaryDirectory.appendingPathComponent("cli-cancel-\(queue).log").path
        defer { try? FileManager.default.removeItem(atPath: record) }
        let worker = try CLIProcess(["worker"] + broker.arguments + ["--queue", queue, "--record", record, "--shutdown-grace", "5s"])
        defer { worker.killIfRunning() }
        func kinds(_ id: String) -> Set<String> {
            Set(events.stdoutSoFar.split(separator: "\n").compactMap { line -> String? in
                guard let object = jsonObject(String(line)), object["id"] as? String == id else { return nil }
                return object["kind"] as? String
            })
        }
        try await eventually("the long sleep job to start") { kinds(longID).contains("started") }
        let cancelledLong = try await broker.run(["job", "cancel"], ["--queue", queue, "--expires-after", "1h", longID])
        #expect(cancelledLong.status == 0, "\(cancelledLong)")
        try await eventually("both jobs cancelled") { kinds(longID).contains("cancelled") && kinds(delayedID).contains("cancelled") }
        worker.signal(SIGTERM)
        let stopped = await worker.wait()
        #expect(stopped.status == 0, "\(stopped)")
        events.signal(SIGINT)
        _ = await events.wait()
        #expect(!kinds(delayedID).contains("started"), "the cancelled delayed job started: \(kinds(delayedID))")
        #expect(kinds(longID).isDisjoint(with: ["retrying", "dead_lettered", "succeeded"]), "\(kinds(longID))")
        let recorded = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
        #expect(recorded.isEmpty, "a cancelled job finished: \(recorded)")
        let stats = try await broker.stats(queue)
        #expect(stats["ready"] as? Int == 0 && stats["dead_lettered"] as? Int == 0, "\(stats)")
    }
}
