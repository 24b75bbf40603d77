import Foundation
import Testing

/// `conveyor dashboard` against RabbitMQ and SQS (LocalStack): counts, dead letters, a worker of another process
/// seen through its heartbeats, actions with the CSRF token; and its safety rules (loopback unless a token is given).
@Suite("conveyor dashboard", .timeLimit(.minutes(4)))
struct CLIDashboardTests {
    @Test("RabbitMQ: the dashboard shows counts, dead letters and a worker of another process; redrive needs the CSRF token", .needs(.rabbitMQ))
    func dashboardRabbitMQ() async throws {
        try await dashboard(try .rabbitMQ())
    }

    @Test("SQS: the dashboard shows counts, dead letters and a worker of another process; redrive needs the CSRF token", .needs(.sqs))
    func dashboardSQS() async throws {
        try await dashboard(try .sqs())
    }

    @Test("--bind to an address other machines reach without a token exits 2 and says why; with CONVEYOR_DASHBOARD_TOKEN every call needs it")
    func safety() async throws {
        let open = try await CLIProcess.run(["dashboard", "--provider", "memory", "--queue", "q", "--bind", "0.0.0.0", "--port", "0"])
        #expect(open.status == 2, "\(open)")
        #expect(open.stderr.contains("token"), "\(open)")
        let none = try await CLIProcess.run(["dashboard", "--provider", "memory"])
        #expect(none.status == 2, "\(none)")

        let secret = "cli-\(UUID().uuidString)"
        let server = try CLIProcess(["dashboard", "--provider", "memory", "--queue", "q", "--port", "0"], environment: ["CONVEYOR_DASHBOARD_TOKEN": secret])
        defer { server.killIfRunning() }
        let port = try await Self.port(of: server)
        let refused = try #require(await httpGet(port: port, path: "/api/queues"))
        #expect(refused.status == 401, "\(refused)")
        #expect(!refused.body.contains(secret))
        let allowed = try #require(await httpGet(port: port, path: "/api/queues?token=\(secret)"))
        #expect(allowed.status == 303, "the token in the URL sets a cookie and leaves the address: \(allowed)")
        server.signal(SIGTERM)
        let stopped = await server.wait()
        #expect(stopped.status == 0, "\(stopped)")
    }

    @Test("a broker that goes down shows as an error on the pages; the dashboard stays up and recovers with the broker", .needs(.rabbitMQ))
    func brokerDown() async throws {
        // A private node (scripts/rabbitmq-faults-node.sh), so that stopping it disturbs no other test.
        let environment = ["CONVEYOR_FAULTS_RABBITMQ_PORT": "5676"]
        try await Self.script("rabbitmq-faults-node.sh", "start", environment: environment)
        defer { _ = Task { try? await Self.script("rabbitmq-faults-node.sh", "stop", environment: environment) } }
        let url = "amqp://guest:guest@127.0.0.1:5676/"
        let queue = "cli-dash-down-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await CLIProcess.run(["queue", "create", queue, "--provider", "rabbitmq", "--url", url])
        #expect(created.status == 0, "\(created)")
        let server = try CLIProcess(["dashboard", "--provider", "rabbitmq", "--url", url, "--queue", queue, "--port", "0"])
        defer { server.killIfRunning() }
        let port = try await Self.port(of: server)
        func row() async -> [String: Any]? {
            guard let answer = await httpGet(port: port, path: "/api/queues"), answer.status == 200,
                  let rows = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [[String: Any]] else { return nil }
            return rows.first { $0["queue"] as? String == queue }
        }
        try await eventually("the queue's counts") { await row()?["ready"] as? Int == 0 }

        try await Self.script("rabbitmq-faults-node.sh", "stop-app", environment: environment)
        try await eventually("an error for the queue while the broker is down") { await row()?["error"] is String }
        let page = try #require(await httpGet(port: port, path: "/"))
        #expect(page.status == 200, "the dashboard stays up: \(page)")
        #expect(page.body.contains(#"class="error""#), "the overview shows the error: \(page.body.prefix(3000))")
        #expect(!page.body.contains("guest:guest"), "the error shows no password")

        try await Self.script("rabbitmq-faults-node.sh", "start-app", environment: environment)
        try await eventually("the counts again once the broker is back") {
            let current = await row()
            return current?["error"] == nil && current?["ready"] as? Int == 0
        }
        server.signal(SIGTERM)
        let stopped = await server.wait()
        #expect(stopped.status == 0, "\(stopped)")
        try await Self.script("rabbitmq-faults-node.sh", "stop", environment: environment)
    }

    /// Runs `scripts/<name> arguments` to completion; throws with its output when it fails.
    static func script(_ name: String, _ arguments: String..., environment: [String: String]) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("scripts/\(name)").path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-script-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        try? handle.close()
        guard status == 0 else {
            throw CLIScriptFailure(description: "scripts/\(name) \(arguments.joined(separator: " ")) exited \(status): \((try? String(contentsOf: output, encoding: .utf8))?.suffix(1500) ?? "")")
        }
    }

    /// The port a dashboard started with `--port 0` printed.
    static func port(of server: CLIProcess) async throws -> Int {
        var port: Int?
        try await eventually("the dashboard to listen") {
            guard let line = server.stderrSoFar.split(separator: "\n").first(where: { $0.hasPrefix("dashboard: http://127.0.0.1:") }) else { return false }
            port = Int(line.split(separator: ":").last?.split(separator: "/").first ?? "")
            return port != nil
        }
        return try #require(port)
    }

    func dashboard(_ broker: CLIBroker) async throws {
        let queue = "cli-dash-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }
        let enqueued = try await broker.run(["enqueue"], ["--queue", queue, "--task", "echo", "--payload", #"{"n":1}"#, "--count", "3"])
        #expect(enqueued.status == 0, "\(enqueued)")
        // A sleep job with a negative time is dead-lettered by the worker, with markup in its payload.
        let bad = try await broker.run(["enqueue"], ["--queue", queue, "--task", "sleep", "--payload", #"{"ms":-5,"x":"<script>alert(1)</script>"}"#, "--json"])
        #expect(bad.status == 0, "\(bad)")
        let badIDs = bad.lines.compactMap { jsonObject($0)?["id"] as? String }
        let badID = try #require(badIDs.first)

        let server = try CLIProcess(["dashboard"] + broker.arguments + ["--queue", queue, "--port", "0"])
        defer { server.killIfRunning() }
        let port = try await Self.port(of: server)

        func row() async -> [String: Any]? {
            guard let answer = await httpGet(port: port, path: "/api/queues"), answer.status == 200,
                  let rows = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [[String: Any]] else { return nil }
            return rows.first { $0["queue"] as? String == queue }
        }
        try await eventually("4 ready jobs in /api/queues") { await row()?["ready"] as? Int == 4 }
        #expect(await row()?["paused"] as? Bool == false)

        let worker = try CLIProcess(["worker"] + broker.arguments + ["--queue", queue, "--concurrency", "3", "--shutdown-grace", "2s"])
        defer { worker.killIfRunning() }
        try await eventually("the bad job dead-lettered and the rest done") {
            let current = await row()
            return current?["dead_lettered"] as? Int == 1 && current?["ready"] as? Int == 0 && current?["in_flight"] as? Int == 0
        }
        // The worker, another process, is seen through its heartbeats once it learns that the queue is observed.
        try await eventually("the worker on the workers API") {
            guard let answer = await httpGet(port: port, path: "/api/workers"),
                  let workers = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [[String: Any]] else { return false }
            return workers.contains { $0["queues"] as? [String] == [queue] && $0["concurrency"] as? Int == 3 }
        }
        worker.signal(SIGTERM)
        #expect(await worker.wait().status == 0)

        let letters = try #require(await httpGet(port: port, path: "/queues/\(queue)/dead-letters"))
        #expect(letters.status == 200)
        #expect(letters.body.contains(badID), "\(letters.body.prefix(3000))")
        let one = try #require(await httpGet(port: port, path: "/queues/\(queue)/dead-letters/\(badID)"))
        #expect(one.status == 200, "\(one)")
        #expect(one.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(one.body.prefix(3000))")
        #expect(!one.body.contains("<script>alert"))
        for page in [letters.body, one.body] {
            for secret in ["guest:guest", ProcessInfo.processInfo.environment["AWS_SECRET_ACCESS_KEY"] ?? "guest:guest"] {
                #expect(!page.contains(secret), "a page shows a secret")
            }
        }

        // Actions need the CSRF token.
        let session = try #require(await httpGet(port: port, path: "/api/session"))
        let csrf = try #require((try? JSONSerialization.jsonObject(with: Data(session.body.utf8)) as? [String: Any])?["csrf"] as? String)
        let refused = try #require(await httpRequest(port: port, "POST", "/queues/\(queue)/dead-letters/redrive", form: "id=\(badID)"))
        #expect(refused.status == 403, "\(refused)")
        let redriven = try #require(await httpRequest(port: port, "POST", "/queues/\(queue)/dead-letters/redrive", form: "csrf=\(csrf)&id=\(badID)"))
        #expect(redriven.status == 303, "\(redriven)")
        try await eventually("the redriven job back in the queue") {
            let current = await row()
            return current?["dead_lettered"] as? Int == 0 && current?["ready"] as? Int == 1
        }
        server.signal(SIGTERM)
        let stopped = await server.wait()
        #expect(stopped.status == 0, "\(stopped)")
    }
}

/// A script the test runs failed.
struct CLIScriptFailure: Error, CustomStringConvertible {
    var description: String
}
