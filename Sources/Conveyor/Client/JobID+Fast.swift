#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension JobID {
    /// A random UUID v4 in lowercase text, like ``JobID/random()``, built without Foundation's `UUID` (which reads
    /// the random device on every call on Linux).
    static func fastRandom() -> JobID {
        var generator = SystemRandomNumberGenerator()
        return fromRandomBits(high: generator.next(), low: generator.next())
    }

    /// `count` random UUID v4 ids, reading the random bytes for all of them at once (one `getrandom` call on
    /// Linux instead of two per id).
    static func fastRandom(count: Int) -> [JobID] {
        var bits = [UInt64](repeating: 0, count: 2 * count)
        bits.withUnsafeMutableBytes { raw in
            var filled = 0
            #if canImport(Glibc)
            // Glibc's module does not export getrandom(2); reading /dev/urandom takes the same kernel path.
            let fd = JobID.urandom
            while fd >= 0, filled < raw.count {
                let n = read(fd, raw.baseAddress! + filled, raw.count - filled)
                if n <= 0 { break }
                filled += n
            }
            #elseif canImport(Darwin)
            arc4random_buf(raw.baseAddress!, raw.count)
            filled = raw.count
            #endif
            if filled < raw.count {
                var generator = SystemRandomNumberGenerator()
                for i in stride(from: filled & ~7, to: raw.count, by: 8) {
                    raw.storeBytes(of: generator.next() as UInt64, toByteOffset: i, as: UInt64.self)
                }
            }
        }
        var ids: [JobID] = []
        ids.reserveCapacity(count)
        for i in 0..<count { ids.append(fromRandomBits(high: bits[2 * i], low: bits[2 * i + 1])) }
        return ids
    }

    #if canImport(Glibc)
    /// Opened once; -1 when unavailable (then `SystemRandomNumberGenerator` fills in).
    private static let urandom: Int32 = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
    #endif

    private static func fromRandomBits(high: UInt64, low: UInt64) -> JobID {
        var high = high
        var low = low
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // variant 10
        let hex: StaticString = "0123456789abcdef"
        let text = String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            func put(_ value: UInt64, nibbles: Int) {
                var shift = (nibbles - 1) * 4
                while shift >= 0 {
                    buffer[index] = hex.utf8Start[Int((value >> UInt64(shift)) & 0xF)]
                    index += 1
                    shift -= 4
                }
            }
            put(high >> 32, nibbles: 8)
            buffer[index] = UInt8(ascii: "-"); index += 1
            put((high >> 16) & 0xFFFF, nibbles: 4)
            buffer[index] = UInt8(ascii: "-"); index += 1
            put(high & 0xFFFF, nibbles: 4)
            buffer[index] = UInt8(ascii: "-"); index += 1
            put(low >> 48, nibbles: 4)
            buffer[index] = UInt8(ascii: "-"); index += 1
            put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            return index
        }
        return JobID(text)
    }
}
