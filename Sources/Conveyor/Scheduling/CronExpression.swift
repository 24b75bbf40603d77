extension ConveyorError.Code {
    /// A cron expression could not be parsed; the message names the field, the bad token and what is allowed.
    public static let invalidCronExpression = ConveyorError.Code("invalid_cron_expression")
}

/// A parsed cron expression: which wall-clock times match.
///
/// Syntax (as in Vixie cron / cronie, with the usual extensions):
///
/// - 5 fields `minute hour day-of-month month day-of-week`, or 6 fields with a leading `second` field.
///   Without a seconds field the expression matches at second 0.
/// - In every field: `*` (any value), a value `5`, a range `1-5`, steps `*/15`, `1-30/5` and `10/5`
///   (from 10 to the field's maximum; in day-of-week that is 7, so `1/2` is Monday, Wednesday, Friday and
///   Sunday, as in Vixie cron), and lists of those, `1,15,30-35`. A step may not exceed the field's span.
/// - Ranges: second 0-59, minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or `JAN`-`DEC`,
///   day-of-week 0-7 or `SUN`-`SAT` (0 and 7 are both Sunday). Names are case-insensitive and may be used in
///   ranges (`MON-FRI`); a range ending in `SUN` wraps to 7 (`FRI-SUN`). Reversed ranges (`5-1`) are rejected.
/// - `?` means the same as `*` in the day-of-month and day-of-week fields.
/// - `L` in the day-of-month field means the last day of the month (may be combined in a list, `1,15,L`).
/// - Macros: `@yearly` and `@annually` (`0 0 1 1 *`), `@monthly` (`0 0 1 * *`), `@weekly` (`0 0 * * 0`),
///   `@daily` and `@midnight` (`0 0 * * *`), `@hourly` (`0 * * * *`). `@reboot` is rejected.
///
/// Day matching follows the Vixie cron rule: when both day-of-month and day-of-week are restricted (neither field
/// begins with `*` or `?`), a day matches if **either** field matches; otherwise both must match. As in Vixie cron,
/// a field beginning with `*` (for example `*/2`) counts as unrestricted for this rule.
///
/// Equality compares what the expressions match (and how they behave across daylight-saving changes), not their
/// spelling: `@daily` equals `0 0 * * *`.
///
/// A `CronExpression` only describes wall-clock times; ``Schedule`` combines it with a time zone and computes
/// fire dates, including the daylight-saving rules.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// Matching seconds, bit n = second n (0-59).
    let seconds: UInt64
    /// Matching minutes, bit n = minute n (0-59).
    let minutes: UInt64
    /// Matching hours, bit n = hour n (0-23).
    let hours: UInt64
    /// Matching days of the month, bit n = day n (1-31).
    let daysOfMonth: UInt64
    /// Whether `L` (the last day of the month) was given in the day-of-month field.
    let lastDayOfMonth: Bool
    /// Matching months, bit n = month n (1-12).
    let months: UInt64
    /// Matching days of the week, bit n = weekday n (0 = Sunday ... 6 = Saturday).
    let daysOfWeek: UInt64
    /// The day-of-month field begins with `*` or `?` (Vixie's DOM_STAR).
    let dayOfMonthIsStar: Bool
    /// The day-of-week field begins with `*` or `?` (Vixie's DOW_STAR).
    let dayOfWeekIsStar: Bool
    /// The second, minute or hour field uses `*`, `?` or a step, so the expression is "interval-like" rather than
    /// "fixed-time" for the daylight-saving rules of ``Schedule``.
    let isIntervalLike: Bool
    /// Whether the expression had a seconds field.
    let hasSeconds: Bool
    /// The source text, whitespace-normalised.
    let text: String

    /// Parses a cron expression.
    ///
    /// - Parameter text: 5 or 6 whitespace-separated fields, or a macro such as `@daily`.
    /// - Throws: ``ConveyorError`` with code ``ConveyorError/Code/invalidCronExpression`` and a message that names
    ///   the field, the bad token and what is allowed, e.g. `minute field "75": value 75 is out of range 0-59`.
    public init(_ text: String) throws {
        self = try CronExpression.parse(text)
    }

    init(
        seconds: UInt64, minutes: UInt64, hours: UInt64, daysOfMonth: UInt64, lastDayOfMonth: Bool,
        months: UInt64, daysOfWeek: UInt64, dayOfMonthIsStar: Bool, dayOfWeekIsStar: Bool,
        isIntervalLike: Bool, hasSeconds: Bool, text: String
    ) {
        self.seconds = seconds
        self.minutes = minutes
        self.hours = hours
        self.daysOfMonth = daysOfMonth
        self.lastDayOfMonth = lastDayOfMonth
        self.months = months
        self.daysOfWeek = daysOfWeek
        self.dayOfMonthIsStar = dayOfMonthIsStar
        self.dayOfWeekIsStar = dayOfWeekIsStar
        self.isIntervalLike = isIntervalLike
        self.hasSeconds = hasSeconds
        self.text = text
    }

    /// The expression as it was written (with whitespace normalised to single spaces).
    public var description: String { text }

    /// Whether the expression has a leading seconds field (6 fields).
    public var includesSeconds: Bool { hasSeconds }

    /// Whether the expression is *fixed-time* for the daylight-saving rules of ``Schedule``: its second, minute and
    /// hour fields use neither `*`, `?` nor a step (`30 2 * * *`, `0 9,17 * * MON-FRI`). Other expressions
    /// (`*/15 * * * *`, `0 * * * *`) are *interval-like*.
    public var isFixedTime: Bool { !isIntervalLike }

    /// Whether a day must match both day fields (one of them begins with `*` or `?`) rather than either.
    var daysMatchBothFields: Bool { dayOfMonthIsStar || dayOfWeekIsStar }

    /// Compares what the expressions match, not how they were spelled.
    public static func == (lhs: CronExpression, rhs: CronExpression) -> Bool {
        lhs.seconds == rhs.seconds && lhs.minutes == rhs.minutes && lhs.hours == rhs.hours
            && lhs.daysOfMonth == rhs.daysOfMonth && lhs.lastDayOfMonth == rhs.lastDayOfMonth
            && lhs.months == rhs.months && lhs.daysOfWeek == rhs.daysOfWeek
            && lhs.daysMatchBothFields == rhs.daysMatchBothFields && lhs.isIntervalLike == rhs.isIntervalLike
    }

    /// Hashes what the expression matches, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(seconds)
        hasher.combine(minutes)
        hasher.combine(hours)
        hasher.combine(daysOfMonth)
        hasher.combine(lastDayOfMonth)
        hasher.combine(months)
        hasher.combine(daysOfWeek)
        hasher.combine(daysMatchBothFields)
        hasher.combine(isIntervalLike)
    }
}
