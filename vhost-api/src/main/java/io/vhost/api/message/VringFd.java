package io.vhost.api.message;

/**
 * The u64 of {@code SET_VRING_KICK}, {@code SET_VRING_CALL} and {@code SET_VRING_ERR}: bits 0-7 the ring index, bit
 * 8 set when no fd is attached (then the back-end polls, or the notification is unused). Other bits are reserved.
 *
 * @param index the ring index, 0..255
 * @param noFd {@code true} when the message carries no fd
 */
public record VringFd(int index, boolean noFd) {

    /** Bits 0-7: the index. */
    public static final long INDEX_MASK = 0xFF;
    /** Bit 8: no fd is attached. */
    public static final long NOFD_MASK = 0x100;

    /** Checks the index fits bits 0-7. */
    public VringFd {
        Check.u8("vring index", index);
    }

    /**
     * Decodes the u64 value.
     *
     * @param value the wire value
     * @return the record
     * @throws IllegalArgumentException if reserved bits 9-63 are set
     */
    public static VringFd fromWire(long value) {
        if ((value & ~(INDEX_MASK | NOFD_MASK)) != 0) {
            throw new IllegalArgumentException("vring fd u64 " + Check.hex(value) + " has reserved bits set (known: 0x1ff)");
        }
        return new VringFd((int) (value & INDEX_MASK), (value & NOFD_MASK) != 0);
    }

    /**
     * Encodes the u64 value.
     *
     * @return index | (noFd ? 0x100 : 0)
     */
    public long toWire() {
        return index | (noFd ? NOFD_MASK : 0);
    }
}
