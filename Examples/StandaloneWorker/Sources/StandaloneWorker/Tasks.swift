import Conveyor

/// Resizes an image (here: pretends to, reporting progress).
struct ResizeImage: ConveyorTask {
    struct Input: Codable, Sendable {
        var url: String
        var width: Int
    }

    static let name = "resize-image"
    static let options = TaskOptions(maxAttempts: 3, timeout: .seconds(60), concurrency: 2)

    func run(_ input: Input, context: JobContext) async throws {
        guard input.width > 0 else { throw NonRetryableError("width must be positive (is \(input.width))") }
        for step in 1...4 {
            try await Task.sleep(for: .milliseconds(50))
            context.progress(Double(step) / 4)
        }
        context.logger.info("resized", metadata: ["image.url": .string(input.url)])
    }
}

/// Sends a report; enqueues one `resize-image` child job that keeps the same correlation id.
struct SendReport: ConveyorTask {
    struct Input: Codable, Sendable { var recipient: String }

    static let name = "send-report"
    static let options = TaskOptions(maxAttempts: 5, backoff: .exponential(base: .seconds(2), cap: .seconds(120)))

    let client: ConveyorClient

    func run(_ input: Input, context: JobContext) async throws {
        try await client.enqueue(ResizeImage.self, .init(url: "https://example.com/chart.png", width: 640))
        context.logger.info("report sent", metadata: ["report.recipient": .string(input.recipient)])
    }
}
