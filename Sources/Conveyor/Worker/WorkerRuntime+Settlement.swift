import Logging

extension WorkerRuntime {
    /// Settles a job's message according to its outcome, tells the middleware how the attempt ended, and frees
    /// the job's slot.
    func settle(_ job: Job, _ outcome: Outcome, cancelReason: ExecutorSlot.CancelReason?) async {
        switch outcome {
        case .succeeded(let duration, let output):
            // A tracked job's outcome goes to its producer before the message is acknowledged.
            await reply(.succeeded, job, output: output ?? Array("null".utf8))
            ended(.succeeded, job, duration: duration)
            logger.debug("job succeeded", metadata: jobMetadata(job))
            dispatcher.finish(job)
            settler.acks.acknowledge(job.message)
        case .hop(let delay, let copy):
            await resend(job, copy, after: delay)
            dispatcher.finish(job)
        case .deferred(let delay, let copy):
            await resend(job, copy, after: delay, deferral: true)
            dispatcher.finish(job)
        case .rejected(let reason):
            await deadLetter(job, reason: reason, duration: nil)
            dispatcher.finish(job)
        case .cancelled:
            await settleCancelled(job, duration: nil)
            dispatcher.finish(job)
        case .failed(let error, let duration):
            if cancelReason == .shutdown {
                await returnCancelled(job, duration: duration)
            } else if cancelReason == .cancelled {
                await settleCancelled(job, duration: duration)
            } else {
                await retryOrDeadLetter(job, error: error, duration: duration, timedOut: cancelReason == .timeout)
            }
            dispatcher.finish(job)
        }
    }

    /// A job that is not due yet (or, `deferral`, waits for its flow limit): sends a copy with the remaining delay and
    /// acknowledges the received message (or, when the copy cannot be sent, returns the message to come back after
    /// the delay).
    ///
    /// A queue without per-message delays (SQS FIFO) refuses the delayed copy of a deferral: it is then sent at once,
    /// under a deduplication key of its own (`<job id>-deferral-<n>`), since the job id, its default key there, would
    /// have the copy dropped as a duplicate of the original within the deduplication window.
    private func resend(_ job: Job, _ copy: Envelope, after delay: Duration, deferral: Bool = false) async {
        var copy = copy
        copy.deduplicationKey = nil
        let outgoing = OutgoingMessage(envelope: copy, delay: delay)
        let provider = self.provider
        let queue = job.message.queue
        let sent = copy
        let failure: (any Error)? = await settler.perform {
            do {
                try await provider.enqueue(outgoing, to: queue)
                return nil
            } catch let error as ConveyorError where deferral && error.code == .unsupported {
                var immediate = sent
                immediate.deduplicationKey = "\(sent.id.rawValue)-deferral-\(sent.headers[Envelope.HeaderKey.limitDeferrals] ?? "0")"
                do {
                    try await provider.enqueue(OutgoingMessage(envelope: immediate), to: queue)
                    return nil
                } catch {
                    return error
                }
            } catch {
                return error
            }
        }
        if let failure {
            logger.debug("could not re-send a job that is not due yet; returning it", metadata: jobMetadata(job, ["error.message": .string(String(describing: failure))]))
            await failMessage(job, reason: FailureReason(code: "not_due", message: "the job is not due yet"), retryAfter: delay)
        } else {
            logger.debug("job not due yet; sent again", metadata: jobMetadata(job, ["job.delay": .stringConvertible(delay)]))
            settler.acks.acknowledge(job.message)
        }
    }

    /// A failed attempt: retried after the task's backoff, or dead-lettered when it may not be retried or was the
    /// last attempt.
    private func retryOrDeadLetter(_ job: Job, error: any Error, duration: Duration, timedOut: Bool) async {
        let reason: FailureReason
        let deadLetterNow: Bool
        if timedOut {
            let limit = job.entry?.options.timeout.map { "\($0)" } ?? "?"
            reason = FailureReason(ConveyorError(.timeout, "the job ran longer than its timeout of \(limit) and was cancelled"))
            deadLetterNow = false
        } else {
            (reason, deadLetterNow) = classify(error)
        }
        let message = job.message
        let envelope = try? message.envelope.get()
        let maxAttempts = envelope?.maxAttempts ?? job.entry?.options.maxAttempts ?? 1
        if deadLetterNow || message.attempt >= maxAttempts {
            await deadLetter(job, reason: reason, duration: duration)
            return
        }
        let delay = (job.entry?.options.backoff ?? .immediate).delay(forRetry: message.attempt)
        await reply(.retrying, job, reason: reason, retryAfter: delay)
        ended(.retried, job, duration: duration, error: reason.description, retryAfter: delay)
        logger.debug(
            "job failed; will retry",
            metadata: jobMetadata(job, ["error.message": .string(reason.description), "retry.after": .stringConvertible(delay)])
        )
        await failMessage(job, reason: reason, retryAfter: delay)
    }

    private func deadLetter(_ job: Job, reason: FailureReason, duration: Duration?) async {
        await reply(.deadLettered, job, reason: reason)
        ended(.deadLettered, job, duration: duration, error: reason.description)
        logger.debug("job dead-lettered", metadata: jobMetadata(job, ["error.message": .string(reason.description)]))
        await failMessage(job, reason: reason, retryAfter: nil)
    }

    /// A job cancelled by a forced shutdown: its message goes back for redelivery.
    private func returnCancelled(_ job: Job, duration: Duration) async {
        ended(.failed, job, duration: duration, error: "cancelled: the worker shut down")
        logger.debug("job cancelled by shutdown; returning it", metadata: jobMetadata(job))
        if provider.releasing != nil {
            await release([job])
        } else {
            await failMessage(job, reason: FailureReason(code: "shutdown", message: "cancelled: the worker shut down"), retryAfter: .zero)
        }
    }

    /// A job cancelled by its id, before it started (`duration` nil) or while it ran: acknowledged, neither retried
    /// nor dead-lettered; its producer and observers get a `cancelled` event, and the provider may drop the marker.
    private func settleCancelled(_ job: Job, duration: Duration?) async {
        let reason = FailureReason(
            code: "cancelled",
            message: duration == nil ? "the job was cancelled before it ran" : "the job was cancelled while it ran"
        )
        await reply(.cancelled, job, reason: reason)
        ended(.cancelled, job, duration: duration, error: reason.description)
        logger.debug("job cancelled", metadata: jobMetadata(job))
        settler.acks.acknowledge(job.message)
        guard let cancelling = provider.cancelling, case .success(let envelope) = job.message.envelope else { return }
        let (queue, failures, message) = (job.message.queue, settler.failures, job.message)
        await settler.perform {
            do {
                try await cancelling.cancellationSettled(envelope.id, in: queue)
            } catch {
                failures.record("dropping the marker of a cancelled job", [message], error: error, consequence: "the marker expires by itself")
            }
        }
    }

    /// The failure reason of a handler error, and whether it dead-letters at once.
    private func classify(_ error: any Error) -> (FailureReason, deadLetterNow: Bool) {
        switch error {
        case let error as NonRetryableError:
            return (FailureReason(code: "non_retryable", message: Self.truncate(error.message)), true)
        case let error as ConveyorError:
            let immediate: Set<ConveyorError.Code> = [.payloadDecodingFailed, .unknownTask, .malformedEnvelope, .unsupportedEnvelopeVersion]
            return (FailureReason(code: error.code.rawValue, message: Self.truncate(error.message)), immediate.contains(error.code))
        case is CancellationError:
            return (FailureReason(code: "cancelled", message: "the job was cancelled"), false)
        default:
            return (FailureReason(code: "task_error", message: Self.truncate(String(describing: error))), false)
        }
    }

    private static func truncate(_ text: String) -> String {
        text.count <= 1000 ? text : String(text.prefix(1000)) + "…"
    }

    /// Fails the job's message (retry or dead letter) from the settler's task.
    private func failMessage(_ job: Job, reason: FailureReason, retryAfter: Duration?) async {
        let provider = self.provider
        let message = job.message
        let failure: (any Error)? = await settler.perform {
            do {
                try await provider.fail(message, reason: reason, retryAfter: retryAfter)
                return nil
            } catch {
                return error
            }
        }
        guard let failure else { return }
        ended(.failed, job, error: "could not settle the message: \(failure)")
        settler.failures.record(
            retryAfter == nil ? "dead-lettering a job" : "returning a failed job for retry", [message], error: failure,
            consequence: "it returns after its visibility timeout"
        )
    }

    /// Sends a tracked job's event to its producer (``Envelope/replyTo``): final events always, retrying only when
    /// the producer asked for events. Nothing for untracked jobs.
    private func reply(
        _ kind: JobEvent.Kind, _ job: Job, output: [UInt8]? = nil, reason: FailureReason? = nil, retryAfter: Duration? = nil
    ) async {
        guard case .success(let envelope) = job.message.envelope, let address = envelope.replyTo,
            kind.isFinal || envelope.replyEvents
        else { return }
        let event = JobEvent(
            kind: kind, jobID: envelope.id, task: envelope.task, queue: job.message.queue, attempt: job.message.attempt,
            output: output, reason: reason, retryAfter: retryAfter
        )
        await replies.send(event, to: address)
    }

    /// Tells the middleware how an attempt ended: metrics from the job's own handles; the event, built only when
    /// someone observes it (event subscribers or middleware of the user's).
    private func ended(
        _ kind: WorkerEvent.Kind,
        _ job: Job,
        duration: Duration? = nil,
        error: String? = nil,
        retryAfter: Duration? = nil
    ) {
        metricsMiddleware.record(kind, job.entry?.metrics ?? metrics.unknown, duration: duration)
        guard !configuration.middleware.isEmpty || hub.isActive || broadcaster.wants(job.message.queue) else { return }
        let envelope = try? job.message.envelope.get()
        endObservers.jobEnded(
            WorkerEvent(
                kind: kind,
                jobID: envelope?.id,
                task: envelope?.task,
                queue: job.message.queue,
                attempt: job.message.attempt,
                duration: duration,
                error: error,
                retryAfter: retryAfter
            )
        )
    }

    private func jobMetadata(_ job: Job, _ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = extra
        metadata["conveyor.queue"] = .string(job.message.queue)
        metadata["job.attempt"] = .stringConvertible(job.message.attempt)
        if case .success(let envelope) = job.message.envelope {
            metadata["job.id"] = .string(envelope.id.rawValue)
            metadata["job.task"] = .string(envelope.task)
            if let correlationID = envelope.correlationID { metadata["correlation.id"] = .string(correlationID) }
        }
        return metadata
    }
}
