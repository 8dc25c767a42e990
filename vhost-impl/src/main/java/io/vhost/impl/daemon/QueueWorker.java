package io.vhost.impl.daemon;

import io.vhost.api.error.NativeCallException;
import io.vhost.impl.poll.Poller;
import io.vhost.impl.sys.Epoll;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Consumer;

/**
 * The wait side of one worker: an epoll instance of its own holding the kick eventfds of its queues and a wake
 * eventfd. The worker is a virtual thread; it never blocks in {@code epoll_wait}: it parks in the FFM
 * {@link Poller} until this epoll fd is readable, then harvests the ready fds with a zero timeout.
 *
 * <p>Registration changes ({@link #watchKick}, {@link #unwatchKick}) come from the request thread; epoll makes them
 * safe against a concurrent harvest. {@link #wake()} makes the worker re-check its rings (after an enable, a memory
 * change or at shutdown).
 */
final class QueueWorker implements AutoCloseable {

    private static final long WAKE = -1;
    private static final int MAX_EVENTS = 32;

    private final String name;
    private final OwnedFd epoll;
    private final OwnedFd wake;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment events;
    private final Poller.Interest interest; // used by the worker thread only
    private final List<Vring> rings;
    /** Completed wait-and-process passes; written by the worker only, read by tests. */
    volatile long passes;

    QueueWorker(String name, List<Vring> rings) throws NativeCallException {
        this.name = name;
        this.rings = List.copyOf(rings);
        OwnedFd ep = Epoll.create("epoll of " + name);
        try {
            this.wake = EventFds.create(EventFds.EFD_NONBLOCK, "wake eventfd of " + name);
            Epoll.ctl(ep.number(), Epoll.EPOLL_CTL_ADD, wake.number(), Epoll.EPOLLIN, WAKE);
        } catch (NativeCallException | RuntimeException e) {
            ep.close();
            throw e;
        }
        this.epoll = ep;
        this.events = Epoll.allocateEvents(arena, MAX_EVENTS);
        this.interest = Poller.shared().interest(ep.number());
    }

    List<Vring> rings() {
        return rings;
    }

    String name() {
        return name;
    }

    /** Watches a ring's kick fd (level-triggered). The caller holds the ring's lock. */
    void watchKick(Vring ring) throws NativeCallException {
        Epoll.ctl(epoll.number(), Epoll.EPOLL_CTL_ADD, ring.kick.number(), Epoll.EPOLLIN, ring.index);
    }

    /** Stops watching a ring's kick fd before it is closed or replaced. The caller holds the ring's lock. */
    void unwatchKick(Vring ring) {
        if (ring.kick != null && ring.kick.isOpen() && epoll.isOpen()) {
            Epoll.tryCtl(epoll.number(), Epoll.EPOLL_CTL_DEL, ring.kick.number(), 0, 0);
        }
    }

    /** Makes the worker look at its rings again. */
    void wake() {
        try {
            if (wake.isOpen()) {
                EventFds.signal(wake.number(), 1);
            }
        } catch (NativeCallException | IllegalStateException e) {
            // closing: the worker is being interrupted anyway
        }
    }

    /**
     * Parks until a kick or a wake arrives, then reports each kicked ring once.
     *
     * @param kicked called with the index of every ring whose kick fd was readable (its counter already drained)
     * @throws InterruptedIOException when the worker is interrupted (session ending)
     * @throws IOException if the poller is closed or epoll fails
     */
    void awaitEvents(Consumer<Integer> kicked) throws IOException {
        interest.awaitSoon(Epoll.EPOLLIN, 0);
        int n = Epoll.waitFor(epoll.number(), events, 0);
        for (int i = 0; i < n; i++) {
            long data = Epoll.data(events, i);
            if (data == WAKE) {
                EventFds.drain(wake.number());
            } else {
                kicked.accept((int) data);
            }
        }
    }

    @Override
    public void close() {
        epoll.close();
        wake.close();
        arena.close();
    }
}
