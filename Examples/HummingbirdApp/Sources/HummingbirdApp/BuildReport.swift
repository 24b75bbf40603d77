import Conveyor

/// A job the browser starts from the page and watches: builds a report in `steps` steps of `ms` milliseconds,
/// reporting progress after each, and returns a summary.
struct BuildReport: ConveyorTask {
    struct Input: Codable, Sendable {
        var steps: Int = 10
        var ms: Int = 150
    }

    struct Output: Codable, Sendable {
        var pages: Int
        var summary: String
    }

    static let name = "report.build"
    static let options = TaskOptions(maxAttempts: 3, backoff: .fixed(.seconds(1)), timeout: .seconds(120))

    func run(_ input: Input, context: JobContext) async throws -> Output {
        guard (1...100).contains(input.steps), (0...5_000).contains(input.ms) else {
            throw NonRetryableError("steps must be 1 to 100 and ms 0 to 5000")
        }
        for step in 1...input.steps {
            try await Task.sleep(for: .milliseconds(input.ms))
            context.progress(Double(step) / Double(input.steps), "page \(step) of \(input.steps)")
        }
        return Output(pages: input.steps, summary: "report ready: \(input.steps) pages")
    }
}
