package io.vhost.impl.poll;

import io.vhost.api.error.NativeCallException;
import io.vhost.impl.sys.Unistd;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The first, short stage of a wait on a virtual thread: block on the carrier in a kernel call with a timeout of about
 * {@link #limitNanos()}, so that data that comes back within microseconds (a vhost-user reply, the next request of a
 * busy front-end, a kick) wakes the thread straight from the kernel, with no hand-off through the poller thread and
 * the virtual-thread scheduler. If nothing arrives in time, the caller parks through the {@link Poller} as usual.
 *
 * <p>The kernel call is the read itself where it can be: the FFM transport makes its socket blocking, sets
 * {@code SO_RCVTIMEO} to the limit and, holding a {@link Ticket}, calls {@code recvmsg} without
 * {@code MSG_DONTWAIT}: one system call waits and reads, as a C endpoint's blocking read does. Other waits (eventfds,
 * epoll sets) use {@link #await}, a {@code poll(2)} with the limit as its timeout. The default limit, 4 ms, is at
 * least one scheduler tick on common kernels (HZ 250 or more); shorter timeouts arm a high-resolution timer per wait,
 * which on virtual machines costs more than the wait saves (measured: a 1 ms {@code poll} timeout tripled a same-CPU
 * socket round trip, a 4 ms one cost nothing measurable). The kernel rounds a socket timeout up to whole ticks, so a
 * wait for nothing lasts at most about two limits (8 ms measured with HZ 250).
 *
 * <p>Why this does not starve the scheduler:
 * <ul>
 *   <li>the carrier sleeps in the kernel (it never spins), and only for a bounded time as above;</li>
 *   <li>at most {@link #maxWaiters()} carriers wait at once: by default one less than the scheduler's parallelism, so
 *       one carrier always stays free for the other virtual threads (with a single carrier nobody waits: holding it
 *       would stop every other virtual thread, including a peer in the same JVM that is about to answer). Two peers
 *       in one JVM that should both wait need three carriers. A greater share was measured to hurt: with two carriers
 *       both held, idle back-end readers (each wait for nothing lasts up to two limits) slowed setting up 1 000
 *       sessions from 1.7 to 10.7 ms per session;</li>
 *   <li>a thread whose brief wait ran out skips the next ones, 1, 2, 4 ... up to {@value #MAX_SKIP} of them, so a
 *       peer that answers slowly (or an idle connection) costs one bounded wait per {@value #MAX_SKIP} waits at most;
 *       a wait that finds data ends the back-off;</li>
 *   <li>a thread whose data keeps arriving yields its carrier every {@value #YIELD_EVERY} waits, so that virtual
 *       threads queued on that carrier get their turn even if no other carrier steals them.</li>
 * </ul>
 *
 * <p>Settings (system properties, read once): {@code vhost.poll.briefWaitMicros} (0 turns the stage off),
 * {@code vhost.poll.briefWaiters} (how many carriers may wait at once) and {@code vhost.poll.briefYieldEvery} (waits
 * that found data between two yields).
 */
public final class BriefWait {

    /** The default limit, in microseconds. */
    public static final int DEFAULT_MICROS = 4000;
    /**
     * By default a thread yields its carrier after this many brief waits in a row that found data: at microsecond
     * round trips a few milliseconds, about one kernel time slice. Every 64 waits cost GET_FEATURES about 5 % of its
     * mean time (a yield wakes another carrier and often moves the thread); fairness does not depend on it, since at
     * least one carrier never waits briefly.
     */
    public static final int YIELD_EVERY = 1024;
    /** The most waits a thread skips after a brief wait ran out. */
    public static final int MAX_SKIP = 64;

    private static final int YIELD_AFTER = Math.max(1, Integer.getInteger("vhost.poll.briefYieldEvery", YIELD_EVERY));
    private static final long LIMIT_NANOS = Math.max(0,
            Long.getLong("vhost.poll.briefWaitMicros", DEFAULT_MICROS) * 1_000L);
    private static final int LIMIT_MILLIS = (int) Math.min(Integer.MAX_VALUE,
            Math.max(1, (LIMIT_NANOS + 999_999) / 1_000_000));
    private static final int MAX_WAITERS = Math.max(0,
            Integer.getInteger("vhost.poll.briefWaiters", defaultWaiters()));
    private static final boolean ON = MAX_WAITERS > 0 && LIMIT_NANOS > 0;
    private static final ThreadLocal<Ticket> TICKETS = ThreadLocal.withInitial(Ticket::new);
    private static final AtomicInteger WAITING = new AtomicInteger();

    /**
     * A thread's permission to wait briefly on its carrier, and its history: successes in a row, waits left to skip,
     * and the current skip length. One per thread, reused; given out by {@link #begin()} and handed back with
     * {@link #end(Ticket, boolean)}.
     */
    public static final class Ticket {
        private int streak;
        private int skip;
        private int backoff;

        private Ticket() {
        }
    }

    private BriefWait() {
    }

    /**
     * Starts a brief wait if the calling thread is virtual, the stage is on, the thread is not backing off and fewer
     * than {@link #maxWaiters()} carriers wait already. The caller then blocks in one kernel call bounded by about
     * {@link #limitNanos()} and must call {@link #end(Ticket, boolean)} in a {@code finally}.
     *
     * @return the ticket, or {@code null}: do not block the carrier, park through the poller instead
     */
    public static Ticket begin() {
        if (!ON || !Thread.currentThread().isVirtual()) {
            return null;
        }
        Ticket ticket = TICKETS.get();
        if (ticket.skip > 0) {
            ticket.skip--;
            return null;
        }
        int n;
        do {
            n = WAITING.get();
            if (n >= MAX_WAITERS) {
                return null;
            }
        } while (!WAITING.compareAndSet(n, n + 1));
        return ticket;
    }

    /**
     * Ends a brief wait begun with {@link #begin()}.
     *
     * @param ticket the ticket {@code begin} returned
     * @param ready whether the wait found its data ({@code false}: it ran out, or failed); a wait that ran out makes
     *     the thread skip the next ones
     */
    public static void end(Ticket ticket, boolean ready) {
        WAITING.decrementAndGet();
        if (!ready) {
            ticket.streak = 0;
            ticket.backoff = Math.min(MAX_SKIP, Math.max(1, ticket.backoff * 2));
            ticket.skip = ticket.backoff;
            return;
        }
        ticket.backoff = 0;
        if (++ticket.streak >= YIELD_AFTER) {
            ticket.streak = 0;
            Thread.yield();
        }
    }

    /**
     * Waits briefly for {@code fd} in {@code poll(2)} with the limit as timeout, if {@link #begin()} allows it.
     *
     * @param fd the descriptor, kept open by the caller
     * @param events {@link Unistd#POLLIN} and/or {@link Unistd#POLLOUT}
     * @return {@code true} if the fd became ready (or has an error or hang-up); {@code false} if the stage is off or
     *         skipped, or the wait ran out: then park as usual
     * @throws NativeCallException if poll refuses the fd
     */
    public static boolean await(int fd, short events) throws NativeCallException {
        Ticket ticket = begin();
        if (ticket == null) {
            return false;
        }
        boolean ready = false;
        try {
            ready = Unistd.poll(fd, events, LIMIT_MILLIS) != 0;
        } finally {
            end(ticket, ready);
        }
        return ready;
    }

    /**
     * Returns the limit of one brief wait.
     *
     * @return nanoseconds, 0 when the stage is off
     */
    public static long limitNanos() {
        return ON ? LIMIT_NANOS : 0;
    }

    /**
     * Returns how many carriers may be held in brief waits at once.
     *
     * @return the limit; 0 turns the stage off
     */
    public static int maxWaiters() {
        return MAX_WAITERS;
    }

    private static int defaultWaiters() {
        int parallelism = Integer.getInteger("jdk.virtualThreadScheduler.parallelism",
                Runtime.getRuntime().availableProcessors());
        return Math.max(0, parallelism - 1);
    }
}
