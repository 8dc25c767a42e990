package io.vhost.impl.virtqueue;

import io.vhost.api.device.Virtqueue;

/**
 * The chain objects of one queue, reused so that popping a chain allocates nothing in the steady state.
 *
 * <p>A chain is filed under a key below the queue size (split rings: its head index; packed rings: the ring slot of
 * its first descriptor). The pool counts, per key, the chains popped and not yet returned, and hands the filed object
 * out again only when that count is zero: a {@link io.vhost.api.device.DescriptorChain} is valid until it is
 * returned, so no device can still be using it. A key popped again while a chain of it is still out (a driver that
 * makes a head available that the device still holds; a packed slot reused while an earlier buffer completes out of
 * order) gets a fresh object, as every chain did before there was a pool. Counts are never reset (not even when the
 * ring is laid out again): a chain a device never returns only costs its key the reuse.
 *
 * <p>Internal; not thread-safe (the queue's worker).
 */
final class ChainPool {

    /** The key of chains that are never filed (a packed ring's resubmitted inflight chains). */
    static final int UNFILED = -1;

    private final Virtqueue queue;
    private final RingChain[] chains;
    private final int[] outstanding;

    ChainPool(Virtqueue queue, int size) {
        this.queue = queue;
        this.chains = new RingChain[size];
        this.outstanding = new int[size];
    }

    /**
     * Returns an object to build the next chain in: the one filed under {@code key} if no chain of that key is out,
     * otherwise a fresh one. Call {@link #handedOut} once the chain is valid and returned to the device.
     */
    RingChain free(int key) {
        if (key == UNFILED) {
            return new RingChain(queue, UNFILED);
        }
        RingChain c = chains[key];
        if (c == null) {
            c = new RingChain(queue, key);
            chains[key] = c;
        } else if (outstanding[key] != 0) {
            c = new RingChain(queue, key);
        }
        return c;
    }

    /** Counts a chain of {@code key} as held by the device. */
    void handedOut(int key) {
        if (key != UNFILED) {
            outstanding[key]++;
        }
    }

    /** Counts a chain of {@code key} as returned; a key with nothing out (a device that returns twice) stays at 0. */
    void returned(int key) {
        if (key != UNFILED && outstanding[key] > 0) {
            outstanding[key]--;
        }
    }
}
