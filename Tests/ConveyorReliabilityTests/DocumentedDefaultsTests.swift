import Conveyor
import ConveyorRabbitMQ
import Foundation
import Logging
import Testing

import ConveyorSQS

/// The defaults the documentation states against the real values: every table with a `Default` column in README.md,
/// docs/*.md and the DocC articles, and every `Default …` phrase in the doc comments of the configuration types.
/// A default changed in the code without the documents (or the reverse) fails here, naming the document's line.
@Suite("Documented defaults")
struct DocumentedDefaultsTests {
    /// A type with documented defaults.
    struct DocumentedType: Sendable, CustomStringConvertible {
        /// The name the documents use, e.g. in a table's heading: `SQSQueueProvider.Configuration`.
        var name: String
        /// The file that declares it, relative to the package root, and the struct's own name there.
        var source: String
        var structName: String
        /// A value with every default.
        var defaults: @Sendable () throws -> Any
        /// Properties without a default (a required parameter), with why.
        var noDefault: [String: String] = [:]
        /// Properties whose documented default is not compared, with why.
        var notCompared: [String: String] = [:]

        var description: String { name }
    }

    static let types: [DocumentedType] = [
        DocumentedType(
            name: "Worker.Configuration", source: "Sources/Conveyor/Worker/Worker+Configuration.swift", structName: "Configuration",
            defaults: { Worker.Configuration() }
        ),
        DocumentedType(
            name: "MemoryQueueProvider.Configuration", source: "Sources/Conveyor/Providers/Memory/MemoryQueueProvider.swift",
            structName: "Configuration", defaults: { MemoryQueueProvider.Configuration() }
        ),
        DocumentedType(
            name: "TaskOptions", source: "Sources/Conveyor/Tasks/TaskOptions.swift", structName: "TaskOptions",
            defaults: { TaskOptions() }
        ),
        DocumentedType(
            name: "JobScheduler.Configuration", source: "Sources/Conveyor/Scheduling/JobScheduler.swift", structName: "Configuration",
            defaults: { JobScheduler.Configuration() },
            notCompared: ["now": "a closure (the system clock)"]
        ),
        DocumentedType(
            name: "SQSQueueProvider.Configuration", source: "Sources/ConveyorSQS/SQSQueueProvider+Configuration.swift",
            structName: "Configuration", defaults: { SQSQueueProvider.Configuration() }
        ),
        DocumentedType(
            name: "SQSRetryPolicy", source: "Sources/ConveyorSQS/Client/SQSRetryPolicy.swift", structName: "SQSRetryPolicy",
            defaults: { SQSRetryPolicy() }
        ),
        DocumentedType(
            name: "CredentialsCache.Configuration", source: "Sources/ConveyorSQS/Credentials/CredentialsCache.swift",
            structName: "Configuration", defaults: { CredentialsCache.Configuration() },
            notCompared: ["now": "a closure (the system clock)"]
        ),
        DocumentedType(
            name: "RabbitMQQueueProvider.Configuration", source: "Sources/ConveyorRabbitMQ/RabbitMQQueueProvider+Configuration.swift",
            structName: "Configuration", defaults: { try RabbitMQQueueProvider.Configuration(url: "amqp://127.0.0.1") },
            noDefault: ["url": "the initializer's one required parameter"]
        ),
        DocumentedType(
            name: "RabbitMQQueueProvider.ReconnectBackoff", source: "Sources/ConveyorRabbitMQ/RabbitMQQueueProvider+Configuration.swift",
            structName: "ReconnectBackoff", defaults: { RabbitMQQueueProvider.ReconnectBackoff() }
        ),
    ]

    /// What the generic rules of ``DocumentedValue/of(_:special:)`` cannot render.
    static func special(_ value: Any) -> [DocumentedValue]? {
        switch value {
        case let type as RabbitMQQueueProvider.QueueType: [.code(".\(type.rawValue)")]
        case is AWSCredentialsProviderChain: [.code(".standard()")]
        case let logger as Logger: [.code(logger.label)]
        case is ContinuousClock: [.code("ContinuousClock()")]
        // `exponential from 1 s, ×2 per retry, capped at 5 minutes`; the jitter is prose.
        case let backoff as Backoff: [.duration(backoff.base), .number(backoff.multiplier), .duration(backoff.cap)]
        default: nil
        }
    }

    static let root = ReliabilityEnvironment.packageRoot

    /// The stored properties of `type`'s default value, in order, with their values.
    static func properties(of type: DocumentedType) throws -> [(label: String, value: Any)] {
        Mirror(reflecting: try type.defaults()).children.compactMap { child in child.label.map { ($0, child.value) } }
            .filter { !$0.label.hasPrefix("_") }
    }

    // MARK: Tables

    @Test("every table of defaults in README.md, docs/*.md and the DocC articles matches the code")
    func tablesMatchTheCode() throws {
        var checked: Set<String> = []
        for file in DocumentationSources.markdownFiles(root: Self.root) {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            for table in DocumentationSources.defaultsTables(in: text, file: file) {
                let named = Self.types.filter { table.heading.contains("`\($0.name)`") }
                guard let type = named.max(by: { $0.name.count < $1.name.count }) else {
                    Issue.record(
                        "\(file):\(table.line): a table of defaults under \"\(table.heading)\" names no type this test knows; name it in the heading (`Type.Configuration`) and add the type to DocumentedDefaultsTests.types"
                    )
                    continue
                }
                checked.insert(type.name)
                let properties = try Self.properties(of: type)
                for row in table.rows {
                    guard let property = properties.first(where: { $0.label == row.field }) else {
                        Issue.record("\(file):\(row.line): `\(row.field)` is not a stored property of \(type.name)")
                        continue
                    }
                    if type.notCompared[row.field] != nil { continue }
                    if type.noDefault[row.field] != nil {
                        #expect(row.cell == "—", "\(file):\(row.line): \(type.name).\(row.field) has no default, the table says \(row.cell)")
                        continue
                    }
                    let actual = DocumentedValue.of(property.value, special: Self.special)
                    let documented = DocumentedValue.parse(row.cell)
                    #expect(
                        DocumentedValue.documented(documented, startsWith: actual),
                        "\(file):\(row.line): \(type.name).\(row.field) defaults to \(actual) in the code; the table says \"\(row.cell)\" (read as \(documented))"
                    )
                }
                let listed = Set(table.rows.map(\.field))
                for property in properties where !listed.contains(property.label) {
                    Issue.record("\(file):\(table.line): the table of \(type.name) has no row for `\(property.label)`")
                }
            }
        }
        // The tables this test exists for: it must not pass by finding none.
        #expect(checked.isSuperset(of: ["SQSQueueProvider.Configuration", "RabbitMQQueueProvider.Configuration"]), "checked only \(checked.sorted())")
    }

    // MARK: Doc comments

    @Test("every stored property's doc comment states the default the code has", arguments: types)
    func docCommentsMatchTheCode(_ type: DocumentedType) throws {
        let source = try String(contentsOf: Self.root.appendingPathComponent(type.source), encoding: .utf8)
        let comments = DocumentationSources.propertyDocComments(ofStruct: type.structName, in: source)
        let properties = try Self.properties(of: type)
        try #require(!properties.isEmpty, "\(type.name) has no stored property")
        for property in properties {
            guard let (comment, line) = comments[property.label] else {
                Issue.record("\(type.source): no documented public property `\(property.label)` in struct \(type.structName)")
                continue
            }
            if type.noDefault[property.label] != nil || type.notCompared[property.label] != nil { continue }
            guard let stated = DocumentationSources.statedDefault(in: comment) else {
                Issue.record("\(type.source):\(line): the doc comment of \(type.name).\(property.label) states no default (\"Default …\" or \"`x` (the default)\"): \(comment)")
                continue
            }
            let actual = DocumentedValue.of(property.value, special: Self.special)
            let documented = DocumentedValue.parse(stated)
            #expect(
                DocumentedValue.documented(documented, startsWith: actual),
                "\(type.source):\(line): \(type.name).\(property.label) defaults to \(actual) in the code; its doc comment says \"Default \(stated)\" (read as \(documented))"
            )
        }
    }

    // MARK: The reader

    /// The reader itself, on the forms the documents use, so that a default it misreads cannot pass unnoticed.
    @Test func documentedValuesAreReadAsWritten() {
        #expect(DocumentedValue.parse("30 s (`nil`: the queue's own `VisibilityTimeout`)") == [.duration(.seconds(30)), .code("nil"), .code("VisibilityTimeout")])
        #expect(DocumentedValue.parse("5 attempts, 50 ms base, 5 s cap, full jitter") == [.number(5), .duration(.milliseconds(50)), .duration(.seconds(5))])
        #expect(DocumentedValue.parse("100 ms … 5 s, ×2, 25 % jitter") == [.duration(.milliseconds(100)), .duration(.seconds(5)), .number(2), .number(0.25)])
        #expect(DocumentedValue.parse("5 minutes (``RabbitMQQueueProvider/deduplicationWindow``)") == [.duration(.seconds(300)), .code(".deduplicationWindow")])
        #expect(DocumentedValue.parse("``QueueType/classic``") == [.code(".classic")])
        #expect(DocumentedValue.parse("`.classic` or `.quorum`") == [.code(".classic"), .code(".quorum")])
        #expect(DocumentedValue.parse("`AWSCredentialsProviderChain.standard()`") == [.code(".standard()")])
        #expect(DocumentedValue.parse("``SQSRetryPolicy/init(maxAttempts:baseDelay:maxDelay:)`` with 5 attempts") == [.number(5)])
        #expect(DocumentedValue.parse(#"`"-dlq"`, `["default"]`, empty, `[:]`, 0.25, SHA256"#) == [.code("-dlq"), .code(#"["default"]"#), .empty, .empty, .number(0.25)])
        #expect(DocumentedValue.of(SQSRetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(50), maxDelay: .seconds(5))) == [.code("legacy"), .number(5), .duration(.milliseconds(50)), .duration(.seconds(5))])
        #expect(DocumentedValue.of(Optional<Int>.none as Any) == [.code("nil")])
        #expect(DocumentedValue.of(Optional(Duration.seconds(30)) as Any) == [.duration(.seconds(30))])

        #expect(DocumentationSources.statedDefault(in: "Default priority, 0 (lowest) to 9 (highest). Default 0.") == "0")
        #expect(DocumentationSources.statedDefault(in: "Fraction of jitter. Default 0.25.") == "0.25")
        #expect(DocumentationSources.statedDefault(in: "Default: 30 seconds.") == "30 seconds")
        #expect(DocumentationSources.statedDefault(in: "Receives. `nil` (the default) picks enough.") == "`nil`")
        #expect(DocumentationSources.statedDefault(in: "The broker URI (default port 5672).") == nil)
    }
}
