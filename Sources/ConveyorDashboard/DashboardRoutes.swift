import Conveyor
import Foundation
import Hummingbird
import Mustache
import ServiceLifecycle

/// The dashboard's routes: pages, actions (POST), the JSON API and assets. Queue names in paths are checked
/// against ``Dashboard/Configuration/queues``: any other answers 404.
struct DashboardRoutes<Context: RequestContext>: Sendable {
    let dashboard: Dashboard
    /// Where the dashboard is mounted, `""` or `"/path"`.
    let base: String

    var configuration: Dashboard.Configuration { dashboard.configuration }
    var provider: any QueueProvider { dashboard.provider }

    func add(to group: RouterGroup<Context>) {
        group.get("") { _, _ in try await overviewPage() }
        group.get("assets/dashboard.css") { _, _ in Self.asset(DashboardAssets.css, type: "text/css; charset=utf-8") }
        group.get("assets/dashboard.js") { _, _ in Self.asset(DashboardAssets.javascript, type: "text/javascript; charset=utf-8") }
        group.get("queues/:queue") { _, context in try await queuePage(try queue(context)) }
        group.get("queues/:queue/events") { _, context in try liveEvents(try queue(context)) }
        group.post("queues/:queue/pause") { request, context in try await setPaused(true, try queue(context), request) }
        group.post("queues/:queue/resume") { request, context in try await setPaused(false, try queue(context), request) }
        group.get("queues/:queue/dead-letters") { _, context in try await deadLettersPage(try queue(context)) }
        group.get("queues/:queue/dead-letters/:id") { _, context in
            try await deadLetterPage(try queue(context), id: try parameter("id", context))
        }
        group.post("queues/:queue/dead-letters/redrive") { request, context in try await redrive(try queue(context), request) }
        group.post("queues/:queue/dead-letters/purge") { request, context in try await purge(try queue(context), request) }
        group.get("schedules") { _, _ in try await schedulesPage() }
        group.post("schedules") { request, _ in try await addSchedule(request) }
        group.post("schedules/remove") { request, _ in try await removeSchedule(request) }
        group.get("workers") { _, _ in try workersPage() }

        group.get("api/session") { _, _ in try Self.json(["csrf": dashboard.csrfToken]) }
        group.get("api/queues") { _, _ in try Self.json(await queueRows().map(\.api)) }
        group.get("api/queues/:queue/running") { _, context in
            let queue = try queue(context)
            let running = (dashboard.board.snapshot(queue)?.running.values.sorted { $0.startedAt < $1.startedAt }) ?? []
            return try Self.json(running.map(APIRunningJob.init))
        }
        group.get("api/queues/:queue/dead-letters") { _, context in
            try Self.json(try await deadLetters(try queue(context)).map(APIDeadLetter.init))
        }
        group.get("api/schedules") { _, _ in
            let scheduler = try scheduler()
            let jobs = try await withDeadline(configuration.brokerTimeout, "reading the schedules") { try await scheduler.registeredJobs() }
                .filter { configuration.queues.contains($0.queue) }
            return try Self.json(jobs.map { APISchedule($0, now: Date()) })
        }
        group.get("api/workers") { _, _ in
            try Self.json(dashboard.board.workers(expiry: configuration.workerExpiry).map(APIWorker.init))
        }
    }

    // MARK: Pages

    private func overviewPage() async throws -> Response {
        let rows = await queueRows()
        return try page("overview", title: "Queues", ["queues": rows.map(\.page)])
    }

    private func queuePage(_ queue: String) async throws -> Response {
        let row = await queueRow(queue)
        let live = dashboard.board.snapshot(queue)
        let running = (live?.running.values.sorted { $0.startedAt < $1.startedAt }) ?? []
        var values = row.page
        values["canPause"] = provider.pausing != nil
        values["isPaused"] = row.paused == true
        values["pauseAction"] = row.paused == true ? "resume" : "pause"
        values["pauseLabel"] = row.paused == true ? "Resume" : "Pause"
        values["following"] = live?.following ?? false
        values["problem"] = live?.problem ?? "the dashboard's service is not running (add it to the ServiceGroup)"
        values["running"] = running.map { job -> [String: Any] in
            ["id": job.id.rawValue, "task": job.task, "attempt": job.attempt, "progressValue": job.progress.map { String($0) } ?? "0",
             "note": job.note ?? ""]
        }
        values["failures"] = (live?.failures.reversed() ?? []).map { failure -> [String: Any] in
            ["at": RFC3339.format(failure.at), "id": failure.id.rawValue, "task": failure.task, "attempt": failure.attempt,
             "kind": failure.kind.rawValue, "code": failure.code, "message": failure.message]
        }
        return try page("queue", title: "Queue \(queue)", values)
    }

    private func deadLettersPage(_ queue: String) async throws -> Response {
        var values: [String: Any] = ["queue": queue, "path": Self.pathComponent(queue)]
        do {
            let letters = try await deadLetters(queue)
            let provider = self.provider
            let stats = try? await withDeadline(configuration.brokerTimeout, "counting \(queue)") { try await provider.stats(of: queue) }
            values["count"] = stats.map { String($0.deadLettered) } ?? "?"
            values["shown"] = letters.count
            values["letters"] = letters.map { letter -> [String: Any] in
                let api = APIDeadLetter(letter)
                var row: [String: Any] = [
                    "task": api.task ?? "", "code": api.reason_code, "reason": api.reason, "attempts": api.attempts,
                    "at": api.dead_lettered_at ?? "",
                ]
                if let id = api.id {
                    row["id"] = id
                    row["idPath"] = Self.pathComponent(id)
                }
                return row
            }
        } catch {
            values["error"] = "\(error)"
            values["count"] = "?"
            values["shown"] = 0
        }
        return try page("deadLetters", title: "Dead letters of \(queue)", values)
    }

    private func deadLetterPage(_ queue: String, id: String) async throws -> Response {
        let letters = try await deadLetters(queue)
        guard let letter = letters.first(where: { (try? $0.envelope.get().id.rawValue) == id }) else {
            throw HTTPError(.notFound, message: "no dead letter \(id) among the first \(letters.count) of \(queue)")
        }
        let api = APIDeadLetter(letter)
        var values: [String: Any] = ["queue": queue, "path": Self.pathComponent(queue), "id": id]
        var fields: [[String: Any]] = [
            ["name": "Reason code", "value": api.reason_code], ["name": "Reason", "value": api.reason],
            ["name": "Attempts", "value": api.attempts],
        ]
        if case .success(let envelope) = letter.envelope {
            fields += [
                ["name": "Job", "value": envelope.id.rawValue], ["name": "Task", "value": envelope.task],
                ["name": "Created", "value": RFC3339.format(envelope.createdAt)], ["name": "Priority", "value": envelope.priority],
                ["name": "Max attempts", "value": envelope.maxAttempts.map(String.init) ?? "task default"],
                ["name": "Correlation id", "value": envelope.correlationID ?? ""],
                ["name": "Deduplication key", "value": envelope.deduplicationKey ?? ""],
            ]
            values["headers"] = envelope.headers.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] }
            values["payload"] = String(decoding: envelope.payload, as: UTF8.self)
        }
        values["fields"] = fields
        values["rawBody"] = letter.rawBody.map { String(decoding: $0, as: UTF8.self) } ?? "(not kept by this provider)"
        return try page("deadLetter", title: "Dead letter \(id)", values)
    }

    private func schedulesPage() async throws -> Response {
        var values: [String: Any] = [:]
        do {
            let now = Date()
            let scheduler = try scheduler()
            let jobs = try await withDeadline(configuration.brokerTimeout, "reading the schedules") { try await scheduler.registeredJobs() }
                .filter { configuration.queues.contains($0.queue) }
            values["schedules"] = jobs.map { job -> [String: Any] in
                let api = APISchedule(job, now: now)
                return ["id": api.id, "schedule": api.schedule, "timeZone": api.time_zone, "task": api.task, "queue": api.queue,
                        "missed": api.missed, "last": api.last ?? "-", "next": api.next ?? "-"]
            }
        } catch let error as HTTPError {
            throw error
        } catch {
            values["error"] = "\(error)"
        }
        return try page("schedules", title: "Schedules", values)
    }

    private func workersPage() throws -> Response {
        let workers = dashboard.board.workers(expiry: configuration.workerExpiry)
        let following = configuration.queues.contains { dashboard.board.snapshot($0)?.following == true }
        return try page("workers", title: "Workers", [
            "workers": workers.map { worker -> [String: Any] in
                let api = APIWorker(worker)
                return ["host": api.host, "pid": api.pid, "queues": api.queues.joined(separator: ", "), "concurrency": api.concurrency,
                        "busy": api.busy, "startedAt": api.started_at, "seenAt": api.last_heartbeat]
            },
            "expiry": configuration.workerExpiry.components.seconds,
            "following": following,
        ])
    }

    // MARK: Live events

    /// The queue's job events as server-sent events (`event: job`, a JSON `data` line per event), from now until
    /// the browser goes away or the dashboard stops; a comment line every 15 s keeps proxies from closing it.
    private func liveEvents(_ queue: String) throws -> Response {
        let board = dashboard.board
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                // Registered here, so that the listener goes with the body whatever happens to the response.
                guard let (id, events) = board.listen(queue) else { return }
                defer { board.stopListening(queue, id: id) }
                try await writer.write(ByteBuffer(string: ": following \(queue)\n\n"))
                // Events and keep-alive comments, merged into one stream that this body alone writes. The stream
                // ends on the server's graceful shutdown, which otherwise would wait for it.
                let (outgoing, output) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(1_000))
                try await withGracefulShutdownHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await event in events { output.yield(Array("event: job\ndata: ".utf8) + event.json + Array("\n\n".utf8)) }
                            output.finish()
                        }
                        group.addTask {
                            while true {
                                try await Task.sleep(for: .seconds(15))
                                output.yield(Array(": keep-alive\n\n".utf8))
                            }
                        }
                        defer { group.cancelAll() }
                        for await bytes in outgoing { try await writer.write(ByteBuffer(bytes: bytes)) }
                    }
                } onGracefulShutdown: {
                    output.finish()
                }
                try await writer.finish(nil)
            }
        )
    }

    // MARK: Actions

    private func setPaused(_ paused: Bool, _ queue: String, _ request: Request) async throws -> Response {
        guard let pausing = provider.pausing else {
            throw HTTPError(.conflict, message: "the \(provider.name) provider cannot pause queues")
        }
        try await pausing.setPaused(paused, queue: queue)
        return done(request, back: "\(base)/queues/\(Self.pathComponent(queue))", ["queue": queue, "paused": paused])
    }

    private func redrive(_ queue: String, _ request: Request) async throws -> Response {
        let fields = try await form(request)
        guard let deadLetters = provider.deadLetterQueues else {
            throw HTTPError(.conflict, message: "the \(provider.name) provider keeps no dead-letter queue")
        }
        let ids = fields.all("id").filter { !$0.isEmpty }
        let all = fields.first("all") == "1"
        guard all || !ids.isEmpty else {
            throw HTTPError(.badRequest, message: "select at least one job to redrive, or redrive all")
        }
        let count = try await deadLetters.redrive(queue, ids: all ? nil : Set(ids.map { JobID($0) }))
        return done(request, back: "\(base)/queues/\(Self.pathComponent(queue))/dead-letters", ["queue": queue, "redriven": count])
    }

    private func purge(_ queue: String, _ request: Request) async throws -> Response {
        let fields = try await form(request)
        guard fields.first("confirm") == queue else {
            throw HTTPError(.badRequest, message: "type the queue's name (\(queue)) in the confirmation field to purge its dead letters")
        }
        guard let deadLetters = provider.deadLetterQueues else {
            throw HTTPError(.conflict, message: "the \(provider.name) provider keeps no dead-letter queue")
        }
        let count = try await deadLetters.purgeDeadLetters(of: queue)
        return done(request, back: "\(base)/queues/\(Self.pathComponent(queue))/dead-letters", ["queue": queue, "purged": count])
    }

    private func addSchedule(_ request: Request) async throws -> Response {
        let fields = try await form(request)
        let policy: MissedSlotPolicy
        switch fields.first("missed") ?? "skip" {
        case "skip": policy = .skip
        case "run-once": policy = .runOnce
        default: throw HTTPError(.badRequest, message: "missed slots: use skip or run-once")
        }
        let job: ScheduledJob
        do {
            job = try ScheduledJob(
                id: fields.first("id") ?? "",
                schedule: Schedule(parsing: fields.first("schedule") ?? "", timeZone: fields.first("time_zone").flatMap { $0.isEmpty ? nil : $0 } ?? "UTC"),
                task: fields.first("task") ?? "",
                payload: Array((fields.first("payload").flatMap { $0.isEmpty ? nil : $0 } ?? "{}").utf8),
                queue: fields.first("queue").flatMap { $0.isEmpty ? nil : $0 } ?? configuration.queues[0],
                missedSlotPolicy: policy
            )
        } catch {
            throw HTTPError(.badRequest, message: "\(error)")
        }
        guard configuration.queues.contains(job.queue) else {
            throw HTTPError(.badRequest, message: "queue \(job.queue) is not one of this dashboard's queues (\(configuration.queues.joined(separator: ", ")))")
        }
        try await scheduler().register(job)
        return done(request, back: "\(base)/schedules", ["schedule": job.id, "added": true])
    }

    private func removeSchedule(_ request: Request) async throws -> Response {
        let fields = try await form(request)
        guard let id = fields.first("id"), !id.isEmpty else { throw HTTPError(.badRequest, message: "which schedule? (field id)") }
        let scheduler = try scheduler()
        let limit = configuration.brokerTimeout
        let registered = try await withDeadline(limit, "reading the schedules") { try await scheduler.registeredJobs() }
        guard registered.contains(where: { $0.id == id && configuration.queues.contains($0.queue) }) else {
            throw HTTPError(.notFound, message: "no schedule \(id) is registered for this dashboard's queues")
        }
        guard try await scheduler.remove(id) else { throw HTTPError(.notFound, message: "no schedule \(id) is registered") }
        return done(request, back: "\(base)/schedules", ["schedule": id, "removed": true])
    }

    // MARK: Reading the broker

    struct QueueRow {
        var queue: String
        var stats: QueueStats?
        var paused: Bool?
        var jobsPerSecond: Double
        var error: String?

        var api: APIQueue {
            APIQueue(
                queue: queue, ready: stats?.ready, in_flight: stats?.inFlight, delayed: stats?.delayed,
                dead_lettered: stats?.deadLettered, paused: paused, jobs_per_second: (jobsPerSecond * 10).rounded() / 10, error: error)
        }

        var page: [String: Any] {
            var values: [String: Any] = [
                "queue": queue, "path": DashboardRoutes.pathComponent(queue),
                "ready": stats.map { String($0.ready) } ?? "?", "inFlight": stats.map { String($0.inFlight) } ?? "?",
                "delayed": stats.map { String($0.delayed) } ?? "?", "deadLettered": stats.map { String($0.deadLettered) } ?? "?",
                "paused": paused.map { $0 ? "yes" : "no" } ?? "-", "jobsPerSecond": String(format: "%.1f", jobsPerSecond),
            ]
            if let paused { values["paused"] = paused ? "yes" : "no" }
            if let error { values["error"] = error }
            return values
        }
    }

    /// Every configured queue's counts, read at once.
    func queueRows() async -> [QueueRow] {
        await withTaskGroup(of: (Int, QueueRow).self) { group in
            for (index, queue) in configuration.queues.enumerated() {
                group.addTask { (index, await queueRow(queue)) }
            }
            var rows: [(Int, QueueRow)] = []
            for await row in group { rows.append(row) }
            return rows.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    private func queueRow(_ queue: String) async -> QueueRow {
        var row = QueueRow(queue: queue, jobsPerSecond: dashboard.board.jobsPerSecond(queue))
        let provider = self.provider
        let limit = configuration.brokerTimeout
        do {
            row.stats = try await withDeadline(limit, "counting \(queue)") { try await provider.stats(of: queue) }
            if let pausing = provider.pausing {
                row.paused = try await withDeadline(limit, "reading whether \(queue) is paused") { try await pausing.isPaused(queue) }
            }
        } catch {
            row.error = "\(error)"
        }
        return row
    }

    private func deadLetters(_ queue: String) async throws -> [DeadLetter] {
        guard let deadLetters = provider.deadLetterQueues else {
            throw HTTPError(.conflict, message: "the \(provider.name) provider keeps no dead-letter queue")
        }
        let size = configuration.deadLetterPageSize
        return try await withDeadline(configuration.brokerTimeout, "reading the dead letters of \(queue)") {
            try await deadLetters.deadLetters(of: queue, limit: size)
        }
    }

    private func scheduler() throws -> JobScheduler {
        guard let name = configuration.schedulesQueue else {
            throw HTTPError(.notFound, message: "schedules are not shown by this dashboard")
        }
        return JobScheduler(
            provider: provider,
            configuration: JobScheduler.Configuration(timerQueue: name, claimQueue: "\(name)-claims", registryQueue: "\(name)-registry"),
            logger: dashboard.logger
        )
    }

    // MARK: Helpers

    private func queue(_ context: Context) throws -> String {
        let name = try parameter("queue", context)
        guard configuration.queues.contains(name) else {
            throw HTTPError(.notFound, message: "queue \(name) is not one of this dashboard's queues")
        }
        return name
    }

    private func parameter(_ name: String, _ context: Context) throws -> String {
        guard let raw = context.parameters.get(name), let value = raw.removingPercentEncoding else {
            throw HTTPError(.badRequest, message: "bad \(name) in the path")
        }
        return value
    }

    private func form(_ request: Request) async throws -> FormFields {
        var request = request
        let body = try await request.collectBody(upTo: DashboardAccess<Context>.maximumFormBytes)
        return FormFields(body: String(buffer: body))
    }

    /// The answer to a successful action: JSON when the client asked for it, else a redirect back to the page.
    private func done(_ request: Request, back: String, _ result: [String: any Sendable]) -> Response {
        if request.headers[.accept]?.contains("application/json") == true {
            var object = result.mapValues { $0 as Any }
            object["ok"] = true
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return Response(status: .seeOther, headers: [.location: back.isEmpty ? "/" : back])
    }

    private func page(_ template: String, title: String, _ values: [String: Any]) throws -> Response {
        var context = values
        context["base"] = base
        context["csrf"] = dashboard.csrfToken
        context["pageTitle"] = title
        context["hasSchedules"] = configuration.schedulesQueue != nil
        if let url = configuration.metricsURL { context["metricsURL"] = url }
        guard case .success(let library) = DashboardTemplates.library, let html = library.render(context, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "the dashboard's \(template) page could not be rendered")
        }
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    private static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// `name` percent-encoded for one path segment.
    static func pathComponent(_ name: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }
}
