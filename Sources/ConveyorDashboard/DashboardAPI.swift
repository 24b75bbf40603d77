import Conveyor
import Foundation

// The JSON API's objects (`GET api/...`), with the field names of the wire format and the CLI's `--json` output.

/// `GET api/queues`: one per configured queue. Counts are `null` (and `error` says why) when the broker did not
/// answer; `paused` is `null` when the provider cannot pause.
struct APIQueue: Encodable, Sendable {
    var queue: String
    var ready: Int?
    var in_flight: Int?
    var delayed: Int?
    var dead_lettered: Int?
    var paused: Bool?
    var jobs_per_second: Double
    var error: String?
}

/// `GET api/queues/{queue}/running`.
struct APIRunningJob: Encodable, Sendable {
    var id: String
    var task: String
    var attempt: Int
    var started_at: String
    var progress: Double?
    var note: String?

    init(_ job: LiveBoard.RunningJob) {
        id = job.id.rawValue
        task = job.task
        attempt = job.attempt
        started_at = RFC3339.format(job.startedAt)
        progress = job.progress
        note = job.note
    }
}

/// `GET api/queues/{queue}/dead-letters`.
struct APIDeadLetter: Encodable, Sendable {
    var id: String?
    var task: String?
    var reason_code: String
    var reason: String
    var attempts: Int
    var dead_lettered_at: String?
    var payload: String?
    /// Why the envelope could not be read, for a message that is not a Conveyor envelope.
    var unreadable: String?

    init(_ letter: DeadLetter) {
        reason_code = letter.reason.code
        reason = letter.reason.message
        attempts = letter.attempts
        switch letter.envelope {
        case .success(let envelope):
            id = envelope.id.rawValue
            task = envelope.task
            dead_lettered_at = envelope.headers[Envelope.HeaderKey.deadLetteredAt]
            payload = String(decoding: envelope.payload, as: UTF8.self)
        case .failure(let error):
            unreadable = error.description
            payload = letter.rawBody.map { String(decoding: $0, as: UTF8.self) }
        }
    }
}

/// `GET api/schedules`.
struct APISchedule: Encodable, Sendable {
    var id: String
    var schedule: String
    var time_zone: String
    var task: String
    var queue: String
    var missed: String
    /// The most recent slot (the schedulers fire every slot while one runs).
    var last: String?
    var next: String?

    init(_ job: ScheduledJob, now: Date) {
        id = job.id
        schedule = job.scheduleText
        time_zone = job.schedule.timeZone.identifier
        task = job.task
        queue = job.queue
        missed = job.missedSlotPolicy.description
        next = job.schedule.nextFireDate(after: now).map(RFC3339.format)
        last = Self.lastSlot(of: job.schedule, before: now).map(RFC3339.format)
    }

    /// The latest slot at or before `now`, looked for in growing windows (an hour, a day, a month, a year).
    static func lastSlot(of schedule: Schedule, before now: Date) -> Date? {
        for window: TimeInterval in [3_600, 86_400, 31 * 86_400, 366 * 86_400] {
            if let last = schedule.slots(from: now.addingTimeInterval(-window), through: now).last { return last }
        }
        return nil
    }
}

/// `GET api/workers`.
struct APIWorker: Encodable, Sendable {
    var id: String
    var host: String
    var pid: Int
    var queues: [String]
    var concurrency: Int
    var busy: Int
    var started_at: String
    var last_heartbeat: String

    init(_ worker: LiveBoard.LiveWorker) {
        id = worker.heartbeat.workerID
        host = worker.heartbeat.host
        pid = worker.heartbeat.pid
        queues = worker.heartbeat.queues
        concurrency = worker.heartbeat.concurrency
        busy = worker.heartbeat.busy
        started_at = RFC3339.format(worker.heartbeat.startedAt)
        last_heartbeat = RFC3339.format(worker.seenAt)
    }
}
