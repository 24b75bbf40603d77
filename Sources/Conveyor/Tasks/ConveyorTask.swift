/// A kind of job: a name, a `Codable` input, a `Codable` output, options, and the code that runs it.
///
/// ```swift
/// struct SendEmail: ConveyorTask {
///     struct Input: Codable, Sendable { var to: String; var subject: String }
///     static let name = "send-email"
///     static let options = TaskOptions(maxAttempts: 5, backoff: .exponential(base: .seconds(1), cap: .seconds(60)))
///     let mailer: Mailer
///     func run(_ input: Input, context: JobContext) async throws -> NoOutput {
///         try await mailer.send(to: input.to, subject: input.subject)
///         return NoOutput()
///     }
/// }
/// ```
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

    /// Runs one job. Throwing retries the job according to ``TaskOptions/backoff`` until
    /// ``TaskOptions/maxAttempts``; throwing a ``NonRetryableError`` dead-letters it at once. The task is
    /// cancelled (Swift task cancellation) when it exceeds its timeout or when the worker shuts down.
    func run(_ input: Input, context: JobContext) async throws -> Output
}

extension ConveyorTask {
    /// Default options: see ``TaskOptions/init(maxAttempts:backoff:timeout:concurrency:priority:queue:)``.
    public static var options: TaskOptions { TaskOptions() }
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
