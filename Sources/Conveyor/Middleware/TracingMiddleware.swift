import Tracing

/// A consumer span `conveyor.process <task>` around each attempt, continuing the producer's trace from the
/// envelope's trace context (or, when it has none, the broker message's).
struct TracingMiddleware: JobMiddleware {
    let tracer: any Tracer
    let instrument: any Instrument

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        var serviceContext = ServiceContext.topLevel
        let carrier = job.envelope.traceContext.isEmpty ? (job.job?.message.brokerTraceContext ?? [:]) : job.envelope.traceContext
        instrument.extract(carrier, into: &serviceContext, using: TraceContextExtractor())
        try await tracer.withSpan("conveyor.process \(job.taskName)", context: serviceContext, ofKind: .consumer) { span in
            span.attributes["messaging.destination.name"] = job.queue
            span.attributes["messaging.message.id"] = job.jobID.rawValue
            span.attributes["conveyor.attempt"] = job.attempt
            try await next(job)
        }
    }
}
