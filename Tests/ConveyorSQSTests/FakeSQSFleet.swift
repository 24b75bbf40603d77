import Conveyor
import ConveyorSQS
import Foundation
import Synchronization

/// A minimal in-memory SQS on ``LocalHTTPServer`` that behaves like a distributed SQS fleet for short polls: a
/// `ReceiveMessage` with `WaitTimeSeconds` 0 samples a subset of servers, which this fake models by answering every
/// second short poll with nothing although messages are visible. Long polls (`WaitTimeSeconds` ≥ 1) see every
/// visible message. LocalStack cannot be made to do this (it is one server).
///
/// Supports `SendMessage(Batch)`, `ReceiveMessage`, `DeleteMessage(Batch)`, `ChangeMessageVisibility(Batch)` (0 makes
/// a message visible again; any other value keeps it hidden) and `GetQueueAttributes` (nothing); queues are
/// addressed by URL and created on first use.
final class FakeSQSFleet: Sendable {
    struct Message: Sendable {
        var id: String
        var body: String
        var receiveCount = 0
        var visible = true
        var receipt = ""
    }

    final class State: Sendable {
        let queues = Mutex<[String: [Message]]>([:])
        let shortPolls = Atomic<Int>(0)
        let counter = Atomic<Int>(0)
    }

    let server: LocalHTTPServer
    let state: State

    init() throws {
        let state = State()
        self.state = state
        server = try LocalHTTPServer { request in
            let target = (request.headers["x-amz-target"] ?? "").replacingOccurrences(of: "AmazonSQS.", with: "")
            guard let json = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
                let queue = (json["QueueUrl"] as? String).map(FakeSQSFleet.name(ofURL:))
            else { return (400, #"{"__type":"com.amazonaws.sqs#MissingParameter"}"#) }
            return FakeSQSFleet.handle(target, json, queue: queue, state: state)
        }
    }

    func stop() { server.stop() }

    /// The URL of queue `name` on this endpoint.
    func url(_ name: String) -> String { "http://127.0.0.1:\(server.port)/000000000000/\(name)" }

    /// The messages of queue `name` (visible or not).
    func messages(in name: String) -> [Message] { state.queues.withLock { $0[name] ?? [] } }

    /// Puts `envelopes` into queue `name`, visible.
    func store(_ envelopes: [Envelope], in name: String) {
        state.queues.withLock { queues in
            for envelope in envelopes {
                let number = state.counter.add(1, ordering: .relaxed).newValue
                queues[name, default: []].append(Message(id: "id-\(number)", body: String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)))
            }
        }
    }

    private static func name(ofURL url: String) -> String {
        url.split(separator: "/").last.map(String.init) ?? url
    }

    private static func answer(_ object: [String: Any]) -> (status: Int, body: String) {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data("{}".utf8)
        return (200, String(decoding: data, as: UTF8.self))
    }

    private static func handle(_ action: String, _ json: [String: Any], queue: String, state: State) -> (status: Int, body: String) {
        let entries = json["Entries"] as? [[String: Any]] ?? []
        switch action {
        case "SendMessage", "SendMessageBatch":
            let items = action == "SendMessage" ? [json] : entries
            var successful: [[String: Any]] = []
            state.queues.withLock { queues in
                for item in items {
                    let number = state.counter.add(1, ordering: .relaxed).newValue
                    queues[queue, default: []].append(Message(id: "id-\(number)", body: item["MessageBody"] as? String ?? ""))
                    successful.append(["Id": item["Id"] as? String ?? "", "MessageId": "id-\(number)"])
                }
            }
            return action == "SendMessage" ? answer(["MessageId": successful[0]["MessageId"] ?? ""]) : answer(["Successful": successful, "Failed": []])
        case "ReceiveMessage":
            let wait = json["WaitTimeSeconds"] as? Int ?? 0
            let max = json["MaxNumberOfMessages"] as? Int ?? 1
            if wait == 0, state.shortPolls.add(1, ordering: .relaxed).newValue % 2 == 0 {
                return answer(["Messages": []])  // this short poll sampled servers that hold none of the messages
            }
            let hold = (json["VisibilityTimeout"] as? Int ?? 30) > 0
            var out: [[String: Any]] = []
            state.queues.withLock { queues in
                guard var messages = queues[queue] else { return }
                for index in messages.indices where messages[index].visible && out.count < max {
                    messages[index].receiveCount += 1
                    messages[index].visible = !hold
                    messages[index].receipt = "rh-\(messages[index].id)-\(messages[index].receiveCount)"
                    out.append([
                        "MessageId": messages[index].id, "ReceiptHandle": messages[index].receipt, "Body": messages[index].body,
                        "Attributes": ["ApproximateReceiveCount": String(messages[index].receiveCount), "SentTimestamp": "1700000000000"],
                    ])
                }
                queues[queue] = messages
            }
            return answer(["Messages": out])
        case "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch":
            let items = action.hasSuffix("Batch") ? entries : [json]
            var successful: [[String: Any]] = []
            var failed: [[String: Any]] = []
            state.queues.withLock { queues in
                var messages = queues[queue] ?? []
                for item in items {
                    let receipt = item["ReceiptHandle"] as? String ?? ""
                    guard let index = messages.firstIndex(where: { $0.receipt == receipt && !receipt.isEmpty }) else {
                        failed.append(["Id": item["Id"] as? String ?? "", "Code": "ReceiptHandleIsInvalid", "SenderFault": true])
                        continue
                    }
                    if action.hasPrefix("Delete") {
                        messages.remove(at: index)
                    } else if item["VisibilityTimeout"] as? Int == 0 {
                        messages[index].visible = true
                    }
                    successful.append(["Id": item["Id"] as? String ?? ""])
                }
                queues[queue] = messages
            }
            if !action.hasSuffix("Batch") {
                return failed.isEmpty ? answer([:]) : (400, #"{"__type":"com.amazonaws.sqs#ReceiptHandleIsInvalid"}"#)
            }
            return answer(["Successful": successful, "Failed": failed])
        default:
            return answer([:])
        }
    }
}
