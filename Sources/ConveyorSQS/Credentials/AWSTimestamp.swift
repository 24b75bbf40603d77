import Foundation

/// The ISO 8601 times AWS services and tools write for credential expiries: `2026-12-07T20:46:01Z`, with or without
/// fractional seconds (`.067345Z`, as some emulators write them), or with `UTC` in place of `Z` (older AWS CLI
/// SSO caches).
enum AWSTimestamp {
    static func parse(_ text: String) -> Date? {
        var text = text.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix("UTC") { text = String(text.dropLast(3)) + "Z" }
        // Fractional seconds are dropped: expiries are compared with a margin of minutes.
        if let dot = text.firstIndex(of: "."), let end = text[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) {
            text.removeSubrange(dot..<end)
        }
        return ISO8601DateFormatter().date(from: text)
    }
}
