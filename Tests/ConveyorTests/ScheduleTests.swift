import Conveyor
import Foundation
import Testing

@Suite("Schedule")
struct ScheduleTests {
    // MARK: Time zones

    @Test(
        "next fire date in time zones",
        arguments: [
            // America/New_York: EST (-5) in winter, EDT (-4) in summer
            ("0 9 * * *", "America/New_York", "2025-01-15T00:00:00Z", "2025-01-15T14:00:00Z"),
            ("0 9 * * *", "America/New_York", "2025-07-15T00:00:00Z", "2025-07-15T13:00:00Z"),
            ("0 0 1 1 *", "America/New_York", "2025-12-31T12:00:00Z", "2026-01-01T05:00:00Z"),
            // Europe/Berlin: CET (+1) / CEST (+2)
            ("0 9 * * MON-FRI", "Europe/Berlin", "2025-01-03T09:00:00Z", "2025-01-06T08:00:00Z"),
            ("30 9 * * *", "Europe/Berlin", "2025-06-01T00:00:00Z", "2025-06-01T07:30:00Z"),
            // Asia/Kolkata: +5:30, no DST
            ("0 9 * * *", "Asia/Kolkata", "2025-01-01T00:00:00Z", "2025-01-01T03:30:00Z"),
            ("0 0 * * *", "Asia/Kolkata", "2025-01-01T00:00:00Z", "2025-01-01T18:30:00Z"),
            ("*/30 * * * *", "Asia/Kolkata", "2025-01-01T00:10:00Z", "2025-01-01T00:30:00Z"),
            ("0 * * * *", "Asia/Kolkata", "2025-01-01T00:10:00Z", "2025-01-01T00:30:00Z"),
            // Australia/Lord_Howe: +10:30 standard, +11 in summer (southern hemisphere)
            ("0 9 * * *", "Australia/Lord_Howe", "2025-01-01T00:00:00Z", "2025-01-01T22:00:00Z"),
            ("0 9 * * *", "Australia/Lord_Howe", "2025-07-01T00:00:00Z", "2025-07-01T22:30:00Z"),
            // case-insensitive zone name
            ("0 9 * * *", "europe/berlin", "2025-06-01T00:00:00Z", "2025-06-01T07:00:00Z"),
        ])
    func timeZones(_ expression: String, _ zone: String, _ after: String, _ expected: String) throws {
        #expect(try next(expression, zone, after: after) == expected)
    }

    @Test("an unknown time zone is a clear error")
    func unknownTimeZone() {
        #expect {
            try Schedule(parsing: "0 9 * * *", timeZone: "Mars/Olympus_Mons")
        } throws: { error in
            guard let error = error as? ConveyorError else { return false }
            return error.code == .unknownTimeZone && error.message.contains("Mars/Olympus_Mons")
                && error.message.contains("IANA")
        }
    }

    // MARK: Daylight-saving time

    // Europe/Berlin 2025: spring forward 03-30 02:00 CET -> 03:00 CEST (01:00Z); fall back 10-26 03:00 CEST ->
    // 02:00 CET (01:00Z). America/New_York 2025: 03-09 02:00 EST -> 03:00 EDT (07:00Z); 11-02 02:00 EDT -> 01:00 EST
    // (06:00Z). Australia/Lord_Howe 2025: 04-06 02:00 (+11) -> 01:30 (+10:30) (04-05T15:00Z); 10-05 02:00 (+10:30) ->
    // 02:30 (+11) (10-04T15:30Z).

    @Test(
        "spring forward: a fixed-time job in the gap runs once at the end of the gap",
        arguments: [
            ("30 2 * * *", "Europe/Berlin", "2025-03-29T00:00:00Z",
             ["2025-03-29T01:30:00Z", "2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"]),
            ("0 2,3 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z",
             ["2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z", "2025-03-31T01:00:00Z"]),
            ("0,30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z",
             ["2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z", "2025-03-31T00:30:00Z"]),
            ("0 30 2 * * *", "Europe/Berlin", "2025-03-30T00:00:00Z", ["2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"]),
            ("30 2 * * *", "America/New_York", "2025-03-08T12:00:00Z", ["2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"]),
            ("15 2 * * *", "Australia/Lord_Howe", "2025-10-04T00:00:00Z",
             ["2025-10-04T15:30:00Z", "2025-10-05T15:15:00Z"]),
        ])
    func springForwardFixed(_ expression: String, _ zone: String, _ after: String, _ expected: [String]) throws {
        let actual = try fireSequence(expression, zone, after: after, count: expected.count)
        #expect(actual == expected)
    }

    @Test(
        "spring forward: interval-like jobs skip the nonexistent times",
        arguments: [
            ("*/15 * * * *", "Europe/Berlin", "2025-03-30T00:30:00Z",
             ["2025-03-30T00:45:00Z", "2025-03-30T01:00:00Z", "2025-03-30T01:15:00Z"]),
            ("0 * * * *", "Europe/Berlin", "2025-03-29T23:00:00Z",
             ["2025-03-30T00:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T02:00:00Z"]),
            ("*/30 2 * * *", "Europe/Berlin", "2025-03-29T02:00:00Z",
             ["2025-03-31T00:00:00Z", "2025-03-31T00:30:00Z"]),
            ("*/15 * * * *", "America/New_York", "2025-03-09T06:30:00Z",
             ["2025-03-09T06:45:00Z", "2025-03-09T07:00:00Z", "2025-03-09T07:15:00Z"]),
            ("*/15 * * * *", "Australia/Lord_Howe", "2025-10-04T15:00:00Z",
             ["2025-10-04T15:15:00Z", "2025-10-04T15:30:00Z", "2025-10-04T15:45:00Z"]),
            ("*/10 * 2 * * *", "Europe/Berlin", "2025-03-30T00:59:40Z",
             ["2025-03-31T00:00:00Z", "2025-03-31T00:00:10Z"]),
        ])
    func springForwardIntervalLike(_ expression: String, _ zone: String, _ after: String, _ expected: [String]) throws {
        let actual = try fireSequence(expression, zone, after: after, count: expected.count)
        #expect(actual == expected)
    }

    @Test(
        "fall back: a fixed-time job in the repeated hour runs once, at the first occurrence",
        arguments: [
            ("30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z", ["2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"]),
            ("30 1 * * *", "America/New_York", "2025-11-01T12:00:00Z", ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"]),
            ("0,30 1 * * *", "America/New_York", "2025-11-02T04:00:00Z",
             ["2025-11-02T05:00:00Z", "2025-11-02T05:30:00Z", "2025-11-03T06:00:00Z"]),
            ("45 1 * * *", "Australia/Lord_Howe", "2025-04-05T12:00:00Z", ["2025-04-05T14:45:00Z", "2025-04-06T15:15:00Z"]),
            // asked from inside the second pass, the fixed-time job does not fire again that day
            ("30 1 * * *", "America/New_York", "2025-11-02T06:10:00Z", ["2025-11-03T06:30:00Z"]),
            ("0 2 * * *", "America/New_York", "2025-11-02T06:30:00Z", ["2025-11-02T07:00:00Z"]),
        ])
    func fallBackFixed(_ expression: String, _ zone: String, _ after: String, _ expected: [String]) throws {
        let actual = try fireSequence(expression, zone, after: after, count: expected.count)
        #expect(actual == expected)
    }

    @Test(
        "fall back: interval-like jobs run on both passes",
        arguments: [
            ("*/30 * * * *", "Europe/Berlin", "2025-10-25T23:00:00Z",
             ["2025-10-25T23:30:00Z", "2025-10-26T00:00:00Z", "2025-10-26T00:30:00Z", "2025-10-26T01:00:00Z",
              "2025-10-26T01:30:00Z", "2025-10-26T02:00:00Z"]),
            ("0 * * * *", "America/New_York", "2025-11-02T04:00:00Z",
             ["2025-11-02T05:00:00Z", "2025-11-02T06:00:00Z", "2025-11-02T07:00:00Z"]),
            ("*/15 1 * * *", "America/New_York", "2025-11-02T05:00:00Z",
             ["2025-11-02T05:15:00Z", "2025-11-02T05:30:00Z", "2025-11-02T05:45:00Z", "2025-11-02T06:00:00Z",
              "2025-11-02T06:15:00Z", "2025-11-02T06:30:00Z", "2025-11-02T06:45:00Z", "2025-11-03T06:00:00Z"]),
            ("*/15 * * * *", "Australia/Lord_Howe", "2025-04-05T14:15:00Z",
             ["2025-04-05T14:30:00Z", "2025-04-05T14:45:00Z", "2025-04-05T15:00:00Z", "2025-04-05T15:15:00Z",
              "2025-04-05T15:30:00Z"]),
            // asked from inside the second pass
            ("*/15 * * * *", "America/New_York", "2025-11-02T06:30:00Z", ["2025-11-02T06:45:00Z", "2025-11-02T07:00:00Z"]),
            ("* * * * * *", "America/New_York", "2025-11-02T06:30:00Z", ["2025-11-02T06:30:01Z", "2025-11-02T06:30:02Z"]),
            ("* * * * * *", "America/New_York", "2025-11-02T05:59:59Z", ["2025-11-02T06:00:00Z", "2025-11-02T06:00:01Z"]),
        ])
    func fallBackIntervalLike(_ expression: String, _ zone: String, _ after: String, _ expected: [String]) throws {
        let actual = try fireSequence(expression, zone, after: after, count: expected.count)
        #expect(actual == expected)
    }

    @Test(
        "the rules apply to changes of the standard offset and to a skipped day",
        arguments: [
            // Europe/Moscow 2014-10-26 02:00 (+4) -> 01:00 (+3), a change of the standard offset at 22:00Z
            ("0 * * * *", "Europe/Moscow", "2014-10-25T20:30:00Z",
             ["2014-10-25T21:00:00Z", "2014-10-25T22:00:00Z", "2014-10-25T23:00:00Z"]),
            ("30 1 * * *", "Europe/Moscow", "2014-10-25T20:00:00Z", ["2014-10-25T21:30:00Z", "2014-10-26T22:30:00Z"]),
            // Pacific/Apia skipped 2011-12-30 entirely (-10 -> +14 at 2011-12-30T10:00Z)
            ("0 9 * * *", "Pacific/Apia", "2011-12-29T12:00:00Z",
             ["2011-12-29T19:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T19:00:00Z"]),
            ("0 9,21 * * *", "Pacific/Apia", "2011-12-30T08:00:00Z", ["2011-12-30T10:00:00Z", "2011-12-30T19:00:00Z"]),
            ("0 */12 * * *", "Pacific/Apia", "2011-12-29T12:00:00Z",
             ["2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"]),
            ("0 0 30 12 *", "Pacific/Apia", "2011-06-01T00:00:00Z", ["2011-12-30T10:00:00Z", "2012-12-29T10:00:00Z"]),
        ])
    func offsetChangesAndSkippedDays(_ expression: String, _ zone: String, _ after: String, _ expected: [String]) throws {
        let actual = try fireSequence(expression, zone, after: after, count: expected.count)
        #expect(actual == expected)
    }

    @Test(
        "hourly slots are continuous in UTC across both transitions",
        arguments: [
            ("Europe/Berlin", "2025-03-29T20:00:00Z"), ("Europe/Berlin", "2025-10-25T20:00:00Z"),
            ("America/New_York", "2025-03-09T02:00:00Z"), ("America/New_York", "2025-11-02T02:00:00Z"),
        ])
    func hourlyAcrossTransitions(_ zone: String, _ from: String) throws {
        let start = date(from)
        let found = try Schedule(parsing: "0 * * * *", timeZone: zone)
            .slots(from: start, through: start.addingTimeInterval(12 * 3600))
        #expect(found == (0...12).map { start.addingTimeInterval(Double($0) * 3600) })
    }

    @Test(
        "daily fixed-time jobs fire exactly once per local day across transitions",
        arguments: [
            ("30 2 * * *", "Europe/Berlin", "2025-03-25T00:00:00Z"), ("30 2 * * *", "Europe/Berlin", "2025-10-22T00:00:00Z"),
            ("30 1 * * *", "America/New_York", "2025-11-01T00:00:00Z"), ("0 2 * * *", "America/New_York", "2025-03-06T00:00:00Z"),
            ("15 2 * * *", "Australia/Lord_Howe", "2025-10-01T00:00:00Z"), ("45 1 * * *", "Australia/Lord_Howe", "2025-04-02T00:00:00Z"),
        ])
    func dailyOncePerDay(_ expression: String, _ zone: String, _ from: String) throws {
        let tz = try Schedule.timeZone(named: zone)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = tz
        let start = date(from)
        let found = try Schedule(parsing: expression, timeZone: zone).slots(from: start, through: start.addingTimeInterval(10 * 86_400))
        let days = found.map { calendar.dateComponents([.year, .month, .day], from: $0) }
        #expect(found.count == 10)
        #expect(Set(days).count == found.count)
    }

    /// For interval-like expressions the rule is exactly "an instant fires iff its local wall-clock time matches",
    /// so a brute-force scan over every minute is an oracle, also across transitions.
    @Test(
        "interval-like slots equal a brute-force scan across transitions",
        arguments: [
            ("*/20 * * * *", "Europe/Berlin", "2025-03-29T22:00:00Z"), ("*/20 * * * *", "Europe/Berlin", "2025-10-25T22:00:00Z"),
            ("5 */2 * * *", "Europe/Berlin", "2025-10-25T20:00:00Z"), ("*/7 1-3 * * *", "America/New_York", "2025-11-02T03:00:00Z"),
            ("*/7 1-3 * * *", "America/New_York", "2025-03-09T03:00:00Z"), ("10-40/15 * * * *", "Australia/Lord_Howe", "2025-04-05T12:00:00Z"),
            ("10-40/15 * * * *", "Australia/Lord_Howe", "2025-10-04T12:00:00Z"),
        ])
    func bruteForceAcrossTransitions(_ expression: String, _ zone: String, _ from: String) throws {
        let schedule = try Schedule(parsing: expression, timeZone: zone)
        let matcher = try #require(BruteForceMatcher(expression))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try Schedule.timeZone(named: zone)
        let start = date(from)
        let end = start.addingTimeInterval(8 * 3600)
        var expected: [Date] = []
        var t = start
        while t <= end {
            if matcher.matches(calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: t)) {
                expected.append(t)
            }
            t = t.addingTimeInterval(60)
        }
        #expect(schedule.slots(from: start, through: end) == expected)
    }

    // MARK: Intervals

    @Test(
        "intervals are anchored at the Unix epoch",
        arguments: [
            ("every 15m", "2025-01-01T00:07:00Z", "2025-01-01T00:15:00Z"),
            ("every 15m", "2025-01-01T00:15:00Z", "2025-01-01T00:30:00Z"),
            ("every 10s", "2025-01-01T00:00:05Z", "2025-01-01T00:00:10Z"),
            ("every 1h30m", "1970-01-01T00:00:00Z", "1970-01-01T01:30:00Z"),
            ("every 1h30m", "2025-01-01T00:00:00Z", "2025-01-01T01:30:00Z"),
            ("every 1h30m", "2025-01-01T01:29:59Z", "2025-01-01T01:30:00Z"),
            ("every 7h", "1970-01-01T06:00:00Z", "1970-01-01T07:00:00Z"),
            ("every 1d", "2025-03-30T05:00:00Z", "2025-03-31T00:00:00Z"),
            ("@every 1h", "2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"),
            ("every 1h 30m", "2025-01-01T00:00:00Z", "2025-01-01T01:30:00Z"),
            ("EVERY 2H", "2025-01-01T00:00:00Z", "2025-01-01T02:00:00Z"),
            ("every 15m", "1969-12-31T23:50:00Z", "1970-01-01T00:00:00Z"),
        ])
    func intervals(_ text: String, _ after: String, _ expected: String) throws {
        #expect(try next(text, after: after) == expected)
    }

    @Test("interval slots do not depend on the time zone or on when an instance starts", arguments: [
        "every 15m", "every 1h30m", "every 7s", "every 1d",
    ])
    func intervalAgreement(_ text: String) throws {
        let a = try Schedule(parsing: text, timeZone: "Asia/Kolkata")
        let b = try Schedule(parsing: text, timeZone: "America/New_York")
        let seconds = Double(try #require(a.interval).components.seconds)
        for offset in [0.0, 1, 13.5, 59, 3599, 86_399] {
            let d = date("2025-03-09T06:00:00Z").addingTimeInterval(offset)
            let fire = try #require(a.nextFireDate(after: d))
            #expect(b.nextFireDate(after: d) == fire)
            #expect(fire.timeIntervalSince1970.truncatingRemainder(dividingBy: seconds) == 0)
            #expect(fire > d && fire.timeIntervalSince(d) <= seconds)
        }
    }

    @Test(
        "bad intervals are rejected",
        arguments: [
            ("every 0s", "at least 1 second"), ("every", "no interval"), ("every 15", "has no unit"),
            ("every 15x", "unexpected \"x\""), ("every 30m1h", "out of order"), ("every m", "missing number"),
            ("every 1m1m", "repeated"), ("every 99999999999999d", "too large"), ("every 40000d", "100 years"),
        ])
    func badIntervals(_ text: String, _ fragment: String) {
        #expect {
            try Schedule(parsing: text)
        } throws: { error in
            guard let error = error as? ConveyorError else { return false }
            return error.code == .invalidSchedule && error.message.contains(fragment)
        }
    }

    @Test("interval construction and description round-trip")
    func intervalDescription() throws {
        let schedule = try Schedule(parsing: "every 1h30m")
        #expect(schedule.description == "every 1h30m")
        #expect(try Schedule(parsing: schedule.description) == schedule)
        #expect(try Schedule.every(.seconds(5400)) == schedule)
        #expect(try Schedule(parsing: "every 90m").description == "every 1h30m")
        #expect(try Schedule(parsing: "every 1d2s").description == "every 1d2s")
        #expect(schedule.interval == .seconds(5400))
        #expect(schedule.cronExpression == nil)
        #expect(throws: ConveyorError.self) { try Schedule.every(.milliseconds(1500)) }
        #expect(throws: ConveyorError.self) { try Schedule.every(.zero) }
    }

    @Test("cron schedule accessors, equality and description")
    func cronAccessors() throws {
        let schedule = try Schedule(parsing: "*/5 * * * *", timeZone: "Europe/Berlin")
        #expect(schedule.cronExpression == (try CronExpression("*/5 * * * *")))
        #expect(schedule.timeZone.identifier == "Europe/Berlin")
        #expect(schedule.interval == nil)
        #expect(schedule.description == "*/5 * * * * (Europe/Berlin)")
        #expect(try Schedule(parsing: "@daily", timeZone: "Europe/Berlin") == Schedule(parsing: "0 0 * * *", timeZone: "Europe/Berlin"))
        #expect(try Schedule(parsing: "@daily", timeZone: "Europe/Berlin") != Schedule(parsing: "@daily", timeZone: "Europe/Paris"))
        #expect(try Schedule.cron(CronExpression("@daily")) == Schedule(parsing: "@daily"))
    }

    // MARK: Slots and keys

    @Test("slots over a range include both ends")
    func slotList() throws {
        #expect(
            try slots("*/15 * * * *", from: "2025-01-01T00:00:00Z", through: "2025-01-01T01:00:00Z") == [
                "2025-01-01T00:00:00Z", "2025-01-01T00:15:00Z", "2025-01-01T00:30:00Z", "2025-01-01T00:45:00Z",
                "2025-01-01T01:00:00Z",
            ])
        #expect(try slots("0 0 L * *", from: "2024-01-01T00:00:00Z", through: "2024-04-30T00:00:00Z") == [
            "2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z", "2024-04-30T00:00:00Z",
        ])
        #expect(try slots("every 20m", from: "2025-01-01T00:00:01Z", through: "2025-01-01T00:59:59Z") == [
            "2025-01-01T00:20:00Z", "2025-01-01T00:40:00Z",
        ])
        #expect(try slots("* * * * *", from: "2025-01-01T01:00:00Z", through: "2025-01-01T00:00:00Z").isEmpty)
        #expect(try slots("0 0 30 2 *", from: "2025-01-01T00:00:00Z", through: "2035-01-01T00:00:00Z").isEmpty)
    }

    @Test("slots are bounded by the limit")
    func slotLimit() throws {
        let schedule = try Schedule(parsing: "* * * * * *")
        let start = date("2025-01-01T00:00:00Z")
        #expect(schedule.slots(from: start, through: start.addingTimeInterval(86_400 * 365), limit: 100).count == 100)
        #expect(schedule.slots(from: start, through: start.addingTimeInterval(86_400 * 365)).count == 10_000)
        #expect(schedule.slots(from: start, through: start, limit: 0).isEmpty)
    }

    @Test("slot keys are deterministic across instances")
    func slotKeys() throws {
        let a = try Schedule(parsing: "*/5 * * * *", timeZone: "Europe/Berlin")
        let b = try Schedule(parsing: "*/5 * * * *", timeZone: "Europe/Berlin")
        let after = date("2025-06-01T10:02:00Z")
        let slotA = try #require(a.nextFireDate(after: after))
        let slotB = try #require(b.nextFireDate(after: after))
        #expect(a.slotKey(scheduleID: "nightly-report", slot: slotA) == b.slotKey(scheduleID: "nightly-report", slot: slotB))
        #expect(a.slotKey(scheduleID: "nightly-report", slot: slotA) == "nightly-report@1748772300")
        #expect(a.slotKey(scheduleID: "x", slot: slotA.addingTimeInterval(0.75)) == "x@1748772300")
        #expect(Schedule.slotKey(scheduleID: "x", slot: slotA) == a.slotKey(scheduleID: "x", slot: slotA))
        #expect(a.slotKey(scheduleID: "x", slot: slotA) != a.slotKey(scheduleID: "y", slot: slotA))
        #expect(a.slotKey(scheduleID: "x", slot: slotA) != a.slotKey(scheduleID: "x", slot: slotA.addingTimeInterval(300)))
    }

    @Test("schedules, expressions and policies round-trip through JSON", arguments: [
        ("*/5 * * * *", "Europe/Berlin"), ("@daily", "UTC"), ("every 1h30m", "UTC"), ("0 30 9 * * MON-FRI", "Asia/Kolkata"),
    ])
    func codable(_ text: String, _ zone: String) throws {
        let schedule = try Schedule(parsing: text, timeZone: zone)
        let data = try JSONEncoder().encode(schedule)
        #expect(try JSONDecoder().decode(Schedule.self, from: data) == schedule)
        if let expression = schedule.cronExpression {
            let decoded = try JSONDecoder().decode(CronExpression.self, from: JSONEncoder().encode(expression))
            #expect(decoded.description == expression.description)
        }
        for policy in [MissedSlotPolicy.skip, .runOnce] {
            #expect(try JSONDecoder().decode(MissedSlotPolicy.self, from: JSONEncoder().encode(policy)) == policy)
        }
    }

    @Test("decoding rejects invalid schedules with the parser's message", arguments: [
        #"{"cron": "75 * * * *"}"#, #"{"cron": "* * * * *", "timeZone": "Nowhere/City"}"#, #"{"intervalSeconds": 0}"#, #"{}"#,
    ])
    func codableRejects(_ json: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Schedule.self, from: Data(json.utf8)) }
    }

    // MARK: Missed slots

    @Test("missed slot policies")
    func missedSlots() throws {
        let schedule = try Schedule(parsing: "*/15 * * * *")
        let slot = date("2025-01-01T00:00:00Z")
        // on time: run the slot, next is the following slot
        for policy in [MissedSlotPolicy.skip, .runOnce] {
            let decision = policy.decide(slot: slot, now: slot.addingTimeInterval(30), schedule: schedule)
            #expect(decision == .init(run: slot, next: date("2025-01-01T00:15:00Z")))
        }
        // 2 hours late: skip runs nothing, runOnce runs once; both continue after now
        let late = slot.addingTimeInterval(2 * 3600 + 60)
        #expect(MissedSlotPolicy.skip.decide(slot: slot, now: late, schedule: schedule) == .init(run: nil, next: date("2025-01-01T02:15:00Z")))
        #expect(MissedSlotPolicy.runOnce.decide(slot: slot, now: late, schedule: schedule) == .init(run: slot, next: date("2025-01-01T02:15:00Z")))
        // grace is configurable
        #expect(MissedSlotPolicy.skip.decide(slot: slot, now: late, schedule: schedule, grace: .seconds(3 * 3600)).run == slot)
        #expect(MissedSlotPolicy.skip.description == "skip")
        #expect(MissedSlotPolicy.runOnce.description == "run-once")
        #expect(MissedSlotPolicy.skip != .runOnce)
    }

    // MARK: Properties

    /// Random expressions and dates in fixed-offset zones: the next fire date is after the date, matches, and no
    /// matching minute lies strictly between (checked by brute force over up to a day).
    @Test("random expressions: next fire date is the first match", arguments: ["UTC", "Asia/Kolkata"])
    func randomExpressions(_ zone: String) throws {
        var random = SplitMix64(seed: zone == "UTC" ? 42 : 4242)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try Schedule.timeZone(named: zone)
        let base = date("2020-01-01T00:00:00Z").timeIntervalSince1970
        for _ in 0..<100 {
            let matcher = BruteForceMatcher.random(using: &random)
            let schedule = try Schedule(parsing: matcher.text, timeZone: zone)
            let d = Date(timeIntervalSince1970: base + Double(random.next() % (10 * 365 * 86_400)) + 0.25)
            guard let fire = schedule.nextFireDate(after: d) else {
                Issue.record("\(matcher.text) has no fire date after \(d)")
                continue
            }
            func matches(_ t: Date) -> Bool {
                matcher.matches(calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: t))
            }
            #expect(fire > d, "\(matcher.text) after \(d)")
            #expect(matches(fire), "\(matcher.text) fires at \(fire), which does not match")
            #expect(fire.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) == 0)
            // brute force: no matching minute strictly between d and fire, within a day
            var t = Date(timeIntervalSince1970: (d.timeIntervalSince1970 / 60).rounded(.up) * 60)
            let end = min(fire, d.addingTimeInterval(86_400))
            while t < end {
                if matches(t) {
                    Issue.record("\(matcher.text): \(t) matches before \(fire) (after \(d))")
                    break
                }
                t = t.addingTimeInterval(60)
            }
        }
    }

    /// Random expressions around real transitions, checked against a brute-force oracle of the documented rule:
    /// scanning minute by minute, an instant fires if its wall-clock time matches and (for fixed-time expressions)
    /// that wall-clock time has not been seen before; when the wall clock jumps forward, a fixed-time expression with
    /// a match among the skipped wall-clock times fires once at the first instant after the jump.
    @Test(
        "random expressions across transitions follow the documented DST rule",
        arguments: [
            ("Europe/Berlin", "2025-03-29T20:00:00Z"), ("Europe/Berlin", "2025-10-25T20:00:00Z"),
            ("America/New_York", "2025-03-09T02:00:00Z"), ("America/New_York", "2025-11-02T01:00:00Z"),
            ("Australia/Lord_Howe", "2025-04-05T10:00:00Z"), ("Australia/Lord_Howe", "2025-10-04T10:00:00Z"),
        ])
    func randomExpressionsAcrossTransitions(_ zone: String, _ from: String) throws {
        let tz = try Schedule.timeZone(named: zone)
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let components: Set<Calendar.Component> = [.year, .month, .day, .hour, .minute, .second, .weekday]
        var random = SplitMix64(seed: from.utf8.reduce(UInt64(zone.utf8.count)) { $0 &* 31 &+ UInt64($1) })
        let start = date(from)
        let end = start.addingTimeInterval(10 * 3600)
        for round in 0..<12 {
            // Concentrate the hour field around the transition so that the interesting cases occur.
            var matcher = BruteForceMatcher.random(using: &random)
            let hourField = ["1", "2", "1-3", "0-4/2", "*", "*/2", "1,2", "2-3"][round % 8]
            var fields = matcher.text.split(separator: " ").map(String.init)
            fields[1] = hourField
            fields[2] = "*"
            fields[3] = "*"
            fields[4] = "*"
            if round % 3 == 0 { fields[0] = ["0", "30", "15,45", "0-59/20"][round % 4] }
            matcher = BruteForceMatcher(fields.joined(separator: " "))!
            let fixed = !matcher.text.split(separator: " ").prefix(2).contains { $0.contains("*") || $0.contains("/") }
            func matches(wall: Int) -> Bool {
                matcher.matches(utc.dateComponents(components, from: Date(timeIntervalSince1970: Double(wall))))
            }
            func wall(_ t: Int) -> Int { t + tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t))) }

            var seen = Set<Int>()
            var expected: [Date] = []
            var t = Int(start.timeIntervalSince1970) - 3 * 3600
            var previousWall = wall(t) - 60
            while t <= Int(end.timeIntervalSince1970) {
                let w = wall(t)
                var fires = matches(wall: w) && (!fixed || !seen.contains(w))
                if fixed && w - previousWall > 60 {
                    fires = fires || stride(from: previousWall + 60, to: w, by: 60).contains { matches(wall: $0) }
                }
                if fires && t >= Int(start.timeIntervalSince1970) {
                    expected.append(Date(timeIntervalSince1970: Double(t)))
                }
                seen.insert(w)
                previousWall = w
                t += 60
            }
            let schedule = try Schedule(parsing: matcher.text, timeZone: zone)
            #expect(schedule.cronExpression?.isFixedTime == fixed)
            let actual = schedule.slots(from: start, through: end)
            #expect(actual.map(utcText) == expected.map(utcText), "\(matcher.text) in \(zone)")
        }
    }

    // MARK: Helpers

    func fireSequence(_ expression: String, _ zone: String, after: String, count: Int) throws -> [String] {
        let schedule = try Schedule(parsing: expression, timeZone: zone)
        var result: [String] = []
        var cursor = date(after)
        while result.count < count, let fire = schedule.nextFireDate(after: cursor) {
            result.append(utcText(fire)!)
            cursor = fire
        }
        return result
    }
}

/// An independent, naive matcher for 5-field expressions built from simple items: values, ranges, `*`, steps.
struct BruteForceMatcher {
    var text: String
    var minutes: Set<Int>
    var hours: Set<Int>
    var daysOfMonth: Set<Int>
    var months: Set<Int>
    var weekdays: Set<Int>  // 0 = Sunday
    var dayOfMonthStar: Bool
    var dayOfWeekStar: Bool

    /// Parses the subset of syntax the random generator and the DST tests use (numbers only).
    init?(_ text: String) {
        let fields = text.split(separator: " ").map(String.init)
        guard fields.count == 5 else { return nil }
        func values(_ field: String, _ low: Int, _ high: Int) -> Set<Int> {
            var result = Set<Int>()
            for item in field.split(separator: ",") {
                let parts = item.split(separator: "/")
                let step = parts.count == 2 ? Int(parts[1])! : 1
                var a = low
                var b = high
                if parts[0] != "*" {
                    let bounds = parts[0].split(separator: "-").map { Int($0)! }
                    a = bounds[0]
                    b = bounds.count == 2 ? bounds[1] : (parts.count == 2 ? high : a)
                }
                result.formUnion(stride(from: a, through: b, by: step))
            }
            return result
        }
        self.text = text
        minutes = values(fields[0], 0, 59)
        hours = values(fields[1], 0, 23)
        daysOfMonth = values(fields[2], 1, 31)
        months = values(fields[3], 1, 12)
        weekdays = Set(values(fields[4], 0, 6).map { $0 % 7 })
        dayOfMonthStar = fields[2].hasPrefix("*")
        dayOfWeekStar = fields[4].hasPrefix("*")
    }

    func matches(_ c: DateComponents) -> Bool {
        guard c.second == 0, minutes.contains(c.minute!), hours.contains(c.hour!), months.contains(c.month!) else {
            return false
        }
        let dom = daysOfMonth.contains(c.day!)
        let dow = weekdays.contains(c.weekday! - 1)
        return dayOfMonthStar || dayOfWeekStar ? dom && dow : dom || dow
    }

    static func random(using random: inout SplitMix64) -> BruteForceMatcher {
        func field(_ low: Int, _ high: Int, starWeight: Int) -> String {
            func value() -> Int { Int.random(in: low...high, using: &random) }
            switch Int.random(in: 0..<(5 + starWeight), using: &random) {
            case 0: return "\(value())"
            case 1:
                let a = value()
                return "\(a)-\(Int.random(in: a...high, using: &random))"
            case 2: return "\(value()),\(value())"
            case 3:
                let a = value()
                return "\(a)-\(Int.random(in: a...high, using: &random))/\(Int.random(in: 1...4, using: &random))"
            case 4: return "*/\(Int.random(in: 1...(high - low + 1), using: &random))"
            default: return "*"
            }
        }
        let text = [
            field(0, 59, starWeight: 1), field(0, 23, starWeight: 2), field(1, 31, starWeight: 5),
            field(1, 12, starWeight: 6), field(0, 6, starWeight: 5),
        ].joined(separator: " ")
        return BruteForceMatcher(text)!
    }
}
