import Conveyor
import Foundation
import Hummingbird
import Logging

/// The body of `POST /signup`.
struct Signup: Decodable, Sendable {
    var email: String
    var name: String
}

@main
struct App {
    static func main() async throws {
        var logger = Logger(label: "signup-app")
        logger.logLevel = .info
        let provider = try makeProvider(logger: logger)
        let client = ConveyorClient(provider: provider, logger: logger)

        var registry = TaskRegistry()
        try registry.register(SendWelcomeEmail())
        try registry.register(BuildReport())
        let worker = Worker(
            provider: provider,
            registry: registry,
            configuration: .init(queues: ["default"], concurrency: 8),
            logger: logger
        )

        let router = Router()
        // The report page: start a job, watch its progress and result in the browser.
        JobRoutes(client: client).add(to: router)
        router.post("/signup") { request, context -> Response in
            let signup = try await request.decode(as: Signup.self, context: context)
            let handle = try await client.enqueue(SendWelcomeEmail.self, .init(email: signup.email, name: signup.name))
            return Response(
                status: .accepted,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"job_id":"\#(handle.id.rawValue)"}"#))
            )
        }

        let port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "") ?? 8080
        logger.info("listening", metadata: ["http.url": "http://127.0.0.1:\(port)/"])
        // The worker runs in the application's ServiceGroup: SIGTERM stops the HTTP server and drains the worker;
        // the provider, listed before the worker, closes after it.
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            services: [provider, worker, client.results],
            logger: logger
        )
        try await app.runService()
    }
}
