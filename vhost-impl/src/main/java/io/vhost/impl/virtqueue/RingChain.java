package io.vhost.impl.virtqueue;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.memory.DirtyLogHolder;
import io.vhost.impl.memory.MemoryRegion;
import io.vhost.impl.memory.MemoryTable;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A validated descriptor chain of a split or packed ring. Buffers are stored as pieces that each lie inside one memory region:
 * {@code (guest address, length, region index)} triples in one {@code long[]}, readable pieces first. Reads and writes
 * allocate nothing.
 *
 * <p>Chain objects come from their queue's {@link ChainPool}: once the device returned a chain, its object (and its
 * piece array, which only grows) is filled again for a later chain, so that popping allocates nothing in the
 * steady state. {@link ChainBuilder} fills it.
 *
 * <p>Not thread-safe. Valid while the memory table it was popped from is held, until it is returned.
 */
public final class RingChain implements DescriptorChain {

    private final Virtqueue queue;
    /** Between {@link ChainPool#take} and {@link ChainPool#give}. */
    private boolean handedOut;
    /** Split rings: more chains of this head the device holds, popped while this one was held (a faulty driver). */
    private int alsoHeld;
    private int descriptorCount;
    private MemoryTable table;
    private int head;
    private long[] pieces = new long[3];
    private int readablePieces;
    private int totalPieces;
    private long readableBytes;
    private long writableBytes;
    private DirtyLogHolder log;
    /** Packed rings with inflight tracking: the chain's head entry in the inflight region; -1 = not tracked. */
    private int inflightEntry = -1;

    RingChain(Virtqueue queue) {
        this.queue = queue;
    }

    /** The piece array for the builder, at least {@code longs} long (grown by doubling, contents kept). */
    long[] pieceStorage(int longs) {
        if (pieces.length < longs) {
            pieces = Arrays.copyOf(pieces, Math.max(longs, 2 * pieces.length));
        }
        return pieces;
    }

    /** Makes this object the chain just walked; its pieces are already in {@link #pieceStorage}. */
    void fill(MemoryTable memory, int id, int readable, int total, long readableLength, long writableLength,
              DirtyLogHolder dirtyLog, int descriptors) {
        this.table = memory;
        this.head = id;
        this.readablePieces = readable;
        this.totalPieces = total;
        this.readableBytes = readableLength;
        this.writableBytes = writableLength;
        this.log = dirtyLog;
        this.descriptorCount = descriptors;
        this.inflightEntry = -1;
    }

    boolean handedOut() {
        return handedOut;
    }

    void handedOut(boolean out) {
        this.handedOut = out;
    }

    int alsoHeld() {
        return alsoHeld;
    }

    void alsoHeld(int delta) {
        alsoHeld += delta;
    }

    Virtqueue queue() {
        return queue;
    }

    int inflightEntry() {
        return inflightEntry;
    }

    void inflightEntry(int entry) {
        this.inflightEntry = entry;
    }

    /** Ring slots the chain occupied (packed rings skip this many when returning it); 1 for an indirect chain. */
    int descriptorCount() {
        return descriptorCount;
    }

    /**
     * {@inheritDoc} For packed rings this is the buffer id.
     */
    @Override
    public int headIndex() {
        return head;
    }

    @Override
    public long readableBytes() {
        return readableBytes;
    }

    @Override
    public long writableBytes() {
        return writableBytes;
    }

    /**
     * Returns the number of region-clamped pieces of the readable part.
     *
     * @return the readable piece count
     */
    public int readablePieceCount() {
        return readablePieces;
    }

    /**
     * Returns the number of region-clamped pieces of the writable part.
     *
     * @return the writable piece count
     */
    public int writablePieceCount() {
        return totalPieces - readablePieces;
    }

    /**
     * Returns the guest address of a piece (readable pieces first, then writable).
     *
     * @param piece {@code 0 <= piece < readablePieceCount() + writablePieceCount()}
     * @return its guest-physical address
     */
    public long pieceAddress(int piece) {
        return pieces[checkPiece(piece) * 3];
    }

    /**
     * Returns the length of a piece.
     *
     * @param piece the piece index
     * @return its length in bytes
     */
    public long pieceLength(int piece) {
        return pieces[checkPiece(piece) * 3 + 1];
    }

    /**
     * Returns a piece as a segment of the mapped guest memory (allocates the slice).
     *
     * @param piece the piece index
     * @return the bytes of the piece
     */
    public MemorySegment pieceSegment(int piece) {
        int p = checkPiece(piece) * 3;
        MemoryRegion r = table.region((int) pieces[p + 2]);
        return r.mapping().asSlice(r.offsetInMapping() + (pieces[p] - r.guestAddress()), pieces[p + 1]);
    }

    private int checkPiece(int piece) {
        if (piece < 0 || piece >= totalPieces) {
            throw new IndexOutOfBoundsException("piece " + piece + " of chain with " + totalPieces + " pieces");
        }
        return piece;
    }

    @Override
    public void read(long offset, MemorySegment destination) throws GuestMemoryException {
        long n = destination.byteSize();
        if (offset < 0 || offset > readableBytes - n) {
            throw new IndexOutOfBoundsException("read of " + n + " bytes at offset " + offset + " of chain head "
                    + head + " with " + readableBytes + " readable bytes");
        }
        transfer(0, readablePieces, offset, destination, false);
    }

    @Override
    public void write(long offset, MemorySegment source) throws GuestMemoryException {
        long n = source.byteSize();
        if (offset < 0 || offset > writableBytes - n) {
            throw new IndexOutOfBoundsException("write of " + n + " bytes at offset " + offset + " of chain head "
                    + head + " with " + writableBytes + " writable bytes");
        }
        transfer(readablePieces, totalPieces, offset, source, true);
    }

    private void transfer(int from, int to, long offset, MemorySegment other, boolean toGuest)
            throws GuestMemoryException {
        long remaining = other.byteSize();
        long done = 0;
        for (int i = from; i < to && remaining > 0; i++) {
            long gpa = pieces[i * 3];
            long len = pieces[i * 3 + 1];
            if (offset >= len) {
                offset -= len;
                continue;
            }
            long n = Math.min(len - offset, remaining);
            MemoryRegion r = table.region((int) pieces[i * 3 + 2]);
            long at = r.offsetInMapping() + (gpa - r.guestAddress()) + offset;
            try {
                if (toGuest) {
                    MemorySegment.copy(other, done, r.mapping(), at, n);
                } else {
                    MemorySegment.copy(r.mapping(), at, other, done, n);
                }
            } catch (IllegalStateException e) {
                throw new GuestMemoryException("queue " + queue.queueIndex() + ", head " + head + ": guest memory at "
                        + SplitRing.hex(gpa + offset) + " is no longer mapped (" + e.getMessage() + ")", e);
            }
            if (toGuest && log != null) {
                log.mark(gpa + offset, n);
            }
            done += n;
            remaining -= n;
            offset = 0;
        }
    }

    @Override
    public String toString() {
        return "RingChain[queue " + queue.queueIndex() + ", head " + head + ", readable " + readableBytes
                + ", writable " + writableBytes + "]";
    }
}
