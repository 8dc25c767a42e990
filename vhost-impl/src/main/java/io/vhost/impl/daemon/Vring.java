package io.vhost.impl.daemon;

import io.vhost.api.error.NativeCallException;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The state of one vring in the daemon: its ring, its eventfds and its two independent states (started/stopped,
 * enabled/disabled; spec "Ring states").
 *
 * <p>{@link #lock} serialises the request thread (configuration, stop) against the worker (processing): the worker
 * holds it for a whole batch, so a stop that takes it waits until every popped chain is completed (drain).
 */
final class Vring {

    final int index;
    /** Fair: a stop request waiting for the lock gets it before the worker's next batch. */
    final ReentrantLock lock = new ReentrantLock(true);

    // All fields below are guarded by lock.
    int size;
    RingQueue queue;
    /** The last SET_VRING_BASE or GET_VRING_BASE value, in the ring type's encoding. */
    long base;
    long descUser;
    long availUser;
    long usedUser;
    boolean addressed;
    /**
     * The ring's position (base, then inflight recovery) was computed when it last became ready. Cleared when it
     * stops ({@code GET_VRING_BASE}), gets a new size, or the device is reset; addresses or a base sent while it
     * runs do not clear it.
     */
    boolean positioned;
    /** An inflight region is attached to the running ring. */
    boolean inflightAttached;
    /** The running ring's position came from a previous back-end's inflight region, not from SET_VRING_BASE. */
    boolean inflightRecovered;
    /** Epoch of the memory table the ring was last resolved against; -1 = must re-resolve. */
    long memoryEpoch = -1;
    OwnedFd kick;
    OwnedFd call;
    OwnedFd err;
    boolean started;
    boolean enabled;
    /** A kick was seen while the ring was not ready (disabled or not configured); processed once it is. */
    boolean kickPending;

    Vring(int index) {
        this.index = index;
    }

    /** Ready to process: started, enabled, laid out over guest memory and not broken. */
    boolean ready() {
        return started && enabled && addressed && queue != null && !queue.isBroken();
    }

    void signalCall() throws NativeCallException {
        OwnedFd c = call;
        if (c != null && c.isOpen()) {
            EventFds.signal(c.number(), 1);
        }
    }

    void signalErr() {
        OwnedFd e = err;
        if (e != null && e.isOpen()) {
            try {
                EventFds.signal(e.number(), 1);
            } catch (NativeCallException ignored) {
                // the front-end closed its end; the ring is broken either way
            }
        }
    }

    /** Closes the kick and call fds (a stopped ring drops them). The caller holds the lock. */
    void dropKickAndCall() {
        if (kick != null) {
            kick.close();
            kick = null;
        }
        if (call != null) {
            call.close();
            call = null;
        }
    }

    void closeAll() {
        dropKickAndCall();
        if (err != null) {
            err.close();
            err = null;
        }
    }
}
