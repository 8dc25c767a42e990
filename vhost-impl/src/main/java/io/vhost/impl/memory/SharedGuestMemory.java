package io.vhost.impl.memory;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The current guest memory of one session, replaceable while rings run ({@code VHOST_USER_SET_MEM_TABLE},
 * {@code ADD_MEM_REG}, {@code REM_MEM_REG}).
 *
 * <p>Workers read it through {@link #acquire()}: {@code try (MemoryView view = memory.acquire()) { ... }}. A
 * {@link #publish} swaps the table atomically; the old table's release action (for example: unmap its regions and
 * close the shared arena) runs only after the last view of it is closed. Readers never block; acquiring costs one CAS
 * and one small object.
 *
 * <p>Thread-safe. Owns the release actions it is given: {@link #close()} releases the current table once no view
 * uses it.
 */
public final class SharedGuestMemory implements AutoCloseable {

    private final AtomicReference<Epoch<MemoryTable>> current;
    private final AtomicLong epochs = new AtomicLong();
    private volatile boolean closed;

    /** Creates the holder with an empty table. */
    public SharedGuestMemory() {
        current = new AtomicReference<>(new Epoch<>(MemoryTable.empty(), 0, null));
    }

    /**
     * Publishes a new table; the previous one is released once no view uses it.
     *
     * @param table the new table
     * @param release what to do when the new table is no longer used (unmap its regions), or {@code null}
     * @return the epoch number of the new table (increases by one per publish)
     * @throws IllegalStateException if this holder is closed
     */
    public long publish(MemoryTable table, AutoCloseable release) {
        if (closed) {
            throw new IllegalStateException("guest memory is closed; cannot publish " + table);
        }
        long number = epochs.incrementAndGet();
        Epoch<MemoryTable> old = current.getAndSet(new Epoch<>(table, number, release));
        old.releaseRef();
        return number;
    }

    /**
     * Takes a view of the current table; close it when done. Call per batch of work, not per descriptor.
     *
     * @return a view that keeps its table mapped until closed
     * @throws IllegalStateException if this holder is closed
     */
    public MemoryView acquire() {
        while (true) {
            if (closed) {
                throw new IllegalStateException("guest memory is closed");
            }
            Epoch<MemoryTable> e = current.get();
            if (e.tryRetain()) {
                return new MemoryView(e, this);
            }
        }
    }

    /**
     * Returns the current table without taking a reference: for inspection only (tests, logging).
     *
     * @return the current table
     */
    public MemoryTable peek() {
        return current.get().value;
    }

    /**
     * Returns the current epoch number.
     *
     * @return 0 before the first publish
     */
    public long epoch() {
        return current.get().number;
    }

    /** Releases the current table once no view uses it; later acquires fail. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Epoch<MemoryTable> old = current.getAndSet(new Epoch<>(MemoryTable.empty(), -1, null));
        old.releaseRef();
    }
}
