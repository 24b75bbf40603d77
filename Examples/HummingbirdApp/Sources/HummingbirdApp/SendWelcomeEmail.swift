import Conveyor

/// The job `POST /signup` enqueues: send a welcome email (here: log it).
struct SendWelcomeEmail: ConveyorTask {
    struct Input: Codable, Sendable {
        var email: String
        var name: String
    }

    static let name = "send-welcome-email"
    static let options = TaskOptions(maxAttempts: 5, backoff: .exponential(base: .seconds(1), cap: .seconds(60)))

    func run(_ input: Input, context: JobContext) async throws {
        context.logger.info("sending welcome email", metadata: ["signup.email": .string(input.email)])
    }
}
