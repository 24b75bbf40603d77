import Conveyor
import Foundation
import Testing

@Suite("CronExpression")
struct CronExpressionTests {
    // MARK: Parsing

    @Test(
        "valid expressions parse",
        arguments: [
            "* * * * *", "*/15 * * * *", "0 * * * *", "30 9 * * *", "0 9 * * MON-FRI", "0 0 1,15 * *",
            "0 0 L * *", "0 0 1,15,L * *", "5/20 * * * *", "0-30/10 8-18/2 * * *", "0 12 * JAN,JUL *",
            "0 0 ? * mon", "0 0 1 * ?", "0 0 * * 7", "0 0 * * 0-7", "0 0 * * FRI-SUN", "0 0 * jan-mar sun",
            "*/10 * * * * *", "30 0 9 * * *", "0 0 0 1 1 *", "@yearly", "@annually", "@monthly", "@weekly",
            "@daily", "@midnight", "@hourly", "@DAILY", "  0   0\t* * *  ", "59 23 31 12 *", "0 0 29 2 *",
        ])
    func validExpressionsParse(_ text: String) throws {
        let expression = try CronExpression(text)
        #expect(expression.description == text.split(whereSeparator: \.isWhitespace).joined(separator: " "))
    }

    @Test(
        "equivalent spellings are equal",
        arguments: [
            ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
            ("@hourly", "0 * * * *"), ("0 0 * * 7", "0 0 * * 0"), ("0 0 * * SUN", "0 0 * * 0"),
            ("0 0 * * sun", "0 0 * * SUN"), ("0 0 * * MON-FRI", "0 0 * * 1-5"), ("0 0 * JAN-MAR *", "0 0 * 1-3 *"),
            ("0 0 ? * *", "0 0 * * *"), ("0 0 * * ?", "0 0 * * *"), ("*/15 * * * *", "0,15,30,45 * * * *"),
            ("0-59/15 * * * *", "*/15 * * * *"), ("10/20 * * * *", "10,30,50 * * * *"),
            ("0 * * * * *", "* * * * *"), ("0 0 * * FRI-SUN", "0 0 * * 5,6,0"), ("0 0 * * 5-7", "0 0 * * 0,5,6"),
            ("0 0 * * 1/2", "0 0 * * 0,1,3,5"), ("0 0 * * */2", "0 0 * * 0,2,4,6"), ("0 0 * * */7", "0 0 * * 0"),
        ])
    func equivalentSpellings(_ a: String, _ b: String) throws {
        let lhs = try CronExpression(a)
        let rhs = try CronExpression(b)
        #expect(lhs == rhs)
        #expect(lhs.hashValue == rhs.hashValue)
    }

    @Test(
        "different expressions are not equal",
        arguments: [("0 0 * * *", "0 1 * * *"), ("0 0 1 * *", "0 0 L * *"), ("0 0 1 * 1", "0 0 1 * *")])
    func differentExpressions(_ a: String, _ b: String) throws {
        #expect(try CronExpression(a) != CronExpression(b))
    }

    @Test(
        "fixed-time and interval-like classification",
        arguments: [
            ("30 2 * * *", true), ("0 9,17 * * MON-FRI", true), ("0 1-3 * * *", true), ("0 30 2 * * *", true),
            ("*/15 * * * *", false), ("0 * * * *", false), ("*/10 2 * * *", false), ("0 0-23/2 * * *", false),
            ("*/5 30 2 * * *", false), ("@daily", true), ("@hourly", false),
        ])
    func classification(_ text: String, _ fixed: Bool) throws {
        #expect(try CronExpression(text).isFixedTime == fixed)
    }

    @Test("seconds field is detected")
    func secondsField() throws {
        #expect(try CronExpression("* * * * * *").includesSeconds)
        #expect(try !CronExpression("* * * * *").includesSeconds)
    }

    @Test(
        "bad input is rejected with a message naming the field, the token and what is allowed",
        arguments: [
            ("75 * * * *", ["minute field \"75\"", "75", "out of range 0-59"]),
            ("* 24 * * *", ["hour field \"24\"", "out of range 0-23"]),
            ("0 0 0 * *", ["day-of-month field \"0\"", "out of range 1-31"]),
            ("0 0 32 * *", ["day-of-month field \"32\"", "out of range 1-31"]),
            ("0 0 * 13 *", ["month field \"13\"", "out of range 1-12"]),
            ("0 0 * * 8", ["day-of-week field \"8\"", "out of range 0-7"]),
            ("60 * * * * *", ["second field \"60\"", "out of range 0-59"]),
            ("*/0 * * * *", ["minute field \"*/0\"", "step 0", "1-60"]),
            ("*/61 * * * *", ["minute field \"*/61\"", "step 61"]),
            ("*/ * * * *", ["minute field \"*/\"", "missing step"]),
            ("*/x * * * *", ["minute field \"*/x\"", "not a number"]),
            ("*/2/3 * * * *", ["more than one step"]),
            ("1,,2 * * * *", ["minute field \"1,,2\"", "empty list item"]),
            ("1, * * * *", ["minute field \"1,\"", "empty list item"]),
            (",1 * * * *", ["empty list item"]),
            ("* * * *", ["expected 5 fields", "or 6 fields", "got 4"]),
            ("* * * * * * *", ["got 7"]),
            ("", ["empty"]),
            ("   ", ["empty"]),
            ("0 0 * FOO *", ["month field \"FOO\"", "unknown name \"FOO\"", "JAN-DEC"]),
            ("0 0 * * FUN", ["day-of-week field \"FUN\"", "unknown name \"FUN\"", "SUN-SAT"]),
            ("0 0 * * JAN", ["day-of-week field \"JAN\"", "unknown name"]),
            ("0 MON * * *", ["hour field \"MON\"", "not a number", "0-23"]),
            ("0 5-1 * * *", ["hour field \"5-1\"", "reversed", "1-5"]),
            ("0 0 * DEC-JAN *", ["month field \"DEC-JAN\"", "reversed"]),
            ("0 0 * * SAT-MON", ["day-of-week field \"SAT-MON\"", "reversed"]),
            ("0 0 1- * *", ["incomplete range"]),
            ("0 -5 * * *", ["incomplete range"]),
            ("0 0 L * 1L", ["day-of-week field \"1L\"", "unknown name"]),
            ("0 0 15W * *", ["day-of-month field \"15W\"", "not a number"]),
            ("L * * * *", ["minute field \"L\"", "not a number"]),
            ("0 0 L/2 * *", ["\"L\" cannot have a step"]),
            ("? * * * *", ["minute field \"?\""]),
            ("@reboot", ["@reboot is not supported"]),
            ("@fortnightly", ["unknown macro \"@fortnightly\"", "@daily"]),
            ("@daily 5", ["must stand alone"]),
            ("0 0 99999999999999999999 * *", ["out of range 1-31"]),
        ])
    func badInput(_ text: String, _ fragments: [String]) {
        do {
            _ = try CronExpression(text)
            Issue.record("\"\(text)\" was accepted")
        } catch let error as ConveyorError {
            #expect(error.code == .invalidCronExpression)
            for fragment in fragments {
                #expect(error.message.contains(fragment), "\(error.message) should contain \(fragment)")
            }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    // MARK: Next fire date in UTC

    @Test(
        "next fire date in UTC",
        arguments: [
            // every minute
            ("* * * * *", "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"),
            ("* * * * *", "2025-01-01T00:00:30Z", "2025-01-01T00:01:00Z"),
            ("* * * * *", "2025-01-01T00:00:59Z", "2025-01-01T00:01:00Z"),
            // */15
            ("*/15 * * * *", "2025-01-01T00:07:00Z", "2025-01-01T00:15:00Z"),
            ("*/15 * * * *", "2025-01-01T00:15:00Z", "2025-01-01T00:30:00Z"),
            ("*/15 * * * *", "2025-01-01T00:45:00Z", "2025-01-01T01:00:00Z"),
            ("5/20 * * * *", "2025-01-01T00:05:00Z", "2025-01-01T00:25:00Z"),
            ("0-30/10 8-18/2 * * *", "2025-01-01T08:30:00Z", "2025-01-01T10:00:00Z"),
            // hourly
            ("0 * * * *", "2025-01-01T10:00:00Z", "2025-01-01T11:00:00Z"),
            ("@hourly", "2025-01-01T10:59:59Z", "2025-01-01T11:00:00Z"),
            // daily at 09:30
            ("30 9 * * *", "2025-01-01T08:00:00Z", "2025-01-01T09:30:00Z"),
            ("30 9 * * *", "2025-01-01T09:30:00Z", "2025-01-02T09:30:00Z"),
            ("@daily", "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"),
            // weekdays (2025-01-03 is a Friday)
            ("0 9 * * MON-FRI", "2025-01-03T10:00:00Z", "2025-01-06T09:00:00Z"),
            ("0 9 * * MON-FRI", "2025-01-06T08:00:00Z", "2025-01-06T09:00:00Z"),
            ("0 9 * * 1-5", "2025-01-04T00:00:00Z", "2025-01-06T09:00:00Z"),
            ("0 0 * * 7", "2025-01-01T00:00:00Z", "2025-01-05T00:00:00Z"),
            ("0 0 * * SAT,SUN", "2025-01-04T00:00:00Z", "2025-01-05T00:00:00Z"),
            ("@weekly", "2025-01-01T00:00:00Z", "2025-01-05T00:00:00Z"),
            // 1st and 15th
            ("0 0 1,15 * *", "2025-01-02T00:00:00Z", "2025-01-15T00:00:00Z"),
            ("0 0 1,15 * *", "2025-01-15T00:00:00Z", "2025-02-01T00:00:00Z"),
            ("@monthly", "2025-12-15T00:00:00Z", "2026-01-01T00:00:00Z"),
            // last day of the month
            ("0 0 L * *", "2025-01-31T00:00:00Z", "2025-02-28T00:00:00Z"),
            ("0 0 L * *", "2024-02-01T00:00:00Z", "2024-02-29T00:00:00Z"),
            ("0 0 L * *", "2025-04-01T00:00:00Z", "2025-04-30T00:00:00Z"),
            ("0 0 L * *", "2025-12-30T00:00:00Z", "2025-12-31T00:00:00Z"),
            ("0 0 L 2 *", "2100-01-01T00:00:00Z", "2100-02-28T00:00:00Z"),
            ("0 0 L 2 *", "2000-01-01T00:00:00Z", "2000-02-29T00:00:00Z"),
            ("0 0 1,L * *", "2025-02-01T00:00:00Z", "2025-02-28T00:00:00Z"),
            // month ends
            ("0 0 31 * *", "2025-01-31T00:00:00Z", "2025-03-31T00:00:00Z"),
            ("0 0 31 * *", "2025-03-31T00:00:00Z", "2025-05-31T00:00:00Z"),
            ("0 0 31 * *", "2025-07-31T00:00:00Z", "2025-08-31T00:00:00Z"),
            ("0 0 30 * *", "2025-01-30T00:00:00Z", "2025-03-30T00:00:00Z"),
            ("0 0 29 * *", "2025-01-29T00:00:00Z", "2025-03-29T00:00:00Z"),
            ("0 0 29 * *", "2024-01-29T00:00:00Z", "2024-02-29T00:00:00Z"),
            ("0 0 28 2 *", "2025-02-28T00:00:00Z", "2026-02-28T00:00:00Z"),
            // Feb 29 only in leap years
            ("0 0 29 2 *", "2025-01-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            ("0 0 29 2 *", "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"),
            ("0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"),
            ("0 0 29 2 *", "1999-01-01T00:00:00Z", "2000-02-29T00:00:00Z"),
            // year wrap
            ("59 23 31 12 *", "2025-12-31T23:59:00Z", "2026-12-31T23:59:00Z"),
            ("* * * * *", "2025-12-31T23:59:00Z", "2026-01-01T00:00:00Z"),
            ("0 0 1 1 *", "2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z"),
            ("@yearly", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            ("0 12 * JAN,JUL *", "2025-02-01T00:00:00Z", "2025-07-01T12:00:00Z"),
            ("0 12 * JAN,JUL *", "2025-07-31T12:00:00Z", "2026-01-01T12:00:00Z"),
            // day-of-month OR day-of-week when both are restricted (2025-01-03 and -10 are Fridays)
            ("0 0 13 * FRI", "2025-01-01T00:00:00Z", "2025-01-03T00:00:00Z"),
            ("0 0 13 * FRI", "2025-01-03T00:00:00Z", "2025-01-10T00:00:00Z"),
            ("0 0 13 * FRI", "2025-01-10T00:00:00Z", "2025-01-13T00:00:00Z"),
            ("0 0 1 * MON", "2025-01-01T00:00:00Z", "2025-01-06T00:00:00Z"),
            ("0 0 1 * MON", "2025-01-27T00:00:00Z", "2025-02-01T00:00:00Z"),
            // ... but AND when one of them begins with * (Vixie): odd days that are Mondays
            ("0 0 */2 * MON", "2025-01-01T00:00:00Z", "2025-01-13T00:00:00Z"),
            ("0 0 1 * *", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"),
            ("0 0 ? * MON", "2025-01-01T00:00:00Z", "2025-01-06T00:00:00Z"),
            ("0 0 13 * ?", "2025-01-01T00:00:00Z", "2025-01-13T00:00:00Z"),
            // seconds
            ("*/10 * * * * *", "2025-01-01T00:00:05Z", "2025-01-01T00:00:10Z"),
            ("*/10 * * * * *", "2025-01-01T00:00:50Z", "2025-01-01T00:01:00Z"),
            ("30 0 9 * * *", "2025-01-01T00:00:00Z", "2025-01-01T09:00:30Z"),
            ("* * * * * *", "2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z"),
        ])
    func nextFireInUTC(_ expression: String, _ after: String, _ expected: String) throws {
        #expect(try next(expression, after: after) == expected)
    }

    @Test("impossible expressions have no fire date", arguments: ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"])
    func impossible(_ expression: String) throws {
        #expect(try next(expression, after: "2025-01-01T00:00:00Z") == nil)
    }

    @Test("fire dates are strictly after fractional dates")
    func fractionalDates() throws {
        let schedule = try Schedule(parsing: "* * * * * *")
        let base = date("2025-01-01T00:00:00Z")
        #expect(schedule.nextFireDate(after: base.addingTimeInterval(0.5)) == base.addingTimeInterval(1))
        #expect(schedule.nextFireDate(after: base.addingTimeInterval(-0.5)) == base)
        #expect(schedule.nextFireDate(after: base) == base.addingTimeInterval(1))
    }
}
