package io.vhost.impl.virtqueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * The driver (guest) side of a packed ring for tests, written from virtio 1.1 §2.8 (not from our device code): makes
 * chains available at its avail position with its wrap counter (head flags last), and reaps used descriptors at its
 * used position, skipping as many slots as the buffer had descriptors. Not thread-safe. Does not own the segment.
 */
public final class PackedDriver {

    private static final int NEXT = 1;
    private static final int WRITE = 2;
    private static final int AVAIL = 1 << 7;
    private static final int USED = 1 << 15;

    private final int size;
    private final MemorySegment desc;
    private final Map<Integer, Integer> slotsOfId = new HashMap<>();
    private int availIdx;
    private boolean availWrap = true;
    private int usedIdx;
    private boolean usedWrap = true;

    /**
     * @param size the queue size
     * @param desc the descriptor ring, {@code 16 * size} bytes
     */
    public PackedDriver(int size, MemorySegment desc) {
        this.size = size;
        this.desc = desc;
        desc.asSlice(0, 16L * size).fill((byte) 0);
    }

    /**
     * Makes a chain of {@code readable} device-readable buffers and one device-writable buffer available.
     *
     * @param id the buffer id
     * @param readable device-readable buffers: guest address and length pairs
     * @param writeAddress the device-writable buffer
     * @param writeLength its length
     * @return the slot of the chain's first descriptor
     */
    public int post(int id, long[][] readable, long writeAddress, int writeLength) {
        int n = readable.length + 1;
        int first = availIdx;
        boolean firstWrap = availWrap;
        int headFlags = 0;
        for (int i = 0; i < n; i++) {
            boolean last = i == n - 1;
            long addr = last ? writeAddress : readable[i][0];
            int len = last ? writeLength : (int) readable[i][1];
            int flags = (last ? WRITE : NEXT) | (availWrap ? AVAIL : USED);
            long off = 16L * availIdx;
            desc.set(ValueLayout.JAVA_LONG_UNALIGNED, off, addr);
            desc.set(ValueLayout.JAVA_INT_UNALIGNED, off + 8, len);
            desc.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 12, (short) id);
            if (i == 0) {
                headFlags = flags;
            } else {
                desc.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 14, (short) flags);
            }
            if (++availIdx == size) {
                availIdx = 0;
                availWrap = !availWrap;
            }
        }
        SplitRing.IDX.setRelease(desc, 16L * first + 14, (short) headFlags); // the head last: publishes the chain
        slotsOfId.put(id, n);
        return first | (firstWrap ? 0x8000 : 0);
    }

    /**
     * Reaps the next used descriptor, if the device wrote one.
     *
     * @return the buffer id, or -1 if none is used
     * @throws IllegalStateException if the id is not one the driver made available
     */
    public int reap() {
        long off = 16L * usedIdx;
        int flags = Short.toUnsignedInt((short) SplitRing.IDX.getAcquire(desc, off + 14));
        boolean avail = (flags & AVAIL) != 0;
        boolean used = (flags & USED) != 0;
        if (avail != usedWrap || used != usedWrap) {
            return -1;
        }
        int id = Short.toUnsignedInt(desc.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 12));
        Integer n = slotsOfId.remove(id);
        if (n == null) {
            throw new IllegalStateException("the device used buffer id " + id + ", which is not available");
        }
        usedIdx += n;
        if (usedIdx >= size) {
            usedIdx -= size;
            usedWrap = !usedWrap;
        }
        return id;
    }

    /**
     * Returns the driver's avail position.
     *
     * @return {@code index | wrap << 15}
     */
    public int availPosition() {
        return availIdx | (availWrap ? 0x8000 : 0);
    }

    /**
     * Returns the number of buffers made available and not yet reaped.
     *
     * @return the outstanding buffer count
     */
    public int outstanding() {
        return slotsOfId.size();
    }
}
