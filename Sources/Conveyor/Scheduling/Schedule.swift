import Foundation

extension ConveyorError.Code {
    /// A schedule could not be parsed or is out of range (for example `every 0s`).
    public static let invalidSchedule = ConveyorError.Code("invalid_schedule")
    /// A time zone name is not a known IANA time zone identifier.
    public static let unknownTimeZone = ConveyorError.Code("unknown_time_zone")
}

/// When a recurring job fires: a cron expression in an IANA time zone, or a fixed interval.
///
/// ## Slots
/// A schedule defines *slots*, instants in whole seconds. ``nextFireDate(after:)`` returns the first slot strictly
/// after a date; ``slots(from:through:limit:)`` lists the slots in a range; `slotKey(scheduleID:slot:)` names a
/// slot deterministically, so that every scheduler instance derives the same deduplication key for it.
///
/// ## Intervals
/// `every 15m`, `every 1h30m`, `every 10s`, `every 1d` (units `d`, `h`, `m`, `s`, largest first, each at most once).
/// Interval slots are anchored at the Unix epoch: they are the instants `k × interval` seconds after
/// 1970-01-01T00:00:00Z, so all instances agree on them regardless of when they start, and time zones and
/// daylight-saving changes do not affect them. (`every 1h30m` fires at 00:00, 01:30, 03:00 … UTC.)
///
/// ## Cron and daylight-saving time
/// A cron schedule matches wall-clock times in its time zone (see ``CronExpression``). Where the local clock jumps,
/// the rules of Vixie cron / cronie apply, decided by the expression's kind:
///
/// - A *fixed-time* expression has no `*`, `?` or step in its second, minute and hour fields (`30 2 * * *`,
///   `0 9,17 * * MON-FRI`). An *interval-like* expression has one (`*/15 * * * *`, `0 * * * *`, `*/10 2 * * *`).
/// - **Spring forward (gap).** Wall-clock times that do not exist that day:
///   - fixed-time: the job fires **once** at the first instant after the gap (02:30 in Europe/Berlin on the
///     spring-forward day fires at 03:00 CEST), however many of its times fell into the gap, and not again if the
///     first time after the gap also matches;
///   - interval-like: the nonexistent times are skipped (every 15 minutes goes 01:45 CET → 03:00 CEST).
/// - **Fall back (overlap).** Wall-clock times that happen twice:
///   - fixed-time: the job fires **once**, at the first occurrence (01:30 in America/New_York fires at 01:30 EDT,
///     not again at 01:30 EST);
///   - interval-like: the job fires on both passes, which are distinct instants (every 15 minutes fires at 01:00,
///     01:15, 01:30, 01:45 EDT and again at 01:00 … 01:45 EST; `@hourly` fires at 01:00 EDT and at 01:00 EST).
///
/// The same rules apply to any offset change, including 30-minute shifts (Australia/Lord_Howe) and changes of a
/// zone's standard offset. So a skipped or repeated hour never makes a fixed-time job run twice or not at all.
///
/// ## Search bound
/// The next fire date is found by jumping field by field (month, day, hour, minute, second). The search looks at
/// most about eight years ahead (enough for `0 0 29 2 *` across a skipped leap year such as 2100) and returns `nil`
/// for expressions that never match, such as `0 0 30 2 *`.
public struct Schedule: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case cron(CronExpression, TimeZone)
        case interval(seconds: Int64)
    }

    let kind: Kind

    init(kind: Kind) {
        self.kind = kind
    }

    /// The largest accepted interval: 100 years.
    static let maximumIntervalSeconds: Int64 = 100 * 366 * 86_400

    /// A cron schedule in the given time zone (UTC by default).
    public static func cron(_ expression: CronExpression, timeZone: TimeZone = TimeZone(identifier: "UTC")!) -> Schedule {
        Schedule(kind: .cron(expression, timeZone))
    }

    /// An interval schedule with epoch-aligned slots.
    ///
    /// - Parameter interval: At least one second, a whole number of seconds, at most 100 years.
    /// - Throws: ``ConveyorError`` with code ``ConveyorError/Code/invalidSchedule`` otherwise.
    public static func every(_ interval: Duration) throws -> Schedule {
        let (seconds, attoseconds) = interval.components
        guard attoseconds == 0, seconds >= 1, seconds <= maximumIntervalSeconds else {
            throw ConveyorError(
                .invalidSchedule,
                "interval \(interval) is not allowed: use a whole number of seconds from 1 s to 100 years")
        }
        return Schedule(kind: .interval(seconds: seconds))
    }

    /// Parses a schedule: an interval (`every 15m`, `every 1h30m`, `every 10s`; `@every 15m` is accepted too) or a
    /// cron expression (`*/5 * * * *`, `0 30 9 * * MON-FRI`, `@daily`) evaluated in `timeZone`.
    ///
    /// - Parameters:
    ///   - text: The schedule.
    ///   - timeZone: An IANA time zone identifier such as `Europe/Berlin` (default `UTC`). It is validated for
    ///     intervals too, but intervals are anchored at the Unix epoch and do not depend on it.
    /// - Throws: ``ConveyorError`` with code ``ConveyorError/Code/invalidCronExpression``,
    ///   ``ConveyorError/Code/invalidSchedule`` or ``ConveyorError/Code/unknownTimeZone``.
    public init(parsing text: String, timeZone: String = "UTC") throws {
        let zone = try Schedule.timeZone(named: timeZone)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let lowered = trimmed.lowercased()
        for prefix in ["every ", "@every "] where lowered.hasPrefix(prefix) {
            let seconds = try Schedule.parseInterval(String(trimmed.dropFirst(prefix.count)), source: trimmed)
            self.init(kind: .interval(seconds: seconds))
            return
        }
        if lowered == "every" || lowered == "@every" {
            throw ConveyorError(.invalidSchedule, "\"\(trimmed)\" has no interval: write e.g. every 15m, every 1h30m or every 10s")
        }
        self.init(kind: .cron(try CronExpression(trimmed), zone))
    }

    /// Looks up an IANA time zone identifier (exact, then case-insensitively).
    ///
    /// - Throws: ``ConveyorError`` with code ``ConveyorError/Code/unknownTimeZone`` if the name is unknown.
    public static func timeZone(named name: String) throws -> TimeZone {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        if let zone = TimeZone(identifier: trimmed) { return zone }
        if let match = TimeZone.knownTimeZoneIdentifiers.first(where: { $0.caseInsensitiveCompare(trimmed) == .orderedSame }),
            let zone = TimeZone(identifier: match)
        {
            return zone
        }
        throw ConveyorError(
            .unknownTimeZone,
            "unknown time zone \"\(name)\": use an IANA time zone identifier such as UTC, Europe/Berlin or America/New_York")
    }

    static func parseInterval(_ text: String, source: String) throws -> Int64 {
        func fail(_ detail: String) -> ConveyorError {
            ConveyorError(
                .invalidSchedule,
                "interval \"\(source)\": \(detail) (write e.g. every 15m, every 1h30m, every 10s; units d, h, m, s, largest first)")
        }
        let units: [(Character, Int64)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
        var total: Int64 = 0
        var digits = ""
        var nextUnitIndex = 0
        var sawComponent = false
        for character in text {
            if character == " " { continue }
            if character.isASCII && character.isNumber {
                digits.append(character)
                continue
            }
            let lower = Character(character.lowercased())
            guard let unitIndex = units.firstIndex(where: { $0.0 == lower }) else {
                throw fail("unexpected \"\(character)\"")
            }
            guard !digits.isEmpty else { throw fail("missing number before \"\(character)\"") }
            guard unitIndex >= nextUnitIndex else { throw fail("unit \"\(character)\" is repeated or out of order") }
            guard digits.count <= 12, let value = Int64(digits) else { throw fail("\(digits) is too large") }
            total += value * units[unitIndex].1
            guard total <= maximumIntervalSeconds else { throw fail("the interval is longer than 100 years") }
            nextUnitIndex = unitIndex + 1
            digits = ""
            sawComponent = true
        }
        guard digits.isEmpty else { throw fail("number \(digits) has no unit") }
        guard sawComponent else { throw fail("no interval given") }
        guard total >= 1 else { throw fail("the interval must be at least 1 second") }
        return total
    }

    /// The cron expression of a cron schedule, `nil` for an interval schedule.
    public var cronExpression: CronExpression? {
        if case .cron(let expression, _) = kind { return expression }
        return nil
    }

    /// The time zone a cron schedule is evaluated in (UTC for interval schedules).
    public var timeZone: TimeZone {
        if case .cron(_, let zone) = kind { return zone }
        return TimeZone(identifier: "UTC")!
    }

    /// The interval of an interval schedule, `nil` for a cron schedule.
    public var interval: Duration? {
        if case .interval(let seconds) = kind { return .seconds(seconds) }
        return nil
    }

    /// A readable form: the interval as `every 1h30m`, or the cron expression followed by its time zone in
    /// parentheses, e.g. `*/5 * * * * (Europe/Berlin)`.
    public var description: String {
        switch kind {
        case .cron(let expression, let zone):
            return "\(expression) (\(zone.identifier))"
        case .interval(let seconds):
            var rest = seconds
            var text = "every "
            for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
                text += "\(rest / size)\(unit)"
                rest %= size
            }
            return text
        }
    }

    /// The deterministic deduplication key of a slot: `"<scheduleID>@<unix seconds>"`.
    ///
    /// Every scheduler instance derives the same key for the same schedule and slot, so a broker's deduplication
    /// drops the copies. The slot is truncated to whole seconds (slots are whole seconds).
    public func slotKey(scheduleID: String, slot: Date) -> String {
        Schedule.slotKey(scheduleID: scheduleID, slot: slot)
    }

    /// The deterministic deduplication key of a slot: `"<scheduleID>@<unix seconds>"`.
    public static func slotKey(scheduleID: String, slot: Date) -> String {
        "\(scheduleID)@\(Int64(slot.timeIntervalSince1970.rounded(.down)))"
    }
}
