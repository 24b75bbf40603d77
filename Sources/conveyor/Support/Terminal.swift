#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Foundation

/// Output helpers: progress lines only on a terminal, quiet when piped.
enum Terminal {
    /// True when standard error is a terminal (progress goes there).
    static let isInteractive: Bool = isatty(2) != 0

    /// Rewrites the current progress line on standard error, on a terminal only.
    static func progress(_ text: String) {
        guard isInteractive else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(text)".utf8))
    }

    /// Ends a progress line, on a terminal only.
    static func endProgress() {
        guard isInteractive else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    /// Writes `text` to standard output without a newline and flushes it.
    static func writeOut(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes a line to standard error.
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Confirmation for a destructive command: on a terminal, asks `question` and requires the queue `name` to be typed
    /// (exit 1 otherwise); without a terminal on standard input, refuses with a usage error (exit 2) that says
    /// to pass --yes.
    static func confirmByTyping(_ name: String, question: String, refusal: String) async throws {
        guard isatty(0) != 0 else {
            throw ValidationError("refusing to \(refusal) without confirmation: pass --yes")
        }
        error("\(question) Type the queue name to confirm:")
        guard await readLine() == name else {
            error("not confirmed; nothing deleted")
            throw ExitCode.failure
        }
    }

    /// Reads a line from standard input (without its newline; `nil` at end of input) on a dedicated thread, so
    /// that waiting for the user does not block a thread of Swift's cooperative pool.
    static func readLine() async -> String? {
        await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let reader = Thread {
                continuation.resume(returning: Swift.readLine(strippingNewline: true))
            }
            reader.name = "conveyor.stdin"
            reader.start()
        }
    }
}

/// Process resource usage, for the benchmark.
enum ResourceUsage {
    /// User + system CPU seconds used by this process so far.
    static func cpuSeconds() -> Double {
        let usage = current()
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return user + system
    }

    /// Peak resident set size of this process, in bytes.
    static func peakRSSBytes() -> Int {
        let usage = current()
        #if canImport(Darwin)
        return Int(usage.ru_maxrss)
        #else
        return Int(usage.ru_maxrss) * 1024
        #endif
    }

    private static func current() -> rusage {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return usage
    }

    /// Wall-clock nanoseconds since the Unix epoch (shared by producer and worker in one process).
    static func wallNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
