import Testing

/// Every case that runs brokers, worker processes or fault injectors. Serialized: the cases kill processes, stop
/// a broker node and load the machine, so they run one after the other (fuzzing runs beside them).
@Suite("Faults", .serialized)
struct Faults {}
