import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// Role-assuming sources against a local STS stand-in (``FakeSTS``), which shows what the emulator cannot: which
/// credentials signed each hop of a chain, and which token each exchange sent.
@Suite("Credentials: web identity, assumed roles, IAM Identity Center (local STS and SSO stand-ins)")
struct CredentialsRoleTests {
    @Test(.timeLimit(.minutes(1))) func webIdentityReadsTheTokenFileAgainAtEachRefresh() async throws {
        let sts = try FakeSTS()
        defer { sts.stop() }
        let home = try TemporaryAWSHome()
        defer { home.remove() }
        try home.write("first-token\n", to: "token")
        let clock = CredentialsTestClock(Date())
        let provider = WebIdentityCredentialsProvider(
            environment: home.environment([
                "AWS_WEB_IDENTITY_TOKEN_FILE": home.path + "/token", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/worker",
                "AWS_ROLE_SESSION_NAME": "pod-1", "AWS_ENDPOINT_URL_STS": sts.endpoint,
            ]),
            cache: clock.cacheConfiguration())
        let first = try await provider.credentials()
        #expect(first.accessKeyID == "ASIAFAKE1")
        #expect(first.sessionToken == "token1")
        #expect(first.expiration != nil)
        // The cluster rotates the token; the next refresh (credentials due) must send the new one.
        try home.write("second-token", to: "token")
        clock.advance(3_400)
        let second = try await provider.credentials()
        #expect(second.accessKeyID == "ASIAFAKE2")
        #expect(sts.calls.map(\.action) == ["AssumeRoleWithWebIdentity", "AssumeRoleWithWebIdentity"])
        #expect(sts.calls.map { $0.parameters["WebIdentityToken"] } == ["first-token", "second-token"])
        #expect(sts.calls.allSatisfy { $0.parameters["RoleArn"] == "arn:aws:iam::123456789012:role/worker" && $0.parameters["RoleSessionName"] == "pod-1" })
        #expect(sts.calls.allSatisfy { $0.signedBy == nil }, "AssumeRoleWithWebIdentity is unsigned")
    }

    /// STS is reached through `HTTP_PROXY` as the SDKs do; the container credentials that sign the `AssumeRole`
    /// (`credential_source = EcsContainer`) never are.
    @Test(.timeLimit(.minutes(1))) func stsGoesThroughTheProxyAndContainerCredentialsNever() async throws {
        let sts = try FakeSTS()
        defer { sts.stop() }
        let proxy = try ForwardingProxy()
        defer { proxy.stop() }
        let container = try LocalHTTPServer { _ in (200, CloudCredentialsTests.credentialsJSON(expiresIn: 3600)) }
        defer { container.stop() }
        let home = try TemporaryAWSHome(config: "[profile app]\nrole_arn = arn:aws:iam::1:role/app\ncredential_source = EcsContainer\n")
        defer { home.remove() }
        let provider = ProfileCredentialsProvider(profile: "app", environment: home.environment([
            "AWS_ENDPOINT_URL_STS": sts.endpoint, "HTTP_PROXY": "http://127.0.0.1:\(proxy.port)",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(container.port)/creds",
        ]))
        let credentials = try await provider.credentials()
        #expect(credentials.accessKeyID == "ASIAFAKE1")
        #expect(sts.calls.map(\.signedBy) == ["ASIATEMP"], "AssumeRole signed with the container's credentials")
        #expect(container.requests.count == 1)
        #expect(proxy.requestLines == ["POST \(sts.endpoint)/ HTTP/1.1"], "only STS went through the proxy: \(proxy.requestLines)")
    }

    /// A profile with `web_identity_token_file` exchanges its token at STS, with its `role_session_name`; the
    /// endpoint comes from `AWS_ENDPOINT_URL` when no STS-specific one is set.
    @Test(.timeLimit(.minutes(1))) func profileWithAWebIdentityTokenFile() async throws {
        let sts = try FakeSTS()
        defer { sts.stop() }
        let home = try TemporaryAWSHome()
        defer { home.remove() }
        try home.write("profile-token", to: "token")
        try home.write("""
            [profile irsa]
            role_arn = arn:aws:iam::1:role/from-profile
            web_identity_token_file = \(home.path)/token
            role_session_name = from-profile
            """, to: ".aws/config")
        let credentials = try await ProfileCredentialsProvider(profile: "irsa", environment: home.environment(["AWS_ENDPOINT_URL": sts.endpoint]))
            .credentials()
        #expect(credentials.accessKeyID == "ASIAFAKE1")
        #expect(sts.calls.map(\.action) == ["AssumeRoleWithWebIdentity"])
        #expect(sts.calls.first?.parameters["WebIdentityToken"] == "profile-token")
        #expect(sts.calls.first?.parameters["RoleSessionName"] == "from-profile")
        #expect(sts.calls.first?.signedBy == nil)
    }

    @Test func webIdentityErrorsSayWhatToSet() async throws {
        let home = try TemporaryAWSHome()
        defer { home.remove() }
        let noRole = WebIdentityCredentialsProvider(environment: home.environment(["AWS_WEB_IDENTITY_TOKEN_FILE": home.path + "/token"]))
        let error = await #expect(throws: ConveyorError.self) { try await noRole.credentials() }
        #expect(error?.message.contains("AWS_ROLE_ARN") == true)
        let noFile = WebIdentityCredentialsProvider(environment: home.environment([
            "AWS_WEB_IDENTITY_TOKEN_FILE": home.path + "/missing", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
        ]))
        let missing = await #expect(throws: ConveyorError.self) { try await noFile.credentials() }
        #expect(missing?.message.contains("cannot read the token file") == true)
    }

    @Test(.timeLimit(.minutes(1))) func roleChainSignsEachHopWithTheCredentialsOfThePreviousOne() async throws {
        let sts = try FakeSTS()
        defer { sts.stop() }
        let home = try TemporaryAWSHome(
            config: """
                [profile app]
                role_arn = arn:aws:iam::111111111111:role/app
                source_profile = hop
                external_id = ext-42
                role_session_name = conveyor-worker
                duration_seconds = 1800

                [profile hop]
                role_arn = arn:aws:iam::222222222222:role/hop
                source_profile = base
                """,
            credentials: """
                [base]
                aws_access_key_id = AKIDBASE
                aws_secret_access_key = base-secret
                """)
        defer { home.remove() }
        let provider = ProfileCredentialsProvider(profile: "app", environment: home.environment(["AWS_ENDPOINT_URL_STS": sts.endpoint]))
        let credentials = try await provider.credentials()
        #expect(credentials.accessKeyID == "ASIAFAKE2")
        let calls = sts.calls
        try #require(calls.count == 2)
        // First the hop's role, signed with the base profile's static keys...
        #expect(calls[0].parameters["RoleArn"] == "arn:aws:iam::222222222222:role/hop")
        #expect(calls[0].signedBy == "AKIDBASE")
        #expect(calls[0].sessionToken == nil)
        // ...then the app's role, signed with what the first call issued.
        #expect(calls[1].parameters["RoleArn"] == "arn:aws:iam::111111111111:role/app")
        #expect(calls[1].signedBy == "ASIAFAKE1")
        #expect(calls[1].sessionToken == "token1")
        #expect(calls[1].parameters["ExternalId"] == "ext-42")
        #expect(calls[1].parameters["RoleSessionName"] == "conveyor-worker")
        #expect(calls[1].parameters["DurationSeconds"] == "1800")
        // Cached until due: a second call asks STS nothing.
        _ = try await provider.credentials()
        #expect(sts.calls.count == 2)
    }

    @Test func credentialSourceEnvironmentAndSelfReferenceSignWithTheirKeys() async throws {
        let sts = try FakeSTS()
        defer { sts.stop() }
        let home = try TemporaryAWSHome(
            config: """
                [profile from-env]
                role_arn = arn:aws:iam::1:role/a
                credential_source = Environment

                [profile self]
                role_arn = arn:aws:iam::1:role/b
                source_profile = self
                aws_access_key_id = AKIDSELF
                aws_secret_access_key = self-secret
                """)
        defer { home.remove() }
        let environment = home.environment([
            "AWS_ENDPOINT_URL_STS": sts.endpoint, "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
        ])
        _ = try await ProfileCredentialsProvider(profile: "from-env", environment: environment).credentials()
        _ = try await ProfileCredentialsProvider(profile: "self", environment: environment).credentials()
        #expect(sts.calls.map(\.signedBy) == ["AKIDENV", "AKIDSELF"])
    }

    @Test func roleProfilesThatCannotWorkSayWhy() async throws {
        let sts = try FakeSTS()
        defer { sts.stop() }
        let home = try TemporaryAWSHome(
            config: """
                [profile a]
                role_arn = arn:aws:iam::1:role/a
                source_profile = b

                [profile b]
                role_arn = arn:aws:iam::1:role/b
                source_profile = a

                [profile lonely]
                role_arn = arn:aws:iam::1:role/c

                [profile odd-source]
                role_arn = arn:aws:iam::1:role/d
                credential_source = Laptop

                [profile long]
                role_arn = arn:aws:iam::1:role/e
                credential_source = Environment
                duration_seconds = 99999999999999999999

                [profile dangling]
                role_arn = arn:aws:iam::1:role/f
                source_profile = nowhere
                """)
        defer { home.remove() }
        func message(_ profile: String) async -> String {
            do {
                _ = try await ProfileCredentialsProvider(profile: profile, environment: home.environment(["AWS_ENDPOINT_URL_STS": sts.endpoint]))
                    .credentials()
                return "no error"
            } catch let error as ConveyorError {
                #expect(error.code == .invalidConfiguration, "\(profile): \(error)")
                return error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(await message("a").contains(#""a" -> "b" -> "a": the source_profile chain is a cycle"#))
        #expect(await message("lonely").contains("no source_profile, credential_source or web_identity_token_file"))
        #expect(await message("odd-source").contains("not one of Environment, Ec2InstanceMetadata, EcsContainer"))
        #expect(await message("long").contains("duration_seconds must be a whole number of seconds from 900 to 43200"))
        #expect(await message("dangling").contains(#"its source_profile "nowhere" is not found"#))
        #expect(sts.calls.isEmpty, "no profile above may reach STS")
    }

    @Test(.timeLimit(.minutes(1))) func stsRefusalsNameTheRoleAndTheCode() async throws {
        let sts = try FakeSTS()
        defer { sts.stop() }
        sts.fail((403, "AccessDenied"))
        let home = try TemporaryAWSHome(
            config: "[profile app]\nrole_arn = arn:aws:iam::1:role/app\ncredential_source = Environment\n")
        defer { home.remove() }
        let provider = ProfileCredentialsProvider(profile: "app", environment: home.environment([
            "AWS_ENDPOINT_URL_STS": sts.endpoint, "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
        ]))
        let error = await #expect(throws: ConveyorError.self) { try await provider.credentials() }
        #expect(error?.code == .accessDenied)
        #expect(error?.message.contains(#"profile "app": STS AssumeRole for role arn:aws:iam::1:role/app failed: AccessDenied"#) == true, "\(String(describing: error))")
        #expect(error?.message.contains("env-secret") == false)
    }

    /// Expiring role credentials are refreshed once for many concurrent callers, and a failed refresh keeps the
    /// still-valid ones.
    @Test(.timeLimit(.minutes(1))) func concurrentCallersShareOneRefreshAndAFailedRefreshKeepsValidCredentials() async throws {
        let sts = try FakeSTS(lifetime: 600)
        defer { sts.stop() }
        let home = try TemporaryAWSHome()
        defer { home.remove() }
        try home.write("token", to: "token")
        let clock = CredentialsTestClock(Date())
        let chain = AWSCredentialsProviderChain.standard(environment: home.environment([
            "AWS_WEB_IDENTITY_TOKEN_FILE": home.path + "/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
            "AWS_ENDPOINT_URL_STS": sts.endpoint,
        ]))
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 { group.addTask { try await chain.credentials().accessKeyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(keys == ["ASIAFAKE1"])
        #expect(sts.calls.count == 1)
        // The provider's own cache under the chain's: due credentials and a failing STS keep the old ones.
        let provider = WebIdentityCredentialsProvider(
            environment: home.environment([
                "AWS_WEB_IDENTITY_TOKEN_FILE": home.path + "/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
                "AWS_ENDPOINT_URL_STS": sts.endpoint,
            ]),
            cache: clock.cacheConfiguration())
        let before = try await provider.credentials()
        sts.fail((500, "InternalFailure"))
        clock.advance(400)  // inside the 5-minute margin, still valid
        let kept = try await provider.credentials()
        #expect(kept == before)
        clock.advance(300)  // expired
        await #expect(throws: ConveyorError.self) { try await provider.credentials() }
    }

    @Test(.timeLimit(.minutes(1))) func ssoProfilesExchangeTheCachedToken() async throws {
        let portal = try LocalHTTPServer { request in
            guard request.path.hasPrefix("/federation/credentials?") else { return (404, "") }
            guard request.headers["x-amz-sso_bearer_token"] == "cached-access-token" else { return (401, #"{"message":"bad token"}"#) }
            let expiration = Int64(Date().addingTimeInterval(3600).timeIntervalSince1970 * 1000)
            return (200, #"{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":"sso-secret","sessionToken":"sso-token","expiration":\#(expiration)}}"#)
        }
        defer { portal.stop() }
        let home = try TemporaryAWSHome(
            config: """
                [profile dev]
                sso_session = corp
                sso_account_id = 123456789012
                sso_role_name = Worker

                [sso-session corp]
                sso_region = eu-west-1
                sso_start_url = https://corp.awsapps.com/start

                [profile legacy]
                sso_start_url = https://old.awsapps.com/start
                sso_region = us-east-1
                sso_account_id = 210987654321
                sso_role_name = Old
                """)
        defer { home.remove() }
        let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
        // The AWS CLI's cache file names: SHA-1 of the session name, or of the legacy start URL.
        try home.write(#"{"accessToken":"cached-access-token","expiresAt":"\#(future)"}"#, to: ".aws/sso/cache/\(sha1("corp")).json")
        try home.write(#"{"accessToken":"cached-access-token","expiresAt":"\#(future)"}"#, to: ".aws/sso/cache/\(sha1("https://old.awsapps.com/start")).json")
        let environment = home.environment(["AWS_ENDPOINT_URL_SSO": "http://127.0.0.1:\(portal.port)"])
        let dev = try await ProfileCredentialsProvider(profile: "dev", environment: environment).credentials()
        #expect(dev.accessKeyID == "ASIASSO")
        #expect(dev.sessionToken == "sso-token")
        #expect(dev.expiration.map { $0 > Date() } == true)
        _ = try await ProfileCredentialsProvider(profile: "legacy", environment: environment).credentials()
        #expect(portal.requests.map(\.path) == [
            "/federation/credentials?account_id=123456789012&role_name=Worker",
            "/federation/credentials?account_id=210987654321&role_name=Old",
        ])

        // An expired token, a missing one and a refused one each say to log in again.
        let past = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-60))
        try home.write(#"{"accessToken":"cached-access-token","expiresAt":"\#(past)"}"#, to: ".aws/sso/cache/\(sha1("corp")).json")
        let expired = await #expect(throws: ConveyorError.self) { try await ProfileCredentialsProvider(profile: "dev", environment: environment).credentials() }
        #expect(expired?.message.contains("expired") == true && expired?.message.contains("aws sso login --profile dev") == true, "\(String(describing: expired))")
        try FileManager.default.removeItem(atPath: home.path + "/.aws/sso/cache/\(sha1("corp")).json")
        let missing = await #expect(throws: ConveyorError.self) { try await ProfileCredentialsProvider(profile: "dev", environment: environment).credentials() }
        #expect(missing?.message.contains("aws sso login --profile dev") == true)
        try home.write(#"{"accessToken":"revoked","expiresAt":"\#(future)"}"#, to: ".aws/sso/cache/\(sha1("corp")).json")
        let refused = await #expect(throws: ConveyorError.self) { try await ProfileCredentialsProvider(profile: "dev", environment: environment).credentials() }
        #expect(refused?.message.contains("refused the cached token") == true)
        #expect(refused?.message.contains("revoked") == false, "the token never appears in an error")
    }

    /// The AWS CLI's cache file names (SHA-1 hex, computed outside Conveyor with Python's hashlib).
    private func sha1(_ text: String) -> String {
        ["corp": "ee0bfd2552fbd840c02cc48b6e823320543c450f",
         "https://old.awsapps.com/start": "33d5ca4bf3b1a62edb96b47f7c203034a43ac435"][text] ?? "unknown"
    }
}
