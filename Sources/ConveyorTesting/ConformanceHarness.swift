import Conveyor

/// What the provider conformance suite needs to test a provider: the provider itself and a way to make and
/// remove fresh queues on its broker.
///
/// ```swift
/// let harness = ConformanceHarness(
///     provider: provider,
///     makeQueue: { hint in
///         let name = TestQueueNames.unique(hint)
///         try await provider.createQueue(name, options: QueueOptions())
///         return name
///     },
///     removeQueue: { try await provider.deleteQueue($0) }
/// )
///
/// @Test func conformance() async throws {
///     let report = try await ProviderConformance.run(harness)
///     #expect(report.notApplicable.isEmpty)   // or the cases your broker cannot support
/// }
/// ```
public struct ConformanceHarness: Sendable {
    /// The provider under test, shared by every case (cases run concurrently, each on its own queue).
    public var provider: any QueueProvider
    /// Creates a fresh, empty queue with a unique name (plus its dead-letter queue) and returns the name.
    public var makeQueue: @Sendable (_ hint: String) async throws -> String
    /// Deletes a queue made by makeQueue (and its DLQ).
    public var removeQueue: @Sendable (_ queue: String) async throws -> Void
    /// Creates a separate provider on the same broker, for the case that closes it. When nil, that case is not
    /// applicable (``ConformanceOutcome/notApplicable(reason:)``).
    public var makeProvider: (@Sendable () async throws -> any QueueProvider)?

    /// Creates a harness.
    public init(
        provider: any QueueProvider,
        makeQueue: @escaping @Sendable (_ hint: String) async throws -> String,
        removeQueue: @escaping @Sendable (_ queue: String) async throws -> Void,
        makeProvider: (@Sendable () async throws -> any QueueProvider)? = nil
    ) {
        self.provider = provider
        self.makeQueue = makeQueue
        self.removeQueue = removeQueue
        self.makeProvider = makeProvider
    }

    /// A harness for a provider that can create and delete its queues: each case gets a queue named
    /// ``TestQueueNames/unique(_:)`` created with `options`.
    public static func provisioning<Provider: QueueProvisioningProvider>(
        _ provider: Provider,
        options: QueueOptions = QueueOptions(),
        makeProvider: (@Sendable () async throws -> any QueueProvider)? = nil
    ) -> ConformanceHarness {
        ConformanceHarness(
            provider: provider,
            makeQueue: { hint in
                let name = TestQueueNames.unique(hint)
                try await provider.createQueue(name, options: options)
                return name
            },
            removeQueue: { queue in try await provider.deleteQueue(queue) },
            makeProvider: makeProvider
        )
    }
}
