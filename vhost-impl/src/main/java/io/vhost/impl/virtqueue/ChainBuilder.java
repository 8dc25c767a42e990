package io.vhost.impl.virtqueue;

import static io.vhost.impl.virtqueue.SplitRing.hex;

import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.memory.DirtyLogHolder;
import io.vhost.impl.memory.MemoryRegion;
import io.vhost.impl.memory.MemoryTable;
import java.util.Arrays;

/**
 * Collects the buffers of one chain while a ring walks it: checks ordering (readable before writable), u32 length
 * totals, address wrap-around and that every byte is mapped, and splits buffers at region boundaries. One per
 * queue; its scratch array grows by doubling and is reused. It remembers the region of the last piece and tries it
 * first for the next one, across chains (the buffers of a burst mostly share a region); a miss falls back to the
 * table's binary search, so every byte is still checked against the current table. Internal; not thread-safe.
 */
final class ChainBuilder {

    private final int queueIndex;
    private long[] scratch = new long[3 * 8];
    private MemoryTable table;
    private int head;
    private int pieces;
    private int readablePieces;
    private boolean sawWritable;
    /** The region of the previous piece, tried first for the next one (a region cache across chains). */
    private int lastRegion;
    private long readable;
    private long writable;

    ChainBuilder(int queueIndex) {
        this.queueIndex = queueIndex;
    }

    void start(MemoryTable memory, int chainHead) {
        if (memory != table) {
            lastRegion = 0;
        }
        this.table = memory;
        this.head = chainHead;
        pieces = 0;
        readablePieces = 0;
        sawWritable = false;
        readable = 0;
        writable = 0;
    }

    GuestMemoryException error(String what) {
        return new GuestMemoryException("queue " + queueIndex + ", head " + head + ": " + what);
    }

    void add(long addr, long len, boolean write, int index) throws GuestMemoryException {
        if (write) {
            sawWritable = true;
            writable += len;
            if (writable > 0xffffffffL) {
                throw error("writable length exceeds 2^32-1 bytes at descriptor " + index);
            }
        } else {
            if (sawWritable) {
                throw error("device-readable descriptor " + index + " follows a device-writable one");
            }
            readable += len;
            if (readable > 0xffffffffL) {
                throw error("readable length exceeds 2^32-1 bytes at descriptor " + index);
            }
        }
        if (len > 0 && Long.compareUnsigned(addr + len - 1, addr) < 0) {
            throw error("descriptor " + index + " address " + hex(addr) + " length " + len + " wraps around");
        }
        long done = 0;
        while (done < len) {
            long a = addr + done;
            int region = table.indexOfGuest(a, lastRegion);
            if (region < 0) {
                String why = "guest address " + hex(a) + " is not mapped";
                try {
                    table.checkRange(addr, len);
                } catch (GuestMemoryException e) {
                    why = e.getMessage();
                }
                throw error("descriptor " + index + ": " + why);
            }
            lastRegion = region;
            MemoryRegion r = table.region(region);
            long n = Math.min(len - done, r.sizeBytes() - (a - r.guestAddress()));
            if (3 * (pieces + 1) > scratch.length) {
                scratch = Arrays.copyOf(scratch, scratch.length * 2);
            }
            scratch[3 * pieces] = a;
            scratch[3 * pieces + 1] = n;
            scratch[3 * pieces + 2] = region;
            pieces++;
            if (!write) {
                readablePieces++;
            }
            done += n;
        }
    }

    RingChain build(Virtqueue queue, int id, DirtyLogHolder log, int descriptorCount) {
        return new RingChain(queue, table, id, Arrays.copyOf(scratch, 3 * pieces), readablePieces, pieces, readable,
                writable, log, descriptorCount);
    }
}
