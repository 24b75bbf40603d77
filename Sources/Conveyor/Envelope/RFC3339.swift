import Foundation

/// RFC 3339 timestamps in UTC with millisecond precision (`2026-11-25T16:04:23.123Z`), written and read without
/// `DateFormatter` (which is slow and locale-sensitive).
package enum RFC3339 {
    /// Milliseconds since 1970 of 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, the range the format
    /// can express.
    private static let millisecondRange: ClosedRange<Double> = -62_135_596_800_000...253_402_300_799_999

    /// Formats `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ`, rounded to the nearest millisecond (so that formatting a
    /// parsed timestamp gives the same text back). Dates outside years 1-9999 are clamped to that range.
    package static func format(_ date: Date) -> String {
        var exact = (date.timeIntervalSince1970 * 1000).rounded()
        if exact.isNaN { exact = 0 }
        let totalMillis = Int64(min(max(exact, millisecondRange.lowerBound), millisecondRange.upperBound))
        let days = CivilTime.floorDiv(totalMillis, 86_400_000)
        let millisOfDay = totalMillis - days * 86_400_000
        let (year, month, day) = CivilTime.date(days: days)
        let hour = millisOfDay / 3_600_000
        let minute = (millisOfDay / 60_000) % 60
        let second = (millisOfDay / 1000) % 60
        let millis = millisOfDay % 1000
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return "\(pad(year, 4))-\(pad(Int64(month), 2))-\(pad(Int64(day), 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(millis, 3))Z"
    }

    /// Parses an RFC 3339 timestamp (`Z` or `±HH:MM` offset, optional fractional seconds).
    package static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ width: Int) -> Int64? {
            guard i + width <= b.count else { return nil }
            var v: Int64 = 0
            for _ in 0..<width {
                let c = b[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
                i += 1
            }
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")),
              let day = number(2) else { return nil }
        guard i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2), expect(UInt8(ascii: ":")),
              let second = number(2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= CivilTime.daysInMonth(year: year, month: Int(month)),
              hour < 24, minute < 60, second < 61 else { return nil }
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            // Up to nanoseconds are significant; further digits are checked and ignored.
            var nanos: Int64 = 0
            var digits = 0
            while i < b.count, b[i] >= 48 && b[i] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int64(b[i] - 48) }
                i += 1
                digits += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 9)..<9 { nanos *= 10 }
            fraction = Double(nanos) / 1e9
        }
        var offsetSeconds: Int64 = 0
        guard i < b.count else { return nil }
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = number(2), expect(UInt8(ascii: ":")), let om = number(2), oh < 24, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        default:
            return nil
        }
        guard i == b.count else { return nil }
        let days = CivilTime.days(year: year, month: Int(month), day: Int(day))
        let seconds = days * CivilTime.secondsPerDay + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }
}
