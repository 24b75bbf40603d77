import Foundation
import Logging
import Synchronization

/// Sends job events to their producers' reply queues for a worker (``ReplyingProvider/sendReply(_:to:)``).
///
/// Never throws: a reply that cannot be sent must not change what happens to the job. A reply queue that no longer
/// exists is logged once per address (its producer stopped); an output over the broker's size limit is replaced by
/// a small ``JobEvent/Kind/failed`` event with reason code `result_too_large`, so that the producer learns it; other
/// failures are retried twice, then logged.
final class ReplySender: Sendable {
    let replying: (any ReplyingProvider)?
    let providerName: String
    let logger: Logger
    /// Addresses already reported (missing, or a provider that cannot reply), to log each once.
    private let reported = Mutex<Set<String>>([])

    init(provider: any QueueProvider, logger: Logger) {
        self.replying = provider.replying
        self.providerName = provider.name
        self.logger = logger
    }

    func send(_ event: JobEvent, to address: String) async {
        guard let replying else {
            reportOnce(address, "the \(providerName) provider cannot send replies; the producer of a tracked job will not hear of it")
            return
        }
        var attempt = 1
        while true {
            do {
                try await replying.sendReply(OutgoingMessage(envelope: event.replyEnvelope), to: address)
                return
            } catch let error as ConveyorError where error.code == .queueNotFound {
                reportOnce(address, "the reply queue \(address) no longer exists (its producer stopped); the job's outcome was not sent")
                return
            } catch let error as ConveyorError where error.code == .messageTooLarge && event.kind == .succeeded {
                let reason = FailureReason(
                    code: "result_too_large",
                    message: "the job succeeded but its output (\(event.output?.count ?? 0) bytes) is over the broker's message size limit; return a reference to the data instead"
                )
                var failed = event
                failed.kind = .failed
                failed.output = nil
                failed.reason = reason
                logger.info("a job's output is too large to send back; its producer is told so", metadata: [
                    "job.id": "\(event.jobID)", "job.task": "\(event.task)", "conveyor.queue": "\(event.queue)",
                ])
                await send(failed, to: address)
                return
            } catch is CancellationError {
                return
            } catch {
                guard attempt < 3 else {
                    logger.info("could not send a job's reply", metadata: [
                        "job.id": "\(event.jobID)", "conveyor.reply": "\(event.kind)", "error.message": "\(error)",
                    ])
                    return
                }
                attempt += 1
                try? await Task.sleep(for: .milliseconds(50 * attempt))
            }
        }
    }

    private func reportOnce(_ address: String, _ message: String) {
        guard reported.withLock({ $0.count < 10_000 && $0.insert(address).inserted }) else { return }
        logger.info("\(message)", metadata: ["conveyor.queue": "\(address)"])
    }
}
