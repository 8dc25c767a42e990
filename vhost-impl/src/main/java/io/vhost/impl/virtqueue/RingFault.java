package io.vhost.impl.virtqueue;

import io.vhost.api.error.GuestMemoryException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;

/**
 * The broken state of one ring, shared by the split and packed layouts: the first guest error breaks the ring, is
 * logged once, and every later use fails fast naming it, while the other rings keep running. Cleared when the ring
 * is configured again. Not thread-safe: guarded by the owning ring's caller, like the ring itself.
 */
final class RingFault {

    private final int queueIndex;
    private final String ringKind;
    private final Logger log;
    private String cause;

    /**
     * @param queueIndex the queue, for messages
     * @param ringKind "ring" or "packed ring", for the log line
     * @param log the owning ring's logger
     */
    RingFault(int queueIndex, String ringKind, Logger log) {
        this.queueIndex = queueIndex;
        this.ringKind = ringKind;
        this.log = log;
    }

    boolean isBroken() {
        return cause != null;
    }

    void clear() {
        cause = null;
    }

    /** Throws the first cause if the ring is broken. */
    void check() throws GuestMemoryException {
        if (cause != null) {
            throw new GuestMemoryException("ring " + queueIndex + " is broken: " + cause);
        }
    }

    /** Records {@code e} as the cause unless the ring is already broken, and returns it for throwing. */
    GuestMemoryException record(GuestMemoryException e) {
        if (cause == null) {
            cause = e.getMessage();
            log.log(Level.WARNING, "queue {0}: {1} broken by the guest: {2}", queueIndex, ringKind, cause);
        }
        return e;
    }

    /** A ring whose memory was unmapped under it (memory table replaced or closed) is broken too. */
    GuestMemoryException unmapped(IllegalStateException e) {
        return record(new GuestMemoryException("queue " + queueIndex + ": ring memory is no longer mapped ("
                + e.getMessage() + ")", e));
    }
}
