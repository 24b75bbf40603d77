import Foundation
import Hummingbird

/// The dashboard's gate: the access token (when one is configured) on every request, the CSRF token on every
/// POST, and security headers on every response.
///
/// The access token comes as `Authorization: Bearer <token>`, as the cookie this middleware sets, or once as the
/// query parameter `token` (then the answer is a redirect to the same page without it, setting the cookie:
/// `HttpOnly`, `SameSite=Strict`). A POST carries the CSRF token as the form field `csrf` or the header
/// `X-CSRF-Token`; the pages embed it, and `GET api/session` returns it to scripts.
/// A header name (HTTPTypes' `HTTPField.Name`, reached through the type Hummingbird exports).
typealias HeaderName = HTTPFields.Element.Name

struct DashboardAccess<Context: RequestContext>: RouterMiddleware {
    static var cookieName: String { "conveyor_dashboard_token" }
    static var csrfHeader: HeaderName { HeaderName("X-CSRF-Token")! }
    /// Largest form body read (the redrive form lists at most a page of ids).
    static var maximumFormBytes: Int { 1 << 20 }

    let token: String?
    /// Host names accepted without a token besides the loopback ones (``Dashboard/Configuration/allowedHosts``).
    let allowedHosts: [String]
    let csrfToken: String
    /// Where the dashboard is mounted, `""` or `"/path"`.
    let base: String
    var cookiePath: String { base.isEmpty ? "/" : base }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await checked(request, context: context, next: next)
        } catch let error as HTTPError where request.headers[.accept]?.contains("text/html") == true {
            // A browser gets the reason on a page of the dashboard, with a way back.
            response = errorPage(error)
        }
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HeaderName("Referrer-Policy")!] = "no-referrer"
        response.headers[HeaderName("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    private func checked(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        // Without a token, only a client that asked for this machine by a loopback name gets in: a web page that
        // rebinds its own host name to 127.0.0.1 (DNS rebinding) sends its own name as Host and is refused.
        if token == nil, !Self.isAllowedHost(request.head.authority, allowed: allowedHosts) {
            return Self.refusal(.misdirectedRequest, "this dashboard answers requests for localhost only; give it a token (or list the host in allowedHosts) to reach it by another name")
        }
        // A form posted by another site's page is refused whatever it carries.
        if request.method == .post, let origin = request.headers[HeaderName("Origin")!], origin != "null",
           let originHost = URLComponents(string: origin).map({ components in
               [components.host, components.port.map(String.init)].compactMap { $0 }.joined(separator: ":")
           }), let host = request.head.authority, originHost.lowercased() != host.lowercased() {
            return Self.refusal(.forbidden, "a request from another site (Origin \(origin)) is refused")
        }
        if let token {
            let query = FormFields(query: request.uri.query)
            if let offered = query.first("token") {
                guard Self.same(offered, token) else { return Self.refusal(.unauthorized, "wrong dashboard token") }
                // Once from the URL, then from the cookie: the token leaves the address bar and the history.
                var response = Response(status: .seeOther, headers: [.location: FormFields.path(request.uri.path, without: "token", query: request.uri.query)])
                response.setCookie(Cookie(name: Self.cookieName, value: token, path: cookiePath, httpOnly: true, sameSite: .strict))
                return response
            }
            let bearer = request.headers[.authorization].flatMap { value -> String? in
                value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces) : nil
            }
            let presented = bearer ?? request.cookies[Self.cookieName]?.value
            guard let presented, Self.same(presented, token) else {
                return Self.refusal(.unauthorized, "this dashboard needs its token: open it once with ?token=<token>, or send Authorization: Bearer <token>")
            }
        }
        if request.method == .post {
            var offered = request.headers[Self.csrfHeader]
            if offered == nil {
                let body = try await request.collectBody(upTo: Self.maximumFormBytes)
                offered = FormFields(body: String(buffer: body)).first("csrf")
            }
            guard let offered, Self.same(offered, csrfToken) else {
                return Self.refusal(.forbidden, "missing or wrong CSRF token: reload the page and try again")
            }
        } else if request.method != .get && request.method != .head {
            return Self.refusal(.methodNotAllowed, "the dashboard answers GET, HEAD and POST only")
        }
        return try await next(request, context)
    }

    /// `error`'s message on a dashboard page (escaped like every value), with its status.
    func errorPage(_ error: HTTPError) -> Response {
        let values: [String: Any] = [
            "base": base, "csrf": csrfToken, "pageTitle": "\(error.status.code) \(error.status.reasonPhrase)",
            "text": error.body ?? error.status.reasonPhrase, "style": "error", "back": base.isEmpty ? "/" : base,
        ]
        guard case .success(let library) = DashboardTemplates.library, let html = library.render(values, withTemplate: "message") else {
            return Self.refusal(error.status, error.body ?? error.status.reasonPhrase)
        }
        return Response(status: error.status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// Whether `authority` (a Host header: name or address, with or without a port) names this machine's loopback
    /// interface, or one of `allowed`.
    static func isAllowedHost(_ authority: String?, allowed: [String]) -> Bool {
        guard var host = authority?.lowercased(), !host.isEmpty else { return false }
        if host.hasPrefix("[") {
            host = String(host.dropFirst().prefix { $0 != "]" })
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            host = String(host[..<colon])
        }
        if allowed.contains(where: { $0.lowercased() == host }) { return true }
        return host == "localhost" || DashboardServer.Configuration(host: host).isLoopback
    }

    /// Compares in time that does not depend on where the strings differ.
    static func same(_ offered: String, _ expected: String) -> Bool {
        let a = Array(offered.utf8), b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<b.count { difference |= (index < a.count ? a[index] : 0) ^ b[index] }
        return difference == 0
    }

    static func refusal(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }

}
