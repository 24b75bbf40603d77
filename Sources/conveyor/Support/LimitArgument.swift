import ArgumentParser
import Conveyor

/// `TASK=N`: a global concurrency limit of `N` jobs of `TASK` at once (`--global-concurrency`).
struct ConcurrencyLimitArgument: ExpressibleByArgument, Sendable {
    let task: String
    let limit: Int

    init?(argument: String) {
        guard let (task, value) = LimitSyntax.split(argument), let limit = Int(value),
            (1...TaskOptions.maximumGlobalConcurrency).contains(limit)
        else { return nil }
        self.task = task
        self.limit = limit
    }

    static var defaultValueDescription: String { "TASK=N" }
}

/// `TASK=N/INTERVAL[,burst=B]`: at most `N` jobs of `TASK` start per `INTERVAL` (`s`, `m`, `h`, or a duration such
/// as `500ms` or `10s`) across every worker, with up to `B` saved up (default `N`) (`--rate-limit`).
struct RateLimitArgument: ExpressibleByArgument, Sendable {
    let task: String
    let rate: RateLimit

    init?(argument: String) {
        guard let (task, value) = LimitSyntax.split(argument) else { return nil }
        var spec = Substring(value)
        var burst: Int?
        if let comma = spec.firstIndex(of: ",") {
            let option = spec[spec.index(after: comma)...]
            guard option.hasPrefix("burst="), let b = Int(option.dropFirst("burst=".count)) else { return nil }
            burst = b
            spec = spec[..<comma]
        }
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[0]) else { return nil }
        let interval: Duration
        switch parts[1] {
        case "s": interval = .seconds(1)
        case "m": interval = .seconds(60)
        case "h": interval = .seconds(3600)
        default:
            guard let parsed = DurationArgument.parse(String(parts[1])) else { return nil }
            interval = parsed
        }
        let rate = RateLimit(count, per: interval, burst: burst, scope: .global)
        guard (try? rate.validated()) != nil else { return nil }
        self.task = task
        self.rate = rate
    }

    static var defaultValueDescription: String { "TASK=N/s" }
}

enum LimitSyntax {
    /// `TASK=VALUE` split at the last `=` before the value (task names may not hold `=`).
    static func split(_ argument: String) -> (String, String)? {
        guard let equals = argument.firstIndex(of: "=") else { return nil }
        let task = String(argument[..<equals])
        let value = String(argument[argument.index(after: equals)...])
        guard !task.isEmpty, !value.isEmpty else { return nil }
        return (task, value)
    }
}
