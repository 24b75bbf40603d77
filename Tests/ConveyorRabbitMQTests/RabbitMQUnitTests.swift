import Conveyor
import Testing

@testable import ConveyorRabbitMQ

@Suite struct RabbitMQConfigurationTests {
    /// Several comma-separated URIs are the nodes of a cluster; a comma inside a password stays in it; TLS options of
    /// any node apply to all; mixed schemes or vhosts are refused without showing a password.
    @Test func clusterNodeList() throws {
        let nodes = try AMQPURL.parseList("amqp://u:p,w@a:5681/v,AMQP://u:p@b:5682/v, amqp://u:p@c/v")
        #expect(nodes.map(\.host) == ["a", "b", "c"])
        #expect(nodes.map(\.port) == [5681, 5682, 5672])
        #expect(nodes[0].password == "p,w")
        let configuration = try RabbitMQQueueProvider.Configuration(urls: ["amqps://u:p@a/?cacertfile=/ca.pem", "amqps://u:p@b/"])
        #expect(configuration.urls == ["amqps://u:p@a/?cacertfile=/ca.pem", "amqps://u:p@b/"])
        let validated = try configuration.validated()
        #expect(validated.map(\.caCertificatePath) == ["/ca.pem", "/ca.pem"])
        #expect(String(describing: configuration).contains("amqps://u:***@a:5671/,amqps://u:***@b:5671/"), "\(configuration)")
        for (list, fragment) in [
            ("amqp://u:secret@a/,amqps://u:secret@b/", "mix amqp:// and amqps://"),
            ("amqp://u:secret@a/x,amqp://u:secret@b/y", "different vhosts"),
            ("amqp://u:secret@a/,amqp://u:secret@", "node 2 of 2"),
        ] {
            do {
                _ = try RabbitMQQueueProvider.Configuration(url: list)
                Issue.record("\(list) was accepted")
            } catch {
                #expect(error.message.contains(fragment), "\(error)")
                #expect(!error.message.contains("secret"), "\(error)")
            }
        }
        // One provider, three nodes: it opens, and each connection has every node.
        let provider = try RabbitMQQueueProvider(configuration: RabbitMQQueueProvider.Configuration(url: "amqp://g:g@127.0.0.1:1/,amqp://g:g@127.0.0.1:2/"))
        #expect(provider.publisher.connection.settings.nodes.count == 2)
        #expect(Set(provider.consumer.connection.settings.nodes.map(\.port)) == [1, 2])
    }

    /// The URL's query sets TLS files, verification and the login mechanism, as other AMQP clients accept them.
    @Test func urlQuerySetsTLSAndLogin() throws {
        let url = try AMQPURL(parsing: "amqps://u:p@h/v?cacertfile=/etc/ca%20dir/ca.pem&certfile=/c.pem&keyfile=/k.pem&verify=verify_none&auth_mechanism=EXTERNAL")
        #expect(url.caCertificatePath == "/etc/ca dir/ca.pem")
        #expect(url.certificatePath == "/c.pem" && url.keyPath == "/k.pem")
        #expect(url.verifiesPeer == false)
        #expect(url.authMechanism == .external)
        #expect(url.vhost == "v" && url.port == 5671)
        #expect(url.redacted == "amqps://u:***@h:5671/v")
        let plain = try AMQPURL(parsing: "amqps://h/?verify=verify_peer&auth_mechanism=plain")
        #expect(plain.verifiesPeer == true && plain.authMechanism == .plain && plain.caCertificatePath == nil)
    }

    @Test(arguments: [
        "amqps://h/?cacertfile=", "amqps://h/?heartbeat=10", "amqps://h/?verify=maybe", "amqps://h/?auth_mechanism=kerberos",
        "amqp://h/?cacertfile=/ca.pem", "amqp://h/?verify=verify_none", "amqps://h/?certfile=/c.pem", "amqps://h/?keyfile=/k.pem",
        "amqps://h/?cacertfile=%zz",
    ])
    func badURLQueriesAreRefused(_ text: String) {
        #expect(throws: ConveyorError.self) { try AMQPURL(parsing: text) }
    }

    /// External login needs a client certificate; a certificate needs its key; TLS files need amqps.
    @Test func tlsSettingsAreChecked() throws {
        #expect(throws: ConveyorError.self) {
            try RabbitMQQueueProvider(configuration: .init(url: "amqps://h/", authMechanism: .external))
        }
        #expect(throws: ConveyorError.self) {
            try RabbitMQQueueProvider(configuration: .init(url: "amqps://h/", tlsCertificatePath: "/c.pem"))
        }
        #expect(throws: ConveyorError.self) {
            try RabbitMQQueueProvider(configuration: .init(url: "amqp://h/", tlsCACertificatePath: "/ca.pem"))
        }
        _ = try RabbitMQQueueProvider(configuration: .init(url: "amqps://h/?certfile=/c.pem&keyfile=/k.pem&auth_mechanism=external"))
        _ = try RabbitMQQueueProvider(configuration: .init(url: "amqps://h/", tlsCertificatePath: "/c.pem", tlsKeyPath: "/k.pem", authMechanism: .external))
    }

    @Test func parsesURL() throws {
        let c = try RabbitMQQueueProvider.Configuration(url: "amqp://user:p%40ss@example.com:5673/my%2Fvhost")
        #expect(c.url == "amqp://user:p%40ss@example.com:5673/my%2Fvhost")
        _ = try RabbitMQQueueProvider(configuration: c)
    }

    /// Every way a value is usually printed: `String(describing:)`, interpolation and `dump`.
    static func renderings(_ value: Any) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        return [String(describing: value), "\(value)", dumped]
    }

    @Test func descriptionAndDumpHidePassword() throws {
        var c = try RabbitMQQueueProvider.Configuration(url: "amqp://worker:s3kr1t%40pw@example.com:5673/my%2Fvhost", prefetch: 7)
        for text in Self.renderings(c) {
            #expect(!text.contains("s3kr1t"), "password shown in \(text)")
            #expect(text.contains("amqp://worker:***@example.com:5673/my%2Fvhost"), "redacted URL missing from \(text)")
            #expect(text.contains("7"))
        }
        c.url = "amqps://other:an0ther-pw@broker.internal/"
        for text in Self.renderings(c) {
            #expect(!text.contains("an0ther-pw"))
            #expect(text.contains("amqps://other:***@broker.internal:5671/"))
        }
        c.url = "amqp://u:br0ken%zz-pw@host/"  // unparseable: not shown at all
        for text in Self.renderings(c) {
            #expect(!text.contains("br0ken"))
            #expect(text.contains("<invalid AMQP URL, not shown>"))
        }
    }

    @Test func badURLErrorHidesPassword() {
        for bad in ["http://u:sekrit@host/", "amqp://u:sekrit@host:99999/", "amqp://u:sekrit@:5672/", "amqp://u:sek%zzrit@host/"] {
            do {
                _ = try RabbitMQQueueProvider.Configuration(url: bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(!error.message.contains("sekrit"))
                #expect(!error.message.contains("sek%zzrit"))
            }
        }
    }

    @Test func quorumWithPriorityIsRejected() throws {
        let c = try RabbitMQQueueProvider.Configuration(url: "amqp://localhost/", queueType: .quorum, maxPriority: 5)
        #expect {
            try RabbitMQQueueProvider(configuration: c)
        } throws: { error in
            guard let e = error as? ConveyorError else { return false }
            return e.code == .invalidConfiguration && e.message.contains("quorum queues reject x-max-priority")
        }
    }

    /// `fromEnvironment` reads `AMQP_URL`, the other settings at their defaults.
    @Test func fromEnvironment() throws {
        let c = try RabbitMQQueueProvider.Configuration.fromEnvironment(["AMQP_URL": "amqps://a:b@h/"])
        #expect(c.url == "amqps://a:b@h/")
        #expect(c.queueType == .classic && c.prefetch == nil && c.heartbeat == .seconds(30))
    }

    /// No silent fallback to `guest:guest@127.0.0.1`: without `AMQP_URL` (unset, empty, or only another variable
    /// set) the error is typed, names the variable and shows an example value.
    @Test(arguments: [[:], ["AMQP_URL": ""], ["CONVEYOR_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/"]])
    func fromEnvironmentWithoutTheVariable(_ env: [String: String]) throws {
        let error = try #require(throws: ConveyorError.self) {
            try RabbitMQQueueProvider.Configuration.fromEnvironment(env)
        }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("AMQP_URL is not set"), "\(error)")
        #expect(error.message.contains("AMQP_URL=amqp://user:password@"), "\(error)")
        #expect(!error.message.contains("guest"), "\(error)")
    }

    /// A malformed `AMQP_URL` is a configuration error that names the variable and not the password.
    @Test func fromEnvironmentWithAMalformedURL() throws {
        for bad in ["amqp://u:sekrit@host:99999/", "http://u:sekrit@host/", "amqp://u:sek%zzrit@host/"] {
            let error = try #require(throws: ConveyorError.self) {
                try RabbitMQQueueProvider.Configuration.fromEnvironment(["AMQP_URL": bad])
            }
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.hasPrefix("AMQP_URL: invalid AMQP URL"), "\(error)")
            #expect(!error.message.contains("sekrit") && !error.message.contains("sek%zzrit"), "\(error)")
        }
    }

    @Test func capabilities() throws {
        let p = try RabbitMQQueueProvider(configuration: .init(url: "amqp://localhost/", maxPriority: 9))
        #expect(p.capabilities.priorities)
        #expect(!p.capabilities.visibilityTimeout)
        #expect(p.capabilities.deduplication)  // lock queues (RabbitMQQueueProvider+Deduplication.swift)
        #expect(p.capabilities.maximumNativeDelay == .seconds((1 << 28) - 1))
    }

    @Test func unreachablePortFails() async throws {
        // Port 1 on loopback: nothing listens there.
        let p = try RabbitMQQueueProvider(configuration: .init(url: "amqp://guest:sekrit@127.0.0.1:1/", connectTimeout: .seconds(2)))
        await #expect {
            try await p.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("1".utf8))), to: "q")
        } throws: { error in
            guard let e = error as? ConveyorError else { return false }
            return e.code == .connectionFailed && e.message.contains("127.0.0.1:1") && !e.message.contains("sekrit")
        }
        await #expect(throws: ConveyorError.self) {
            try await p.receive(from: "q", max: 1, wait: .seconds(1))
        }
        try await p.close()
    }

    /// The TLS socket's set-up (`AMQPConnection.makeSocket`): CA certificates that cannot be loaded are a
    /// configuration error, found before connecting; a TLS connect that fails is a connection error. Neither shows
    /// the password.
    @Test func tlsSocketErrors() async throws {
        let job = OutgoingMessage(envelope: Envelope(task: "t", payload: Array("1".utf8)))
        let badCA = try RabbitMQQueueProvider(configuration: .init(
            url: "amqps://guest:sekrit@127.0.0.1:1/", connectTimeout: .seconds(2), tlsCACertificatePath: "/nonexistent/conveyor-ca.pem"
        ))
        await #expect {
            try await badCA.enqueue(job, to: "q")
        } throws: { error in
            guard let e = error as? ConveyorError else { return false }
            return e.code == .invalidConfiguration && e.message.contains("CA certificates at /nonexistent/conveyor-ca.pem")
                && !e.message.contains("sekrit")
        }
        try await badCA.close()

        let unreachable = try RabbitMQQueueProvider(configuration: .init(url: "amqps://guest:sekrit@127.0.0.1:1/", connectTimeout: .seconds(2)))
        await #expect {
            try await unreachable.enqueue(job, to: "q")
        } throws: { error in
            guard let e = error as? ConveyorError else { return false }
            return e.code == .connectionFailed && e.message.contains("amqps://guest:***@127.0.0.1:1/") && !e.message.contains("sekrit")
        }
        try await unreachable.close()
    }

    /// The window is whole milliseconds (the unit of `expiration` and `x-expires`), within RabbitMQ's TTL limit.
    @Test func deduplicationWindowsInMilliseconds() throws {
        #expect(RabbitMQQueueProvider.deduplicationMilliseconds(.seconds(300)) == 300_000)
        #expect(RabbitMQQueueProvider.deduplicationMilliseconds(.seconds(2)) == 2_000)
        #expect(RabbitMQQueueProvider.deduplicationMilliseconds(.microseconds(1001)) == 2)
        #expect(RabbitMQQueueProvider.deduplicationMilliseconds(.milliseconds(4_294_967_295)) == 4_294_967_295)
        #expect(RabbitMQQueueProvider.deduplicationMilliseconds(.milliseconds(4_294_967_296)) == nil)
        #expect(RabbitMQQueueProvider.deduplicationMilliseconds(.seconds(Int64.max)) == nil)
        #expect(RabbitMQQueueProvider.deduplicationMilliseconds(.zero) == nil)
        #expect(RabbitMQQueueProvider.deduplicationMilliseconds(.seconds(-1)) == nil)
        for bad: Duration in [.zero, .seconds(-1), .seconds(Int64.max)] {
            let c = try RabbitMQQueueProvider.Configuration(url: "amqp://localhost/", deduplicationWindow: bad)
            #expect(throws: ConveyorError.self) { try RabbitMQQueueProvider(configuration: c) }
        }
        let c = try RabbitMQQueueProvider.Configuration(url: "amqp://localhost/", deduplicationWindow: .seconds(3))
        #expect(try RabbitMQQueueProvider(configuration: c).capabilities.deduplicationWindow == .seconds(3))
    }
}

/// Cluster node lists against the local broker.
@Suite(.enabled(if: RabbitMQTestEnvironment.enabled, "set CONVEYOR_AMQP_URL (see scripts/rabbitmq-start.sh)")) struct RabbitMQNodeListTests {
    /// The first operation of a provider whose first nodes are down still works: every node is tried before it fails;
    /// with every node down it fails with an error naming them all (no password).
    @Test func downNodesAreSkippedOnTheFirstConnect() async throws {
        let live = try RabbitMQTestEnvironment.requireURL()
        let nodes = ["amqp://guest:guest@127.0.0.1:1/", "amqp://guest:guest@127.0.0.1:2/", live]
        for _ in 0..<3 {
            // Shuffled per connection: three rounds make it likely that a dead node is tried first.
            var configuration = try RabbitMQQueueProvider.Configuration(urls: nodes, connectTimeout: .seconds(2))
            configuration.reconnectBackoff = .init(initial: .milliseconds(50), maximum: .milliseconds(200))
            let provider = try RabbitMQQueueProvider(configuration: configuration)
            let queue = "t-nodes-\(UInt32.random(in: 0...UInt32.max))"
            try await provider.createQueue(queue, options: QueueOptions())
            try await provider.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("{}".utf8))), to: queue)
            let received = try await provider.receive(from: queue, max: 1, wait: .seconds(5))
            #expect(received.count == 1)
            try await provider.acknowledge(received)
            try await provider.deleteQueue(queue)
            try await provider.close()
        }
        let dead = try RabbitMQQueueProvider(configuration: RabbitMQQueueProvider.Configuration(
            urls: ["amqp://guest:secret@127.0.0.1:1/", "amqp://guest:secret@127.0.0.1:2/"], connectTimeout: .seconds(2)))
        do {
            try await dead.createQueue("t-never", options: QueueOptions())
            Issue.record("a provider with no live node worked")
        } catch let error as ConveyorError {
            #expect(error.message.contains("none of the 2 nodes answered"), "\(error)")
            #expect(error.message.contains("127.0.0.1:1") && error.message.contains("127.0.0.1:2"), "\(error)")
            #expect(!error.message.contains("secret"), "\(error)")
        }
        try await dead.close()
    }
}
