import Foundation

/// AWS credentials: an access key pair and, for temporary credentials, a session token.
///
/// The description and the reflection (`dump`, debuggers) never show the secret or the token.
public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// The access key id (`AWS_ACCESS_KEY_ID`).
    public var accessKeyID: String
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`).
    public var secretAccessKey: String
    /// The session token of temporary credentials (`AWS_SESSION_TOKEN`).
    public var sessionToken: String?
    /// When temporary credentials expire (`nil`: long-lived).
    public var expiration: Date?

    /// Creates credentials.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    /// `AWSCredentials(accessKeyID: AKID..., secretAccessKey: <redacted>[, sessionToken: <redacted>])`: the secret
    /// and the token are never shown.
    public var description: String {
        "AWSCredentials(accessKeyID: \(accessKeyID), secretAccessKey: \(CredentialsRedaction.placeholder)\(sessionToken == nil ? "" : ", sessionToken: \(CredentialsRedaction.placeholder)"))"
    }

    /// The fields with the secret and the token redacted, for `dump` and debuggers.
    public var customMirror: Mirror {
        let token: String? = sessionToken.map { _ in CredentialsRedaction.placeholder }
        return Mirror(
            self,
            children: [
                "accessKeyID": accessKeyID,
                "secretAccessKey": CredentialsRedaction.placeholder,
                "sessionToken": token as Any,
                "expiration": expiration as Any,
            ],
            displayStyle: .struct
        )
    }
}
