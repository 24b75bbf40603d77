import Conveyor
@testable import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS` (and the profile keys) parsing, the retry quota, the backoff and which errors
/// are retried. No I/O and no clock, except the last test (a local server).
@Suite("SQS retry modes")
struct SQSRetryModeTests {
    static func policy(_ env: [String: String], profile: [String: String]? = nil) throws(ConveyorError) -> SQSRetryPolicy {
        try SQSRetryPolicy.fromEnvironment(env, profile: profile, profileName: "p")
    }

    // MARK: Parsing

    @Test func nothingSetKeepsConveyorsDefault() throws {
        let policy = try Self.policy([:])
        #expect(policy == SQSRetryPolicy())
        #expect(policy.mode == .legacy && policy.maxAttempts == 5)
        #expect(policy.baseDelay == .milliseconds(50) && policy.maxDelay == .seconds(5))
        let configuration = try SQSQueueProvider.Configuration.fromEnvironment(["AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": "/nonexistent"])
        #expect(configuration.retryPolicy == SQSRetryPolicy())
    }

    @Test func modesAndAttempts() throws {
        #expect(try Self.policy(["AWS_MAX_ATTEMPTS": "2"]) == SQSRetryPolicy(maxAttempts: 2))
        #expect(try Self.policy(["AWS_RETRY_MODE": "legacy"]) == SQSRetryPolicy())
        let standard = try Self.policy(["AWS_RETRY_MODE": "standard"])
        #expect(standard == .standard(maxAttempts: 3))
        #expect(standard.mode == .standard && standard.baseDelay == .seconds(1) && standard.maxDelay == .seconds(20))
        #expect(try Self.policy(["AWS_RETRY_MODE": " Standard ", "AWS_MAX_ATTEMPTS": "7"]) == .standard(maxAttempts: 7))
        let adaptive = try Self.policy(["AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "1"])
        #expect(adaptive.mode == .adaptive && adaptive.maxAttempts == 1 && adaptive.mode.usesQuota)
        #expect(!SQSRetryPolicy.Mode.legacy.usesQuota)
        // Empty means unset.
        #expect(try Self.policy(["AWS_RETRY_MODE": "", "AWS_MAX_ATTEMPTS": ""]) == SQSRetryPolicy())
    }

    @Test(arguments: ["0", "-1", "abc", "1.5", "101", "3 ", "99999999999999999999999999", "+3", "٣"])
    func unreadableAttemptsNameTheVariable(_ text: String) throws {
        // "3 " is trimmed and accepted: check the others fail, and that one does not.
        if text == "3 " {
            #expect(try Self.policy(["AWS_MAX_ATTEMPTS": text]).maxAttempts == 3)
            return
        }
        #expect {
            try Self.policy(["AWS_MAX_ATTEMPTS": text])
        } throws: { error in
            guard let error = error as? ConveyorError else { return false }
            return error.code == .invalidConfiguration && error.message.contains("AWS_MAX_ATTEMPTS")
                && error.message.contains("from 1 to 100")
        }
    }

    @Test func anUnknownModeNamesTheVariableAndTheChoices() {
        #expect {
            try Self.policy(["AWS_RETRY_MODE": "aggressive"])
        } throws: { error in
            guard let error = error as? ConveyorError else { return false }
            return error.code == .invalidConfiguration && error.message.contains("AWS_RETRY_MODE")
                && error.message.contains("legacy, standard or adaptive") && error.message.contains("aggressive")
        }
    }

    @Test func theProfileKeysApplyUnlessTheEnvironmentSetsThem() throws {
        let config = NSTemporaryDirectory() + "conveyor-retry-profile-\(UUID().uuidString)"
        try "[profile p]\nregion = eu-west-2\nretry_mode = standard\nmax_attempts = 4\n[profile bad]\nregion = x\nmax_attempts = lots\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let profiled = try SQSQueueProvider.Configuration.fromEnvironment(["AWS_CONFIG_FILE": config, "AWS_PROFILE": "p"])
        #expect(profiled.retryPolicy == .standard(maxAttempts: 4))
        // Read even when the region comes from the environment.
        let withRegion = try SQSQueueProvider.Configuration.fromEnvironment(["AWS_CONFIG_FILE": config, "AWS_PROFILE": "p", "AWS_REGION": "us-east-1"])
        #expect(withRegion.retryPolicy == .standard(maxAttempts: 4))
        let overridden = try SQSQueueProvider.Configuration.fromEnvironment([
            "AWS_CONFIG_FILE": config, "AWS_PROFILE": "p", "AWS_RETRY_MODE": "legacy", "AWS_MAX_ATTEMPTS": "2",
        ])
        #expect(overridden.retryPolicy == SQSRetryPolicy(maxAttempts: 2))
        #expect {
            try SQSQueueProvider.Configuration.fromEnvironment(["AWS_CONFIG_FILE": config, "AWS_PROFILE": "bad"])
        } throws: { error in
            guard let error = error as? ConveyorError else { return false }
            return error.code == .invalidConfiguration && error.message.contains("max_attempts in profile bad")
        }
    }

    // MARK: Quota

    @Test func theQuotaChargesRetriesAndStopsWhenItCannotPay() {
        var quota = RetryQuota()
        #expect(quota.available == 500 && quota.capacity == 500)
        #expect(quota.acquire(afterTimeoutOrConnectionError: false) == 5)
        #expect(quota.available == 495)
        #expect(quota.acquire(afterTimeoutOrConnectionError: true) == 10)
        #expect(quota.available == 485)
        // 97 more plain retries leave 0.
        for _ in 0..<97 { #expect(quota.acquire(afterTimeoutOrConnectionError: false) == 5) }
        #expect(quota.available == 0)
        #expect(quota.acquire(afterTimeoutOrConnectionError: false) == nil)
        #expect(quota.available == 0)
    }

    @Test func aRefusedRetryTakesNothing() {
        var quota = RetryQuota(capacity: 7)
        #expect(quota.acquire(afterTimeoutOrConnectionError: true) == nil)
        #expect(quota.available == 7)
        #expect(quota.acquire(afterTimeoutOrConnectionError: false) == 5)
        #expect(quota.acquire(afterTimeoutOrConnectionError: false) == nil)
        #expect(quota.available == 2)
    }

    @Test func successesPayBack() {
        var quota = RetryQuota()
        _ = quota.acquire(afterTimeoutOrConnectionError: false)
        _ = quota.acquire(afterTimeoutOrConnectionError: true)
        #expect(quota.available == 485)
        // A success after a retry pays back what that retry took...
        quota.release(lastRetryCost: 10)
        #expect(quota.available == 495)
        // ...one without retries adds 1...
        quota.release(lastRetryCost: nil)
        #expect(quota.available == 496)
        // ...and the bucket never grows past its capacity.
        for _ in 0..<10 { quota.release(lastRetryCost: 5) }
        #expect(quota.available == 500)
        quota.release(lastRetryCost: nil)
        #expect(quota.available == 500)
        quota.release(lastRetryCost: Int.max)
        #expect(quota.available == 500)
    }

    // MARK: One request's retries

    @Test func retryAttemptsStopAtMaxAttemptsAndForUnretryableErrors() {
        let quota = Mutex(RetryQuota())
        var retries = RetryAttempts(policy: SQSRetryPolicy(maxAttempts: 3))
        #expect(retries.delayBeforeRetry(retryable: true, afterTimeoutOrConnectionError: false, quota: quota) != nil)
        #expect(retries.attempt == 2)
        #expect(retries.delayBeforeRetry(retryable: true, afterTimeoutOrConnectionError: true, quota: quota) != nil)
        #expect(retries.attempt == 3)
        #expect(retries.delayBeforeRetry(retryable: true, afterTimeoutOrConnectionError: false, quota: quota) == nil)
        #expect(!retries.quotaRefused)
        // Legacy mode leaves the quota alone.
        retries.succeeded(quota: quota)
        #expect(quota.withLock { $0.available } == 500)
        var unretryable = RetryAttempts(policy: .standard())
        #expect(unretryable.delayBeforeRetry(retryable: false, afterTimeoutOrConnectionError: false, quota: quota) == nil)
        #expect(!unretryable.quotaRefused && unretryable.attempt == 1)
        #expect(quota.withLock { $0.available } == 500)
    }

    @Test func retryAttemptsDrawFromTheQuotaAndPayTheLastRetryBack() {
        let quota = Mutex(RetryQuota())
        var retries = RetryAttempts(policy: .standard(maxAttempts: 5))
        #expect(retries.delayBeforeRetry(retryable: true, afterTimeoutOrConnectionError: false, quota: quota) != nil)
        #expect(retries.delayBeforeRetry(retryable: true, afterTimeoutOrConnectionError: true, quota: quota) != nil)
        #expect(quota.withLock { $0.available } == 485)
        retries.succeeded(quota: quota)
        #expect(quota.withLock { $0.available } == 495)
        // A request without retries adds 1.
        RetryAttempts(policy: .standard()).succeeded(quota: quota)
        #expect(quota.withLock { $0.available } == 496)
    }

    @Test func retryAttemptsSayWhenTheQuotaStoppedThem() {
        let quota = Mutex(RetryQuota(capacity: 12))
        var retries = RetryAttempts(policy: SQSRetryPolicy(mode: .adaptive, maxAttempts: 10))
        #expect(retries.delayBeforeRetry(retryable: true, afterTimeoutOrConnectionError: true, quota: quota) != nil)
        #expect(retries.delayBeforeRetry(retryable: true, afterTimeoutOrConnectionError: true, quota: quota) == nil)
        #expect(retries.quotaRefused && retries.attempt == 2)
        #expect(quota.withLock { $0.available } == 2)
    }

    // MARK: Backoff

    @Test func backoffIsCappedExponentialWithFullJitter() {
        let policy = SQSRetryPolicy.standard()
        let ceiling = { (retry: Int) in policy.delay(beforeRetry: retry, random: { $0 }) }
        #expect(ceiling(1) == .seconds(1))
        #expect(ceiling(2) == .seconds(2))
        #expect(ceiling(5) == .seconds(16))
        #expect(ceiling(6) == .seconds(20))
        #expect(ceiling(Int.max) == .seconds(20))
        #expect(ceiling(0) == .seconds(1) && ceiling(Int.min) == .seconds(1))
        #expect(policy.delay(beforeRetry: 3, random: { _ in 0 }) == .zero)
        var draws: [Int64] = []
        _ = policy.delay(beforeRetry: 2, random: { draws.append($0); return 0 })
        #expect(draws == [2_000_000_000])
        let huge = SQSRetryPolicy(baseDelay: .seconds(Int64.max / 4), maxDelay: .seconds(Int64.max / 2))
        _ = huge.delay(beforeRetry: 30, random: { $0 })
    }

    // MARK: Which errors are retried

    @Test func theSDKsThrottlingAndTransientErrorsAreRetried() {
        for code in AWSRetryableErrors.throttlingCodes {
            let error = ConveyorError.sqs(type: code, message: "", status: 400, action: "SendMessage")
            #expect(error.code == .throttled && error.isRetryable, "\(code)")
        }
        for code in ["RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalError", "ServiceUnavailable"] {
            let error = ConveyorError.sqs(type: code, message: "", status: 400, action: "SendMessage")
            #expect(error.isRetryable, "\(code)")
        }
        for status in [500, 502, 503, 504, 429] {
            #expect(ConveyorError.sqs(type: "HTTP \(status)", message: "", status: status, action: "SendMessage").isRetryable)
            #expect(AWSRetryableErrors.isRetryable(code: "Whatever", status: status))
        }
        for code in ["ValidationException", "AccessDenied", "QueueDoesNotExist", "InvalidParameterValue"] {
            #expect(!ConveyorError.sqs(type: code, message: "", status: 400, action: "SendMessage").isRetryable, "\(code)")
            #expect(!AWSRetryableErrors.isRetryable(code: code, status: 400))
        }
    }

    // MARK: The client's quota

    /// With the client's quota used up, a throttled request is not retried, whatever `AWS_MAX_ATTEMPTS` allows, and
    /// the error says why.
    @Test(.timeLimit(.minutes(1))) func anEmptyQuotaStopsRetrying() async throws {
        let server = try SQSRetryAttemptsTests.throttlingServer(throttled: 100)
        defer { server.stop() }
        let provider = try SQSRetryAttemptsTests.provider(for: server, ["AWS_MAX_ATTEMPTS": "5", "AWS_RETRY_MODE": "standard"])
        // Other requests' retries used the quota up (all but 4 tokens: less than one retry).
        provider.client.retryQuota.withLock { quota in
            while quota.available >= 9, quota.acquire(afterTimeoutOrConnectionError: true) != nil {}
            while quota.available > 4, quota.acquire(afterTimeoutOrConnectionError: false) != nil {}
        }
        let available: Int = provider.client.retryQuota.withLock { $0.available }
        #expect(available < RetryQuota.retryCost)
        do {
            _ = try await provider.client.call(SQSAPI.GetQueueURL(queueName: "q"))
            Issue.record("a request throttled every time succeeded")
        } catch let error as ConveyorError {
            #expect(error.code == .throttled, "\(error)")
            #expect(error.message.contains("retry quota"), "\(error)")
        }
        #expect(server.requests.count == 1)
        try await provider.close()
    }

    /// Retries draw from the client's quota and a success pays the last one back: two throttled answers then a
    /// success leave the bucket one retry short of full.
    @Test(.timeLimit(.minutes(1))) func retriesDrawFromTheClientsQuota() async throws {
        let server = try SQSRetryAttemptsTests.throttlingServer(throttled: 2)
        defer { server.stop() }
        let provider = try SQSRetryAttemptsTests.provider(for: server, ["AWS_RETRY_MODE": "standard"])
        _ = try await provider.client.call(SQSAPI.GetQueueURL(queueName: "q"))
        #expect(server.requests.count == 3)
        let left: Int = provider.client.retryQuota.withLock { $0.available }
        #expect(left == 495)
        // Legacy mode leaves the quota alone.
        let legacyServer = try SQSRetryAttemptsTests.throttlingServer(throttled: 2)
        defer { legacyServer.stop() }
        let legacy = try SQSRetryAttemptsTests.provider(for: legacyServer, [:])
        _ = try await legacy.client.call(SQSAPI.GetQueueURL(queueName: "q"))
        let legacyLeft: Int = legacy.client.retryQuota.withLock { $0.available }
        #expect(legacyLeft == 500)
        try await provider.close()
        try await legacy.close()
    }
}
