import ArgumentParser

/// A duration given on the command line: `500ms`, `2s`, `5m`, `1h`, `1h30m`, or plain seconds (`2.5`).
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let duration: Duration
    let text: String

    init?(argument: String) {
        guard let d = DurationArgument.parse(argument) else { return nil }
        self.duration = d
        self.text = argument
    }

    init(_ duration: Duration, text: String) {
        self.duration = duration
        self.text = text
    }

    var description: String { text }

    static func parse(_ text: String) -> Duration? {
        if let seconds = Double(text) {
            // NaN, infinities and values past Int64 milliseconds are refused, not trapped on.
            guard seconds >= 0, seconds * 1000 < 9.2e18 else { return nil }
            return .milliseconds(Int64(seconds * 1000))
        }
        var total: Double = 0
        var number = ""
        var unit = ""
        var matchedAny = false
        func flush() -> Bool {
            guard let value = Double(number) else { return false }
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: return false
            }
            number = ""; unit = ""; matchedAny = true
            return true
        }
        for ch in text {
            if ch.isNumber || ch == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(ch)
            } else if ch.isLetter {
                guard !number.isEmpty else { return nil }
                unit.append(ch)
            } else {
                return nil
            }
        }
        guard !number.isEmpty, flush(), matchedAny, total >= 0, total * 1000 < 9.2e18 else { return nil }
        return .milliseconds(Int64((total * 1000).rounded()))
    }
}
