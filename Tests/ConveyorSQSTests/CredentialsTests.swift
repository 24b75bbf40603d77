import Conveyor
import Foundation
import Testing

import ConveyorSQS

@Suite("AWS credentials and configuration")
struct CredentialsTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

    func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "conveyor-aws-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every way a value is usually printed: `String(describing:)`, interpolation and `dump`.
    static func renderings(_ value: Any) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        return [String(describing: value), "\(value)", dumped]
    }

    @Test func credentialsDescriptionAndDumpHideSecrets() {
        let credentials = AWSCredentials(accessKeyID: "AKIDSHOWN", secretAccessKey: Self.secret, sessionToken: "SESSIONTOKENVALUE")
        for text in Self.renderings(credentials) + Self.renderings(StaticCredentialsProvider(credentials)) {
            #expect(!text.contains(Self.secret), "secret shown in \(text)")
            #expect(!text.contains("SESSIONTOKENVALUE"), "token shown in \(text)")
            #expect(text.contains("AKIDSHOWN"))
        }
    }

    @Test func providersDescriptionAndDumpHideTheEnvironment() {
        let environment = [
            "AWS_ACCESS_KEY_ID": "AKIDENVVALUE", "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SESSION_TOKEN": "SESSIONTOKENVALUE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/creds?sig=URISECRET",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "CONTAINERTOKENVALUE",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://imds.internal:9999",
            "DATABASE_PASSWORD": "UNRELATEDSECRET",
            "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/TOKENPATHVALUE", "AWS_ROLE_ARN": "arn:aws:iam::1:role/ROLEVALUE",
        ]
        let secrets = [
            Self.secret, "AKIDENVVALUE", "SESSIONTOKENVALUE", "URISECRET", "CONTAINERTOKENVALUE", "imds.internal", "UNRELATEDSECRET",
            "TOKENPATHVALUE", "ROLEVALUE",
        ]
        let providers: [any AWSCredentialsProvider] = [
            EnvironmentCredentialsProvider(environment: environment),
            ContainerCredentialsProvider(environment: environment),
            InstanceMetadataCredentialsProvider(environment: environment),
            ProfileCredentialsProvider(environment: environment),
            WebIdentityCredentialsProvider(environment: environment),
            AWSCredentialsProviderChain.standard(environment: environment),
        ]
        for provider in providers {
            for text in Self.renderings(provider) {
                for secret in secrets {
                    #expect(!text.contains(secret), "\(secret) shown in \(text)")
                }
                #expect(!text.contains("DATABASE_PASSWORD"), "an unrelated variable shown in \(text)")
            }
        }
        // The variable names (not values) stay visible, to see what a provider would use.
        #expect("\(EnvironmentCredentialsProvider(environment: environment))".contains("AWS_SECRET_ACCESS_KEY"))
        #expect("\(ContainerCredentialsProvider(environment: environment))".contains("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
    }

    @Test func chainDumpHidesCachedCredentials() async throws {
        let chain = AWSCredentialsProviderChain([EnvironmentCredentialsProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": Self.secret,
        ])])
        _ = try await chain.credentials()  // now cached
        for text in Self.renderings(chain) {
            #expect(!text.contains(Self.secret), "secret shown in \(text)")
        }
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
        // No region anywhere: a typed error naming the variable to set, with an example value.
        let error = try #require(throws: ConveyorError.self) {
            try SQSQueueProvider.Configuration.fromEnvironment(["AWS_CONFIG_FILE": "/nonexistent", "HOME": "/nonexistent"])
        }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("set AWS_REGION, e.g. AWS_REGION=us-east-1"), "\(error)")
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
        // createQueueRaw updates an existing queue's attributes on this code (JSON `__type` and query-error forms).
        #expect(code("QueueNameExists") == .queueAlreadyExists)
        #expect(code("AWS.SimpleQueueService.QueueNameExists") == .queueAlreadyExists)
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

@Suite("Cloud credential endpoints (local HTTP server)")
struct CloudCredentialsTests {
    static func credentialsJSON(expiresIn seconds: TimeInterval) -> String {
        let expiration = ISO8601DateFormatter().string(from: Date().addingTimeInterval(seconds))
        return #"{"AccessKeyId":"ASIATEMP","SecretAccessKey":"tempsecret","Token":"temptoken","Expiration":"\#(expiration)"}"#
    }

    @Test func containerCredentialsWithAuthorizationToken() async throws {
        let server = try LocalHTTPServer { request in
            guard request.path == "/creds", request.headers["authorization"] == "Bearer xyz" else { return (401, "{}") }
            return (200, CloudCredentialsTests.credentialsJSON(expiresIn: 3600))
        }
        defer { server.stop() }
        let provider = ContainerCredentialsProvider(environment: [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer xyz",
        ])
        let credentials = try await provider.credentials()
        #expect(credentials.accessKeyID == "ASIATEMP")
        #expect(credentials.sessionToken == "temptoken")
        #expect(credentials.expiration != nil)
    }

    @Test func containerEndpointErrorsSayWhatFailed() async throws {
        let server = try LocalHTTPServer { _ in (403, "{}") }
        defer { server.stop() }
        let provider = ContainerCredentialsProvider(environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/creds"])
        await #expect {
            _ = try await provider.credentials()
        } throws: { error in
            (error as? ConveyorError)?.message.contains("HTTP 403") == true
        }
    }

    @Test func instanceMetadataUsesATokenThenTheRoleCredentials() async throws {
        let server = try LocalHTTPServer { request in
            switch (request.method, request.path) {
            case ("PUT", "/latest/api/token"):
                return request.headers["x-aws-ec2-metadata-token-ttl-seconds"] == nil ? (400, "") : (200, "imds-token")
            case ("GET", "/latest/meta-data/iam/security-credentials/"):
                return request.headers["x-aws-ec2-metadata-token"] == "imds-token" ? (200, "worker-role\n") : (401, "")
            case ("GET", "/latest/meta-data/iam/security-credentials/worker-role"):
                return request.headers["x-aws-ec2-metadata-token"] == "imds-token"
                    ? (200, CloudCredentialsTests.credentialsJSON(expiresIn: 3600)) : (401, "")
            default:
                return (404, "")
            }
        }
        defer { server.stop() }
        let provider = InstanceMetadataCredentialsProvider(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(server.port)/"])
        let credentials = try await provider.credentials()
        #expect(credentials.accessKeyID == "ASIATEMP")
        #expect(server.requests.map(\.method) == ["PUT", "GET", "GET"])
    }

    @Test func chainRefreshesCredentialsCloseToExpiry() async throws {
        let clock = CredentialsTestClock()
        let server = try LocalHTTPServer { _ in (200, clock.credentialsJSON(expiresIn: 120)) }
        defer { server.stop() }
        let chain = AWSCredentialsProviderChain(
            [ContainerCredentialsProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/creds"],
                cache: clock.cacheConfiguration()
            )],
            cache: clock.cacheConfiguration()
        )
        _ = try await chain.credentials()
        _ = try await chain.credentials()
        // Credentials expiring within five minutes are fetched again, but not more often than every 10 seconds
        // when the source keeps handing out credentials that are already due.
        #expect(server.requests.count == 1)
        clock.advance(11)
        _ = try await chain.credentials()
        #expect(server.requests.count == 2)

        let longLived = try LocalHTTPServer { _ in (200, clock.credentialsJSON(expiresIn: 3600)) }
        defer { longLived.stop() }
        let cached = AWSCredentialsProviderChain(
            [ContainerCredentialsProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(longLived.port)/creds"],
                cache: clock.cacheConfiguration()
            )],
            cache: clock.cacheConfiguration()
        )
        _ = try await cached.credentials()
        _ = try await cached.credentials()
        #expect(longLived.requests.count == 1)
        clock.advance(3600 - 299)  // within five minutes of expiry
        _ = try await cached.credentials()
        #expect(longLived.requests.count == 2)
    }
}

/// A profile's `credential_process`, run for real through `/bin/sh`.
@Suite("AWS credential_process")
struct CredentialProcessTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

    /// A config file with profile `p` whose credential_process is `command`, and the environment pointing at it.
    func profile(_ command: String, extra: String = "") throws -> (env: [String: String], cleanup: () -> Void) {
        let config = NSTemporaryDirectory() + "conveyor-aws-\(UUID().uuidString)"
        try "[profile p]\ncredential_process = \(command)\n\(extra)".write(toFile: config, atomically: true, encoding: .utf8)
        let env = ["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/conveyor-credentials", "HOME": "/nonexistent"]
        return (env, { try? FileManager.default.removeItem(atPath: config) })
    }

    /// A script running `body`. Commands run it as `/bin/sh <path>`, never by executing the file itself: a process
    /// that another test spawns while this file is being written inherits the open descriptor, and executing a file
    /// open for writing fails with ETXTBSY (the shell's status 126), which made this suite flaky under parallel tests.
    func script(_ body: String) throws -> String {
        let path = NSTemporaryDirectory() + "conveyor-credential-process-\(UUID().uuidString).sh"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aProcessThatPrintsVersion1GivesCredentialsWithTheirExpiry() async throws {
        let script = try script(#"echo '{"Version": 1, "AccessKeyId": "AKIDPROCESS", "SecretAccessKey": "\#(Self.secret)", "SessionToken": "tok", "Expiration": "2030-01-02T03:04:05Z"}'"#)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let (env, cleanup) = try profile("/bin/sh \(script) --with an-argument")
        defer { cleanup() }
        let credentials = try await ProfileCredentialsProvider(profile: "p", environment: env).credentials()
        #expect(credentials.accessKeyID == "AKIDPROCESS")
        #expect(credentials.secretAccessKey == Self.secret)
        #expect(credentials.sessionToken == "tok")
        #expect(credentials.expiration == ISO8601DateFormatter().date(from: "2030-01-02T03:04:05Z"))
        // Static keys of the profile win over the process, as in the SDKs.
        let (staticEnv, cleanupStatic) = try profile("/bin/false", extra: "aws_access_key_id = STATIC\naws_secret_access_key = s\n")
        defer { cleanupStatic() }
        #expect(try await ProfileCredentialsProvider(profile: "p", environment: staticEnv).credentials().accessKeyID == "STATIC")
    }

    @Test func failuresSayWhatWentWrongAndNeverShowTheOutput() async throws {
        let cases: [(body: String, expected: String)] = [
            ("echo 'not json \(Self.secret)'", "not a JSON object"),
            (#"echo '{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "\#(Self.secret)"}'"#, "\"Version\": 1"),
            (#"echo '{"Version": 1, "SecretAccessKey": "\#(Self.secret)"}'"#, "lacks AccessKeyId"),
            (#"echo '{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "\#(Self.secret)", "Expiration": "soon"}'"#, "ISO 8601"),
            ("echo '\(Self.secret)' >&2; exit 3", "exited with status 3"),
        ]
        for (body, expected) in cases {
            let script = try script(body)
            defer { try? FileManager.default.removeItem(atPath: script) }
            let (env, cleanup) = try profile("/bin/sh \(script)")
            defer { cleanup() }
            do {
                _ = try await ProfileCredentialsProvider(profile: "p", environment: env).credentials()
                Issue.record("\(body): no error")
            } catch let error as ConveyorError {
                #expect(error.message.contains("profile \"p\": credential_process"), "\(error)")
                #expect(error.message.contains(expected), "\(error)")
                #expect(!String(describing: error).contains(Self.secret), "\(error)")
            }
        }
    }

    @Test func aProcessThatHangsIsStoppedAtTheTimeout() async throws {
        let (env, cleanup) = try profile("sleep 30")
        defer { cleanup() }
        var provider = ProfileCredentialsProvider(profile: "p", environment: env)
        provider.credentialProcessTimeout = .milliseconds(300)
        do {
            _ = try await provider.credentials()
            Issue.record("a hanging credential_process gave credentials")
        } catch let error as ConveyorError {
            #expect(error.code == .timeout, "\(error)")
            #expect(error.message.contains("was stopped"), "\(error)")
        }
    }
}
