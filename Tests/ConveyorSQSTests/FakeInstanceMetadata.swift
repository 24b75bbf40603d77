extension LocalHTTPServer {
    /// A fake EC2 instance metadata service (IMDSv2): a session token for `PUT /latest/api/token`, the role
    /// `worker-role`, and `credentials()` as that role's credentials document; 404 for anything else. The same
    /// fake is written out in CredentialsRefreshTests and CredentialsProxyTests, which can use this one instead.
    static func fakeInstanceMetadata(credentials: @escaping @Sendable () -> String) throws -> LocalHTTPServer {
        try LocalHTTPServer { request in
            switch (request.method, request.path) {
            case ("PUT", "/latest/api/token"): (200, "imds-token")
            case ("GET", "/latest/meta-data/iam/security-credentials/"): (200, "worker-role")
            case ("GET", "/latest/meta-data/iam/security-credentials/worker-role"): (200, credentials())
            default: (404, "")
            }
        }
    }
}
