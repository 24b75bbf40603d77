import Conveyor
import ConveyorDashboard
import Foundation
import Synchronization
import Testing

/// The dashboard served on a free port of 127.0.0.1 over the memory provider: pages, JSON API, actions, the token
/// and CSRF checks, escaping, live events and worker heartbeats. (The CLI tests run it against RabbitMQ and SQS.)
@Suite("Dashboard", .timeLimit(.minutes(2)))
struct DashboardTests {
    /// Reports progress `steps` times, 100 ms apart.
    struct Steps: ConveyorTask {
        struct Input: Codable, Sendable { var steps: Int }
        static let name = "dashboard.steps"
        func run(_ input: Input, context: JobContext) async throws -> Int {
            for step in 1...input.steps {
                context.progress(Double(step) / Double(input.steps), "step \(step)")
                try await Task.sleep(for: .milliseconds(100))
            }
            return input.steps
        }
    }

    /// Fails once, for good, with markup in its error.
    struct Failing: ConveyorTask {
        struct Input: Codable, Sendable { var text: String }
        static let name = "dashboard.failing"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1) }
        func run(_ input: Input, context: JobContext) async throws {
            throw ConveyorError(.invalidParameter, "<img src=x onerror=alert(2)> refused")
        }
    }

    /// Serves a dashboard of `queues` on `provider` around `body`, which gets the port.
    static func withDashboard(
        _ provider: MemoryQueueProvider, queues: [String], token: String? = nil, _ body: (Int) async throws -> Void
    ) async throws {
        let dashboard = try Dashboard(provider: provider, configuration: .init(queues: queues, token: token, workerExpiry: .seconds(60)))
        let listening = AsyncStream.makeStream(of: Int.self)
        let server = try DashboardServer(dashboard: dashboard, configuration: .init(port: 0)) { url in
            listening.continuation.yield(Int(url.split(separator: ":").last?.split(separator: "/").first ?? "") ?? 0)
        }
        let running = Task { try await server.run() }
        defer { running.cancel() }
        var ports = listening.stream.makeAsyncIterator()
        let port = try #require(await ports.next())
        try await body(port)
    }

    static func withWorker(_ provider: MemoryQueueProvider, queue: String, tasks: [any ConveyorTask], _ body: () async throws -> Void) async throws {
        let worker = Worker(
            provider: provider, registry: try TaskRegistry(tasks),
            configuration: .init(queues: [queue], concurrency: 2, receiveWait: .seconds(1), shutdownGracePeriod: .seconds(5)))
        let running = Task { try await worker.run() }
        do {
            try await body()
        } catch {
            worker.triggerGracefulShutdown()
            _ = await running.result
            throw error
        }
        worker.triggerGracefulShutdown()
        try await running.value
    }

    static func csrf(_ port: Int, headers: [String: String] = [:]) async throws -> String {
        let session = try await HTTPTestClient.send(port: port, "GET", "/api/session", headers: headers)
        return try #require((session.json as? [String: Any])?["csrf"] as? String, "\(session)")
    }

    static func eventually(_ what: String, within limit: Duration = .seconds(30), _ check: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await check() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("not within \(limit): \(what)")
        throw CancellationError()
    }

    @Test("GET /api/queues gives one object per queue with its counts and paused state; the pages render; other queues are 404")
    func queuesAPI() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        _ = try await client.enqueueRaw(task: "x", payloads: Array(repeating: Array("{}".utf8), count: 3), options: .init(queue: "ready-q"))
        try await client.pause("paused-q")
        try await Self.withDashboard(provider, queues: ["ready-q", "paused-q"]) { port in
            let api = try await HTTPTestClient.send(port: port, "GET", "/api/queues")
            #expect(api.status == 200)
            #expect(api.headers["content-type"] == "application/json")
            let rows = try #require(api.json as? [[String: Any]], "\(api)")
            #expect(rows.map { $0["queue"] as? String } == ["ready-q", "paused-q"])
            #expect(rows[0]["ready"] as? Int == 3)
            #expect(rows[0]["in_flight"] as? Int == 0)
            #expect(rows[0]["delayed"] as? Int == 0)
            #expect(rows[0]["dead_lettered"] as? Int == 0)
            #expect(rows[0]["paused"] as? Bool == false)
            #expect(rows[1]["paused"] as? Bool == true)

            for path in ["/", "/queues/ready-q", "/queues/ready-q/dead-letters", "/schedules", "/workers", "/assets/dashboard.js", "/assets/dashboard.css"] {
                let page = try await HTTPTestClient.send(port: port, "GET", path)
                #expect(page.status == 200, "\(path): \(page)")
            }
            let overview = try await HTTPTestClient.send(port: port, "GET", "/")
            #expect(overview.body.contains(#"<a href="/queues/ready-q">ready-q</a>"#), "\(overview)")
            #expect(overview.headers["content-security-policy"]?.contains("script-src 'self'") == true)
            for path in ["/queues/elsewhere", "/api/queues/elsewhere/dead-letters", "/queues/elsewhere/events"] {
                let missing = try await HTTPTestClient.send(port: port, "GET", path)
                #expect(missing.status == 404, "\(path): \(missing)")
            }
        }
    }

    @Test("a POST without the CSRF token, or with a wrong one, gets 403 and changes nothing; with it the action runs; GET changes nothing")
    func csrf() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        try await Self.withDashboard(provider, queues: ["q"]) { port in
            let missing = try await HTTPTestClient.send(port: port, "POST", "/queues/q/pause", body: "")
            #expect(missing.status == 403, "\(missing)")
            let wrong = try await HTTPTestClient.send(port: port, "POST", "/queues/q/pause", body: "csrf=nope")
            #expect(wrong.status == 403, "\(wrong)")
            let wrongHeader = try await HTTPTestClient.send(port: port, "POST", "/queues/q/pause", headers: ["X-CSRF-Token": "nope"])
            #expect(wrongHeader.status == 403, "\(wrongHeader)")
            let byGet = try await HTTPTestClient.send(port: port, "GET", "/queues/q/pause")
            #expect(byGet.status != 200 && byGet.status != 303, "\(byGet)")
            #expect(try await client.isPaused("q") == false)

            let token = try await Self.csrf(port)
            let page = try await HTTPTestClient.send(port: port, "GET", "/queues/q")
            #expect(page.body.contains(#"name="csrf" value="\#(token)""#), "the page's forms carry the token")
            #expect(!page.body.contains("<b>Paused</b>"), "a queue that is not paused does not say it is")
            #expect(page.body.contains(#"action="/queues/q/pause""#))
            let paused = try await HTTPTestClient.send(port: port, "POST", "/queues/q/pause", body: "csrf=\(token)")
            #expect(paused.status == 303, "\(paused)")
            #expect(paused.headers["location"] == "/queues/q")
            #expect(try await client.isPaused("q") == true)
            let pausedPage = try await HTTPTestClient.send(port: port, "GET", "/queues/q")
            #expect(pausedPage.body.contains("<b>Paused</b>"))
            #expect(pausedPage.body.contains(#"action="/queues/q/resume""#))
            let resumed = try await HTTPTestClient.send(
                port: port, "POST", "/queues/q/resume", headers: ["X-CSRF-Token": token, "Accept": "application/json"])
            #expect(resumed.status == 200, "\(resumed)")
            #expect((resumed.json as? [String: Any])?["paused"] as? Bool == false)
            #expect(try await client.isPaused("q") == false)
        }
    }

    @Test("with a token, every page, asset and API call needs it: once as ?token= (a cookie is set), as the cookie, or as a bearer token")
    func token() async throws {
        let provider = MemoryQueueProvider()
        let secret = "s3cret-\(UUID().uuidString)"
        try await Self.withDashboard(provider, queues: ["q"], token: secret) { port in
            for path in ["/", "/api/queues", "/assets/dashboard.js", "/queues/q/events", "/api/session"] {
                let refused = try await HTTPTestClient.send(port: port, "GET", path)
                #expect(refused.status == 401, "\(path): \(refused)")
                #expect(!refused.body.contains(secret))
            }
            let wrong = try await HTTPTestClient.send(port: port, "GET", "/?token=nope")
            #expect(wrong.status == 401)
            let wrongBearer = try await HTTPTestClient.send(port: port, "GET", "/api/queues", headers: ["Authorization": "Bearer nope"])
            #expect(wrongBearer.status == 401)

            let opened = try await HTTPTestClient.send(port: port, "GET", "/queues/q?token=\(secret)")
            #expect(opened.status == 303, "\(opened)")
            #expect(opened.headers["location"] == "/queues/q", "the token leaves the address")
            let cookie = try #require(opened.headers["set-cookie"])
            #expect(cookie.hasPrefix("conveyor_dashboard_token=\(secret)"))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))

            let withCookie = try await HTTPTestClient.send(port: port, "GET", "/queues/q", headers: ["Cookie": "conveyor_dashboard_token=\(secret)"])
            #expect(withCookie.status == 200, "\(withCookie)")
            #expect(!withCookie.body.contains(secret), "pages never show the token")
            let bearer = try await HTTPTestClient.send(port: port, "GET", "/api/queues", headers: ["Authorization": "Bearer \(secret)"])
            #expect(bearer.status == 200, "\(bearer)")
            // The token is not a CSRF token: a POST with it alone is refused.
            let post = try await HTTPTestClient.send(port: port, "POST", "/queues/q/pause", headers: ["Authorization": "Bearer \(secret)"], body: "")
            #expect(post.status == 403, "\(post)")
        }
    }

    @Test("dead letters: payloads and reasons with markup show as text; one job's page; redrive selected; purge needs the queue's name")
    func deadLetters() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        let queue = "dlq-\(UUID().uuidString.prefix(8))"
        var ids: [String] = []
        try await Self.withWorker(provider, queue: queue, tasks: [Failing()]) {
            for index in 0..<2 {
                let job = try await client.enqueue(Failing.self, .init(text: "<script>alert(1)</script> \(index)"), options: .init(queue: queue))
                ids.append(job.id.rawValue)
            }
            try await Self.eventually("two dead letters") { try await provider.stats(of: queue).deadLettered == 2 }
        }
        try await Self.withDashboard(provider, queues: [queue]) { port in
            let page = try await HTTPTestClient.send(port: port, "GET", "/queues/\(queue)/dead-letters")
            #expect(page.status == 200)
            #expect(!page.body.contains("<script>alert"), "\(page)")
            #expect(!page.body.contains("<img src=x"), "\(page)")
            #expect(page.body.contains("&lt;img src=x onerror=alert(2)&gt; refused"), "\(page)")
            for id in ids { #expect(page.body.contains(id)) }

            let one = try await HTTPTestClient.send(port: port, "GET", "/queues/\(queue)/dead-letters/\(ids[0])")
            #expect(one.status == 200, "\(one)")
            #expect(one.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; 0"), "the payload as text: \(one)")
            #expect(!one.body.contains("<script>alert"))
            #expect(one.body.contains("dashboard.failing"))

            let api = try await HTTPTestClient.send(port: port, "GET", "/api/queues/\(queue)/dead-letters")
            let letters = try #require(api.json as? [[String: Any]], "\(api)")
            #expect(Set(letters.compactMap { $0["id"] as? String }) == Set(ids))
            #expect(letters.allSatisfy { ($0["reason"] as? String)?.contains("<img src=x onerror=alert(2)>") == true })
            #expect(letters.allSatisfy { $0["attempts"] as? Int == 1 })

            let token = try await Self.csrf(port)
            let redriven = try await HTTPTestClient.send(
                port: port, "POST", "/queues/\(queue)/dead-letters/redrive", headers: ["Accept": "application/json"],
                body: "csrf=\(token)&id=\(ids[1])")
            #expect(redriven.status == 200, "\(redriven)")
            #expect((redriven.json as? [String: Any])?["redriven"] as? Int == 1)
            var stats = try await provider.stats(of: queue)
            #expect(stats.ready == 1 && stats.deadLettered == 1, "\(stats)")

            let unconfirmed = try await HTTPTestClient.send(port: port, "POST", "/queues/\(queue)/dead-letters/purge", body: "csrf=\(token)&confirm=yes")
            #expect(unconfirmed.status == 400, "\(unconfirmed)")
            #expect(try await provider.stats(of: queue).deadLettered == 1)
            let purged = try await HTTPTestClient.send(port: port, "POST", "/queues/\(queue)/dead-letters/purge", body: "csrf=\(token)&confirm=\(queue)")
            #expect(purged.status == 303, "\(purged)")
            stats = try await provider.stats(of: queue)
            #expect(stats.deadLettered == 0 && stats.ready == 1, "\(stats)")
        }
    }

    @Test("live: a queue's page streams started, progress and succeeded events; running jobs and the workers' heartbeats reach the API")
    func liveEvents() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        let queue = "live-\(UUID().uuidString.prefix(8))"
        try await Self.withDashboard(provider, queues: [queue]) { port in
            try await Self.withWorker(provider, queue: queue, tasks: [Steps()]) {
                // The worker sends its heartbeat once it learns that the queue is observed.
                try await Self.eventually("the worker's heartbeat") {
                    let workers = try await HTTPTestClient.send(port: port, "GET", "/api/workers").json as? [[String: Any]] ?? []
                    return workers.contains { $0["pid"] as? Int == Int(ProcessInfo.processInfo.processIdentifier) && $0["queues"] as? [String] == [queue] && $0["concurrency"] as? Int == 2 }
                }
                let workersPage = try await HTTPTestClient.send(port: port, "GET", "/workers")
                #expect(workersPage.body.contains(ProcessInfo.processInfo.hostName))

                let enqueued = EnqueuedID()
                let stream = try await HTTPTestClient.readStream(
                    port: port, "/queues/\(queue)/events",
                    opened: {
                        Task {
                            let job = try await client.enqueue(Steps.self, .init(steps: 20), options: .init(queue: queue))
                            enqueued.id.withLock { $0 = job.id.rawValue }
                        }
                    },
                    until: { $0.contains(#""kind":"succeeded""#) }
                )
                #expect(stream.contains("text/event-stream"))
                #expect(stream.contains("event: job\ndata: {\"kind\":\"started\""), "\(stream.prefix(3000))")
                #expect(stream.contains(#""note":"step 20""#))
                #expect(stream.contains(#""kind":"succeeded""#))
                let id = try #require(enqueued.id.withLock { $0 })
                #expect(stream.contains(id))

                // A job in progress shows with its progress.
                let job = try await client.enqueue(Steps.self, .init(steps: 50), options: .init(queue: queue))
                try await Self.eventually("the running job with progress") {
                    let running = try await HTTPTestClient.send(port: port, "GET", "/api/queues/\(queue)/running").json as? [[String: Any]] ?? []
                    return running.contains { $0["id"] as? String == job.id.rawValue && ($0["progress"] as? Double ?? 0) > 0 }
                }
                let page = try await HTTPTestClient.send(port: port, "GET", "/queues/\(queue)")
                #expect(page.body.contains(job.id.rawValue), "the queue page lists the running job")
            }
        }
    }

    @Test("schedules: added and removed by form, listed with their next slot; a bad schedule gets 400 saying why")
    func schedules() async throws {
        let provider = MemoryQueueProvider()
        try await Self.withDashboard(provider, queues: ["q"]) { port in
            let token = try await Self.csrf(port)
            let added = try await HTTPTestClient.send(
                port: port, "POST", "/schedules",
                body: "csrf=\(token)&id=nightly&schedule=0+3+*+*+*&time_zone=UTC&task=report&queue=q&payload=%7B%7D&missed=skip")
            #expect(added.status == 303, "\(added)")
            let listed = try await HTTPTestClient.send(port: port, "GET", "/api/schedules")
            let schedules = try #require(listed.json as? [[String: Any]], "\(listed)")
            #expect(schedules.count == 1)
            #expect(schedules.first?["id"] as? String == "nightly")
            #expect((schedules.first?["next"] as? String)?.hasSuffix("T03:00:00.000Z") == true, "\(schedules)")
            #expect(schedules.first?["last"] as? String != nil)
            let page = try await HTTPTestClient.send(port: port, "GET", "/schedules")
            #expect(page.body.contains("0 3 * * *"))

            let bad = try await HTTPTestClient.send(port: port, "POST", "/schedules", body: "csrf=\(token)&id=x&schedule=61+*+*+*+*&task=report")
            #expect(bad.status == 400, "\(bad)")

            let removed = try await HTTPTestClient.send(port: port, "POST", "/schedules/remove", body: "csrf=\(token)&id=nightly")
            #expect(removed.status == 303, "\(removed)")
            let after = try await HTTPTestClient.send(port: port, "GET", "/api/schedules")
            #expect((after.json as? [[String: Any]])?.isEmpty == true, "\(after)")
        }
    }

    @Test("without a token, a request for another host name (DNS rebinding) gets 421, and a POST from another site's page 403")
    func rebindingAndOrigin() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        try await Self.withDashboard(provider, queues: ["q"]) { port in
            for host in ["localhost:\(port)", "127.0.0.1:\(port)", "[::1]:\(port)", "127.0.0.1"] {
                let allowed = try await HTTPTestClient.send(port: port, "GET", "/api/queues", headers: ["Host": host])
                #expect(allowed.status == 200, "\(host): \(allowed)")
            }
            for host in ["attacker.example:\(port)", "127.0.0.1.attacker.example", "127.example.com"] {
                let refused = try await HTTPTestClient.send(port: port, "GET", "/api/session", headers: ["Host": host])
                #expect(refused.status == 421, "\(host): \(refused)")
                #expect(!refused.body.contains("csrf"))
            }
            let token = try await Self.csrf(port)
            let foreign = try await HTTPTestClient.send(
                port: port, "POST", "/queues/q/pause", headers: ["Origin": "http://attacker.example"], body: "csrf=\(token)")
            #expect(foreign.status == 403, "\(foreign)")
            #expect(try await client.isPaused("q") == false)
            let sameSite = try await HTTPTestClient.send(
                port: port, "POST", "/queues/q/pause", headers: ["Origin": "http://127.0.0.1:\(port)"], body: "csrf=\(token)")
            #expect(sameSite.status == 303, "\(sameSite)")
        }
        // With a token, any host name is accepted (a dashboard behind a proxy or on another address).
        try await Self.withDashboard(provider, queues: ["q"], token: "t0k") { port in
            let named = try await HTTPTestClient.send(port: port, "GET", "/api/queues", headers: ["Host": "jobs.internal.example", "Authorization": "Bearer t0k"])
            #expect(named.status == 200, "\(named)")
        }
    }

    @Test("schedules are added, listed and removed for the dashboard's queues only")
    func schedulesOfOtherQueues() async throws {
        let provider = MemoryQueueProvider()
        let scheduler = JobScheduler(provider: provider)
        try await scheduler.register(try ScheduledJob(id: "elsewhere", schedule: Schedule(parsing: "0 3 * * *"), task: "t", queue: "other"))
        try await Self.withDashboard(provider, queues: ["q"]) { port in
            let token = try await Self.csrf(port)
            let refused = try await HTTPTestClient.send(port: port, "POST", "/schedules", body: "csrf=\(token)&id=x&schedule=0+3+*+*+*&task=t&queue=other")
            #expect(refused.status == 400, "\(refused)")
            let listed = try await HTTPTestClient.send(port: port, "GET", "/api/schedules")
            #expect((listed.json as? [[String: Any]])?.isEmpty == true, "another queue's schedule is not listed: \(listed)")
            let removed = try await HTTPTestClient.send(port: port, "POST", "/schedules/remove", body: "csrf=\(token)&id=elsewhere")
            #expect(removed.status == 404, "\(removed)")
        }
        #expect(try await scheduler.registeredJobs().map(\.id) == ["elsewhere"])
    }

    @Test("a server on an address other machines reach needs a token; a bad configuration says what to fix")
    func safeByDefault() throws {
        let provider = MemoryQueueProvider()
        let open = try Dashboard(provider: provider, configuration: .init(queues: ["q"]))
        #expect(throws: ConveyorError.self) { try DashboardServer(dashboard: open, configuration: .init(host: "0.0.0.0")) }
        _ = try DashboardServer(dashboard: open, configuration: .init(host: "127.0.0.1"))
        for host in ["127.example.com", "127.0.0.1.nip.io", "10.0.0.5", "0.0.0.0", "127.0.0"] {
            #expect(!DashboardServer.Configuration(host: host).isLoopback, "\(host)")
        }
        for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] {
            #expect(DashboardServer.Configuration(host: host).isLoopback, "\(host)")
        }
        let guarded = try Dashboard(provider: provider, configuration: .init(queues: ["q"], token: "t"))
        _ = try DashboardServer(dashboard: guarded, configuration: .init(host: "0.0.0.0"))
        #expect(throws: ConveyorError.self) { try Dashboard(provider: provider, configuration: .init(queues: [])) }
        #expect(throws: ConveyorError.self) { try Dashboard(provider: provider, configuration: .init(queues: ["q"], token: "with space")) }
    }
}

/// The id of a job enqueued from another task.
final class EnqueuedID: Sendable {
    let id = Mutex<String?>(nil)
}
