extension JobID {
    /// A random UUID v4 in lowercase text, like ``JobID/random()``, built without Foundation's `UUID` (which reads
    /// the random device on every call on Linux).
    static func fastRandom() -> JobID {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
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
