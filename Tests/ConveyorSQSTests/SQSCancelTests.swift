import Conveyor
@testable import ConveyorSQS
import Foundation
import Testing

/// Cancellation markers as queue tags, on LocalStack.
@Suite(
    "SQS cancellation markers on LocalStack",
    .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"),
    .serialized, .timeLimit(.minutes(1))
)
struct SQSCancelTests {
    /// A queue keeps at most 50 tags: the 51st marker is refused with limitExceeded and what to do; a settled
    /// cancellation frees its place, and expired markers are removed by the next cancellation. (Nothing here depends
    /// on how fast the calls are: a marker only gets more expired.)
    @Test func markersAreBoundedByTheQueueTagLimit() async throws {
        try await SQSTestEnvironment.withQueue("cancel-limit") { provider, queue in
            let client = ConveyorClient(provider: provider)
            try await client.cancel((0..<50).map { JobID("job-\($0)") }, in: queue)
            #expect(try await provider.cancellations(in: queue).count == 50)
            do {
                try await client.cancel("one-too-many", in: queue)
                Issue.record("a 51st tag was accepted")
            } catch let error as ConveyorError {
                #expect(error.code == .limitExceeded)
                #expect(error.message.contains("at most 50 tags"), "\(error)")
            }
            try await provider.cancellationSettled("job-0", in: queue)
            try await client.cancel("fits", in: queue)
            // Full again; one more place, taken by a marker that expires at once.
            try await provider.cancellationSettled("job-1", in: queue)
            try await client.cancel("short", in: queue, expiresAfter: .seconds(1))
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await provider.cancellations(in: queue)["short"] == nil, "an expired marker is still read")
            try await client.cancel("after-expiry", in: queue)
            let markers = try await provider.cancellations(in: queue)
            #expect(markers.count == 50)
            #expect(markers["job-0"] == nil && markers["job-1"] == nil && markers["fits"] != nil && markers["after-expiry"] != nil)
        }
    }

    /// Ids with any characters round-trip through a tag; an id too long for a tag value is refused up front.
    @Test func anyIDRoundTripsAndLongOnesAreRefused() async throws {
        try await SQSTestEnvironment.withQueue("cancel-ids") { provider, queue in
            let ids: [JobID] = ["ü✓ <script> \"q\"", "a/b+c=d", String(repeating: "x", count: 183)].map { JobID($0) }
            try await ConveyorClient(provider: provider).cancel(ids, in: queue)
            #expect(Set(try await provider.cancellations(in: queue).keys) == Set(ids))
            do {
                try await ConveyorClient(provider: provider).cancel(JobID(String(repeating: "y", count: 184)), in: queue)
                Issue.record("an id over 183 bytes was accepted")
            } catch let error as ConveyorError {
                #expect(error.code == .invalidParameter)
            }
        }
    }

    /// Tag values written by hand or another tool are ignored, never trapped on.
    @Test func foreignTagValuesAreIgnored() {
        for value in ["", "x", "1 ", "99999999999999999999 YQ==", "1 !!!", "1 //79", "nan YQ==", "1 " + String(repeating: "=", count: 300)] {
            #expect(SQSQueueProvider.decodeCancellationTag(value) == nil, "\(value)")
        }
        // Decodes, and is long expired.
        let ancient = SQSQueueProvider.decodeCancellationTag("-9223372036854775808 YQ==")
        #expect(ancient.map { $0.1 < Date() } == true)
        let decoded = SQSQueueProvider.decodeCancellationTag("9223372036854775807 YQ==")
        #expect(decoded?.0 == "a")
        #expect(SQSQueueProvider.cancellationTagKey("a").count == SQSQueueProvider.cancellationTagPrefix.count + 32)
    }
}
