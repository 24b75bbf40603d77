extension CronExpression {
    /// The smallest value `>= from` whose bit is set in `mask`, if any below 64.
    @inline(__always)
    static func next(in mask: UInt64, from: Int) -> Int? {
        guard from < 64 else { return nil }
        let rest = mask & (~UInt64(0) << UInt64(max(from, 0)))
        return rest == 0 ? nil : rest.trailingZeroBitCount
    }

    @inline(__always)
    static func contains(_ mask: UInt64, _ value: Int) -> Bool {
        value >= 0 && value < 64 && mask & (1 << UInt64(value)) != 0
    }

    /// Whether the given civil day matches the day-of-month, day-of-week (Vixie rule) and month fields.
    func matchesDay(year: Int64, month: Int, day: Int) -> Bool {
        guard Self.contains(months, month) else { return false }
        return matchesDayOfMonthAndWeek(year: year, month: month, day: day)
    }

    func matchesDayOfMonthAndWeek(year: Int64, month: Int, day: Int) -> Bool {
        let domHit =
            Self.contains(daysOfMonth, day)
            || (lastDayOfMonth && day == CivilTime.daysInMonth(year: year, month: month))
        let weekday = CivilTime.weekday(days: CivilTime.days(year: year, month: month, day: day))
        let dowHit = Self.contains(daysOfWeek, weekday)
        if daysMatchBothFields {
            return domHit && dowHit
        }
        return domHit || dowHit
    }

    /// Whether the wall-clock time (seconds since 1970-01-01T00:00:00 on the local clock) matches.
    func matches(wallClock: Int64) -> Bool {
        let days = CivilTime.floorDiv(wallClock, CivilTime.secondsPerDay)
        let secondOfDay = Int(wallClock - days * CivilTime.secondsPerDay)
        let (year, month, day) = CivilTime.date(days: days)
        return matchesDay(year: year, month: month, day: day)
            && Self.contains(hours, secondOfDay / 3600)
            && Self.contains(minutes, secondOfDay % 3600 / 60)
            && Self.contains(seconds, secondOfDay % 60)
    }

    /// The first matching wall-clock time at or after `start` (wall-clock seconds), searching no later than the end
    /// of `start`'s year + `years`. Jumps field by field (month, day, hour, minute, second); never steps through
    /// every minute.
    func nextMatch(atOrAfter start: Int64, years: Int64 = 8) -> Int64? {
        let startDays = CivilTime.floorDiv(start, CivilTime.secondsPerDay)
        let secondOfDay = Int(start - startDays * CivilTime.secondsPerDay)
        var (year, month, day) = CivilTime.date(days: startDays)
        let lastYear = year + years
        var hour = secondOfDay / 3600
        var minute = secondOfDay % 3600 / 60
        var second = secondOfDay % 60

        while true {
            // Normalise carries from the steps below.
            if second > 59 { second = 0; minute += 1 }
            if minute > 59 { minute = 0; hour += 1 }
            if hour > 23 { hour = 0; day += 1 }
            if day > CivilTime.daysInMonth(year: year, month: month) { day = 1; month += 1 }
            if month > 12 { month = 1; year += 1 }
            if year > lastYear { return nil }

            guard Self.contains(months, month) else {
                if let nextMonth = Self.next(in: months, from: month + 1), nextMonth <= 12 {
                    month = nextMonth
                } else {
                    month = 13
                }
                day = 1; hour = 0; minute = 0; second = 0
                continue
            }
            if !matchesDayOfMonthAndWeek(year: year, month: month, day: day) {
                let daysInMonth = CivilTime.daysInMonth(year: year, month: month)
                var candidate = day + 1
                while candidate <= daysInMonth && !matchesDayOfMonthAndWeek(year: year, month: month, day: candidate) {
                    candidate += 1
                }
                day = candidate  // past the month's end carries into the next month
                hour = 0; minute = 0; second = 0
                if day > daysInMonth { continue }
            }
            guard Self.contains(hours, hour) else {
                if let nextHour = Self.next(in: hours, from: hour + 1), nextHour <= 23 {
                    hour = nextHour
                    minute = 0; second = 0
                } else {
                    hour = 24; minute = 0; second = 0
                    continue
                }
                continue
            }
            guard Self.contains(minutes, minute) else {
                if let nextMinute = Self.next(in: minutes, from: minute + 1), nextMinute <= 59 {
                    minute = nextMinute
                    second = 0
                } else {
                    minute = 60; second = 0
                }
                continue
            }
            guard Self.contains(seconds, second) else {
                if let nextSecond = Self.next(in: seconds, from: second + 1), nextSecond <= 59 {
                    second = nextSecond
                } else {
                    second = 60
                }
                continue
            }
            return CivilTime.seconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        }
    }
}
