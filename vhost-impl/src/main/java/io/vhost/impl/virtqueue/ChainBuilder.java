package io.vhost.impl.virtqueue;

import static io.vhost.impl.virtqueue.SplitRing.hex;

import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.memory.DirtyLogHolder;
import io.vhost.impl.memory.MemoryTable;

/**
 * Collects the buffers of one chain while a ring walks it: checks ordering (readable before writable), u32 length
 * totals, address wrap-around and that every byte is mapped, and splits buffers at region boundaries, writing the
 * pieces straight into a chain object of the queue's {@link ChainPool}. It remembers the region of the last piece and
 * tries it first for the next one, across chains (the buffers of a burst mostly share a region); a miss falls back to
 * the table's binary search, so every byte is still checked against the current table. One per queue. Internal; not
 * thread-safe.
 */
final class ChainBuilder {

    private final int queueIndex;
    private RingChain chain;
    private long[] pieceArray;
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

    /**
     * Starts a chain.
     *
     * @param memory the table to translate against
     * @param chainHead the head (split) or first slot (packed), for messages
     * @param target the object to fill, free for reuse (from the queue's {@link ChainPool})
     */
    void start(MemoryTable memory, int chainHead, RingChain target) {
        if (memory != table) {
            lastRegion = 0;
        }
        this.table = memory;
        this.chain = target;
        this.pieceArray = target.pieceStorage(3);
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
            long n = Math.min(len - done, table.region(region).guestBytesFrom(a));
            long[] p = pieceArray;
            if (3 * (pieces + 1) > p.length) {
                p = pieceArray = chain.pieceStorage(3 * (pieces + 1));
            }
            p[3 * pieces] = a;
            p[3 * pieces + 1] = n;
            p[3 * pieces + 2] = region;
            pieces++;
            if (!write) {
                readablePieces++;
            }
            done += n;
        }
    }

    /** Completes the chain in the object given to {@link #start}. */
    RingChain build(int id, DirtyLogHolder log, int descriptorCount) {
        RingChain c = chain;
        c.fill(table, id, readablePieces, pieces, readable, writable, log, descriptorCount);
        chain = null;
        pieceArray = null;
        return c;
    }
}
