/// A kind of job: a name, a `Codable` input, a `Codable` output, options, and the code that runs it.
///
/// ```swift
/// struct SendEmail: ConveyorTask {
///     struct Input: Codable, Sendable { var to: String; var subject: String }
///     static let name = "send-email"
///     static let options = TaskOptions(maxAttempts: 5, backoff: .exponential(base: .seconds(1), cap: .seconds(60)))
///     let mailer: Mailer
///     func run(_ input: Input, context: JobContext) async throws {
///         try await mailer.send(to: input.to, subject: input.subject)
///     }
/// }
/// ```
///
/// A task that returns nothing implements `run` without a result, as above (its ``Output`` is ``NoOutput``); a
/// task with a result returns it from `run` and its ``Output`` is inferred:
///
/// ```swift
/// func run(_ input: Input, context: JobContext) async throws -> Thumbnail { ... }
/// ```
///
/// Implement one of the two `run` methods: a task that implements neither (a misspelt label, say) still compiles,
/// and each of its jobs fails with ``ConveyorError/Code/invalidConfiguration``.
///
/// The type is the task's identity for producers (`client.enqueue(SendEmail.self, input)`); an instance, with
/// whatever dependencies it needs, is registered with workers.
public protocol ConveyorTask: Sendable {
    /// The task's input, decoded from the job's JSON payload.
    associatedtype Input: Codable & Sendable
    /// The task's result (returned by the inline provider; other providers discard it).
    associatedtype Output: Codable & Sendable = NoOutput

    /// The registered name: unique per registry, stable across deployments (it is on the wire).
    static var name: String { get }
    /// Defaults for every job of this task (attempts, backoff, timeout, concurrency, priority, queue).
    static var options: TaskOptions { get }

    /// The key this job's flow limits (``TaskOptions/globalConcurrency``, ``TaskOptions/rateLimit``) are counted by,
    /// computed from the input when the job is enqueued (e.g. the tenant, so each tenant gets its own limit), at most
    /// 256 bytes; ``EnqueueOptions/limitKey`` overrides it. Default `nil`: one limit for the whole task.
    static func limitKey(for input: Input) -> String?

    /// Runs one job and returns its output. Throwing retries the job according to ``TaskOptions/backoff`` until
    /// ``TaskOptions/maxAttempts``; throwing a ``NonRetryableError`` dead-letters it at once. The task is
    /// cancelled (Swift task cancellation) when it exceeds its timeout or when the worker shuts down.
    ///
    /// A task whose ``Output`` is ``NoOutput`` need not implement this one: the default runs the `run` without a
    /// result and returns ``NoOutput``.
    func run(_ input: Input, context: JobContext) async throws -> Output

    /// Runs one job of a task that returns nothing; errors and cancellation as for the `run` that returns
    /// ``Output``. Implement this one (its ``Output`` is then ``NoOutput``) instead of returning `NoOutput()`.
    ///
    /// The default runs the `run` that returns ``Output`` and discards the output.
    func run(_ input: Input, context: JobContext) async throws
}

extension ConveyorTask {
    /// Default options: see ``TaskOptions/init(maxAttempts:backoff:timeout:concurrency:priority:queue:groupID:globalConcurrency:rateLimit:)``.
    public static var options: TaskOptions { TaskOptions() }

    /// `nil`: one limit for the whole task.
    public static func limitKey(for input: Input) -> String? { nil }

    /// Runs the `run` that returns ``Output`` and discards the output.
    public func run(_ input: Input, context: JobContext) async throws {
        // Reached from the default below for the same type: the task implements neither `run`, and the two
        // defaults would call each other forever.
        if DefaultRunGuard.outputlessRunOf == ObjectIdentifier(Self.self) {
            throw ConveyorError(
                .invalidConfiguration,
                "\(Self.self) (task \"\(Self.name)\") implements neither run(_:context:) nor run(_:context:) -> Output; "
                    + "implement `func run(_ input: Input, context: JobContext) async throws`"
            )
        }
        _ = try await run(input, context: context) as Output
    }
}

extension ConveyorTask where Output == NoOutput {
    /// Runs the `run` without a result and returns ``NoOutput``.
    public func run(_ input: Input, context: JobContext) async throws -> NoOutput {
        try await DefaultRunGuard.$outputlessRunOf.withValue(ObjectIdentifier(Self.self)) {
            try await run(input, context: context) as Void
        }
        return NoOutput()
    }
}

/// Tells the default `run` without a result that it was called by the default `run -> NoOutput` of the same type.
private enum DefaultRunGuard {
    @TaskLocal static var outputlessRunOf: ObjectIdentifier?
}

/// The output of tasks that return nothing.
public struct NoOutput: Codable, Sendable, Hashable {
    /// Creates the empty output.
    public init() {}
}

/// Wrap an error in this to dead-letter the job at once instead of retrying it.
public struct NonRetryableError: Error, Sendable, CustomStringConvertible {
    /// Why the job cannot succeed.
    public var message: String
    /// Creates a non-retryable error.
    public init(_ message: String) { self.message = message }
    /// The ``message``.
    public var description: String { message }
}
