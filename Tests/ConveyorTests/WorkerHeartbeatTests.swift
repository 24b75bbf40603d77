import Foundation
import Testing

@testable import Conveyor

/// The wire form of a worker's heartbeat event (docs/wire-format.md, "Replies and events").
@Suite("WorkerHeartbeat wire form")
struct WorkerHeartbeatTests {
    @Test("a heartbeat event survives the wire: host, pid, queues, concurrency, busy, start")
    func roundTrip() throws {
        let beat = WorkerHeartbeat(
            workerID: "host-1-ab", host: "host \"1\"", pid: 4242, queues: ["a", "b<c>"], concurrency: 8, busy: 3,
            startedAt: Date(timeIntervalSince1970: 1_800_000_000.5))
        let event = JobEvent(heartbeat: beat, queue: "a", at: Date(timeIntervalSince1970: 1_800_000_100))
        let read = try JobEvent(json: event.json)
        #expect(read.kind == .workerHeartbeat)
        #expect(read.jobID.rawValue == "host-1-ab")
        #expect(read.workerHeartbeat == beat)
        // Other events carry none.
        let plain = try JobEvent(json: JobEvent(kind: .started, jobID: "j", task: "t", queue: "a", attempt: 1).json)
        #expect(plain.workerHeartbeat == nil)
    }

    @Test("numbers from outside are checked: a pid, concurrency or busy count that is negative, fractional or past 2^31-1 is refused, never trapped on", arguments: [
        #""pid":-1,"concurrency":1,"busy":0"#, #""pid":1e300,"concurrency":1,"busy":0"#, #""pid":1,"concurrency":1.5,"busy":0"#,
        #""pid":1,"concurrency":1,"busy":9223372036854775808"#, #""pid":"1","concurrency":1,"busy":0"#,
    ])
    func refusesBadNumbers(numbers: String) {
        let json = #"{"kind":"worker_heartbeat","id":"w","queue":"q","attempt":1,"worker":{"host":"h",\#(numbers),"queues":["q"]}}"#
        #expect(throws: ConveyorError.self) { try JobEvent(json: Array(json.utf8)) }
    }

    @Test("a worker member that is not an object, or queues that are not strings, are refused")
    func refusesBadShapes() {
        for worker in [#""worker":3"#, #""worker":{"host":"h","pid":1,"concurrency":1,"busy":0,"queues":[1]}"#, #""worker":{"pid":1,"concurrency":1,"busy":0}"#] {
            let json = #"{"kind":"worker_heartbeat","id":"w","queue":"q","attempt":1,\#(worker)}"#
            #expect(throws: ConveyorError.self, "\(worker)") { try JobEvent(json: Array(json.utf8)) }
        }
    }
}
