import Foundation

/// Maps wall-clock times of a time zone to instants (whole Unix seconds), finding daylight-saving gaps and overlaps.
struct ZoneResolver {
    let timeZone: TimeZone

    /// How a wall-clock time maps to instants.
    enum Resolution: Equatable {
        /// The wall-clock time happens exactly once.
        case unique(Int64)
        /// The wall-clock time happens twice (a fall-back overlap): `first` before the transition, `second` after.
        case overlap(first: Int64, second: Int64)
        /// The wall-clock time does not exist (a spring-forward gap). `transition` is the first instant after the
        /// gap; `wallClockEnd` is its wall-clock time (the gap's end on the local clock).
        case gap(transition: Int64, wallClockEnd: Int64)
    }

    /// The zone's offset from UTC at an instant, in seconds.
    func offset(at instant: Int64) -> Int64 {
        Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }

    /// The wall-clock time of an instant.
    func wallClock(of instant: Int64) -> Int64 {
        instant + offset(at: instant)
    }

    /// Resolves a wall-clock time to its instants.
    func resolve(_ wallClock: Int64) -> Resolution {
        // The offsets in force within a day either side (a wall-clock time's instants are within ±14 h of it).
        var offsets: [Int64] = []
        for probe in [wallClock - CivilTime.secondsPerDay, wallClock, wallClock + CivilTime.secondsPerDay] {
            let o = offset(at: probe)
            if !offsets.contains(o) { offsets.append(o) }
        }
        var instants: [Int64] = []
        for o in offsets where offset(at: wallClock - o) == o {
            let instant = wallClock - o
            if !instants.contains(instant) { instants.append(instant) }
        }
        instants.sort()
        switch instants.count {
        case 0:
            // In a gap: the instant computed with the larger offset lies before the transition, the one with the
            // smaller offset after it. Find the transition by bisection.
            let low = wallClock - (offsets.max() ?? 0)
            let high = wallClock - (offsets.min() ?? 0)
            let transition = firstChange(after: low, atOrBefore: high)
            return .gap(transition: transition, wallClockEnd: self.wallClock(of: transition))
        case 1:
            return .unique(instants[0])
        default:
            return .overlap(first: instants[0], second: instants[instants.count - 1])
        }
    }

    /// The first instant in `(low, high]` whose offset differs from the offset at `low` (or `high` if none).
    func firstChange(after low: Int64, atOrBefore high: Int64) -> Int64 {
        let before = offset(at: low)
        var lo = low
        var hi = high
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if offset(at: mid) == before { lo = mid } else { hi = mid }
        }
        return hi
    }

    /// Transitions (offset changes) after `instant`, as Unix seconds, with the offsets before and after.
    func nextTransition(after instant: Int64) -> (at: Int64, before: Int64, after: Int64)? {
        var from = instant
        // A transition that changes only the zone's name or DST flag has equal offsets; skip those.
        for _ in 0..<8 {
            guard
                let date = timeZone.nextDaylightSavingTimeTransition(
                    after: Date(timeIntervalSince1970: TimeInterval(from)))
            else { return nil }
            let at = Int64(date.timeIntervalSince1970.rounded(.down))
            guard at > from else { return nil }
            let before = offset(at: at - 1)
            let after = offset(at: at)
            if before != after { return (at, before, after) }
            from = at
        }
        return nil
    }
}
