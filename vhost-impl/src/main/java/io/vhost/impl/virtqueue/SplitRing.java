package io.vhost.impl.virtqueue;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.lang.invoke.VarHandle;

/** Split ring layout constants and helpers shared by the device and driver sides (virtio 1.x §2.7). Internal. */
final class SplitRing {
    private SplitRing() {}

    static final int DESC_F_NEXT = 1;
    static final int DESC_F_WRITE = 2;
    static final int DESC_F_INDIRECT = 4;
    static final int AVAIL_F_NO_INTERRUPT = 1;
    static final int USED_F_NO_NOTIFY = 1;

    static final long DESC_BYTES = 16;
    static final int MAX_QUEUE_SIZE = 32768;

    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    /**
     * Eight little-endian bytes (virtio 1.x byte order), for fields read or written together in one access: a
     * descriptor's {@code addr}, or its {@code len}, {@code flags} and {@code next}; a used element's {@code id} and
     * {@code len}.
     */
    static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Aligned 16-bit access with acquire/release modes, for the avail and used indices. */
    static final VarHandle IDX = ValueLayout.JAVA_SHORT.varHandle();

    static long descTableBytes(int size) {
        return DESC_BYTES * size;
    }

    /** flags, idx, ring[size], used_event. */
    static long availBytes(int size) {
        return 6 + 2L * size;
    }

    /** flags, idx, ring[size] of {id u32, len u32}, avail_event. */
    static long usedBytes(int size) {
        return 6 + 8L * size;
    }

    static long usedEventOffset(int size) {
        return 4 + 2L * size;
    }

    static long availEventOffset(int size) {
        return 4 + 8L * size;
    }

    /** virtio's vring_need_event, in 16-bit wrap-around arithmetic. */
    static boolean needEvent(int eventIdx, int newIdx, int oldIdx) {
        return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
    }

    static void checkQueueSize(int size) {
        if (size < 1 || size > MAX_QUEUE_SIZE || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("queue size " + size + " is not a power of two in 1.."
                    + MAX_QUEUE_SIZE);
        }
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
