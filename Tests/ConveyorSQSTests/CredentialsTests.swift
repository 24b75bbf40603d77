import Conveyor
import Foundation
import Testing

@testable import ConveyorSQS

@Suite("AWS credentials and configuration")
struct CredentialsTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

    func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "conveyor-aws-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func environmentCredentials() async throws {
        let provider = EnvironmentCredentialsProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SESSION_TOKEN": "TOKEN",
        ])
        let credentials = try await provider.credentials()
        #expect(credentials == AWSCredentials(accessKeyID: "AKID", secretAccessKey: Self.secret, sessionToken: "TOKEN"))
    }

    @Test func environmentTakesPrecedenceOverProfile() async throws {
        let file = try temporaryFile("[default]\naws_access_key_id = FROMFILE\naws_secret_access_key = filesecret\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let chain = AWSCredentialsProviderChain.standard(environment: [
            "AWS_ACCESS_KEY_ID": "FROMENV", "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SHARED_CREDENTIALS_FILE": file,
        ])
        #expect(try await chain.credentials().accessKeyID == "FROMENV")
        let fileOnly = AWSCredentialsProviderChain.standard(environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_CONFIG_FILE": "/nonexistent"])
        #expect(try await fileOnly.credentials().accessKeyID == "FROMFILE")
    }

    @Test func profileFilesAreParsed() async throws {
        let credentials = try temporaryFile("""
            # comment
            [default]
            aws_access_key_id = DEFAULTKEY
            aws_secret_access_key = defaultsecret

            [work]
            aws_access_key_id=WORKKEY
            aws_secret_access_key=worksecret
            aws_session_token = worktoken
            """)
        let config = try temporaryFile("""
            [default]
            region = eu-west-1
            [profile work]
            region = us-west-2
            [profile config-only]
            aws_access_key_id = CONFIGKEY
            aws_secret_access_key = configsecret
            [sso-session x]
            region = ap-south-1
            """)
        defer {
            try? FileManager.default.removeItem(atPath: credentials)
            try? FileManager.default.removeItem(atPath: config)
        }
        let env = ["AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config]
        let work = try await ProfileCredentialsProvider(profile: "work", environment: env).credentials()
        #expect(work == AWSCredentials(accessKeyID: "WORKKEY", secretAccessKey: "worksecret", sessionToken: "worktoken"))
        #expect(try await ProfileCredentialsProvider(environment: env).credentials().accessKeyID == "DEFAULTKEY")
        #expect(try await ProfileCredentialsProvider(profile: "config-only", environment: env).credentials().accessKeyID == "CONFIGKEY")
        var profileEnv = env
        profileEnv["AWS_PROFILE"] = "work"
        #expect(try SQSQueueProvider.Configuration.fromEnvironment(profileEnv).region == "us-west-2")
        #expect(try SQSQueueProvider.Configuration.fromEnvironment(env).region == "eu-west-1")
    }

    @Test func missingCredentialsListEverySourceWithoutSecrets() async throws {
        let file = try temporaryFile("[default]\naws_access_key_id = PARTIAL\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let chain = AWSCredentialsProviderChain.standard(environment: [
            "AWS_SECRET_ACCESS_KEY": Self.secret,
            "AWS_SHARED_CREDENTIALS_FILE": file,
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
        ])
        do {
            _ = try await chain.credentials()
            Issue.record("expected an error")
        } catch let error as ConveyorError {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("AWS_ACCESS_KEY_ID is missing"))
            #expect(error.message.contains("aws_secret_access_key is missing"))
            #expect(error.message.contains("container credentials"))
            #expect(error.message.contains("EC2 instance metadata"))
            #expect(!error.message.contains(Self.secret))
        }
    }

    @Test func configurationFromEnvironment() throws {
        let configuration = try SQSQueueProvider.Configuration.fromEnvironment([
            "AWS_REGION": "eu-central-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4567",
            "AWS_CONFIG_FILE": "/nonexistent",
        ])
        #expect(configuration.region == "eu-central-1")
        #expect(configuration.resolvedEndpoint == "http://127.0.0.1:4567")
        let aws = try SQSQueueProvider.Configuration.fromEnvironment(["AWS_DEFAULT_REGION": "ap-south-1", "AWS_CONFIG_FILE": "/nonexistent"])
        #expect(aws.resolvedEndpoint == "https://sqs.ap-south-1.amazonaws.com")
        #expect(throws: ConveyorError.self) {
            try SQSQueueProvider.Configuration.fromEnvironment(["AWS_CONFIG_FILE": "/nonexistent", "HOME": "/nonexistent"])
        }
    }

    @Test func errorTypesMapToCodes() {
        func code(_ type: String, _ status: Int = 400) -> ConveyorError.Code {
            ConveyorError.sqs(type: type, message: "", status: status, action: "Test").code
        }
        #expect(code("QueueDoesNotExist") == .queueNotFound)
        #expect(code("AWS.SimpleQueueService.NonExistentQueue") == .queueNotFound)
        #expect(code("ThrottlingException") == .throttled)
        #expect(code("AccessDenied", 403) == .accessDenied)
        #expect(code("SignatureDoesNotMatch", 403) == .signatureMismatch)
        #expect(code("RequestExpired", 403) == .clockSkew)
        #expect(code("InvalidParameterValue") == .invalidParameter)
        #expect(code("Whatever", 503) == .brokerError)
        #expect(ConveyorError.sqs(type: "Whatever", message: "", status: 503, action: "Test").isRetryable)
        let response = HTTPResponse(
            status: 400,
            headers: ["x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"],
            body: Array(#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#.utf8)
        )
        #expect(SQSClient.parseError(response, action: "GetQueueUrl").code == .queueNotFound)
    }

    @Test func retryBackoffIsCappedAndJittered() {
        let policy = SQSRetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        for retry in 1...10 {
            let delay = policy.delay(beforeRetry: retry)
            #expect(delay >= .zero && delay <= .seconds(1))
        }
    }
}
