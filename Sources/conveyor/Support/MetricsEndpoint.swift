import Conveyor
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// `GET /metrics` in the Prometheus text format, served by Hummingbird as a `Service` of the worker's
/// `ServiceGroup`. Connections are handled concurrently on SwiftNIO's event loops, so a slow or silent client
/// cannot hold up another one; the group's graceful shutdown (SIGTERM) stops the listener and closes idle
/// connections, and a connection idle for `idleTimeout` is closed.
struct MetricsEndpoint: Service {
    /// Where and how the endpoint listens.
    struct Configuration: Sendable {
        /// Address to listen on. Default `127.0.0.1`: metrics are for a scraper on the same host unless asked.
        var host: String = "127.0.0.1"
        /// Port to listen on; 0 picks a free one (printed when the endpoint is up).
        var port: Int
        /// How long a connection may stay without a complete request before it is closed. Default 30 s.
        var idleTimeout: Duration = .seconds(30)
    }

    /// The Prometheus content type of the text exposition format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    let configuration: Configuration
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    /// Called once the endpoint listens, with its URL (the actual port when 0 was asked for).
    let onListening: @Sendable (String) -> Void

    func run() async throws {
        let registry = self.registry
        let router = Router()
        router.get("metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: Self.contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
        router.head("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: Self.contentType])
        }
        let host = configuration.host
        let onListening = self.onListening
        let application = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .nanoseconds(max(0, configuration.idleTimeout.nanoseconds)))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let shownHost = host.contains(":") ? "[\(host)]" : host
                onListening("http://\(shownHost):\(port)/metrics")
            },
            logger: logger
        )
        do {
            try await application.run()
        } catch {
            throw ConveyorError(
                .invalidConfiguration,
                "metrics endpoint on \(host):\(configuration.port) (--metrics-bind, --metrics-port): \(error)")
        }
    }
}
