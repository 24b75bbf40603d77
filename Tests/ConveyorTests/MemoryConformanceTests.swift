import Conveyor
import ConveyorTesting
import Testing

@Suite("Memory provider conformance", .timeLimit(.minutes(2)))
struct MemoryConformanceTests {
    static let provider = MemoryQueueProvider()
    static let harness = ConformanceHarness.provisioning(provider, makeProvider: { MemoryQueueProvider() })

    /// The memory provider has every capability: every case applies.
    static let notApplicable: [String: String] = [:]

    @Test(arguments: ProviderConformance.cases)
    func conformance(_ conformanceCase: ConformanceCase) async throws {
        let outcome = try await conformanceCase.run(Self.harness)
        #expect(outcome == Self.notApplicable[conformanceCase.name].map { .notApplicable(reason: $0) } ?? .ran)
    }

    /// The memory provider hands a released message back as if it had not been received; the conformance case
    /// "release hands a message back with the declared attempt" checks that it behaves as declared.
    @Test func releaseDoesNotCountAnAttempt() {
        #expect(!Self.provider.releaseCountsAsAttempt)
    }

    @Test func everyCaseHasAUniqueName() {
        let names = ProviderConformance.cases.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.count >= 16)
    }
}

@Suite("Test queue names")
struct TestQueueNamesTests {
    @Test(arguments: ["round-trip", "Hello World!", "", "ü✓", String(repeating: "x", count: 300), "a.b/c:d"])
    func namesAreValidForSQSAndRabbitMQ(_ hint: String) {
        let name = TestQueueNames.unique(hint)
        #expect(name.hasPrefix("t-"))
        #expect(name.utf8.count <= 64)
        #expect(name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" })
        #expect(!name.contains("--"))
        #expect(TestQueueNames.unique(hint) != name)
    }

    @Test func hintIsKept() {
        #expect(TestQueueNames.unique("Round Trip").hasPrefix("t-round-trip-"))
    }
}
