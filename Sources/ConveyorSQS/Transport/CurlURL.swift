import CCurl

/// A URL as libcurl's own parser reads it, so that a check on its host is a check on the host libcurl connects to.
struct CurlURL: Sendable, Equatable {
    /// The scheme, lower-cased (`http`, `https`).
    var scheme: String
    /// The host as libcurl reads it, lower-cased: a name, a dotted IPv4 address, or an IPv6 address in brackets.
    var host: String

    /// Parses `url` with `curl_url_set`; nil when libcurl rejects it (no scheme, bad characters, no host).
    init?(_ url: String) {
        guard let handle = curl_url() else { return nil }
        defer { curl_url_cleanup(handle) }
        guard curl_url_set(handle, CURLUPART_URL, url, 0) == CURLUE_OK else { return nil }
        func part(_ which: CURLUPart) -> String? {
            var pointer: UnsafeMutablePointer<CChar>?
            guard curl_url_get(handle, which, &pointer, 0) == CURLUE_OK, let pointer else { return nil }
            defer { curl_free(pointer) }
            return String(cString: pointer)
        }
        guard let scheme = part(CURLUPART_SCHEME), let host = part(CURLUPART_HOST), !host.isEmpty else { return nil }
        self.scheme = scheme.lowercased()
        self.host = host.lowercased()
    }
}
