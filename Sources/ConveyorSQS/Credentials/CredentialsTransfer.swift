/// Runs `body` with a short-lived transfer loop, closed whether `body` returns or throws: credentials are fetched
/// rarely, so no loop (and no thread) is kept between fetches.
func withCredentialsTransfer<T: Sendable>(_ body: (CurlMultiLoop) async throws -> T) async throws -> T {
    let http = CurlMultiLoop(name: "conveyor.credentials")
    do {
        let result = try await body(http)
        await http.close()
        return result
    } catch {
        await http.close()
        throw error
    }
}
