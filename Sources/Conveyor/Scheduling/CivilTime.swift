/// Proleptic Gregorian calendar arithmetic on plain integers, independent of any time zone: the one place where
/// civil dates and day counts are converted, for RFC 3339 timestamps (``RFC3339``) and cron schedules.
///
/// A wall-clock time is counted as seconds since 1970-01-01T00:00:00 *on the local clock*; converting it to an
/// instant is the time zone's job (see `ZoneResolver`). The algorithms are Howard Hinnant's `days_from_civil` and
/// `civil_from_days`.
///
/// Every function is total: no input traps. Months outside 1...12 and days outside the month carry over as in
/// Foundation's `Calendar.date(from:)` (month 13 is January of the next year, day 0 the last day of the previous
/// month), and results are clamped to ``supportedYears``, far beyond any date Conveyor handles.
enum CivilTime {
    static let secondsPerDay: Int64 = 86_400

    /// The years the arithmetic covers; inputs beyond them are clamped to them (so that no product overflows).
    static let supportedYears: ClosedRange<Int64> = -1_000_000_000...1_000_000_000

    /// Day counts since 1970-01-01 of the first and last day of ``supportedYears`` (checked by the tests).
    static let supportedDays: ClosedRange<Int64> = -365_243_219_528...365_241_780_837

    /// Floor division (rounds toward negative infinity).
    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Days since 1970-01-01 of the given civil date, with months and days out of range carried over and the
    /// result clamped to ``supportedDays``.
    static func days(year: Int64, month: Int, day: Int) -> Int64 {
        if (1...12).contains(month), (1...31).contains(day), supportedYears.contains(year) {
            return daysFromCivil(year: year, month: Int64(month), day: Int64(day))  // nothing to carry or clamp
        }
        let (y, m) = normalized(year: year, month: month)
        let span = supportedDays.upperBound - supportedDays.lowerBound
        let d = clamp(Int64(day), -span...span)
        return clamp(daysFromCivil(year: y, month: m, day: d), supportedDays)
    }

    /// The civil date of a day count since 1970-01-01 (clamped to ``supportedDays``).
    static func date(days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = clamp(days, supportedDays) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097  // floor division
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Day of the week of a day count since 1970-01-01, 0 = Sunday ... 6 = Saturday.
    static func weekday(days: Int64) -> Int {
        Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday (4)
    }

    /// Whether `year` has a February 29 (proleptic Gregorian: year 0 and -4 do).
    static func isLeapYear(_ year: Int64) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    /// The number of days of the month (months out of range carried over into the year).
    static func daysInMonth(year: Int64, month: Int) -> Int {
        let (y, m) = normalized(year: year, month: month)
        switch m {
        case 2: return isLeapYear(y) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Wall-clock seconds of the given civil date and time of day (out-of-range fields carried over).
    static func seconds(year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        let limit: ClosedRange<Int64> = -1_000_000_000...1_000_000_000
        let timeOfDay = clamp(Int64(hour), limit) * 3600 + clamp(Int64(minute), limit) * 60 + clamp(Int64(second), limit)
        return days(year: year, month: month, day: day) * secondsPerDay + timeOfDay
    }

    // MARK: Internals

    /// `year` and `month` with the month brought into 1...12 by carrying whole years, and the year clamped to
    /// ``supportedYears``.
    private static func normalized(year: Int64, month: Int) -> (year: Int64, month: Int64) {
        let monthLimit = 12 * (supportedYears.upperBound - supportedYears.lowerBound + 1)
        let zeroBased = clamp(Int64(month), -monthLimit...monthLimit) - 1
        let carry = floorDiv(zeroBased, 12)
        let y = clamp(clamp(year, supportedYears) + carry, supportedYears)
        return (y, zeroBased - carry * 12 + 1)
    }

    /// Hinnant's `days_from_civil` for `month` in 1...12, a year within ``supportedYears`` and any day offset that
    /// cannot overflow (checked by the callers).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400  // floor division, cheaper than floorDiv here
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    @inline(__always)
    private static func clamp(_ value: Int64, _ range: ClosedRange<Int64>) -> Int64 {
        min(max(value, range.lowerBound), range.upperBound)
    }
}
