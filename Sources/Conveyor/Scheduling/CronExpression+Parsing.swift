extension CronExpression {
    /// One field of a cron expression: its name, its range and the extras it accepts.
    struct FieldSpec {
        let name: String
        let range: ClosedRange<Int>
        let names: [String: Int]
        let allowsQuestionMark: Bool
        let allowsLast: Bool

        /// What the field accepts, for error messages.
        var allowed: String {
            var parts = ["\(range.lowerBound)-\(range.upperBound)"]
            if name == "month" { parts.append("JAN-DEC") }
            if name == "day-of-week" { parts.append("SUN-SAT") }
            parts.append("*")
            if allowsQuestionMark { parts.append("?") }
            if allowsLast { parts.append("L") }
            return parts.joined(separator: ", ") + ", ranges a-b, steps */n, a-b/n, a/n and lists a,b,c"
        }

        static let second = FieldSpec(name: "second", range: 0...59, names: [:], allowsQuestionMark: false, allowsLast: false)
        static let minute = FieldSpec(name: "minute", range: 0...59, names: [:], allowsQuestionMark: false, allowsLast: false)
        static let hour = FieldSpec(name: "hour", range: 0...23, names: [:], allowsQuestionMark: false, allowsLast: false)
        static let dayOfMonth = FieldSpec(
            name: "day-of-month", range: 1...31, names: [:], allowsQuestionMark: true, allowsLast: true)
        static let month = FieldSpec(
            name: "month", range: 1...12,
            names: [
                "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
                "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
            ],
            allowsQuestionMark: false, allowsLast: false)
        static let dayOfWeek = FieldSpec(
            name: "day-of-week", range: 0...7,
            names: ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6],
            allowsQuestionMark: true, allowsLast: false)
    }

    /// The result of parsing one field.
    struct ParsedField {
        var mask: UInt64 = 0
        var last = false
        /// The field begins with `*` or `?`.
        var beginsWithStar = false
        /// The field uses `*`, `?` or a step anywhere.
        var isPeriodic = false
    }

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    static func invalid(_ message: String) -> ConveyorError {
        ConveyorError(.invalidCronExpression, message)
    }

    static func parse(_ source: String) throws -> CronExpression {
        let fields = source.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            .map(String.init)
        let normalized = fields.joined(separator: " ")
        guard !fields.isEmpty else {
            throw invalid("cron expression is empty: expected 5 fields (minute hour day-of-month month day-of-week), 6 fields (with a leading second) or a macro such as @daily")
        }
        if fields[0].hasPrefix("@") {
            let macro = fields[0].lowercased()
            guard fields.count == 1 else {
                throw invalid("macro \(fields[0]) must stand alone, got \"\(normalized)\"")
            }
            if macro == "@reboot" {
                throw invalid("@reboot is not supported: schedules fire at wall-clock times, not at system start (run the job from your application's startup code instead)")
            }
            guard let expansion = macros[macro] else {
                throw invalid("unknown macro \"\(fields[0])\" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)")
            }
            let expanded = try parse(expansion)
            return expanded.withText(normalized)
        }
        guard fields.count == 5 || fields.count == 6 else {
            throw invalid("expected 5 fields (minute hour day-of-month month day-of-week) or 6 fields (second minute hour day-of-month month day-of-week), got \(fields.count) in \"\(normalized)\"")
        }
        let hasSeconds = fields.count == 6
        let offset = hasSeconds ? 1 : 0
        let second = hasSeconds ? try parseField(fields[0], .second) : ParsedField(mask: 1)
        let minute = try parseField(fields[offset], .minute)
        let hour = try parseField(fields[offset + 1], .hour)
        let dayOfMonth = try parseField(fields[offset + 2], .dayOfMonth)
        let month = try parseField(fields[offset + 3], .month)
        var dayOfWeek = try parseField(fields[offset + 4], .dayOfWeek)
        if dayOfWeek.mask & (1 << 7) != 0 {  // 7 is Sunday too
            dayOfWeek.mask = (dayOfWeek.mask | 1) & ~(1 << 7)
        }
        return CronExpression(
            seconds: second.mask, minutes: minute.mask, hours: hour.mask,
            daysOfMonth: dayOfMonth.mask, lastDayOfMonth: dayOfMonth.last,
            months: month.mask, daysOfWeek: dayOfWeek.mask,
            dayOfMonthIsStar: dayOfMonth.beginsWithStar, dayOfWeekIsStar: dayOfWeek.beginsWithStar,
            isIntervalLike: second.isPeriodic || minute.isPeriodic || hour.isPeriodic,
            hasSeconds: hasSeconds, text: normalized)
    }

    func withText(_ text: String) -> CronExpression {
        CronExpression(
            seconds: seconds, minutes: minutes, hours: hours, daysOfMonth: daysOfMonth,
            lastDayOfMonth: lastDayOfMonth, months: months, daysOfWeek: daysOfWeek,
            dayOfMonthIsStar: dayOfMonthIsStar, dayOfWeekIsStar: dayOfWeekIsStar,
            isIntervalLike: isIntervalLike, hasSeconds: hasSeconds, text: text)
    }

    static func parseField(_ text: String, _ spec: FieldSpec) throws -> ParsedField {
        var result = ParsedField()
        result.beginsWithStar = text.hasPrefix("*") || (spec.allowsQuestionMark && text.hasPrefix("?"))
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        for item in items {
            let item = String(item)
            guard !item.isEmpty else {
                throw invalid("\(spec.name) field \"\(text)\": empty list item (separate values with single commas, e.g. 1,15)")
            }
            try parseItem(item, field: text, spec, into: &result)
        }
        return result
    }

    static func parseItem(_ item: String, field: String, _ spec: FieldSpec, into result: inout ParsedField) throws {
        func fail(_ detail: String) -> ConveyorError {
            invalid("\(spec.name) field \"\(field)\": \(detail)")
        }
        let parts = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2 else {
            throw fail("\"\(item)\" has more than one step (write a single step, e.g. */15 or 0-30/5)")
        }
        let base = parts[0]
        let span = spec.range.upperBound - spec.range.lowerBound + (spec.name == "day-of-week" ? 0 : 1)
        var step = 1
        if parts.count == 2 {
            result.isPeriodic = true
            let stepText = parts[1]
            guard !stepText.isEmpty else { throw fail("missing step after \"/\" in \"\(item)\" (e.g. */15)") }
            guard stepText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw fail("step \"\(stepText)\" in \"\(item)\" is not a number (allowed steps: 1-\(span))")
            }
            guard let value = Int(stepText), value >= 1, value <= span else {
                throw fail("step \(stepText) in \"\(item)\" is out of range (allowed steps: 1-\(span))")
            }
            step = value
        }
        guard !base.isEmpty else { throw fail("missing value before \"/\" in \"\(item)\" (e.g. */15 or 0/15)") }

        var low: Int
        var high: Int
        if base == "*" || (spec.allowsQuestionMark && base == "?") {
            result.isPeriodic = true
            low = spec.range.lowerBound
            high = spec.range.upperBound
        } else if spec.allowsLast && base.uppercased() == "L" {
            guard parts.count == 1 else { throw fail("\"L\" cannot have a step (\"\(item)\")") }
            result.last = true
            return
        } else if let dash = base.firstIndex(of: "-") {
            let startText = String(base[..<dash])
            let endText = String(base[base.index(after: dash)...])
            guard !startText.isEmpty, !endText.isEmpty else {
                throw fail("incomplete range \"\(base)\" (write a range as start-end, e.g. 1-5; allowed: \(spec.allowed))")
            }
            low = try value(startText, item: item, spec, fail)
            high = try value(endText, item: item, spec, fail)
            // A day-of-week range that ends on Sunday by name (FRI-SUN) means up to 7.
            if spec.name == "day-of-week", high == 0, low > 0, spec.names[endText.uppercased()] != nil {
                high = 7
            }
            guard low <= high else {
                throw fail("range \"\(base)\" is reversed: start \(startText) is after end \(endText) (write it as \(endText)-\(startText), or as a list of two ranges to wrap around)")
            }
        } else {
            low = try value(base, item: item, spec, fail)
            high = parts.count == 2 ? spec.range.upperBound : low  // a/n runs to the maximum (7 for day-of-week)
        }
        var v = low
        while v <= high {
            result.mask |= 1 << UInt64(v)
            v += step
        }
    }

    static func value(
        _ text: String, item: String, _ spec: FieldSpec, _ fail: (String) -> ConveyorError
    ) throws -> Int {
        if text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let number = Int(text), spec.range.contains(number) else {
                throw fail("value \(text) is out of range \(spec.range.lowerBound)-\(spec.range.upperBound)")
            }
            return number
        }
        if let number = spec.names[text.uppercased()] {
            return number
        }
        if spec.names.isEmpty {
            throw fail("\"\(text)\" is not a number (allowed: \(spec.allowed))")
        }
        throw fail("unknown name \"\(text)\" (allowed: \(spec.allowed))")
    }
}
