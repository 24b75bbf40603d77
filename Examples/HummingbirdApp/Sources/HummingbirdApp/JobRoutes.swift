import Conveyor
import Foundation
import Hummingbird
import Synchronization

/// `POST /jobs` starts a report job and answers its id; `GET /jobs/{id}/events` streams its progress and result to
/// the browser as server-sent events; `GET /` is the page that shows them.
struct JobRoutes: Sendable {
    let client: ConveyorClient
    let jobs = TrackedJobs()

    func add(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: Page.html)))
        }
        router.post("/jobs") { request, context -> Response in
            let input = (try? await request.decode(as: BuildReport.Input.self, context: context)) ?? BuildReport.Input()
            let job = try await client.enqueue(BuildReport.self, input, tracking: .events)
            jobs.add(job)
            return Response(
                status: .accepted, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"job_id":"\#(job.id.rawValue)"}"#))
            )
        }
        router.get("/jobs/:id/events") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let job = jobs.job(id) else { throw HTTPError(.notFound, message: "no job \(id) started here") }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    // The events so far, then each as it comes; the stream ends after the job's final event.
                    for await event in job.events {
                        try await writer.write(ByteBuffer(string: try Self.serverSentEvent(event, job: job)))
                    }
                    try await writer.finish(nil)
                }
            )
        }
    }

    /// One server-sent event: `event: <kind>` and a JSON `data` line.
    static func serverSentEvent(_ event: JobEvent, job: TrackedJob<BuildReport>) async throws -> String {
        struct Data: Encodable {
            var kind: String
            var attempt: Int
            var progress: Double?
            var note: String?
            var output: BuildReport.Output?
            var reason: String?
        }
        var data = Data(kind: event.kind.rawValue, attempt: event.attempt, progress: event.progress, note: event.note, reason: event.reason?.description)
        if event.kind == .succeeded { data.output = try await job.result() }
        let json = String(decoding: try JSONEncoder().encode(data), as: UTF8.self)
        return "event: \(event.kind.rawValue)\ndata: \(json)\n\n"
    }
}

/// The jobs this process started, by id (the most recent 1,000).
final class TrackedJobs: Sendable {
    private let jobs = Mutex<[String: TrackedJob<BuildReport>]>([:])
    private let order = Mutex<[String]>([])

    func add(_ job: TrackedJob<BuildReport>) {
        let evicted: String? = order.withLock { order in
            order.append(job.id.rawValue)
            return order.count > 1_000 ? order.removeFirst() : nil
        }
        jobs.withLock { jobs in
            jobs[job.id.rawValue] = job
            if let evicted { jobs[evicted] = nil }
        }
    }

    func job(_ id: String) -> TrackedJob<BuildReport>? {
        jobs.withLock { $0[id] }
    }
}

/// The page: a button that starts a report, a progress bar fed by server-sent events, and the result.
enum Page {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Reports</title>
        <style>
          body { font: 16px system-ui, sans-serif; margin: 3rem auto; max-width: 36rem; }
          progress { width: 100%; height: 1.5rem; }
          #status { color: #555; }
        </style>
        </head>
        <body>
        <h1>Reports</h1>
        <button id="start">Build a report</button>
        <p><progress id="bar" value="0" max="100"></progress> <span id="percent">0%</span></p>
        <p id="status">Idle.</p>
        <p id="result"></p>
        <script>
        const bar = document.getElementById("bar");
        const percent = document.getElementById("percent");
        const status = document.getElementById("status");
        const result = document.getElementById("result");
        document.getElementById("start").addEventListener("click", async () => {
          bar.value = 0; percent.textContent = "0%"; result.textContent = ""; status.textContent = "Starting…";
          const response = await fetch("/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
          const { job_id } = await response.json();
          status.textContent = "Job " + job_id;
          const events = new EventSource("/jobs/" + job_id + "/events");
          const show = (fraction) => { bar.value = Math.round(fraction * 100); percent.textContent = bar.value + "%"; };
          events.addEventListener("started", (e) => { status.textContent = "Running (attempt " + JSON.parse(e.data).attempt + ")"; });
          events.addEventListener("progress", (e) => { const d = JSON.parse(e.data); show(d.progress); status.textContent = d.note; });
          events.addEventListener("retrying", (e) => { status.textContent = "Retrying: " + JSON.parse(e.data).reason; });
          events.addEventListener("succeeded", (e) => {
            show(1); status.textContent = "Done."; result.textContent = JSON.parse(e.data).output.summary; events.close();
          });
          for (const kind of ["dead_lettered", "failed"]) {
            events.addEventListener(kind, (e) => { status.textContent = "Failed: " + JSON.parse(e.data).reason; events.close(); });
          }
        });
        </script>
        </body>
        </html>
        """
}
