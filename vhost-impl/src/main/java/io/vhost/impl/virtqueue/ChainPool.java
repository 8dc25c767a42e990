package io.vhost.impl.virtqueue;

import io.vhost.api.device.Virtqueue;
import java.util.Arrays;

/**
 * The chain objects of one queue, reused so that popping a chain allocates nothing in the steady state.
 *
 * <p>Returned chain objects wait on a stack and the last one returned is handed out first: a device that returns
 * each chain before it pops the next keeps filling the same object, which stays in the CPU's nearest cache. A
 * {@link io.vhost.api.device.DescriptorChain} is valid until it is returned, so no device can still be using an
 * object on the stack. An object is put back at most once per time it was handed out: a device that returns a chain
 * twice cannot make two later chains share one object.
 *
 * <p>Internal; not thread-safe (the queue's worker).
 */
final class ChainPool {

    private final Virtqueue queue;
    private RingChain[] free = new RingChain[8];
    private int freeCount;

    ChainPool(Virtqueue queue) {
        this.queue = queue;
    }

    /** Returns an object to build the next chain in: the last one returned, or a new one. */
    RingChain take() {
        RingChain c = freeCount > 0 ? free[--freeCount] : new RingChain(queue);
        c.handedOut(true);
        return c;
    }

    /** Takes back a chain the device returned; one it already returned (or never got) is ignored. */
    void give(RingChain c) {
        if (!c.handedOut()) {
            return;
        }
        c.handedOut(false);
        if (freeCount == free.length) {
            free = Arrays.copyOf(free, 2 * free.length);
        }
        free[freeCount++] = c;
    }
}
