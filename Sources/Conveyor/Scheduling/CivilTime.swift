/// Proleptic Gregorian calendar arithmetic on plain integers ("wall-clock seconds"), independent of any time zone.
///
/// A wall-clock time is counted as seconds since 1970-01-01T00:00:00 *on the local clock*; converting it to an
/// instant is the time zone's job (see `ZoneResolver`). The algorithms are Howard Hinnant's `days_from_civil` and
/// `civil_from_days`.
enum CivilTime {
    static let secondsPerDay: Int64 = 86_400

    /// Floor division (rounds toward negative infinity).
    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Days since 1970-01-01 of the given civil date.
    static func days(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    static func date(days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
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

    static func isLeapYear(_ year: Int64) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func daysInMonth(year: Int64, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Wall-clock seconds of the given civil date and time of day.
    static func seconds(year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        days(year: year, month: month, day: day) * secondsPerDay + Int64(hour * 3600 + minute * 60 + second)
    }
}
