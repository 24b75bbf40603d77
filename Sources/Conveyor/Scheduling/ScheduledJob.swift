import Foundation

/// A recurring job: what runs, when, and where.
///
/// Registering the same definition again (same ``version``) is idempotent; a definition with the same ``id`` but
/// a different ``version`` replaces the older one (firings of the old version are dropped when processed).
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

    /// The deduplication key of the firing of `slot`: schedule, version and slot.
    func claimKey(slot: Date) -> String {
        "\(Schedule.slotKey(scheduleID: id, slot: slot))#\(version)"
    }
}

// MARK: Wire form

extension ScheduledJob {
    /// The JSON object stored in firing and registry messages.
    func jsonObject() -> [String: Any] {
        [
            "id": id,
            "schedule": scheduleText,
            "time_zone": schedule.timeZone.identifier,
            "task": task,
            "payload": String(decoding: payload, as: UTF8.self),
            "queue": queue,
            "missed": missedSlotPolicy.description,
            "version": version,
        ]
    }

    /// Reads the JSON object written by ``jsonObject()``.
    init(jsonObject object: [String: Any]) throws {
        guard let id = object["id"] as? String, let text = object["schedule"] as? String, let zone = object["time_zone"] as? String,
            let task = object["task"] as? String, let payload = object["payload"] as? String, let queue = object["queue"] as? String
        else {
            throw ConveyorError(.malformedEnvelope, "a schedule definition lacks one of id, schedule, time_zone, task, payload, queue")
        }
        let policy: MissedSlotPolicy = (object["missed"] as? String) == MissedSlotPolicy.runOnce.description ? .runOnce : .skip
        try self.init(id: id, schedule: try Schedule(parsing: text, timeZone: zone), task: task, payload: Array(payload.utf8), queue: queue, missedSlotPolicy: policy)
    }
}

/// The payload of firing (`conveyor.schedule.fire`, `conveyor.schedule.claim`) and registry
/// (`conveyor.schedule.definition`) messages.
struct ScheduleRecord: Sendable {
    var definition: ScheduledJob
    /// The slot a firing is for; the registration time for registry records.
    var date: Date
    /// A registry tombstone: the schedule was removed at ``date``.
    var removed = false

    func encode() -> [UInt8] {
        let object: [String: Any] = [
            "definition": definition.jsonObject(),
            "at_ms": Int64((date.timeIntervalSince1970 * 1000).rounded()),
            "removed": removed,
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    init(definition: ScheduledJob, date: Date, removed: Bool = false) {
        self.definition = definition
        self.date = date
        self.removed = removed
    }

    init(decoding bytes: [UInt8]) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let definition = object["definition"] as? [String: Any], let at = (object["at_ms"] as? NSNumber)?.int64Value
        else {
            throw ConveyorError(.malformedEnvelope, "a schedule message payload is not a schedule record")
        }
        self.definition = try ScheduledJob(jsonObject: definition)
        self.date = Date(timeIntervalSince1970: Double(at) / 1000)
        self.removed = (object["removed"] as? Bool) ?? false
    }
}
