import Foundation

/// A recurring job: what runs, when, and where.
///
/// Registering the same definition again (same ``version``) is idempotent; a definition with the same ``id`` but
/// a different ``version`` replaces the older one: each slot is claimed once, whatever the version, and runs under
/// the definition of the instance that processes it.
public struct ScheduledJob: Sendable, Hashable {
    /// The schedule's stable identifier (part of every slot's deduplication key).
    public var id: String
    /// When it fires.
    public var schedule: Schedule
    /// The registered task name to enqueue.
    public var task: String
    /// The task input, as UTF-8 JSON bytes.
    public var payload: [UInt8]
    /// The queue the job is enqueued to.
    public var queue: String
    /// What to do with slots missed while no scheduler ran.
    public var missedSlotPolicy: MissedSlotPolicy

    /// Creates a definition.
    ///
    /// - Throws: ``ConveyorError/Code/invalidParameter`` when `id` or `task` is empty or `payload` is not JSON.
    public init(
        id: String,
        schedule: Schedule,
        task: String,
        payload: [UInt8] = Array("{}".utf8),
        queue: String = "default",
        missedSlotPolicy: MissedSlotPolicy = .skip
    ) throws {
        guard !id.isEmpty, id.utf8.count <= 200 else {
            throw ConveyorError(.invalidParameter, "a schedule id must have 1 to 200 bytes")
        }
        guard !task.isEmpty else {
            throw ConveyorError(.invalidParameter, "schedule \(id): the task name is empty")
        }
        guard (try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed])) != nil else {
            throw ConveyorError(.invalidParameter, "schedule \(id): the payload is not valid JSON")
        }
        self.id = id
        self.schedule = schedule
        self.task = task
        self.payload = payload
        self.queue = queue
        self.missedSlotPolicy = missedSlotPolicy
    }

    /// The schedule text (a cron expression or `every …`), without the time zone.
    public var scheduleText: String {
        schedule.cronExpression?.description ?? schedule.description
    }

    /// A fingerprint of the whole definition (16 hex digits); changes whenever anything in it changes.
    public var version: String {
        let canonical = [id, scheduleText, schedule.timeZone.identifier, task, String(decoding: payload, as: UTF8.self), queue, missedSlotPolicy.description]
            .joined(separator: "\n")
        return StableHash.hex(StableHash.fnv1a(canonical.utf8))
    }
}

// MARK: Wire form

/// The JSON form of a ``ScheduledJob`` in firing and registry messages.
struct ScheduledJobWire: Codable, Sendable {
    var id: String
    var schedule: String
    var timeZone: String
    var task: String
    var payload: String
    var queue: String
    var missed: String
    var version: String

    enum CodingKeys: String, CodingKey {
        case id, schedule, task, payload, queue, missed, version
        case timeZone = "time_zone"
    }

    init(_ job: ScheduledJob) {
        id = job.id
        schedule = job.scheduleText
        timeZone = job.schedule.timeZone.identifier
        task = job.task
        payload = String(decoding: job.payload, as: UTF8.self)
        queue = job.queue
        missed = job.missedSlotPolicy.description
        version = job.version
    }

    func job() throws -> ScheduledJob {
        let policy: MissedSlotPolicy = missed == MissedSlotPolicy.runOnce.description ? .runOnce : .skip
        return try ScheduledJob(
            id: id, schedule: Schedule(parsing: schedule, timeZone: timeZone), task: task, payload: Array(payload.utf8), queue: queue,
            missedSlotPolicy: policy
        )
    }
}

/// The payload of firing (`conveyor.schedule.fire`, `conveyor.schedule.claim`) and registry
/// (`conveyor.schedule.definition`) messages.
struct ScheduleRecord: Sendable {
    var definition: ScheduledJob
    /// The slot a firing is for; the registration (or removal) time for registry records.
    var date: Date
    /// A registry tombstone: the schedule was removed at ``date``.
    var removed = false

    private struct Wire: Codable {
        var definition: ScheduledJobWire
        var atMilliseconds: Int64
        var removed: Bool

        enum CodingKeys: String, CodingKey {
            case definition, removed
            case atMilliseconds = "at_ms"
        }
    }

    init(definition: ScheduledJob, date: Date, removed: Bool = false) {
        self.definition = definition
        self.date = date
        self.removed = removed
    }

    func encode() -> [UInt8] {
        let wire = Wire(definition: ScheduledJobWire(definition), atMilliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()), removed: removed)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(wire)) ?? Data("{}".utf8))
    }

    init(decoding bytes: [UInt8]) throws {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(bytes))
        } catch {
            throw ConveyorError(.malformedEnvelope, "a schedule message payload is not a schedule record")
        }
        self.definition = try wire.definition.job()
        self.date = Date(timeIntervalSince1970: Double(wire.atMilliseconds) / 1000)
        self.removed = wire.removed
    }
}
