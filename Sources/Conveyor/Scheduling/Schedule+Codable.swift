extension CronExpression: Codable {
    /// Decodes an expression from its text, validating it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(text)
        } catch let error as ConveyorError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes the expression as its text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

extension Schedule: Codable {
    enum CodingKeys: String, CodingKey {
        case cron
        case timeZone
        case intervalSeconds
    }

    /// Decodes `{"cron": "*/5 * * * *", "timeZone": "Europe/Berlin"}` or `{"intervalSeconds": 900}`, validating
    /// the expression, the time zone and the interval.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        do {
            if let seconds = try container.decodeIfPresent(Int64.self, forKey: .intervalSeconds) {
                self = try Schedule.every(.seconds(seconds))
            } else {
                let expression = try container.decode(CronExpression.self, forKey: .cron)
                let zone = try container.decodeIfPresent(String.self, forKey: .timeZone) ?? "UTC"
                self = Schedule.cron(expression, timeZone: try Schedule.timeZone(named: zone))
            }
        } catch let error as ConveyorError {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    /// Encodes a cron schedule as `{"cron": …, "timeZone": …}` and an interval schedule as `{"intervalSeconds": …}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch kind {
        case .cron(let expression, let zone):
            try container.encode(expression, forKey: .cron)
            try container.encode(zone.identifier, forKey: .timeZone)
        case .interval(let seconds):
            try container.encode(seconds, forKey: .intervalSeconds)
        }
    }
}

extension MissedSlotPolicy: Codable {
    /// Decodes `"skip"` or `"run-once"`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        switch try container.decode(String.self) {
        case "skip": self = .skip
        case "run-once": self = .runOnce
        case let other:
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "unknown missed-slot policy \"\(other)\" (use skip or run-once)")
        }
    }

    /// Encodes the policy as `"skip"` or `"run-once"`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
