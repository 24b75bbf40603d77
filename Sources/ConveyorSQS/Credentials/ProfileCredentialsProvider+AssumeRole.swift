import Conveyor
import Foundation

extension ProfileCredentialsProvider {
    /// The values `credential_source` may take, as the AWS SDKs define them.
    static let credentialSources = ["Environment", "Ec2InstanceMetadata", "EcsContainer"]

    /// Credentials of `role` for profile `name`: with its web identity token, or signed with the credentials of its
    /// `source_profile` (resolved recursively) or `credential_source`.
    func assumeRole(_ role: String, profile name: String, settings: [String: String], files: Files, chain: [String]) async throws -> AWSCredentials {
        let path = (chain + [name]).map { "\"\($0)\"" }.joined(separator: " -> ")
        let label = chain.isEmpty ? "profile \"\(name)\"" : "profile \(path)"
        let sessionName = settings["role_session_name"].flatMap { $0.isEmpty ? nil : $0 } ?? WebIdentity.defaultSessionName()
        let duration = try durationSeconds(settings["duration_seconds"], label: label)
        let sts = STSClient(environment: environment, profileRegion: files.settingsIfPresent(of: profile)?["region"])

        if let tokenFile = settings["web_identity_token_file"], !tokenFile.isEmpty {
            return try await WebIdentity.assume(tokenFile: tokenFile, role: role, sessionName: sessionName, sts: sts, source: label)
        }

        let sourceProfile = settings["source_profile"].flatMap { $0.isEmpty ? nil : $0 }
        let credentialSource = settings["credential_source"].flatMap { $0.isEmpty ? nil : $0 }
        let source: AWSCredentials
        switch (sourceProfile, credentialSource) {
        case (.some, .some):
            throw ConveyorError(.invalidConfiguration, "\(label): has both source_profile and credential_source; keep one")
        case (nil, nil):
            throw ConveyorError(
                .invalidConfiguration,
                "\(label): has role_arn but no source_profile, credential_source or web_identity_token_file; set one to say which credentials assume the role")
        case (let next?, nil):
            if next == name {
                // A profile may assume its role with its own static keys.
                source = try Self.staticCredentials(settings, profile: name)
            } else if chain.contains(next) {
                throw ConveyorError(
                    .invalidConfiguration, "profile \(path) -> \"\(next)\": the source_profile chain is a cycle; end it with a profile that has keys")
            } else {
                let nextSettings: [String: String]
                do {
                    nextSettings = try files.settings(of: next)
                } catch {
                    throw ConveyorError(.invalidConfiguration, "\(label): its source_profile \"\(next)\" is not found in \(files.credentialsFile) or \(files.configFile)")
                }
                source = try await resolve(next, settings: nextSettings, files: files, chain: chain + [name])
            }
        case (nil, let kind?):
            source = try await credentials(from: kind, label: label)
        }

        let externalID = settings["external_id"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            return try await withCredentialsTransfer { http in
                try await sts.assumeRole(
                    role, sessionName: sessionName, externalID: externalID, durationSeconds: duration, source: source, http: http
                ).credentials
            }
        } catch var error as ConveyorError {
            error.message = "\(label): " + error.message
            throw error
        }
    }

    /// `duration_seconds` as STS accepts it (900 to 43,200), or `nil` when not set.
    private func durationSeconds(_ text: String?, label: String) throws(ConveyorError) -> Int? {
        guard let text, !text.isEmpty else { return nil }
        guard let value = Int(text), (900...43_200).contains(value) else {
            throw ConveyorError(.invalidConfiguration, "\(label): duration_seconds must be a whole number of seconds from 900 to 43200")
        }
        return value
    }

    /// The credentials `credential_source` names.
    private func credentials(from kind: String, label: String) async throws -> AWSCredentials {
        let provider: any AWSCredentialsProvider
        switch kind {
        case "Environment": provider = EnvironmentCredentialsProvider(environment: environment)
        case "Ec2InstanceMetadata": provider = InstanceMetadataCredentialsProvider(environment: environment)
        case "EcsContainer": provider = ContainerCredentialsProvider(environment: environment)
        default:
            throw ConveyorError(
                .invalidConfiguration,
                "\(label): credential_source \"\(kind.prefix(40))\" is not one of \(Self.credentialSources.joined(separator: ", "))")
        }
        do {
            return try await provider.credentials()
        } catch var error as ConveyorError {
            error.message = "\(label): credential_source \(kind): " + error.message
            throw error
        }
    }
}

extension ProfileCredentialsProvider.Files {
    /// The profile's settings, or `nil` when neither file has it.
    func settingsIfPresent(of profile: String) -> [String: String]? {
        try? settings(of: profile)
    }
}
