#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// The CLI against RabbitMQ (`CONVEYOR_AMQP_URL`) and SQS on LocalStack (`CONVEYOR_SQS_ENDPOINT`). Each scenario is one
/// test per broker, so that a missing broker skips (outside CI) or fails (in CI) only the tests that need it.
@Suite("conveyor CLI against real brokers", .serialized)
struct CLIBrokerTests {
    @Test("RabbitMQ: queue create, enqueue --count --json, stats --json, worker --record, SIGTERM, queue delete", .needs(.rabbitMQ))
    func enqueueAndWorkRabbitMQ() async throws {
        try await enqueueAndWork(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: queue create, enqueue --count --json, stats --json, worker --record, SIGTERM, queue delete", .needs(.sqs))
    func enqueueAndWorkSQS() async throws {
        try await enqueueAndWork(try CLIBroker.sqs())
    }

    @Test("RabbitMQ: dlq list --json, show, redrive, purge (refused without confirmation when piped, --yes)", .needs(.rabbitMQ))
    func deadLettersRabbitMQ() async throws {
        try await deadLetters(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: dlq list --json, show, redrive, purge (refused without confirmation when piped, --yes)", .needs(.sqs))
    func deadLettersSQS() async throws {
        try await deadLetters(try CLIBroker.sqs())
    }

    @Test("RabbitMQ: queue delete refuses without a terminal and without --yes (exit 2, queue kept); --yes deletes", .needs(.rabbitMQ))
    func queueDeleteConfirmationRabbitMQ() async throws {
        try await queueDeleteConfirmation(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: queue delete refuses without a terminal and without --yes (exit 2, queue kept); --yes deletes", .needs(.sqs))
    func queueDeleteConfirmationSQS() async throws {
        try await queueDeleteConfirmation(try CLIBroker.sqs())
    }

    @Test("RabbitMQ: queue pause, stats --json shows paused, queue resume", .needs(.rabbitMQ))
    func pauseAndResumeRabbitMQ() async throws {
        try await pauseAndResume(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: queue pause, stats --json shows paused, queue resume", .needs(.sqs))
    func pauseAndResumeSQS() async throws {
        try await pauseAndResume(try CLIBroker.sqs())
    }

    @Test("RabbitMQ: limit set --concurrency/--rate for a task and a key, then limit delete", .needs(.rabbitMQ))
    func limitSetAndDeleteRabbitMQ() async throws {
        try await limitSetAndDelete(try CLIBroker.rabbitMQ())
    }

    @Test("SQS: limit set --concurrency/--rate for a task and a key, then limit delete", .needs(.sqs))
    func limitSetAndDeleteSQS() async throws {
        try await limitSetAndDelete(try CLIBroker.sqs())
    }

    func limitSetAndDelete(_ broker: CLIBroker) async throws {
        let task = "cli-limit-\(UUID().uuidString.prefix(8).lowercased())"
        for key in [[], ["--key", "tenant-1"]] {
            let set = try await broker.run(["limit", "set", task] + key, ["--concurrency", "3", "--rate", "20/s,burst=30"])
            #expect(set.status == 0, "\(set)")
            #expect(set.stdout.contains("global concurrency of \(task): 3"), "\(set)")
            #expect(set.stdout.contains("global rate limit of \(task): 20/s,burst=30"), "\(set)")
            let deleted = try await broker.run(["limit", "delete", task] + key)
            #expect(deleted.status == 0, "\(deleted)")
        }
    }

    @Test("SQS: --profile takes the region and credentials of a profile, here from its credential_process", .needs(.sqs))
    func profileWithCredentialProcess() async throws {
        let broker = try CLIBroker.sqs()
        let outer = ProcessInfo.processInfo.environment
        let config = NSTemporaryDirectory() + "conveyor-cli-profile-\(UUID().uuidString)"
        try """
            [profile cp]
            credential_process = printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}' "$CP_KEY" "$CP_SECRET"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        // No credentials in the environment: only the profile's process has them.
        let environment = [
            "AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
            "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_EC2_METADATA_DISABLED": "true",
            "CP_KEY": outer["AWS_ACCESS_KEY_ID"] ?? "test", "CP_SECRET": outer["AWS_SECRET_ACCESS_KEY"] ?? "test",
        ]
        let queue = "cli-profile-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await CLIProcess.run(["queue", "create", queue] + broker.arguments + ["--profile", "cp"], environment: environment)
        #expect(created.status == 0, "\(created)")
        let missing = try await CLIProcess.run(["stats", "--queue", queue] + broker.arguments + ["--profile", "missing"], environment: environment)
        #expect(missing.status == 3, "\(missing)")
        #expect(missing.stderr.contains("profile \"missing\""), "\(missing)")
        let deleted = try await CLIProcess.run(["queue", "delete", queue, "--yes"] + broker.arguments + ["--profile", "cp"], environment: environment)
        #expect(deleted.status == 0, "\(deleted)")
    }

    /// A profile that assumes a role with a source profile's keys, through STS (LocalStack's, `CONVEYOR_STS_ENDPOINT`);
    /// the SQS calls go straight to LocalStack (the SigV4-checking proxy knows only the test's keys; the signing with
    /// issued credentials is checked in ConveyorSQSTests.CredentialsSTSEmulatorTests). A role profile with no source
    /// fails with exit 3 and says what to set.
    @Test("SQS: --profile assumes the profile's role through STS; a role without a source says what to set", .needs(.sqs))
    func profileAssumingARole() async throws {
        let outer = ProcessInfo.processInfo.environment
        let sts = try #require(
            outer["CONVEYOR_STS_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }, "set CONVEYOR_STS_ENDPOINT (LocalStack with STS; scripts/test.sh sets it)")
        let home = NSTemporaryDirectory() + "conveyor-cli-role-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        try """
            [profile worker]
            role_arn = arn:aws:iam::000000000000:role/conveyor-worker
            source_profile = base
            region = us-east-1

            [profile base]
            aws_access_key_id = \(outer["AWS_ACCESS_KEY_ID"] ?? "test")
            aws_secret_access_key = \(outer["AWS_SECRET_ACCESS_KEY"] ?? "test")

            [profile sourceless]
            role_arn = arn:aws:iam::000000000000:role/conveyor-worker
            """.write(toFile: home + "/config", atomically: true, encoding: .utf8)
        let environment = [
            "AWS_CONFIG_FILE": home + "/config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
            "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": "",
            "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_STS": sts,
        ]
        let sqs = ["--provider", "sqs", "--endpoint", sts]
        let queue = "cli-role-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await CLIProcess.run(["queue", "create", queue] + sqs + ["--profile", "worker"], environment: environment)
        #expect(created.status == 0, "\(created)")
        let stats = try await CLIProcess.run(["stats", "--queue", queue, "--json"] + sqs + ["--profile", "worker"], environment: environment)
        #expect(stats.status == 0, "\(stats)")
        let sourceless = try await CLIProcess.run(["stats", "--queue", queue] + sqs + ["--profile", "sourceless"], environment: environment)
        #expect(sourceless.status == 3, "\(sourceless)")
        #expect(sourceless.stderr.contains(#"profile "sourceless": has role_arn but no source_profile, credential_source or web_identity_token_file"#), "\(sourceless)")
        let deleted = try await CLIProcess.run(["queue", "delete", queue, "--yes"] + sqs + ["--profile", "worker"], environment: environment)
        #expect(deleted.status == 0, "\(deleted)")
    }

    func pauseAndResume(_ broker: CLIBroker) async throws {
        let queue = "cli-pause-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }
        #expect(try await broker.stats(queue)["paused"] as? Bool == false)
        let paused = try await broker.run(["queue", "pause", queue])
        #expect(paused.status == 0, "\(paused)")
        #expect(paused.stdout.contains("paused \(queue)"), "\(paused)")
        #expect(try await broker.stats(queue)["paused"] as? Bool == true)
        let plain = try await broker.run(["stats"], ["--queue", queue])
        #expect(plain.stdout.contains("PAUSED"), "\(plain)")
        let resumed = try await broker.run(["queue", "resume", queue])
        #expect(resumed.status == 0, "\(resumed)")
        #expect(try await broker.stats(queue)["paused"] as? Bool == false)
        let none = try await broker.run(["queue", "pause"])
        #expect(none.status == 2, "pause without a queue is a usage error: \(none)")
    }

    func enqueueAndWork(_ broker: CLIBroker) async throws {
        let queue = "cli-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }

        let enqueued = try await broker.run(
            ["enqueue"], ["--queue", queue, "--task", "record", "--payload", #"{"n":1}"#, "--count", "25", "--json"])
        #expect(enqueued.status == 0, "\(enqueued)")
        let ids = enqueued.lines.compactMap { jsonObject($0)?["id"] as? String }
        #expect(ids.count == 25)
        #expect(Set(ids).count == 25)

        let stats = try await broker.stats(queue)
        #expect(stats["ready"] as? Int == 25, "\(stats)")

        // stats --watch refreshes; piped, every refresh is one line that arrives at once.
        let watch = try CLIProcess(["stats"] + broker.arguments + ["--queue", queue, "--watch", "--json", "--interval", "200ms"])
        try await eventually("two refreshes of stats --watch") {
            watch.stdoutSoFar.split(separator: "\n").count >= 2
        }
        watch.signal(SIGINT)
        let watched = await watch.wait()
        #expect(watched.lines.allSatisfy { jsonObject($0)?["ready"] as? Int == 25 }, "\(watched)")

        // sleep jobs record their start and end with --record; an out-of-range one is dead-lettered, not run.
        let slept = try await broker.run(["enqueue"], ["--queue", queue, "--task", "sleep", "--payload", #"{"ms":30}"#, "--count", "3", "--json"])
        #expect(slept.status == 0, "\(slept)")
        let sleepIDs = Set(slept.lines.compactMap { jsonObject($0)?["id"] as? String })
        let tooLong = try await broker.run(["enqueue"], ["--queue", queue, "--task", "sleep", "--payload", #"{"ms":-5}"#])
        #expect(tooLong.status == 0, "\(tooLong)")

        let record = FileManager.default.temporaryDirectory.appendingPathComponent("cli-record-\(queue).log").path
        defer { try? FileManager.default.removeItem(atPath: record) }
        let worker = try CLIProcess(
            ["worker"] + broker.arguments + ["--queue", queue, "--concurrency", "4", "--record", record, "--shutdown-grace", "5s"])
        try await eventually("28 recorded jobs and the bad sleep job dead-lettered") {
            let text = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
            guard text.split(separator: "\n").count >= 28 else { return false }
            return try await broker.stats(queue)["dead_lettered"] as? Int == 1
        }
        worker.signal(SIGTERM)
        let stopped = await worker.wait()
        #expect(stopped.status == 0, "\(stopped)")

        let all = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n")
        let (sleeps, lines) = (all.filter { $0.contains(" sleep ") }, all.filter { !$0.contains(" sleep ") })
        let recordedIDs = Set(lines.map { String($0.split(separator: " ")[0]) })
        #expect(recordedIDs == Set(ids))
        #expect(lines.allSatisfy { $0.hasSuffix(#" record {"n":1}"#) })
        // "<job id> <attempt> sleep <started unix ms> <finished unix ms>", at least 30 ms apart.
        #expect(Set(sleeps.map { String($0.split(separator: " ")[0]) }) == sleepIDs)
        for line in sleeps {
            let fields = line.split(separator: " ")
            #expect(fields.count == 5 && fields[1] == "1", "\(line)")
            if fields.count == 5, let started = Int64(fields[3]), let finished = Int64(fields[4]) {
                #expect(finished - started >= 30 && started > 1_700_000_000_000, "\(line)")
            } else {
                Issue.record("not a sleep record line: \(line)")
            }
        }

        let deleted = try await broker.run(["queue", "delete", queue, "--yes"])
        #expect(deleted.status == 0, "\(deleted)")
    }

    func deadLetters(_ broker: CLIBroker) async throws {
        let queue = "cli-dlq-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }

        // Runs a worker until the queue has a dead-lettered job, then stops it with SIGINT.
        func workUntilDeadLettered() async throws {
            let worker = try CLIProcess(["worker"] + broker.arguments + ["--queue", queue, "--shutdown-grace", "2s"])
            try await eventually("the job to be dead-lettered") {
                ((try await broker.stats(queue)["dead_lettered"] as? Int) ?? 0) >= 1
            }
            worker.signal(SIGINT)
            let stopped = await worker.wait()
            #expect(stopped.status == 0, "\(stopped)")
        }

        // A job of the `fail` task with one attempt is dead-lettered by the worker with the reason.
        let enqueued = try await broker.run(
            ["enqueue"], ["--queue", queue, "--task", "fail", "--payload", #"{"why":"test"}"#, "--max-attempts", "1"])
        #expect(enqueued.status == 0, "\(enqueued)")
        let id = try #require(enqueued.lines.last)
        try await workUntilDeadLettered()
        let listed = try await broker.run(["dlq", "list"], ["--queue", queue, "--json"])
        #expect(listed.status == 0, "\(listed)")
        let letters = listed.lines.compactMap(jsonObject)
        #expect(letters.count == 1)
        #expect(letters.first?["id"] as? String == id)
        #expect(letters.first?["task"] as? String == "fail")
        #expect(letters.first?["attempts"] as? Int == 1)
        let reason = (letters.first?["reason"] as? String) ?? ""
        #expect(reason.contains("the fail task always fails"), "\(listed)")

        let shown = try await broker.run(["dlq", "show"], ["--queue", queue, id])
        #expect(shown.status == 0, "\(shown)")
        #expect(shown.stdout.contains(#""task":"fail""#))
        #expect(shown.stdout.contains("reason:"))

        let redriven = try await broker.run(["dlq", "redrive"], ["--queue", queue])
        #expect(redriven.status == 0, "\(redriven)")
        try await eventually("the redriven job back on the queue") {
            let stats = try await broker.stats(queue)
            return stats["ready"] as? Int == 1 && stats["dead_lettered"] as? Int == 0
        }

        // The redriven job fails again (its envelope still allows one attempt); then purge.
        try await workUntilDeadLettered()
        let refused = try await broker.run(["dlq", "purge"], ["--queue", queue])
        #expect(refused.status == 2, "purge without --yes and without a terminal must refuse: \(refused)")
        #expect(try await broker.stats(queue)["dead_lettered"] as? Int == 1)
        let purged = try await broker.run(["dlq", "purge"], ["--queue", queue, "--yes"])
        #expect(purged.status == 0, "\(purged)")
        try await eventually("an empty dead-letter queue") {
            try await broker.stats(queue)["dead_lettered"] as? Int == 0
        }

        let deleted = try await broker.run(["queue", "delete", queue, "--yes"])
        #expect(deleted.status == 0, "\(deleted)")
    }

    func queueDeleteConfirmation(_ broker: CLIBroker) async throws {
        let queue = "cli-del-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }
        let enqueued = try await broker.run(["enqueue"], ["--queue", queue, "--task", "noop"])
        #expect(enqueued.status == 0, "\(enqueued)")
        try await eventually("the job ready") { try await broker.stats(queue)["ready"] as? Int == 1 }

        // Standard input is not a terminal (CLIProcess gives /dev/null): refused, and the queue keeps its job.
        let refused = try await broker.run(["queue", "delete", queue])
        #expect(refused.status == 2, "delete without --yes and without a terminal must refuse: \(refused)")
        #expect(refused.stderr.contains("pass --yes"), "\(refused)")
        #expect(try await broker.stats(queue)["ready"] as? Int == 1)

        let deleted = try await broker.run(["queue", "delete", queue, "--yes"])
        #expect(deleted.status == 0, "\(deleted)")
        #expect(deleted.stdout.contains("deleted \(queue)"), "\(deleted)")
        // The queue is gone: stats of it reports a missing queue (exit 3).
        var gone: CLIResult?
        try await eventually("stats to find no queue \(queue)") {
            gone = try await broker.run(["stats"], ["--queue", queue])
            return gone?.status == 3
        }
        #expect(gone?.stderr.contains("[queue_not_found]") == true, "\(String(describing: gone))")
    }

    @Test("rabbitmq from CONVEYOR_PROVIDER and AMQP_URL alone: enqueue --dedup-key twice, --delay, --priority", .needs(.rabbitMQ))
    func rabbitMQFromEnvironment() async throws {
        let url = try TestBroker.rabbitMQ.value()
        // No --provider and no --url: everything comes from the environment.
        let broker = CLIBroker(provider: "rabbitmq", arguments: [], environment: ["CONVEYOR_PROVIDER": "rabbitmq", "AMQP_URL": url])
        let queue = "cli-env-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }

        // AMQP_URL is the one used: pointed at a port nothing listens on, the broker is unreachable (exit 3).
        let elsewhere = CLIBroker(
            provider: "rabbitmq", arguments: [],
            environment: ["CONVEYOR_PROVIDER": "rabbitmq", "AMQP_URL": "amqp://guest:env-secret@127.0.0.1:1/"]
        )
        let unreachable = try await elsewhere.run(["stats"], ["--queue", queue])
        #expect(unreachable.status == 3, "\(unreachable)")
        #expect(!unreachable.stderr.contains("env-secret"), "the password must not be printed")

        let key = "cli-dedup-\(UUID().uuidString.lowercased())"
        let first = try await broker.run(["enqueue"], ["--queue", queue, "--task", "noop", "--dedup-key", key, "--json"])
        #expect(first.status == 0, "\(first)")
        #expect(jsonObject(first.lines.last ?? "")?["deduplicated"] as? Bool == false, "\(first)")
        let second = try await broker.run(["enqueue"], ["--queue", queue, "--task", "noop", "--dedup-key", key, "--json"])
        #expect(second.status == 0, "\(second)")
        #expect(jsonObject(second.lines.last ?? "")?["deduplicated"] as? Bool == true, "\(second)")

        let delayed = try await broker.run(
            ["enqueue"], ["--queue", queue, "--task", "noop", "--delay", "1s", "--priority", "7", "--json"])
        #expect(delayed.status == 0, "\(delayed)")
        #expect(jsonObject(delayed.lines.last ?? "")?["deduplicated"] as? Bool == false, "\(delayed)")
        // The deduplicated job and, once its delay has passed, the delayed one: two jobs, not three.
        try await eventually("the deduplicated and the delayed job ready") {
            try await broker.stats(queue)["ready"] as? Int == 2
        }

        let deleted = try await broker.run(["queue", "delete", queue, "--yes"])
        #expect(deleted.status == 0, "\(deleted)")
    }

    @Test(
        "rabbitmq --queue-type quorum: queue create, enqueue --count, stats on a quorum queue; a classic declare of it is refused",
        .needs(.rabbitMQ)
    )
    func rabbitMQQuorumQueues() async throws {
        let url = try TestBroker.rabbitMQ.value()
        let quorum = CLIBroker(provider: "rabbitmq", arguments: ["--provider", "rabbitmq", "--url", url, "--queue-type", "quorum"], environment: [:])
        let queue = "cli-quorum-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await quorum.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await quorum.run(["queue", "delete", queue, "--yes"]) } }

        // The queue is a quorum queue: declaring it as a classic one fails (RabbitMQ refuses the different x-queue-type).
        let classic = CLIBroker(provider: "rabbitmq", arguments: ["--provider", "rabbitmq", "--url", url], environment: [:])
        let refused = try await classic.run(["enqueue"], ["--queue", queue, "--task", "noop"])
        #expect(refused.status != 0, "\(refused)")
        #expect(refused.stderr.contains("x-queue-type") && refused.stderr.contains("--queue-type"), "\(refused)")

        let enqueued = try await quorum.run(["enqueue"], ["--queue", queue, "--task", "noop", "--count", "3", "--json"])
        #expect(enqueued.status == 0, "\(enqueued)")
        try await eventually("three jobs ready on the quorum queue") { try await quorum.stats(queue)["ready"] as? Int == 3 }

        let deleted = try await quorum.run(["queue", "delete", queue, "--yes"])
        #expect(deleted.status == 0, "\(deleted)")
    }

    @Test(
        "dlq purge on a terminal asks for the queue name: the right name purges, another refuses",
        .needs(.rabbitMQ),
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux script for a terminal")
    )
    func purgeConfirmationOnATerminal() async throws {
        let url = try TestBroker.rabbitMQ.value()
        let environment = ["CONVEYOR_PROVIDER": "rabbitmq", "AMQP_URL": url]
        let broker = CLIBroker(provider: "rabbitmq", arguments: [], environment: environment)
        let queue = "cli-tty-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }

        let refused = try await runOnTerminal(["dlq", "purge", "--queue", queue], typing: "not-the-queue\n", environment: environment)
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.output.contains("Type the queue name to confirm"), "\(refused.output)")
        #expect(refused.output.contains("not confirmed; nothing deleted"), "\(refused.output)")

        let confirmed = try await runOnTerminal(["dlq", "purge", "--queue", queue], typing: "\(queue)\n", environment: environment)
        #expect(confirmed.status == 0, "\(confirmed.output)")
        #expect(confirmed.output.contains("purged 0 job(s)"), "\(confirmed.output)")

        let deleted = try await broker.run(["queue", "delete", queue, "--yes"])
        #expect(deleted.status == 0, "\(deleted)")
    }

    @Test(
        "queue delete on a terminal asks for the queue name: another name keeps the queue, the right one deletes it",
        .needs(.rabbitMQ),
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux script for a terminal")
    )
    func queueDeleteConfirmationOnATerminal() async throws {
        let url = try TestBroker.rabbitMQ.value()
        let environment = ["CONVEYOR_PROVIDER": "rabbitmq", "AMQP_URL": url]
        let broker = CLIBroker(provider: "rabbitmq", arguments: [], environment: environment)
        let queue = "cli-tty-del-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await broker.run(["queue", "create", queue])
        #expect(created.status == 0, "\(created)")
        defer { _ = Task { _ = try? await broker.run(["queue", "delete", queue, "--yes"]) } }

        let refused = try await runOnTerminal(["queue", "delete", queue], typing: "not-the-queue\n", environment: environment)
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.output.contains("Type the queue name to confirm"), "\(refused.output)")
        #expect(refused.output.contains("not confirmed; nothing deleted"), "\(refused.output)")
        let kept = try await broker.run(["stats"], ["--queue", queue])
        #expect(kept.status == 0, "the queue must still exist: \(kept)")

        let confirmed = try await runOnTerminal(["queue", "delete", queue], typing: "\(queue)\n", environment: environment)
        #expect(confirmed.status == 0, "\(confirmed.output)")
        #expect(confirmed.output.contains("deleted \(queue)"), "\(confirmed.output)")
        try await eventually("stats to find no queue \(queue)") {
            try await broker.run(["stats"], ["--queue", queue]).status == 3
        }
    }

    /// Runs `conveyor arguments` on a pseudo-terminal (util-linux `script`), with `input` typed on it; returns the
    /// exit status and everything the terminal showed.
    func runOnTerminal(_ arguments: [String], typing input: String, environment: [String: String]) async throws -> (status: Int32, output: String) {
        let quoted = ([CLIProcess.binary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let inputPath = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-tty-\(UUID().uuidString).in").path
        try input.write(toFile: inputPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: inputPath) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-q", "-e", "-c", quoted.joined(separator: " "), "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardInput = FileHandle(forReadingAtPath: inputPath)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (status, text)
    }
}
