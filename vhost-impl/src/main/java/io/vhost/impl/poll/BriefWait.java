package io.vhost.impl.poll;

import io.vhost.api.error.NativeCallException;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Unistd;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The first, short stage of a wait on a virtual thread: block in {@code ppoll(2)} on the carrier, so that an answer
 * that comes back within microseconds (a vhost-user reply, the next request of a busy front-end, a kick) wakes the
 * thread straight from the kernel, with no hand-off through the poller thread and the scheduler. If nothing arrives
 * within about {@link #limitNanos()}, the caller parks through the {@link Poller} as usual.
 *
 * <p>The wait has no kernel timeout, because arming a short high-resolution timer per wait is what makes it slow on
 * virtual machines (measured: a 50 µs ppoll timeout tripled a same-core socket round trip). Instead each waiting
 * carrier holds a slot with its own eventfd, polled together with the fd, and one platform thread,
 * {@code vhost-brief-wait}, wakes every limit and signals the eventfd of a slot whose wait is older than one limit:
 * a wait lasts at most about two limits. The watcher parks when no brief wait happened for a while.
 *
 * <p>Why this does not starve the scheduler:
 * <ul>
 *   <li>the carrier sleeps in the kernel (it does not spin), bounded as above ({@value #DEFAULT_MICROS} µs limit by
 *       default);</li>
 *   <li>at most {@link #maxWaiters()} carriers are held at once: the scheduler's parallelism, and none when it has a
 *       single carrier (holding the only carrier would stop every other virtual thread, including a peer in the same
 *       JVM that is about to answer);</li>
 *   <li>a thread whose brief wait ran out skips the next ones, 1, 2, 4 ... up to {@value #MAX_SKIP} of them, so a
 *       peer that answers slowly (or needs a carrier that this wait holds) costs one bounded wait per
 *       {@value #MAX_SKIP} waits at most; a wait that finds data ends the back-off;</li>
 *   <li>a thread whose data keeps arriving yields its carrier every {@value #YIELD_EVERY} waits, so that queued
 *       virtual threads get their turn.</li>
 * </ul>
 *
 * <p>Settings (system properties, read once): {@code vhost.poll.briefWaitMicros} (0 turns the stage off) and
 * {@code vhost.poll.briefWaiters} (how many carriers may wait at once).
 */
public final class BriefWait {

    /** The default limit, in microseconds: a brief wait is ended after one to two limits. */
    public static final int DEFAULT_MICROS = 1000;
    /** A thread yields its carrier after this many brief waits in a row that found data. */
    public static final int YIELD_EVERY = 64;
    /** The most waits a thread skips after a brief wait ran out. */
    public static final int MAX_SKIP = 64;

    private static final System.Logger LOG = System.getLogger(BriefWait.class.getName());
    private static final long LIMIT_NANOS = Math.max(0,
            Long.getLong("vhost.poll.briefWaitMicros", DEFAULT_MICROS) * 1_000L);
    private static final int MAX_WAITERS = Math.max(0,
            Integer.getInteger("vhost.poll.briefWaiters", defaultWaiters()));
    /** Watcher rounds without any brief wait before it parks (about a second). */
    private static final int IDLE_ROUNDS = (int) Math.max(2, 1_000_000_000L / Math.max(1, LIMIT_NANOS));
    private static final short POLL_EVENTFD = Unistd.POLLIN;
    private static final ThreadLocal<State> STATE = ThreadLocal.withInitial(State::new);
    private static volatile Slot[] slots; // created with the watcher at first use
    private static volatile Thread watcher;
    private static volatile boolean watcherParked;
    private static final Object START_LOCK = new Object();

    /** One thread's history: successes in a row, waits left to skip, and the current skip length. */
    private static final class State {
        int streak;
        int skip;
        int backoff;
    }

    /**
     * A place for one waiting carrier. {@code active}: 0 free, 1 taken but not waiting, an odd id {@code w > 1}
     * while wait {@code w} runs, {@code -w} once the watcher ended it (its eventfd is or is about to be signalled).
     */
    private static final class Slot {
        final OwnedFd eventFd;
        final int efd;
        final AtomicLong active = new AtomicLong();
        long counter = 1; // written by the slot's owner only
        long seen; // written by the watcher only

        Slot(OwnedFd eventFd) {
            this.eventFd = eventFd;
            this.efd = eventFd.number();
        }
    }

    private BriefWait() {
    }

    /**
     * Waits briefly for {@code fd} if the calling thread is virtual, a slot is free and the thread is not backing
     * off.
     *
     * @param fd the descriptor, kept open by the caller
     * @param events {@link Unistd#POLLIN} and/or {@link Unistd#POLLOUT}
     * @return {@code true} if the fd became ready (or has an error or hang-up); {@code false} if the stage is off or
     *         skipped, or the wait ran out: then park as usual
     * @throws NativeCallException if ppoll refuses the fd
     */
    public static boolean await(int fd, short events) throws NativeCallException {
        if (MAX_WAITERS == 0 || LIMIT_NANOS == 0 || !Thread.currentThread().isVirtual()) {
            return false;
        }
        State state = STATE.get();
        if (state.skip > 0) {
            state.skip--;
            return false;
        }
        Slot slot = acquire();
        if (slot == null) {
            return false;
        }
        boolean ready;
        try {
            ready = waitIn(slot, fd, events);
        } finally {
            slot.active.set(0);
        }
        if (!ready) {
            state.streak = 0;
            state.backoff = Math.min(MAX_SKIP, Math.max(1, state.backoff * 2));
            state.skip = state.backoff;
            return false;
        }
        state.backoff = 0;
        if (++state.streak >= YIELD_EVERY) {
            state.streak = 0;
            Thread.yield();
        }
        return true;
    }

    /**
     * Opens the slots' eventfds and starts the watcher now instead of at the first brief wait (they live as long as
     * the JVM; descriptor counts taken afterwards stay stable). Does nothing when the stage is off.
     */
    public static void warmUp() {
        if (MAX_WAITERS > 0 && LIMIT_NANOS > 0 && slots == null) {
            start();
        }
    }

    /**
     * Returns the limit of one brief wait.
     *
     * @return nanoseconds, 0 when the stage is off
     */
    public static long limitNanos() {
        return LIMIT_NANOS;
    }

    /**
     * Returns how many carriers may be held in brief waits at once.
     *
     * @return the limit; 0 turns the stage off
     */
    public static int maxWaiters() {
        return MAX_WAITERS;
    }

    private static boolean waitIn(Slot slot, int fd, short events) throws NativeCallException {
        slot.counter += 2;
        long id = slot.counter;
        slot.active.set(id);
        if (watcherParked) {
            watcherParked = false;
            LockSupport.unpark(watcher);
        }
        int revents = Unistd.ppoll2(fd, events, slot.efd, POLL_EVENTFD);
        if (slot.active.compareAndSet(id, 1)) {
            return (revents & 0xffff) != 0;
        }
        // The watcher ended this wait: its signal is written right after its compare-and-set; consume it, so that
        // the next wait in this slot does not end early.
        if ((revents >>> 16) == 0) {
            Unistd.poll(slot.efd, POLL_EVENTFD, -1);
        }
        EventFds.drain(slot.efd);
        return (revents & 0xffff) != 0;
    }

    private static Slot acquire() {
        Slot[] all = slots;
        if (all == null) {
            all = start();
            if (all == null) {
                return null;
            }
        }
        for (Slot s : all) {
            if (s.active.get() == 0 && s.active.compareAndSet(0, 1)) {
                return s;
            }
        }
        return null;
    }

    private static Slot[] start() {
        synchronized (START_LOCK) {
            if (slots != null) {
                return slots;
            }
            Slot[] all = new Slot[MAX_WAITERS];
            try {
                for (int i = 0; i < all.length; i++) {
                    all[i] = new Slot(EventFds.create(EventFds.EFD_NONBLOCK, "brief-wait eventfd " + i));
                }
            } catch (NativeCallException e) {
                for (Slot s : all) {
                    if (s != null) {
                        s.eventFd.close();
                    }
                }
                LOG.log(System.Logger.Level.WARNING, "brief waits are off: " + e.getMessage());
                return null;
            }
            Thread t = Thread.ofPlatform().daemon().name("vhost-brief-wait").unstarted(() -> watch(all));
            watcher = t;
            slots = all;
            t.start();
            return all;
        }
    }

    /** Ends waits that are older than one limit; parks after about a second without any. */
    private static void watch(Slot[] all) {
        int idle = 0;
        while (true) {
            LockSupport.parkNanos(LIMIT_NANOS);
            boolean any = false;
            for (Slot s : all) {
                long a = s.active.get();
                if (a > 1) {
                    any = true;
                    if (a == s.seen && s.active.compareAndSet(a, -a)) {
                        try {
                            EventFds.signal(s.efd, 1);
                        } catch (NativeCallException e) {
                            LOG.log(System.Logger.Level.ERROR, "brief-wait watcher: " + e.getMessage());
                        }
                    }
                    s.seen = a;
                }
            }
            idle = any ? 0 : idle + 1;
            if (idle >= IDLE_ROUNDS) {
                idle = 0;
                watcherParked = true;
                boolean waiting = false;
                for (Slot s : all) {
                    waiting |= s.active.get() > 1;
                }
                if (!waiting) {
                    LockSupport.park();
                }
                watcherParked = false;
            }
        }
    }

    private static int defaultWaiters() {
        int parallelism = Integer.getInteger("jdk.virtualThreadScheduler.parallelism",
                Runtime.getRuntime().availableProcessors());
        return parallelism > 1 ? parallelism : 0;
    }
}
