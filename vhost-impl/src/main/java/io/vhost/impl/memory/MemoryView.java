package io.vhost.impl.memory;

import io.vhost.api.device.GuestMemory;
import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemorySegment;

/**
 * A held reference to one published {@link MemoryTable}: the table's mappings stay valid until {@link #close()}.
 * Implements the device-facing {@link GuestMemory}; writes are marked in the dirty log when one is set with
 * {@link #withDirtyLog}.
 *
 * <p>Not thread-safe to close concurrently with use; use one view per worker.
 */
public final class MemoryView implements GuestMemory, AutoCloseable {

    private final Epoch<MemoryTable> epoch;
    private final SharedGuestMemory owner;
    private DirtyLogHolder log;
    private boolean closed;

    MemoryView(Epoch<MemoryTable> epoch, SharedGuestMemory owner) {
        this.epoch = epoch;
        this.owner = owner;
    }

    /**
     * Makes {@link #write} mark written pages in this log when logging is active.
     *
     * @param dirtyLog the session's log holder, or {@code null}
     * @return this view
     */
    public MemoryView withDirtyLog(DirtyLogHolder dirtyLog) {
        this.log = dirtyLog;
        return this;
    }

    /**
     * Returns the held table.
     *
     * @return the table
     * @throws IllegalStateException if the view is closed
     */
    public MemoryTable table() {
        if (closed) {
            throw new IllegalStateException("memory view of epoch " + epoch.number + " is closed");
        }
        return epoch.value;
    }

    /**
     * Returns the epoch number of the held table.
     *
     * @return the epoch
     */
    public long epoch() {
        return epoch.number;
    }

    /**
     * Tells whether a newer table was published since this view was taken.
     *
     * @return {@code true} if the caller should close this view and acquire again
     */
    public boolean isStale() {
        return owner.epoch() != epoch.number;
    }

    @Override
    public void read(long guestAddress, MemorySegment destination) throws GuestMemoryException {
        table().read(guestAddress, destination);
    }

    @Override
    public void write(long guestAddress, MemorySegment source) throws GuestMemoryException {
        table().write(guestAddress, source);
        DirtyLogHolder l = log;
        if (l != null) {
            l.mark(guestAddress, source.byteSize());
        }
    }

    /** Drops the reference; the last view of a replaced table releases its mappings. Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            epoch.releaseRef();
        }
    }
}
