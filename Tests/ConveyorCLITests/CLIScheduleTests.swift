import Foundation
import Testing

@Suite("conveyor schedule against real brokers", .serialized)
struct CLIScheduleTests {
    @Test("RabbitMQ: schedule add, list --json, add again (unchanged), remove, remove a missing one", .needs(.rabbitMQ))
    func addListRemoveRabbitMQ() async throws {
        try await addListRemove(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: schedule add, list --json, add again (unchanged), remove, remove a missing one", .needs(.sqs))
    func addListRemoveSQS() async throws {
        try await addListRemove(try CLIBroker.sqs())
    }

    func addListRemove(_ broker: CLIBroker) async throws {
        let base = "cli-sched-\(UUID().uuidString.prefix(8).lowercased())"
        let queues = ["--schedules-queue", base]
        defer {
            _ = Task {
                for queue in [base, "\(base)-registry", "\(base)-claims", "\(base)-claims.fifo", "\(base)-jobs"] {
                    _ = try? await broker.run(["queue", "delete", queue, "--yes"])
                }
            }
        }
        let add = ["schedule", "add", "nightly"]
        let definition = queues + [
            "--schedule", "30 3 * * *", "--time-zone", "Europe/Paris", "--task", "noop", "--payload", #"{"n":1}"#,
            "--queue", "\(base)-jobs",
        ]
        let added = try await broker.run(add, definition)
        #expect(added.status == 0, "\(added)")

        let listed = try await broker.run(["schedule", "list"], queues + ["--json"])
        #expect(listed.status == 0, "\(listed)")
        let entries = listed.lines.compactMap(jsonObject)
        #expect(entries.count == 1, "\(listed)")
        let entry = try #require(entries.first)
        #expect(entry["id"] as? String == "nightly")
        #expect(entry["schedule"] as? String == "30 3 * * *")
        #expect(entry["time_zone"] as? String == "Europe/Paris")
        #expect(entry["task"] as? String == "noop")
        #expect(entry["queue"] as? String == "\(base)-jobs")
        #expect((entry["next"] as? String)?.isEmpty == false)

        // The same definition again is idempotent: still one schedule.
        let again = try await broker.run(add, definition)
        #expect(again.status == 0, "\(again)")
        let relisted = try await broker.run(["schedule", "list"], queues + ["--json"])
        #expect(relisted.lines.compactMap(jsonObject).count == 1, "\(relisted)")

        let removed = try await broker.run(["schedule", "remove", "nightly"], queues)
        #expect(removed.status == 0, "\(removed)")
        let empty = try await broker.run(["schedule", "list"], queues + ["--json"])
        #expect(empty.status == 0, "\(empty)")
        #expect(empty.lines.compactMap(jsonObject).isEmpty, "\(empty)")

        let missing = try await broker.run(["schedule", "remove", "nightly"], queues)
        #expect(missing.status != 0, "\(missing)")
    }
}
