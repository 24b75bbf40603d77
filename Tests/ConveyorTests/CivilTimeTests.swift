@testable import Conveyor
import Foundation
import Testing

/// `CivilTime`, the one civil-date implementation (RFC 3339 timestamps and cron schedules use it), against
/// Foundation's Gregorian calendar on chosen and seeded random dates; inputs out of range carry over as
/// `Calendar.date(from:)` does, and extreme ones are clamped, never a trap.
@Suite("Civil time against Foundation's calendar")
struct CivilTimeTests {
    /// Fixed so that a failure can be replayed; it is printed with every failure.
    static let seed: UInt64 = 0x5EED_C1F1_1DA7_E5

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// Foundation's Gregorian calendar is Julian before 1582-10-15, `CivilTime` is proleptic Gregorian: earlier
    /// dates are compared after moving them by whole 400-year cycles (146 097 days, a whole number of weeks), over
    /// which the proleptic calendar repeats.
    static let firstComparableYear: Int64 = 1600
    static let cycleYears: Int64 = 400
    static let cycleDays: Int64 = 146_097

    /// The number of 400-year cycles that brings `year` to `firstComparableYear` or later.
    static func cycles(toCompare year: Int64) -> Int64 {
        year >= firstComparableYear ? 0 : (firstComparableYear - year + cycleYears - 1) / cycleYears
    }

    /// Days since 1970-01-01 of the civil date, by Foundation (fields out of range carried over by Foundation).
    static func foundationDays(year: Int64, month: Int, day: Int) throws -> Int64 {
        let k = cycles(toCompare: year)
        let components = DateComponents(year: Int(year + k * cycleYears), month: month, day: day)
        let date = try #require(calendar.date(from: components), "Foundation has no date for \(components)")
        return Int64((date.timeIntervalSince1970 / 86_400).rounded(.down)) - k * cycleDays
    }

    /// The civil date of a day count, by Foundation.
    static func foundationDate(days: Int64) -> (year: Int64, month: Int, day: Int, weekday: Int, daysInMonth: Int) {
        let firstComparableDay = Int64(-135_140)  // 1600-01-01
        let k = days >= firstComparableDay ? 0 : (firstComparableDay - days + cycleDays - 1) / cycleDays
        let date = Date(timeIntervalSince1970: Double(days + k * cycleDays) * 86_400)
        let c = calendar.dateComponents([.year, .month, .day, .weekday], from: date)
        let length = calendar.range(of: .day, in: .month, for: date)!.count
        return (Int64(c.year!) - k * cycleYears, c.month!, c.day!, c.weekday! - 1, length)
    }

    /// Checks every function of `CivilTime` on one valid date against Foundation; false after the first mismatch.
    static func agreesWithFoundation(year: Int64, month: Int, day: Int, _ context: String) throws -> Bool {
        let days = CivilTime.days(year: year, month: month, day: day)
        let expectedDays = try foundationDays(year: year, month: month, day: day)
        let foundation = foundationDate(days: expectedDays)
        let civil = CivilTime.date(days: days)
        let ok = days == expectedDays
            && civil == (year, month, day)
            && (foundation.year, foundation.month, foundation.day) == (year, month, day)
            && CivilTime.weekday(days: days) == foundation.weekday
            && CivilTime.daysInMonth(year: year, month: month) == foundation.daysInMonth
        #expect(
            ok,
            """
            \(context): \(year)-\(month)-\(day): days \(days), Foundation \(expectedDays); back \(civil); Foundation \
            \(foundation); weekday \(CivilTime.weekday(days: days)); month of \
            \(CivilTime.daysInMonth(year: year, month: month)) days
            """
        )
        return ok
    }

    @Test(
        "chosen dates: year 1, the Gregorian switch, 1970, leap days, 9999-12-31",
        arguments: [
            (Int64(1), 1, 1, Int64(-719_162)), (1, 12, 31, -718_798), (4, 2, 29, -718_008), (100, 2, 28, -682_945),
            (1582, 10, 15, -141_427), (1600, 2, 29, -135_081), (1900, 2, 28, -25_509), (1900, 3, 1, -25_508),
            (1969, 12, 31, -1), (1970, 1, 1, 0), (2000, 2, 29, 11_016), (2024, 2, 29, 19_782), (2100, 3, 1, 47_541),
            (9999, 12, 31, 2_932_896),
        ]
    )
    func chosenDates(year: Int64, month: Int, day: Int, days: Int64) throws {
        #expect(CivilTime.days(year: year, month: month, day: day) == days)
        #expect(CivilTime.date(days: days) == (year, month, day))
        _ = try Self.agreesWithFoundation(year: year, month: month, day: day, "chosen")
    }

    @Test("random valid dates of years -100 000 to 100 000 agree with Foundation (days, date, weekday, month length)")
    func randomValidDates() throws {
        var rng = SplitMix64(seed: Self.seed)
        for i in 0..<4_000 {
            // Mostly the years timestamps can carry, some far outside them.
            let year = i % 4 == 0 ? Int64.random(in: -100_000...100_000, using: &rng) : Int64.random(in: 1...9999, using: &rng)
            let month = Int.random(in: 1...12, using: &rng)
            let day = Int.random(in: 1...CivilTime.daysInMonth(year: year, month: month), using: &rng)
            guard try Self.agreesWithFoundation(year: year, month: month, day: day, "seed \(Self.seed), sample \(i)") else { return }
        }
    }

    @Test("random day counts agree with Foundation's civil dates, and round-trip")
    func randomDayCounts() {
        var rng = SplitMix64(seed: Self.seed &+ 1)
        for i in 0..<4_000 {
            let days = Int64.random(in: -40_000_000...40_000_000, using: &rng)  // about years -107 000 to 111 000
            let civil = CivilTime.date(days: days)
            let foundation = Self.foundationDate(days: days)
            let ok = (civil.year, civil.month, civil.day) == (foundation.year, foundation.month, foundation.day)
                && CivilTime.days(year: civil.year, month: civil.month, day: civil.day) == days
                && CivilTime.weekday(days: days) == foundation.weekday
            #expect(ok, "seed \(Self.seed &+ 1), sample \(i): day \(days) is \(civil), Foundation \(foundation)")
            if !ok { return }
        }
    }

    @Test("leap years are Foundation's (February's length), years -2000 to 3000")
    func leapYears() throws {
        for year in Int64(-2000)...3000 {
            let days = try Self.foundationDays(year: year, month: 2, day: 1)
            let leap = Self.foundationDate(days: days).daysInMonth == 29
            #expect(CivilTime.isLeapYear(year) == leap, "\(year)")
            if CivilTime.isLeapYear(year) != leap { return }
        }
    }

    @Test("months and days out of range carry over as Calendar.date(from:) does")
    func outOfRangeFieldsCarryOver() throws {
        var rng = SplitMix64(seed: Self.seed &+ 2)
        for i in 0..<2_000 {
            let year = Int64.random(in: -3000...9999, using: &rng)
            let month = Int.random(in: -30...30, using: &rng)
            let day = Int.random(in: -100...400, using: &rng)
            let days = CivilTime.days(year: year, month: month, day: day)
            let expected = try Self.foundationDays(year: year, month: month, day: day)
            #expect(days == expected, "seed \(Self.seed &+ 2), sample \(i): \(year)-\(month)-\(day) gives \(days), Foundation \(expected)")
            if days != expected { return }
            // The month's length is that of the month the carry lands in.
            let first = try Self.foundationDays(year: year, month: month, day: 1)
            let length = Self.foundationDate(days: first).daysInMonth
            #expect(CivilTime.daysInMonth(year: year, month: month) == length, "\(year)-\(month)")
        }
    }

    @Test("extreme and negative inputs are clamped to the supported years, never a trap")
    func extremesDoNotTrap() {
        let years = CivilTime.supportedYears
        let range = CivilTime.supportedDays
        #expect(CivilTime.days(year: years.lowerBound, month: 1, day: 1) == range.lowerBound)
        #expect(CivilTime.days(year: years.upperBound, month: 12, day: 31) == range.upperBound)
        #expect(CivilTime.date(days: range.lowerBound) == (years.lowerBound, 1, 1))
        #expect(CivilTime.date(days: range.upperBound) == (years.upperBound, 12, 31))

        let big: [Int64] = [.min, .min + 1, -1_000_000_000_000, -1, 0, 1, 1_000_000_000_000, .max - 1, .max]
        let bigInt: [Int] = [.min, .min + 1, -1_000_000_000_000, -13, -1, 0, 1, 13, 1_000_000_000_000, .max - 1, .max]
        for value in big {
            let civil = CivilTime.date(days: value)
            #expect(years.contains(civil.year) && (1...12).contains(civil.month) && (1...31).contains(civil.day), "\(value)")
            #expect((0...6).contains(CivilTime.weekday(days: value)))
            _ = CivilTime.isLeapYear(value)
            for month in bigInt {
                #expect((28...31).contains(CivilTime.daysInMonth(year: value, month: month)))
                for day in bigInt {
                    #expect(range.contains(CivilTime.days(year: value, month: month, day: day)), "\(value)-\(month)-\(day)")
                }
            }
            for field in bigInt {
                _ = CivilTime.seconds(year: value, month: field, day: field, hour: field, minute: field, second: field)
            }
        }
        #expect(CivilTime.date(days: .max) == (years.upperBound, 12, 31))
        #expect(CivilTime.date(days: .min) == (years.lowerBound, 1, 1))
        #expect(CivilTime.days(year: .max, month: .max, day: .max) == range.upperBound)
        #expect(CivilTime.days(year: .min, month: .min, day: .min) == range.lowerBound)
    }

    @Test("RFC 3339 formats the civil date and time Foundation gives, 1600 to 9999")
    func rfc3339AgreesWithFoundation() {
        var rng = SplitMix64(seed: Self.seed &+ 3)
        for i in 0..<2_000 {
            let millis = Int64.random(in: -11_676_096_000_000...253_402_300_799_999, using: &rng)  // 1600-01-01 on
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let c = Self.calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let milli = Int(((millis % 1000) + 1000) % 1000)
            func pad(_ value: Int, _ width: Int) -> String {
                String(repeating: "0", count: max(0, width - String(value).count)) + String(value)
            }
            let expected = "\(pad(c.year!, 4))-\(pad(c.month!, 2))-\(pad(c.day!, 2))T\(pad(c.hour!, 2)):\(pad(c.minute!, 2))"
                + ":\(pad(c.second!, 2)).\(pad(milli, 3))Z"
            #expect(RFC3339.format(date) == expected, "seed \(Self.seed &+ 3), sample \(i): \(millis) ms")
            #expect(RFC3339.parse(expected).map { ($0.timeIntervalSince1970 * 1000).rounded() } == Double(millis), "\(expected)")
            if RFC3339.format(date) != expected { return }
        }
    }
}
