import Conveyor
import Foundation

/// Parses an RFC 3339 timestamp such as `2025-03-30T01:00:00Z` or `2025-03-30T03:00:00+02:00`.
func date(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    guard let value = formatter.date(from: text) else { fatalError("bad test timestamp \(text)") }
    return value
}

/// Formats a date as an RFC 3339 timestamp in UTC, for readable expectations.
func utcText(_ value: Date?) -> String? {
    guard let value else { return nil }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: value)
}

/// The next fire date of a cron expression in a time zone, as UTC text.
func next(_ expression: String, _ zone: String = "UTC", after: String) throws -> String? {
    utcText(try Schedule(parsing: expression, timeZone: zone).nextFireDate(after: date(after)))
}

/// The slots of a schedule in a closed range, as UTC text.
func slots(_ expression: String, _ zone: String = "UTC", from: String, through: String) throws -> [String] {
    try Schedule(parsing: expression, timeZone: zone).slots(from: date(from), through: date(through)).compactMap(utcText)
}
