import Tracing

/// Injects trace context into an envelope's `trace` map (W3C `traceparent`, `tracestate`).
struct TraceContextInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Extracts trace context from an envelope's `trace` map.
struct TraceContextExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key] ?? carrier[key.lowercased()]
    }
}
