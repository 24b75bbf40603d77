import ArgumentParser
import Conveyor
import Foundation
import Synchronization

/// `conveyor enqueue`: sends jobs and prints their ids.
struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue jobs and print their ids, one per line.",
        discussion: """
            With --count N the jobs go to the broker in batches (SQS SendMessageBatch of 10, RabbitMQ publishes \
            confirmed together), 500 jobs per provider call; progress shows on a terminal only. With --json each \
            job is one JSON line: {"id":…,"queue":…,"deduplicated":false}.
            --dedup-key names one job, so it cannot be combined with --count above 1.
            --group G puts the jobs in message group G (e.g. one per tenant): an SQS FIFO queue hands out the \
            jobs of one group in order, groups independently (MessageGroupId). Brokers and queues without message \
            groups (SQS standard queues, RabbitMQ) ignore it.

            With --wait the command waits for each job's outcome (at most --timeout in all), showing progress on \
            standard error when it is a terminal, and prints one line per job as it ends: "<id> succeeded \
            <output>", "<id> dead_lettered <code>: <reason> (N attempts)", "<id> timed_out". With --json: \
            {"id","queue","status":"succeeded"|"failed"|"dead_lettered"|"cancelled"|"timed_out","output","reason_code",\
            "reason","attempts"}. Exit status 0 when every job succeeded, 1 otherwise. A timeout only stops the \
            waiting: the jobs go on.

            Examples:
              conveyor enqueue --provider rabbitmq --queue emails --task echo --payload '{"hi":1}'
              conveyor enqueue --provider sqs --queue jobs --task sleep --payload '{"ms":200}' --count 1000 --json
              conveyor enqueue --queue jobs --task noop --delay 5m --priority 9 --dedup-key nightly-2026-11-25
              conveyor enqueue --provider sqs --queue orders.fifo --task charge --payload '{"order":7}' --group tenant-42
              conveyor enqueue --provider rabbitmq --queue jobs --task progress --payload '{"steps":5,"ms":200}' --wait --timeout 30s
            """
    )

    @OptionGroup var providerOptions: ProviderOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Queue name (or SQS queue URL).") var queue: String = "default"
    @Option(help: "Task name, as registered by the worker.") var task: String
    @Option(help: "JSON payload (the task's input).") var payload: String = "{}"
    @Option(help: "Delay before the job may run: 500ms, 30s, 5m, 2h.") var delay: DurationArgument?
    @Option(help: "Priority 0 (lowest) to 9 (highest).") var priority: Int?
    @Option(name: .customLong("dedup-key"), help: "Deduplication key.") var dedupKey: String?
    @Option(name: .customLong("correlation-id"), help: "Correlation id.") var correlationID: String?
    @Option(name: .customLong("max-attempts"), help: "Attempts before dead-lettering (default: the task's).") var maxAttempts: Int?
    @Option(help: "How many copies to enqueue.") var count: Int = 1
    @Option(
        name: .customLong("limit-key"),
        help: "The key the task's global limits count these jobs by (e.g. a tenant); each key has its own limits.")
    var limitKey: String?
    @Option(
        help: "Message group of the jobs (e.g. a tenant): handed out in order within a group by SQS FIFO queues; ignored where there are no groups.")
    var group: String?
    @Flag(help: "Print one JSON object per job instead of bare ids.") var json = false
    @Flag(help: "Wait for each job's outcome; exit 1 unless every job succeeded.") var wait = false
    @Option(help: "With --wait: the longest wait for all outcomes (default: no limit), e.g. 30s, 5m.") var timeout: DurationArgument?

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        if count > 1, dedupKey != nil { throw ValidationError("--dedup-key names one job; it cannot be used with --count above 1") }
        if let priority, !(0...9).contains(priority) { throw ValidationError("--priority must be between 0 and 9") }
        if let limitKey, limitKey.utf8.count > 256 { throw ValidationError("--limit-key must be at most 256 bytes") }
        if let group, group.isEmpty { throw ValidationError("--group must not be empty") }
        if timeout != nil, !wait { throw ValidationError("--timeout applies to --wait; add --wait") }
        guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ValidationError("--payload is not valid JSON: \(payload.prefix(80))")
        }
    }

    func run() async throws {
        Logger.bootstrapOnce()
        let logger = logging.makeLogger()
        try await reportingErrors {
            try await providerOptions.withProvider(logger: logger, allowMemory: false) { provider in
                let client = ConveyorClient(provider: provider, logger: logger)
                let options = EnqueueOptions(
                    delay: delay?.duration,
                    priority: priority,
                    deduplicationKey: dedupKey,
                    correlationID: correlationID,
                    queue: queue,
                    maxAttempts: maxAttempts,
                    groupID: group,
                    limitKey: limitKey
                )
                let body = Array(payload.utf8)
                if wait {
                    let succeeded = try await enqueueAndWait(client, body: body, options: options)
                    await client.results.close()
                    if !succeeded { throw ExitCode.failure }
                    return
                }
                let chunkSize = 500
                var sent = 0
                while sent < count {
                    let n = min(chunkSize, count - sent)
                    let results = try await client.enqueueRaw(
                        task: task, payloads: Array(repeating: body, count: n), options: options)
                    var out = ""
                    for result in results {
                        if json {
                            out += #"{"id":\#(JSONText.quoted(result.jobID.rawValue)),"queue":\#(JSONText.quoted(queue)),"deduplicated":\#(result.deduplicated)}"#
                        } else {
                            out += result.jobID.rawValue
                        }
                        out += "\n"
                    }
                    Terminal.writeOut(out)
                    sent += n
                    if count > chunkSize { Terminal.progress("enqueued \(sent)/\(count)") }
                }
                Terminal.endProgress()
            }
        }
    }

    /// Enqueues the jobs with tracking and prints each one's outcome as it comes; true when all succeeded.
    private func enqueueAndWait(_ client: ConveyorClient, body: [UInt8], options: EnqueueOptions) async throws -> Bool {
        let tracking: Tracking = Terminal.isInteractive ? .events : .result
        var sent: [TrackedRawJob] = []
        for start in stride(from: 0, to: count, by: 500) {
            let n = min(500, count - start)
            sent += try await client.enqueueRaw(task: task, payloads: Array(repeating: body, count: n), options: options, tracking: tracking)
        }
        let deadline = timeout.map { ContinuousClock.now + $0.duration }
        let jobs = sent
        let progress = ProgressTotals(jobs: jobs.count)
        return await withTaskGroup(of: (TrackedRawJob, Result<JobEvent, any Error>).self) { group in
            for job in jobs {
                group.addTask {
                    await withTaskGroup(of: Void.self) { shown in
                        if Terminal.isInteractive {
                            // Progress while the outcome is awaited; cancelled once it came.
                            shown.addTask {
                                for await event in job.events where event.kind == .progress {
                                    let percent = progress.record(job.id, event.progress ?? 0)
                                    Terminal.progress("progress \(percent)% (\(event.note ?? "job \(job.id)"))")
                                }
                            }
                        }
                        let remaining = deadline.map { max(.zero, $0 - ContinuousClock.now) }
                        let result: Result<JobEvent, any Error>
                        do {
                            result = .success(try await job.outcome(timeout: remaining))
                        } catch {
                            result = .failure(error)
                        }
                        shown.cancelAll()
                        return (job, result)
                    }
                }
            }
            var allSucceeded = true
            for await (job, result) in group {
                let line = Self.line(job, result, json: json)
                allSucceeded = allSucceeded && line.succeeded
                if Terminal.isInteractive { Terminal.endProgress() }
                Terminal.writeOut(line.text + "\n")
            }
            return allSucceeded
        }
    }

    /// The printed line of one job's outcome, and whether it succeeded.
    static func line(_ job: TrackedRawJob, _ result: Result<JobEvent, any Error>, json: Bool) -> (text: String, succeeded: Bool) {
        var status = "failed"
        var output: String?
        var reason: FailureReason?
        var attempts: Int?
        switch result {
        case .success(let event):
            status = event.kind.rawValue
            output = event.output.map { String(decoding: $0, as: UTF8.self) }
            reason = event.reason
            attempts = event.attempt
        case .failure(let error as ConveyorError) where error.code == .timeout:
            status = "timed_out"
        case .failure(let error):
            reason = (error as? ConveyorError).map(FailureReason.init) ?? FailureReason(code: "error", message: "\(error)")
        }
        let succeeded = status == JobEvent.Kind.succeeded.rawValue
        guard json else {
            var text = "\(job.id) \(status)"
            if let output { text += " \(output)" }
            if let reason { text += " \(reason)" }
            if let attempts, !succeeded { text += " (\(attempts) attempt\(attempts == 1 ? "" : "s"))" }
            return (text, succeeded)
        }
        var fields = [#""id":\#(JSONText.quoted(job.id.rawValue))"#, #""queue":\#(JSONText.quoted(job.queue))"#, #""status":\#(JSONText.quoted(status))"#]
        fields.append(#""output":\#(output ?? "null")"#)
        fields.append(#""reason_code":\#(reason.map { JSONText.quoted($0.code) } ?? "null")"#)
        fields.append(#""reason":\#(reason.map { JSONText.quoted($0.message) } ?? "null")"#)
        fields.append(#""attempts":\#(attempts.map(String.init) ?? "null")"#)
        return ("{" + fields.joined(separator: ",") + "}", succeeded)
    }
}

/// The progress of every job of an `enqueue --wait`, for the terminal line.
final class ProgressTotals: Sendable {
    private let jobs: Int
    private let fractions = Mutex<[JobID: Double]>([:])

    init(jobs: Int) { self.jobs = max(jobs, 1) }

    /// Records `fraction` for `job` and returns the percentage of all jobs done.
    func record(_ job: JobID, _ fraction: Double) -> Int {
        let total = fractions.withLock { map in
            map[job] = fraction
            return map.values.reduce(0, +)
        }
        return Int((total / Double(jobs) * 100).rounded())
    }
}

import Logging
