package io.vhost.impl.daemon;

import io.vhost.api.device.Virtqueue;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.error.NativeCallException;
import io.vhost.impl.memory.MemoryView;
import io.vhost.impl.sys.EventFds;
import java.io.InterruptedIOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.function.Consumer;

/**
 * What a queue worker does, for every worker of one session: wait for kicks and wakes ({@link QueueWorker}), run a
 * batch of {@link VhostUserDevice#handleQueue} on each of its rings under the ring's lock, signal the call eventfd
 * as the ring's suppression rules say, and, with a busy-poll window, keep running batches while buffers keep coming.
 *
 * <p>The rules of a batch: driver notifications are off while the device handles the ring; after it, they are
 * turned back on and the ring re-checked, so a buffer that came meanwhile is handled now (no lost kick); a device
 * that took nothing is not called again until the next kick or wake (no busy loop over a full receive ring); a ring
 * whose guest keeps it full is let go after {@value #MAX_ROUNDS} rounds so that {@code GET_VRING_BASE} and the
 * group's other rings get the lock. A ring whose memory is found malformed is broken (logged, error eventfd
 * signalled) and the other rings keep running.
 */
final class RingPasses {

    private static final Logger LOG = System.getLogger(RingPasses.class.getName());
    /** Handler rounds per ring before the worker releases the ring's lock and comes back. */
    static final int MAX_ROUNDS = 16;

    private final VhostUserDevice device;
    private final String sessionName;
    private final RegionMappings regions;
    private final Vring[] rings;
    private final long busyPollNanos; // 0: sleep as soon as the queues are dry
    private final Consumer<Vring> start;

    /**
     * Creates the loop of one session's workers.
     *
     * @param device the device whose queues are served
     * @param sessionName the session, for log messages
     * @param regions the session's guest memory
     * @param rings all rings of the session, by index (kicks name them by index)
     * @param busyPollNanos the busy-poll window, 0 for none
     * @param start positions a ring that has just become ready; called with the ring's lock held
     */
    RingPasses(VhostUserDevice device, String sessionName, RegionMappings regions, Vring[] rings, long busyPollNanos,
            Consumer<Vring> start) {
        this.device = device;
        this.sessionName = sessionName;
        this.regions = regions;
        this.rings = rings;
        this.busyPollNanos = busyPollNanos;
        this.start = start;
    }

    /**
     * The body of a worker's virtual thread: waits, passes over its rings, busy polls; until interrupted.
     *
     * @param w the worker
     * @throws Exception if waiting fails otherwise than by the session ending
     */
    void run(QueueWorker w) throws Exception {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                w.awaitEvents(this::onKick);
                passOverRings(w, busyPollNanos > 0);
                if (busyPollNanos > 0) {
                    busyPoll(w);
                }
            }
        } catch (InterruptedIOException e) {
            // the session is ending
        }
    }

    /** Runs a batch on each of the worker's rings; {@code quiet}: leave driver notifications off afterwards. */
    private void passOverRings(QueueWorker w, boolean quiet) throws NativeCallException {
        for (Vring r : w.rings()) {
            process(w, r, quiet);
        }
        w.passes++;
        if (pendingWorkOnReadyRing(w)) {
            w.wake(); // work no kick will announce (a loopback's frames for its receive queue)
        }
    }

    /**
     * Busy polling ({@link VhostUserDevice#busyPollWindow()}): with driver notifications still off, runs a batch
     * whenever a ring has buffers, until the window passes without any; then a normal pass turns notifications back on
     * and re-checks the rings (no lost kick), and the worker goes back to waiting for kicks.
     */
    private void busyPoll(QueueWorker w) throws NativeCallException {
        long deadline = System.nanoTime() + busyPollNanos;
        while (!Thread.currentThread().isInterrupted()) {
            if (anyAvailable(w)) {
                passOverRings(w, true);
                deadline = System.nanoTime() + busyPollNanos;
            } else if (System.nanoTime() - deadline >= 0) {
                passOverRings(w, false);
                return;
            } else {
                Thread.onSpinWait();
            }
        }
    }

    /**
     * Whether one of the worker's rings needs a pass: it has buffers to pop, it became ready and must start, its
     * memory changed or broke, or the device holds work for it ({@link VhostUserDevice#hasPendingWork}).
     */
    private boolean anyAvailable(QueueWorker w) {
        for (Vring r : w.rings()) {
            r.lock.lock();
            try {
                if (!r.ready()) {
                    continue;
                }
                if (!r.positioned || device.hasPendingWork(r.index)) {
                    return true;
                }
                MemoryView view = memoryOrNull();
                if (view == null) {
                    return false;
                }
                try (view) {
                    if (view.epoch() != r.memoryEpoch || r.queue.hasAvailable()) {
                        return true;
                    }
                } catch (GuestMemoryException e) {
                    return true; // the next pass breaks the ring with this cause and reports it
                }
            } finally {
                r.lock.unlock();
            }
        }
        return false;
    }

    /** Takes the current guest memory for one batch; {@code null} once the session is closing it. */
    private MemoryView memoryOrNull() {
        try {
            return regions.memory().acquire();
        } catch (IllegalStateException e) {
            return null;
        }
    }

    private void onKick(int queue) {
        if (queue < 0 || queue >= rings.length) {
            return;
        }
        Vring r = rings[queue];
        r.lock.lock();
        try {
            if (r.kick != null && r.kick.isOpen()) {
                EventFds.drain(r.kick.number());
                r.kickPending = true;
            }
        } catch (NativeCallException e) {
            LOG.log(Level.WARNING, sessionName + ": reading the kick eventfd of queue " + queue + " failed: "
                    + e.getMessage());
        } finally {
            r.lock.unlock();
        }
    }

    /** Whether the device reports pending work ({@link VhostUserDevice#hasPendingWork}) on a ready ring. */
    private boolean pendingWorkOnReadyRing(QueueWorker w) {
        for (Vring r : w.rings()) {
            if (device.hasPendingWork(r.index)) {
                r.lock.lock();
                try {
                    if (r.ready()) {
                        return true;
                    }
                } finally {
                    r.lock.unlock();
                }
            }
        }
        return false;
    }

    /**
     * Runs one batch on a ring if it is ready: re-resolve after memory changes, handle, notify. {@code quiet} (busy
     * polling): one round, and driver notifications stay off; the poll loop comes back for more.
     */
    private void process(QueueWorker w, Vring r, boolean quiet) throws NativeCallException {
        r.lock.lock();
        try {
            if (!r.ready()) {
                return; // a pending kick stays pending until the ring is ready
            }
            start.accept(r);
            if (!r.ready()) {
                return; // it could not start: broken
            }
            r.kickPending = false;
            RingQueue ring = r.queue;
            Virtqueue q = ring.view();
            MemoryView acquired = memoryOrNull();
            if (acquired == null) {
                return;
            }
            try (MemoryView view = acquired) {
                if (view.epoch() != r.memoryEpoch) {
                    ring.remap(view.table());
                    r.memoryEpoch = view.epoch();
                }
                for (int round = 1; ; round++) {
                    q.disableNotification();
                    long pops = ring.popCalls();
                    device.handleQueue(r.index, q);
                    if (q.needsNotification()) {
                        r.signalCall();
                    }
                    if (quiet) {
                        break;
                    }
                    // A device that did not even look for a buffer (a receive queue with nothing to deliver) is
                    // called again on its next kick or wake, not at once: no busy loop over a full ring. A device
                    // that looked and found none is called again if buffers came meanwhile (no lost kick).
                    if (!q.enableNotification() || ring.popCalls() == pops) {
                        break;
                    }
                    if (round == MAX_ROUNDS) {
                        // A guest that keeps the ring full must not keep the lock forever: let GET_VRING_BASE and
                        // the group's other rings in, and come back at once.
                        w.wake();
                        break;
                    }
                }
            } catch (GuestMemoryException e) {
                LOG.log(Level.ERROR, sessionName + ": queue " + r.index + " is broken and stops; the other queues"
                        + " keep running: " + e.getMessage());
                r.signalErr();
            }
        } finally {
            r.lock.unlock();
        }
    }
}
