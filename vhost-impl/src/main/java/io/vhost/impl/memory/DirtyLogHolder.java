package io.vhost.impl.memory;

import io.vhost.api.error.GuestMemoryException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The session's current dirty log, replaceable at runtime by a new {@code VHOST_USER_SET_LOG_BASE}; the old log's
 * mapping is released only after the last {@link #mark} using it has returned.
 *
 * <p>Whether to log at all ({@code VHOST_F_LOG_ALL}) is decided by the caller through {@link #setLogging}. Marking
 * with logging off is one volatile read; with logging on, one CAS increment and one decrement of the log's reference
 * count around the atomic OR, and no allocation. Thread-safe; owns the release actions it is given.
 */
public final class DirtyLogHolder implements AutoCloseable {

    private final AtomicReference<Epoch<DirtyLog>> current = new AtomicReference<>(new Epoch<>(null, 0, null));
    private final AtomicLong epochs = new AtomicLong();
    private volatile boolean logging;

    /** Creates a holder with no log installed and logging off. */
    public DirtyLogHolder() {
        // state initialised above
    }

    /**
     * Installs a new log; the previous one is released when no marker uses it.
     *
     * @param log the new log, or {@code null} to remove it
     * @param release what to do when it is replaced (unmap), or {@code null}
     */
    public void replace(DirtyLog log, AutoCloseable release) {
        current.getAndSet(new Epoch<>(log, epochs.incrementAndGet(), release)).releaseRef();
    }

    /**
     * Switches logging on or off ({@code VHOST_F_LOG_ALL} acked or not).
     *
     * @param on {@code true} to mark writes
     */
    public void setLogging(boolean on) {
        logging = on;
    }

    /**
     * Tells whether writes are being logged (logging on and a log installed).
     *
     * @return {@code true} if {@link #mark} would mark
     */
    public boolean isActive() {
        return logging && current.get().value != null;
    }

    /**
     * Marks a written range if logging is active.
     *
     * @param address the first written guest address (or used-ring log address)
     * @param length the length written
     * @throws GuestMemoryException if the range is beyond the log
     */
    public void mark(long address, long length) throws GuestMemoryException {
        if (!logging) {
            return;
        }
        while (true) {
            Epoch<DirtyLog> e = current.get();
            if (e.value == null) {
                return;
            }
            if (e.tryRetain()) {
                try {
                    e.value.mark(address, length);
                    return;
                } finally {
                    e.releaseRef();
                }
            }
        }
    }

    /** Removes and releases the current log. */
    @Override
    public void close() {
        replace(null, null);
    }
}
