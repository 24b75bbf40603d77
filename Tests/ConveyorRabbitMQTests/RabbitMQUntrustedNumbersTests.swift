import CRabbitMQ
import Conveyor
import Foundation
import Testing

@testable import ConveyorRabbitMQ

/// Numbers a producer or the broker controls (attempt headers, `attempt_offset`, `timestamp`, header integers of
/// every AMQP width, delays, windows) never trap: they are clamped, and absurd ones give sane attempts.
@Suite struct RabbitMQUntrustedNumbersTests {
    static let max = AMQPDelivery.maximumAttempt

    @Test func attemptIsClampedWhateverTheNumbers() {
        typealias D = AMQPDelivery
        // Ordinary values.
        #expect(D.attempt(header: nil, attemptOffset: nil, deliveryCount: nil, redelivered: false) == 1)
        #expect(D.attempt(header: nil, attemptOffset: nil, deliveryCount: nil, redelivered: true) == 2)
        #expect(D.attempt(header: 3, attemptOffset: 1, deliveryCount: nil, redelivered: false) == 3)
        #expect(D.attempt(header: nil, attemptOffset: 4, deliveryCount: 2, redelivered: true) == 7)
        // Absurd values: the sum would overflow `Int`.
        #expect(D.attempt(header: Int.max, attemptOffset: nil, deliveryCount: 1, redelivered: false) == Self.max)
        #expect(D.attempt(header: Int.max, attemptOffset: Int.max, deliveryCount: Int.max, redelivered: true) == Self.max)
        #expect(D.attempt(header: 1, attemptOffset: nil, deliveryCount: Int.max, redelivered: false) == Self.max)
        #expect(D.attempt(header: nil, attemptOffset: Int.max, deliveryCount: nil, redelivered: true) == Self.max)
        #expect(D.attempt(header: Int.min, attemptOffset: nil, deliveryCount: Int.min, redelivered: true) == 1)
        #expect(D.attempt(header: -5, attemptOffset: -5, deliveryCount: -5, redelivered: false) == 1)
        #expect(D.attempt(header: Self.max, attemptOffset: nil, deliveryCount: Self.max, redelivered: false) == Self.max)
    }

    @Test func nextAttemptSaturates() {
        #expect(AMQPDelivery.nextAttempt(after: 1) == 2)
        #expect(AMQPDelivery.nextAttempt(after: Self.max - 1) == Self.max)
        #expect(AMQPDelivery.nextAttempt(after: Self.max) == Self.max)
        #expect(AMQPDelivery.nextAttempt(after: Int.max) == Self.max)
        #expect(AMQPDelivery.nextAttempt(after: Int.min) == 1)
    }

    @Test func timestampsOutOfRangeAreIgnoredOrClamped() {
        #expect(AMQPDelivery.date(timestamp: nil) == nil)
        #expect(AMQPDelivery.date(timestamp: 1_700_000_000) == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(AMQPDelivery.date(timestamp: AMQPDelivery.maximumTimestamp) == Date(timeIntervalSince1970: 253_402_300_799))
        #expect(AMQPDelivery.date(timestamp: AMQPDelivery.maximumTimestamp + 1) == nil)
        #expect(AMQPDelivery.date(timestamp: .max) == nil)
        #expect(AMQPDelivery.timestamp(of: Date(timeIntervalSince1970: 1_700_000_000.9)) == 1_700_000_000)
        #expect(AMQPDelivery.timestamp(of: Date(timeIntervalSince1970: -1e300)) == 0)
        #expect(AMQPDelivery.timestamp(of: Date(timeIntervalSince1970: 1e300)) == AMQPDelivery.maximumTimestamp)
        #expect(AMQPDelivery.timestamp(of: Date(timeIntervalSince1970: .infinity)) == 0)
        #expect(AMQPDelivery.timestamp(of: Date(timeIntervalSince1970: .nan)) == 0)
    }

    @Test func headerIntegersSaturate() {
        #expect(AMQPHeaderValue.int(Int64.max).intValue == Int.max)
        #expect(AMQPHeaderValue.int(Int64.min).intValue == Int.min)
        #expect(AMQPHeaderValue.string("42").intValue == 42)
        #expect(AMQPHeaderValue.string("+7").intValue == 7)
        #expect(AMQPHeaderValue.string("99999999999999999999999").intValue == Int.max)
        #expect(AMQPHeaderValue.string("-99999999999999999999999").intValue == Int.min)
        #expect(AMQPHeaderValue.string("").intValue == nil)
        #expect(AMQPHeaderValue.string("-").intValue == nil)
        #expect(AMQPHeaderValue.string("1e30").intValue == nil)
        #expect(AMQPHeaderValue.string("twelve").intValue == nil)
    }

    /// A header table with an integer of every AMQP width (and kinds that are skipped), decoded as the consumer
    /// does: an unsigned 64-bit value above `Int64.max` saturates instead of wrapping to a negative number.
    @Test func headerTablesOfEveryIntegerWidth() {
        func field(_ kind: Character, _ set: (inout amqp_field_value_t) -> Void) -> amqp_field_value_t {
            var v = amqp_field_value_t()
            v.kind = UInt8(ascii: kind.unicodeScalars.first!)
            set(&v)
            return v
        }
        let fields: [(String, amqp_field_value_t)] = [
            ("i8", field("b") { $0.value.i8 = .min }),
            ("u8", field("B") { $0.value.u8 = .max }),
            ("i16", field("s") { $0.value.i16 = .min }),
            ("u16", field("u") { $0.value.u16 = .max }),
            ("i32", field("I") { $0.value.i32 = .min }),
            ("u32", field("i") { $0.value.u32 = .max }),
            ("i64", field("l") { $0.value.i64 = .min }),
            ("u64", field("L") { $0.value.u64 = .max }),
            ("u64-small", field("L") { $0.value.u64 = 5 }),
            ("f64", field("d") { $0.value.f64 = 1e300 }),
            ("timestamp", field("T") { $0.value.u64 = .max }),
        ]
        let arena = AMQPArena()
        var entries = fields.map { amqp_table_entry_t(key: arena.bytes($0.0), value: $0.1) }
        let decoded = entries.withUnsafeMutableBufferPointer { buffer in
            amqp_table_t(num_entries: Int32(buffer.count), entries: buffer.baseAddress).decoded()
        }
        #expect(decoded["i8"] == .int(Int64(Int8.min)))
        #expect(decoded["u8"] == .int(Int64(UInt8.max)))
        #expect(decoded["i16"] == .int(Int64(Int16.min)))
        #expect(decoded["u16"] == .int(Int64(UInt16.max)))
        #expect(decoded["i32"] == .int(Int64(Int32.min)))
        #expect(decoded["u32"] == .int(Int64(UInt32.max)))
        #expect(decoded["i64"] == .int(.min))
        #expect(decoded["u64"] == .int(.max))
        #expect(decoded["u64-small"] == .int(5))
        #expect(decoded["f64"] == nil)
        #expect(decoded["timestamp"] == nil)
        // Every one of them as an attempt header, with any redelivery count, gives an attempt in range.
        for value in decoded.values {
            for count in [nil, Int.min, -1, 0, 1, Int.max] as [Int?] {
                let attempt = AMQPDelivery.attempt(header: value.intValue, attemptOffset: nil, deliveryCount: count, redelivered: true)
                #expect((1...Self.max).contains(attempt))
            }
        }
    }

    /// The conversion the consumer thread runs on every delivery, fed a message whose headers would overflow.
    @Test func receivedMessageFromAbsurdHeaders() {
        let arena = AMQPArena()
        let body = EnvelopeCodec.encode(Envelope(task: "t", payload: Array("{}".utf8), attemptOffset: Envelope.maximumAttemptOffset))
        var message = amqp_message_t()
        message.properties.headers = arena.table([
            (AMQPHeader.attempt, .int(.max)),
            (AMQPHeader.deliveryCount, .int(1)),
        ])
        message.properties.timestamp = .max
        message.properties.priority = .max
        message.properties._flags = amqp_flags_t(conveyor_flag_headers | conveyor_flag_timestamp | conveyor_flag_priority)
        message.body = arena.bytes(body)
        let delivery = AMQPDelivery(tag: 1, redelivered: true, message: message)
        let received = delivery.received(queue: "q", generation: 1)
        #expect(received.attempt == Self.max)
        #expect(received.enqueuedAt == nil)
        #expect(throws: Never.self) { try received.envelope.get() }
    }

    @Test func delaysBeyondTheLevelsAreCapped() {
        let limit = (1 << RabbitMQTopology.delayLevels) - 1
        #expect(RabbitMQTopology.delaySeconds(.seconds(Int64.max) + .nanoseconds(1)) == limit)
        #expect(RabbitMQTopology.delaySeconds(.seconds(Int64.max)) == limit)
        #expect(RabbitMQTopology.delaySeconds(.seconds(Int64.min)) == 0)
        #expect(RabbitMQTopology.delaySeconds(.milliseconds(1500)) == 2)
    }

    @Test func reconnectBackoffOfAbsurdSettings() {
        let huge = RabbitMQQueueProvider.ReconnectBackoff(initial: .seconds(Int64.max), maximum: .seconds(Int64.max), multiplier: .infinity, jitter: .nan)
        #expect(huge.delay(attempt: Int.max) >= .zero)
        let negative = RabbitMQQueueProvider.ReconnectBackoff(initial: .seconds(-5), maximum: .seconds(-5), multiplier: -1, jitter: -1)
        #expect(negative.delay(attempt: 3) == .zero)
    }
}

/// Messages whose headers and properties carry absurd numbers, published by the broker itself, received through
/// the provider, inside the serialized broker suite. Before the clamping, the first one trapped on the consumer
/// thread (`Int64.max` + 1) and took the whole process down.
extension RabbitMQIntegrationTests {

    /// One raw message: Erlang properties for `rabbit_basic:properties/1` and what the provider must make of them.
    struct RawNumbersCase: Sendable {
        var properties: String
        var attemptOffset = 0
        var attempt: Int
        var hasTimestamp = false
    }

    static let rawNumbersCases: [RawNumbersCase] = {
        let max = AMQPDelivery.maximumAttempt
        func headers(_ entries: String...) -> String { "{headers, [\(entries.joined(separator: ", "))]}" }
        let attempt = "<<\"x-conveyor-attempt\">>"
        let count = "<<\"x-delivery-count\">>"
        return [
            RawNumbersCase(properties: headers("{\(attempt), long, 9223372036854775807}", "{\(count), long, 1}"), attempt: max),
            RawNumbersCase(properties: headers("{\(count), long, 9223372036854775807}"), attempt: max),
            RawNumbersCase(properties: headers("{\(attempt), long, -9223372036854775808}", "{\(count), long, -9223372036854775808}"), attempt: 1),
            RawNumbersCase(properties: headers("{\(attempt), longstr, <<\"99999999999999999999999\">>}", "{\(count), longstr, <<\"-99999999999999999999\">>}"), attempt: max),
            RawNumbersCase(properties: headers("{\(attempt), byte, -128}", "{\(count), unsignedbyte, 255}"), attempt: 256),
            RawNumbersCase(properties: headers("{\(attempt), short, -32768}", "{\(count), unsignedshort, 65535}"), attempt: 65_536),
            RawNumbersCase(properties: headers("{\(attempt), signedint, 2147483647}", "{\(count), signedint, 2147483647}"), attempt: max),
            RawNumbersCase(properties: headers("{\(attempt), unsignedint, 4294967295}"), attempt: max),
            RawNumbersCase(properties: headers("{\(count), long, 5}"), attemptOffset: Envelope.maximumAttemptOffset, attempt: Envelope.maximumAttemptOffset + 6),
            RawNumbersCase(properties: "{timestamp, 18446744073709551615}, {priority, 255}", attempt: 1),
            RawNumbersCase(properties: "{timestamp, 253402300800}", attempt: 1),
            RawNumbersCase(properties: "{timestamp, 253402300799}", attempt: 1, hasTimestamp: true),
        ]
    }()

    /// Publishes `bodies` with `properties` to `queue` from inside the broker (`rabbitmqctl eval`), with header
    /// types and property values Conveyor never writes itself.
    static func publishFromTheBroker(_ queue: String, _ messages: [(properties: String, body: [UInt8])]) throws {
        let items = messages.map { "{[\($0.properties)], <<\($0.body.map(String.init).joined(separator: ","))>>}" }
        try Env.rabbitmqctl(
            "eval",
            #"[rabbit_basic:publish(rabbit_misc:r(<<"/">>, exchange, <<>>), <<"\#(queue)">>, rabbit_basic:properties([{delivery_mode, 2} | P]), B) || {P, B} <- [\#(items.joined(separator: ", "))]], ok."#
        )
    }

    static func rawNumbersEnvelope(_ n: Int, task: String = "test.absurd", attemptOffset: Int) -> Envelope {
        Envelope(task: task, payload: Array(#"{"n":\#(n)}"#.utf8), attemptOffset: attemptOffset)
    }

    /// Every absurd attempt, redelivery count and timestamp comes out as a sane attempt (clamped to
    /// ``AMQPDelivery/maximumAttempt``) instead of trapping; the clamped job can be retried and dead-lettered.
    @Test func untrustedNumbers_absurdHeadersAndPropertiesGiveSaneAttempts() async throws {
        try await withQueue("absurd-numbers") { provider, queue in
            try await provider.createQueue(queue, options: QueueOptions())
            let cases = Self.rawNumbersCases
            let envelopes = cases.enumerated().map { Self.rawNumbersEnvelope($0.offset, attemptOffset: $0.element.attemptOffset) }
            try Self.publishFromTheBroker(queue, zip(cases, envelopes).map { ($0.properties, EnvelopeCodec.encode($1)) })

            let received = try await provider.receive(from: queue, count: cases.count)
            #expect(received.count == cases.count)
            var byID: [JobID: ReceivedMessage] = [:]
            for m in received { byID[try m.envelope.get().id] = m }
            for (index, (c, envelope)) in zip(cases, envelopes).enumerated() {
                let m = try #require(byID[envelope.id], "case \(index) was not received")
                #expect(m.attempt == c.attempt, "case \(index): \(c.properties)")
                #expect((m.enqueuedAt != nil) == c.hasTimestamp, "case \(index): \(c.properties)")
            }

            // The clamped job goes through a retry (attempt + 1 saturates) and comes back clamped...
            let clamped = try #require(byID[envelopes[0].id])
            try await provider.acknowledge(received.filter { $0.receipt != clamped.receipt })
            try await provider.fail(clamped, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: .zero)
            let retried = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(try retried.envelope.get().id == envelopes[0].id)
            #expect(retried.attempt == AMQPDelivery.maximumAttempt)
            // ...and is dead-lettered with that attempt, not lost.
            try await provider.fail(retried, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: nil)
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            #expect(try letters.first?.envelope.get().id == envelopes[0].id)
            #expect(letters.first?.attempts == AMQPDelivery.maximumAttempt)
        }
    }

    /// A worker runs a job whose producer claims attempt `Int64.max`: it fails once and dead-letters through the
    /// worker's max-attempts path (3) with the clamped attempt, instead of crashing the worker or vanishing.
    @Test(.timeLimit(.minutes(1))) func untrustedNumbers_workerDeadLettersAJobWithAnAbsurdAttempt() async throws {
        try await withQueue("absurd-worker") { provider, queue in
            try await provider.createQueue(queue, options: QueueOptions())
            let envelope = Self.rawNumbersEnvelope(0, task: AlwaysFailingTask.name, attemptOffset: 0)
            try Self.publishFromTheBroker(queue, [(Self.rawNumbersCases[0].properties, EnvelopeCodec.encode(envelope))])
            var registry = TaskRegistry()
            try registry.register(AlwaysFailingTask())
            let worker = Worker(
                provider: provider, registry: registry,
                configuration: Worker.Configuration(queues: [queue], concurrency: 1, batchSize: 1, receiveWait: .seconds(1), shutdownGracePeriod: .seconds(10))
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                while try await provider.stats(of: queue).deadLettered == 0 {
                    try await Task.sleep(for: .milliseconds(100))
                }
                worker.triggerGracefulShutdown()
                try await group.waitForAll()
            }
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            #expect(try letters.first?.envelope.get().id == envelope.id)
            #expect(letters.first?.attempts == AMQPDelivery.maximumAttempt)
            #expect(letters.first?.reason.code == "task_error")
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0)
            #expect(stats.inFlight == 0)
        }
    }
}

/// Always throws; at most 3 attempts.
struct AlwaysFailingTask: ConveyorTask {
    typealias Input = [String: Int]
    static let name = "test.always-fails"
    static var options: TaskOptions { TaskOptions(maxAttempts: 3, timeout: nil) }

    struct Failure: Error {}

    func run(_ input: [String: Int], context: JobContext) async throws -> NoOutput {
        throw Failure()
    }
}
