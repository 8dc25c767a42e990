package io.vhost.api.message;

import java.util.Arrays;
import java.util.Objects;

/**
 * The virtio device config space payload of {@code GET_CONFIG} (request and reply) and {@code SET_CONFIG}: offset
 * u32, size u32, flags u32, then {@code size} bytes. A GET_CONFIG request carries {@code size} zero bytes.
 *
 * @param offset offset in the device config space (u32)
 * @param flags {@link #FLAG_WRITE} (0) or {@link #FLAG_MIGRATION} (1), as on the wire
 * @param bytes the data; the wire size is its length (at most {@link #MAX_BYTES})
 */
public record ConfigSpace(long offset, long flags, byte[] bytes) {

    /** Flags value 0: a front-end write to writable fields. */
    public static final long FLAG_WRITE = 0;
    /** Flags value 1: a front-end write during live migration (may touch read-only fields). */
    public static final long FLAG_MIGRATION = 1;
    /** The largest config access this library accepts (rust-vmm's bound; 256 is the usual device size). */
    public static final int MAX_BYTES = 4096;

    /** Checks ranges, flags and that offset + size stays within {@link #MAX_BYTES}; copies the bytes. */
    public ConfigSpace {
        Check.u32("config offset", offset);
        Objects.requireNonNull(bytes, "bytes");
        if (flags != FLAG_WRITE && flags != FLAG_MIGRATION) {
            throw new IllegalArgumentException("config flags " + flags + " is neither 0 (write) nor 1 (migration)");
        }
        if (offset + bytes.length > MAX_BYTES) {
            throw new IllegalArgumentException("config offset " + offset + " + size " + bytes.length + " exceeds "
                    + MAX_BYTES);
        }
        bytes = bytes.clone();
    }

    /**
     * Returns a copy of the data.
     *
     * @return the bytes
     */
    @Override
    public byte[] bytes() {
        return bytes.clone();
    }

    /**
     * Returns the data size, the wire {@code size} field.
     *
     * @return the number of bytes
     */
    public int sizeBytes() {
        return bytes.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ConfigSpace c && c.offset == offset && c.flags == flags && Arrays.equals(c.bytes, bytes);
    }

    @Override
    public int hashCode() {
        return Objects.hash(offset, flags, Arrays.hashCode(bytes));
    }

    @Override
    public String toString() {
        return "ConfigSpace[offset=" + offset + ", size=" + bytes.length + ", flags=" + flags + "]";
    }
}
