import Foundation

extension Schedule {
    /// Dates outside this range (about years 1 to 9999) have no fire dates.
    static let supportedSeconds: ClosedRange<Double> = -62_135_596_800...253_402_300_799

    /// The first slot strictly after `date`, or `nil` if there is none within the search bound (about eight years)
    /// or `date` is outside years 1-9999.
    ///
    /// Daylight-saving changes follow the rules documented on ``Schedule``.
    public func nextFireDate(after date: Date) -> Date? {
        let time = date.timeIntervalSince1970
        guard time.isFinite, Schedule.supportedSeconds.contains(time) else { return nil }
        let after = Int64(time.rounded(.down))  // a whole-second slot t is > date iff t > floor(date)
        let next: Int64?
        switch kind {
        case .interval(let seconds):
            next = (CivilTime.floorDiv(after, seconds) + 1) * seconds
        case .cron(let expression, let zone):
            next = Schedule.nextCronFire(expression, ZoneResolver(timeZone: zone), after: after)
        }
        guard let next, Double(next) <= Schedule.supportedSeconds.upperBound else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(next))
    }

    /// The slots `s` with `from <= s <= through`, in ascending order, at most `limit` of them.
    ///
    /// - Parameters:
    ///   - from: The start of the range (inclusive).
    ///   - through: The end of the range (inclusive).
    ///   - limit: The maximum number of slots returned (default 10 000), so that a dense schedule over a long
    ///     range cannot exhaust memory.
    public func slots(from: Date, through: Date, limit: Int = 10_000) -> [Date] {
        var result: [Date] = []
        guard from <= through, limit > 0 else { return result }
        // Slots are whole seconds, so "after ceil(from) - 1" means "at or after from".
        var cursor = Date(timeIntervalSince1970: from.timeIntervalSince1970.rounded(.up) - 1)
        while result.count < limit, let next = nextFireDate(after: cursor), next <= through {
            result.append(next)
            cursor = next
        }
        return result
    }

    /// Whether `date` is one of the schedule's slots.
    func isSlot(_ date: Date) -> Bool {
        slots(from: date, through: date, limit: 1).first == date
    }

    /// The cron search: the smallest instant `> after` among
    /// - F1: each matching wall-clock time's unique or first instant; for a fixed-time expression a match in a gap
    ///   maps to the gap's end (interval-like expressions skip it);
    /// - F2 (interval-like only): the second instant of each matching wall-clock time in a fall-back overlap.
    ///
    /// Both maps are monotonic in the wall-clock time, so each is one forward search.
    static func nextCronFire(_ expression: CronExpression, _ zone: ZoneResolver, after: Int64) -> Int64? {
        // F1: start at the wall-clock time just after `after`'s.
        var wall = zone.wallClock(of: after) + 1
        var best: Int64?
        search: while let match = expression.nextMatch(atOrAfter: wall) {
            switch zone.resolve(match) {
            case .unique(let instant):
                if instant > after {
                    best = instant
                    break search
                }
                wall = match + 1
            case .overlap(let first, let second):
                if first > after {
                    best = first
                    break search
                }
                // `after` is on the overlap's second pass, so every first pass in it is past: continue at the
                // overlap's end on the wall clock (transition + offset before it).
                let transition = zone.firstChange(after: first, atOrBefore: second)
                wall = max(transition + (match - first), match + 1)
            case .gap(let transition, let wallClockEnd):
                if expression.isFixedTime && transition > after {
                    best = transition
                    break search
                }
                wall = max(wallClockEnd, match + 1)
            }
        }
        guard let firstInstant = best else { return nil }
        guard !expression.isFixedTime else { return firstInstant }

        // F2: second passes of overlaps between `after` and the F1 result. An overlap is at most a day long.
        var cursor = after - CivilTime.secondsPerDay
        var result = firstInstant
        while let transition = zone.nextTransition(after: cursor), transition.at < result {
            cursor = transition.at
            guard transition.after < transition.before else { continue }  // spring forward: no overlap
            let overlapEnd = transition.at + transition.before  // wall clock, exclusive
            let start = max(transition.at + transition.after, after + transition.after + 1)
            guard start < overlapEnd,
                let match = expression.nextMatch(atOrAfter: start, years: 1), match < overlapEnd
            else { continue }
            let instant = match - transition.after
            if instant > after && instant < result {
                result = instant
                break
            }
        }
        return result
    }
}
