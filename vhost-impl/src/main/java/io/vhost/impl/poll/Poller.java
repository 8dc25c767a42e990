package io.vhost.impl.poll;

import io.vhost.api.error.NativeCallException;
import io.vhost.impl.sys.Epoll;
import io.vhost.impl.sys.Errno;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An epoll readiness service: a thread calls {@link #awaitReadable(int)} or {@link #awaitWritable(int)} and parks;
 * one named daemon platform thread per poller blocks in {@code epoll_wait} and unparks it when the fd is ready.
 *
 * <p>This is how virtual threads wait for non-blocking fds without pinning their carrier (a virtual thread must
 * never block in a native call). Registrations are {@code EPOLLONESHOT}: armed with {@code EPOLL_CTL_MOD}, added on
 * {@code ENOENT}, and removed with {@code EPOLL_CTL_DEL} in {@code finally} unless the event fired (a fired
 * one-shot registration stays disarmed, so that the next wait re-arms it in one call). At most one thread may wait
 * on a given fd at a time.
 *
 * <p>A registration kept after a wait has a price when the fd's traffic then goes through brief waits instead: epoll's
 * wake-up callback stays on the fd's wait queue, and every later message or event runs it. Measured on a socket that
 * had waited once through the poller: a GET_FEATURES round trip 4 % longer (mean, 8 interleaved rounds), 0.15 µs
 * more kernel time, involuntary switches up from 0.18 to 0.33 per round trip. An owner that waits both ways holds an
 * {@link Interest}, which removes the kept registration ({@link #release(int)}) when a wait ends without parking, and
 * keeps it while waits keep parking (removing it after every park cost a pinned kick round trip, which always parks,
 * about 8 %).
 *
 * <p>Where the fd is expected to be ready within microseconds, {@link #awaitReadableSoon(int)} and
 * {@link #awaitSoon(int, int, long)} first wait briefly in the kernel on the carrier ({@link BriefWait}), which saves
 * the two hand-offs (poller thread, then scheduler) of a park.
 *
 * <p>Platform threads may use a poller too (they park the same way), but each wait costs two thread switches; a
 * platform thread that owns an fd may instead block in {@code poll(2)} directly.
 *
 * <p>{@link #close()} wakes the poller thread through its wakeup eventfd and every waiter, which then throws an
 * {@link IOException} "poller ... closed". Interrupting a waiting thread removes its registration; the wait throws
 * {@link InterruptedIOException} and the thread's interrupt status stays set.
 */
public final class Poller implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Poller.class.getName());
    private static final int MAX_EVENTS = 64;
    private static final Object DEFAULT_LOCK = new Object();
    private static volatile Poller defaultPoller;

    private final String name;
    private final OwnedFd epoll;
    private final OwnedFd wakeup;
    private final int epfd;
    private final int wakeupFd;
    private final ConcurrentHashMap<Integer, Waiter> waiters = new ConcurrentHashMap<>();
    private final Thread thread;
    private final ReentrantReadWriteLock epollInUse = new ReentrantReadWriteLock();
    private volatile boolean closed;

    private static final class Waiter {
        final Thread thread;
        volatile boolean fired;

        Waiter(Thread thread) {
            this.thread = thread;
        }
    }

    private Poller(String name) throws NativeCallException {
        this.name = name;
        OwnedFd ep = Epoll.create("epoll fd of " + name);
        OwnedFd wk = null;
        try {
            wk = EventFds.create(EventFds.EFD_NONBLOCK, "wakeup eventfd of " + name);
            Epoll.ctl(ep.number(), Epoll.EPOLL_CTL_ADD, wk.number(), Epoll.EPOLLIN, wk.number());
        } catch (NativeCallException | RuntimeException e) {
            if (wk != null) {
                wk.close();
            }
            ep.close();
            throw e;
        }
        this.epoll = ep;
        this.wakeup = wk;
        this.epfd = ep.number();
        this.wakeupFd = wk.number();
        this.thread = Thread.ofPlatform().daemon().name(name).unstarted(this::loop);
        this.thread.setUncaughtExceptionHandler((t, e) ->
                LOG.log(System.Logger.Level.ERROR, name + ": poller thread died", e));
    }

    /**
     * Creates and starts a private poller with its own platform thread.
     *
     * @param name the thread's name, used in messages ("vhost-poller-blk0")
     * @return the running poller; close it to stop the thread
     * @throws NativeCallException if epoll or eventfd creation fails
     */
    public static Poller start(String name) throws NativeCallException {
        Poller poller = new Poller(name);
        poller.thread.start();
        return poller;
    }

    /**
     * Returns the shared poller, starting its daemon thread {@code vhost-poller} at first use. It is never closed.
     *
     * @return the shared poller
     * @throws IllegalStateException if it cannot be started (for example no native access)
     */
    public static Poller shared() {
        Poller p = defaultPoller;
        if (p == null) {
            synchronized (DEFAULT_LOCK) {
                p = defaultPoller;
                if (p == null) {
                    try {
                        p = start("vhost-poller");
                    } catch (NativeCallException e) {
                        throw new IllegalStateException("cannot start the shared poller: " + e.getMessage(), e);
                    }
                    defaultPoller = p;
                }
            }
        }
        return p;
    }

    /**
     * Parks the calling thread until {@code fd} is readable (or has an error or hang-up).
     *
     * @param fd a descriptor the caller keeps open during the wait
     * @throws InterruptedIOException if the thread is interrupted (the interrupt status stays set)
     * @throws IOException if the poller is closed, or epoll refuses the fd
     * @throws IllegalStateException if another thread already waits on {@code fd}
     */
    public void awaitReadable(int fd) throws IOException {
        await(fd, Epoll.EPOLLIN, 0);
    }

    /**
     * Waits until {@code fd} is readable when it is expected to be soon (a reply, the next request of a busy peer, a
     * kick): a virtual thread first waits briefly in the kernel ({@link BriefWait}), then parks as
     * {@link #awaitReadable(int)} does.
     *
     * @param fd a descriptor the caller keeps open during the wait
     * @throws InterruptedIOException if the thread is interrupted (the interrupt status stays set)
     * @throws IOException if the poller is closed, or epoll refuses the fd
     * @throws IllegalStateException if another thread already waits on {@code fd}
     */
    public void awaitReadableSoon(int fd) throws IOException {
        if (!BriefWait.await(fd, (short) Epoll.EPOLLIN)) {
            await(fd, Epoll.EPOLLIN, 0);
        }
    }

    /**
     * As {@link #await(int, int, long)}, for an fd expected to be ready soon: a virtual thread first waits briefly in
     * the kernel ({@link BriefWait}).
     *
     * @param fd a descriptor the caller keeps open during the wait
     * @param events {@link Epoll#EPOLLIN} and/or {@link Epoll#EPOLLOUT}
     * @param timeoutNanos a positive limit, or 0 for none
     * @return {@code true} if ready, {@code false} on timeout
     * @throws InterruptedIOException if the thread is interrupted (the interrupt status stays set)
     * @throws IOException if the poller is closed, or epoll refuses the fd
     * @throws IllegalStateException if another thread already waits on {@code fd}
     */
    public boolean awaitSoon(int fd, int events, long timeoutNanos) throws IOException {
        return BriefWait.await(fd, (short) events) || await(fd, events, timeoutNanos);
    }

    /**
     * Parks the calling thread until {@code fd} is writable (or has an error or hang-up).
     *
     * @param fd a descriptor the caller keeps open during the wait
     * @throws InterruptedIOException if the thread is interrupted (the interrupt status stays set)
     * @throws IOException if the poller is closed, or epoll refuses the fd
     * @throws IllegalStateException if another thread already waits on {@code fd}
     */
    public void awaitWritable(int fd) throws IOException {
        await(fd, Epoll.EPOLLOUT, 0);
    }

    /**
     * Parks the calling thread until {@code fd} has one of {@code events} or the timeout passes.
     *
     * @param fd a descriptor the caller keeps open during the wait
     * @param events {@link Epoll#EPOLLIN} and/or {@link Epoll#EPOLLOUT}
     * @param timeoutNanos a positive limit, or 0 for none
     * @return {@code true} if ready, {@code false} on timeout
     * @throws InterruptedIOException if the thread is interrupted (the interrupt status stays set)
     * @throws IOException if the poller is closed, or epoll refuses the fd
     * @throws IllegalStateException if another thread already waits on {@code fd}
     */
    public boolean await(int fd, int events, long timeoutNanos) throws IOException {
        return await(fd, events, timeoutNanos, true);
    }

    /** As {@link #await(int, int, long)}; {@code kept}: a registration is probably left, so re-arm before adding. */
    private boolean await(int fd, int events, long timeoutNanos, boolean kept) throws IOException {
        if (fd == wakeupFd || fd < 0) {
            throw new IllegalArgumentException("cannot wait on fd " + fd + " with " + name);
        }
        if (closed) {
            throw closedException();
        }
        Waiter waiter = new Waiter(Thread.currentThread());
        Waiter previous = waiters.putIfAbsent(fd, waiter);
        if (previous != null) {
            throw new IllegalStateException("fd " + fd + " already has a waiting thread (" + previous.thread
                    + ") on " + name);
        }
        boolean registered = false;
        try {
            int flags = events | Epoll.EPOLLONESHOT;
            int errno;
            epollInUse.readLock().lock();
            try {
                if (closed) {
                    throw closedException();
                }
                if (kept) {
                    errno = Epoll.tryCtl(epfd, Epoll.EPOLL_CTL_MOD, fd, flags, fd);
                    if (errno == Errno.ENOENT) {
                        errno = Epoll.tryCtl(epfd, Epoll.EPOLL_CTL_ADD, fd, flags, fd);
                    }
                } else {
                    errno = Epoll.tryCtl(epfd, Epoll.EPOLL_CTL_ADD, fd, flags, fd);
                    if (errno == Errno.EEXIST) {
                        errno = Epoll.tryCtl(epfd, Epoll.EPOLL_CTL_MOD, fd, flags, fd);
                    }
                }
            } finally {
                epollInUse.readLock().unlock();
            }
            if (errno != 0) {
                throw Errno.failure("epoll_ctl", "(arm, epfd=" + epfd + ", fd=" + fd + ") on " + name, errno);
            }
            registered = true;
            long deadline = timeoutNanos > 0 ? System.nanoTime() + timeoutNanos : 0;
            while (!waiter.fired) {
                if (closed) {
                    throw closedException();
                }
                if (Thread.currentThread().isInterrupted()) {
                    throw new InterruptedIOException("interrupted while waiting for fd " + fd + " on " + name);
                }
                if (timeoutNanos > 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    LockSupport.parkNanos(this, left);
                } else {
                    LockSupport.park(this);
                }
            }
            return true;
        } finally {
            waiters.remove(fd, waiter);
            if (registered && !waiter.fired) {
                release(fd);
            }
        }
    }

    /**
     * Removes the registration a fired wait left for {@code fd} (see the class comment); a no-op if there is none
     * (or if the poller is closed). Only the fd's owner calls this, while the fd is open and no thread waits on it;
     * a wait that ends without firing removes its own.
     *
     * @param fd the descriptor
     */
    public void release(int fd) {
        epollInUse.readLock().lock();
        try {
            if (!closed) {
                int errno = Epoll.tryCtl(epfd, Epoll.EPOLL_CTL_DEL, fd, 0, 0);
                if (errno != 0 && errno != Errno.ENOENT && errno != Errno.EBADF) {
                    LOG.log(System.Logger.Level.WARNING, name + ": removing fd " + fd + ": "
                            + Errno.failure("epoll_ctl", "(DEL)", errno).getMessage());
                }
            }
        } finally {
            epollInUse.readLock().unlock();
        }
    }

    /**
     * Returns an {@link Interest} in {@code fd} for its owner.
     *
     * @param fd a descriptor the owner keeps open while it uses the interest
     * @return a new interest, with no registration kept
     */
    public Interest interest(int fd) {
        return new Interest(this, fd);
    }

    /**
     * One owner's waits on one fd through a poller, which remembers whether the last wait left a registration in the
     * poller's epoll set (it fired), and removes it once a wait ends without parking: when the fd's traffic moves to
     * brief waits or non-blocking tries, no epoll callback stays behind on its wait queue (class comment). Not
     * thread-safe: the fd's one waiting thread at a time uses it (a connection's receive side, a queue worker).
     */
    public static final class Interest {
        private final Poller poller;
        private final int fd;
        private boolean kept;

        private Interest(Poller poller, int fd) {
            this.poller = poller;
            this.fd = fd;
        }

        /**
         * Parks as {@link Poller#await(int, int, long)} does.
         *
         * @param events {@link Epoll#EPOLLIN} and/or {@link Epoll#EPOLLOUT}
         * @param timeoutNanos a positive limit, or 0 for none
         * @return {@code true} if ready, {@code false} on timeout
         * @throws IOException as {@link Poller#await(int, int, long)}
         */
        public boolean park(int events, long timeoutNanos) throws IOException {
            boolean wasKept = kept;
            kept = false; // a wait that does not fire removes the registration
            boolean fired = poller.await(fd, events, timeoutNanos, wasKept);
            kept = fired;
            return fired;
        }

        /**
         * Waits as {@link Poller#awaitSoon(int, int, long)} does: briefly in the kernel first, then parked.
         *
         * @param events {@link Epoll#EPOLLIN} and/or {@link Epoll#EPOLLOUT}
         * @param timeoutNanos a positive limit, or 0 for none
         * @return {@code true} if ready, {@code false} on timeout
         * @throws IOException as {@link Poller#await(int, int, long)}
         */
        public boolean awaitSoon(int events, long timeoutNanos) throws IOException {
            if (BriefWait.await(fd, (short) events)) {
                readyWithoutPark();
                return true;
            }
            return park(events, timeoutNanos);
        }

        /** Tells that the fd was found ready without parking: removes a registration the last park left, if any. */
        public void readyWithoutPark() {
            if (kept) {
                kept = false;
                poller.release(fd);
            }
        }

        /**
         * Tells whether the last park left a registration (for tests).
         *
         * @return {@code true} if the poller's epoll set holds the fd, disarmed
         */
        public boolean registrationKept() {
            return kept;
        }
    }

    /**
     * Wakes the thread waiting on {@code fd}, if any, as if the fd were ready. Owners call this when they close an fd
     * that a thread may be waiting on; the woken thread retries its operation and sees the closed state.
     *
     * @param fd the descriptor
     * @return {@code true} if a waiter was woken
     */
    public boolean wakeup(int fd) {
        Waiter w = waiters.get(fd);
        if (w == null) {
            return false;
        }
        w.fired = true;
        LockSupport.unpark(w.thread);
        return true;
    }

    /**
     * Returns how many threads wait right now (for tests and diagnostics).
     *
     * @return the number of registered waiters
     */
    public int waiterCount() {
        return waiters.size();
    }

    /**
     * Tells whether {@link #close()} was called.
     *
     * @return the closed state
     */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Returns the poller's name.
     *
     * @return the name given at start
     */
    public String name() {
        return name;
    }

    /**
     * Stops the poller: wakes its thread, wakes every waiter (they throw "poller closed"), joins the thread and
     * closes the epoll fd and wakeup eventfd. Idempotent. The shared poller ignores this call.
     */
    @Override
    public void close() {
        if (this == defaultPoller || closed) {
            return;
        }
        closed = true;
        try {
            EventFds.signal(wakeupFd, 1);
        } catch (NativeCallException e) {
            LOG.log(System.Logger.Level.ERROR, name + ": cannot signal the wakeup eventfd: " + e.getMessage());
        }
        boolean interrupted = false;
        while (thread.isAlive() && thread != Thread.currentThread()) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(10));
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        waiters.values().forEach(w -> LockSupport.unpark(w.thread));
        epollInUse.writeLock().lock(); // no waiter is inside epoll_ctl any more, and none will start
        try {
            epoll.close();
            wakeup.close();
        } finally {
            epollInUse.writeLock().unlock();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "Poller[" + name + (closed ? ", closed" : "") + ", " + waiters.size() + " waiters]";
    }

    private IOException closedException() {
        return new IOException("poller " + name + " closed");
    }

    private void loop() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment events = Epoll.allocateEvents(arena, MAX_EVENTS);
            while (!closed) {
                int n = Epoll.waitFor(epfd, events, -1);
                for (int i = 0; i < n; i++) {
                    int fd = (int) Epoll.data(events, i);
                    if (fd == wakeupFd) {
                        EventFds.drain(wakeupFd);
                        continue;
                    }
                    Waiter w = waiters.get(fd);
                    if (w != null) {
                        w.fired = true;
                        LockSupport.unpark(w.thread);
                    }
                }
            }
        } catch (NativeCallException | RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, name + ": poller loop failed; waking all waiters", e);
            closed = true;
        } finally {
            waiters.values().forEach(w -> LockSupport.unpark(w.thread));
        }
    }
}
