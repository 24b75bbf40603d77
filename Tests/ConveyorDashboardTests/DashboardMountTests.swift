import Conveyor
import ConveyorDashboard
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Testing

/// The dashboard mounted in an application of the user's, under a path of its choice, beside the user's own routes.
@Suite("Dashboard mounted in a Hummingbird application", .timeLimit(.minutes(1)))
struct DashboardMountTests {
    /// Runs an application with `GET /health` and the dashboard under `/ops/jobs` around `body`, which gets the port.
    static func withApplication(token: String? = nil, _ body: (Int) async throws -> Void) async throws {
        let provider = MemoryQueueProvider()
        let dashboard = try Dashboard(provider: provider, configuration: .init(queues: ["q"], token: token))
        let router = Router()
        router.get("health") { _, _ in "ok" }
        dashboard.addRoutes(to: router, atPath: "/ops/jobs/")
        let ports = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ports.continuation.yield(channel.localAddress?.port ?? 0) }
        )
        let running = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await application.run() }
                group.addTask { try await dashboard.run() }
                try await group.waitForAll()
            }
        }
        defer { running.cancel() }
        var iterator = ports.stream.makeAsyncIterator()
        let port = try #require(await iterator.next())
        try await body(port)
    }

    @Test("pages, links, assets, API and actions live under the mount path; the application's own routes are untouched")
    func mountedUnderAPath() async throws {
        try await Self.withApplication { port in
            let health = try await HTTPTestClient.send(port: port, "GET", "/health")
            #expect(health.status == 200 && health.body == "ok", "\(health)")
            #expect(health.headers["content-security-policy"] == nil, "the dashboard's headers stay on its own routes")

            let overview = try await HTTPTestClient.send(port: port, "GET", "/ops/jobs")
            #expect(overview.status == 200, "\(overview)")
            #expect(overview.body.contains(#"href="/ops/jobs/queues/q""#))
            #expect(overview.body.contains(#"src="/ops/jobs/assets/dashboard.js""#))
            #expect(overview.body.contains(#"data-base="/ops/jobs""#), "the script builds its URLs from the mount path")
            let script = try await HTTPTestClient.send(port: port, "GET", "/ops/jobs/assets/dashboard.js")
            #expect(script.status == 200)
            let api = try await HTTPTestClient.send(port: port, "GET", "/ops/jobs/api/queues")
            #expect((api.json as? [[String: Any]])?.first?["queue"] as? String == "q", "\(api)")

            let session = try await HTTPTestClient.send(port: port, "GET", "/ops/jobs/api/session")
            let csrf = try #require((session.json as? [String: Any])?["csrf"] as? String)
            let paused = try await HTTPTestClient.send(port: port, "POST", "/ops/jobs/queues/q/pause", body: "csrf=\(csrf)")
            #expect(paused.status == 303, "\(paused)")
            #expect(paused.headers["location"] == "/ops/jobs/queues/q")
            let missing = try await HTTPTestClient.send(port: port, "GET", "/queues/q")
            #expect(missing.status == 404, "nothing of the dashboard outside its path")
        }
    }

    @Test("in a service group listed as [dashboard, app], graceful shutdown ends an open event stream instead of waiting for it")
    func shutdownWithAnOpenStream() async throws {
        let provider = MemoryQueueProvider()
        let dashboard = try Dashboard(provider: provider, configuration: .init(queues: ["q"]))
        let router = Router()
        dashboard.addRoutes(to: router, atPath: "/jobs")
        let ports = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ports.continuation.yield(channel.localAddress?.port ?? 0) }
        )
        // The group stops its services in reverse order: the application first, while the stream is open.
        let group = ServiceGroup(services: [dashboard, application], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        var iterator = ports.stream.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let opened = AsyncStream.makeStream(of: Void.self)
        let reading = Task {
            try await HTTPTestClient.readStream(port: port, "/jobs/queues/q/events", timeout: .seconds(40), opened: { opened.continuation.yield() }, until: { _ in false })
        }
        var openedIterator = opened.stream.makeAsyncIterator()
        _ = await openedIterator.next()
        await group.triggerGracefulShutdown()
        try await running.value
        let read = try await reading.value
        #expect(read.contains(": following q"))
    }

    @Test("with a token, the cookie is scoped to the mount path and the application's own routes need no token")
    func tokenUnderAPath() async throws {
        try await Self.withApplication(token: "mounted-secret") { port in
            let health = try await HTTPTestClient.send(port: port, "GET", "/health")
            #expect(health.status == 200)
            let refused = try await HTTPTestClient.send(port: port, "GET", "/ops/jobs/api/queues")
            #expect(refused.status == 401)
            let opened = try await HTTPTestClient.send(port: port, "GET", "/ops/jobs/queues/q?token=mounted-secret")
            #expect(opened.status == 303, "\(opened)")
            #expect(opened.headers["location"] == "/ops/jobs/queues/q")
            #expect(opened.headers["set-cookie"]?.contains("Path=/ops/jobs") == true, "\(opened.headers)")
        }
    }
}
