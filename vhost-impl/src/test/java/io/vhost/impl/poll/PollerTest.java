package io.vhost.impl.poll;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.impl.sys.Epoll;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.testing.EpollEntries;
import io.vhost.testing.NoFdLeaks;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@NoFdLeaks(eachTest = true)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PollerTest {

    private static final Duration BOUND = Duration.ofSeconds(30);
    private Poller poller;
    private final List<OwnedFd> fds = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        poller = Poller.start("test-poller");
    }

    @AfterEach
    void stop() {
        poller.close();
        fds.forEach(OwnedFd::close);
    }

    private OwnedFd eventfd(String role) throws Exception {
        OwnedFd fd = EventFds.create(EventFds.EFD_NONBLOCK, role);
        fds.add(fd);
        return fd;
    }

    @Test
    void fiveHundredVirtualThreadsWakeWhileAnotherVirtualThreadKeepsTicking() throws Exception {
        int count = 500;
        AtomicInteger ticks = new AtomicInteger();
        AtomicBoolean running = new AtomicBoolean(true);
        Thread ticker = Thread.ofVirtual().name("ticker").start(() -> {
            while (running.get()) {
                try {
                    Thread.sleep(10); // the workload whose progress we observe, not a synchronisation
                } catch (InterruptedException e) {
                    return;
                }
                ticks.incrementAndGet();
            }
        });
        List<OwnedFd> kicks = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            kicks.add(eventfd("kick eventfd " + i));
        }
        AtomicInteger woken = new AtomicInteger();
        ConcurrentHashMap<Integer, Throwable> failures = new ConcurrentHashMap<>();
        List<Thread> waiters = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int index = i;
            int fd = kicks.get(i).number();
            waiters.add(Thread.ofVirtual().name("waiter-" + i).start(() -> {
                try {
                    while (EventFds.drain(fd) == 0) {
                        poller.awaitReadable(fd);
                    }
                    woken.incrementAndGet();
                } catch (IOException | RuntimeException e) {
                    failures.put(index, e);
                }
            }));
        }
        await().atMost(BOUND).until(() -> poller.waiterCount() == count);
        assertEquals(0, woken.get(), "nobody was signalled yet");
        int ticksWhileParked = ticks.get();
        await().atMost(BOUND).until(() -> ticks.get() >= ticksWhileParked + 5);

        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(42));
        int ticksBeforeSignals = ticks.get();
        for (int i : order) {
            EventFds.signal(kicks.get(i).number(), 1);
        }
        await().atMost(BOUND).until(() -> woken.get() + failures.size() == count);
        assertTrue(failures.isEmpty(), "waiters failed: " + failures);
        for (Thread t : waiters) {
            assertTrue(t.join(BOUND));
        }
        await().atMost(BOUND).until(() -> ticks.get() > ticksBeforeSignals);
        running.set(false);
        assertTrue(ticker.join(BOUND));
        assertEquals(0, poller.waiterCount());
    }

    @Test
    void closeWakesEveryWaiterWithPollerClosed() throws Exception {
        int count = 20;
        ConcurrentHashMap<String, Throwable> outcome = new ConcurrentHashMap<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int fd = eventfd("idle " + i).number();
            Thread.Builder builder = i % 5 == 0 ? Thread.ofPlatform() : Thread.ofVirtual();
            threads.add(builder.name("closed-waiter-" + i).start(() -> {
                try {
                    poller.awaitReadable(fd);
                    outcome.put(Thread.currentThread().getName(), new AssertionError("woke without an event"));
                } catch (IOException | RuntimeException e) {
                    outcome.put(Thread.currentThread().getName(), e);
                }
            }));
        }
        await().atMost(BOUND).until(() -> poller.waiterCount() == count);
        poller.close();
        await().atMost(BOUND).until(() -> outcome.size() == count);
        for (Throwable t : outcome.values()) {
            assertInstanceOf(IOException.class, t);
            assertEquals("poller test-poller closed", t.getMessage());
        }
        for (Thread t : threads) {
            assertTrue(t.join(BOUND));
        }
        IOException after = assertThrows(IOException.class, () -> poller.awaitReadable(eventfd("late").number()));
        assertEquals("poller test-poller closed", after.getMessage());
    }

    @Test
    void interruptRemovesTheRegistration() throws Exception {
        OwnedFd fd = eventfd("interrupted kick");
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        AtomicBoolean stillInterrupted = new AtomicBoolean();
        Thread waiter = Thread.ofVirtual().start(() -> {
            try {
                poller.awaitReadable(fd.number());
            } catch (IOException e) {
                thrown.set(e);
                stillInterrupted.set(Thread.currentThread().isInterrupted());
            }
        });
        await().atMost(BOUND).until(() -> poller.waiterCount() == 1);
        waiter.interrupt();
        assertTrue(waiter.join(BOUND));
        assertInstanceOf(InterruptedIOException.class, thrown.get());
        assertTrue(thrown.get().getMessage().contains("interrupted while waiting for fd " + fd.number()));
        assertTrue(stillInterrupted.get(), "the interrupt status must stay set");
        assertEquals(0, poller.waiterCount());
        // the epoll registration is gone: ADD succeeds (it would fail with EEXIST if the fd were still registered)
        OwnedFd probe = Epoll.create("probe");
        fds.add(probe);
        assertEquals(0, Epoll.tryCtl(probe.number(), Epoll.EPOLL_CTL_ADD, fd.number(), Epoll.EPOLLIN, 0));
        // and the fd can be waited on again
        Thread again = Thread.ofVirtual().start(() -> {
            try {
                poller.awaitReadable(fd.number());
            } catch (IOException e) {
                thrown.set(e);
            }
        });
        await().atMost(BOUND).until(() -> poller.waiterCount() == 1);
        EventFds.signal(fd.number(), 1);
        assertTrue(again.join(BOUND));
        assertEquals(1, EventFds.drain(fd.number()));
    }

    @Test
    void timeoutReturnsFalseAndSecondWaiterIsRefused() throws Exception {
        OwnedFd fd = eventfd("quiet");
        assertFalse(poller.await(fd.number(), Epoll.EPOLLIN, TimeUnit.MILLISECONDS.toNanos(20)));
        AtomicReference<Throwable> first = new AtomicReference<>();
        Thread waiter = Thread.ofVirtual().start(() -> {
            try {
                poller.awaitReadable(fd.number());
            } catch (IOException e) {
                first.set(e);
            }
        });
        await().atMost(BOUND).until(() -> poller.waiterCount() == 1);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> poller.awaitReadable(fd.number()));
        assertTrue(e.getMessage().contains("already has a waiting thread"), e.getMessage());
        EventFds.signal(fd.number(), 1);
        assertTrue(waiter.join(BOUND));
        assertEquals(null, first.get());
    }

    @Test
    void sharedPollerIsOneNamedDaemonThatIgnoresClose() {
        Poller shared = Poller.shared();
        assertSame(shared, Poller.shared());
        shared.close();
        assertFalse(shared.isClosed());
        Thread thread = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("vhost-poller")).findFirst().orElse(null);
        assertNotNull(thread);
        assertTrue(thread.isDaemon());
        assertFalse(thread.isVirtual());
    }

    @Test
    void interestKeepsTheRegistrationWhileWaitsParkAndRemovesItWhenOneDoesNot() throws Exception {
        OwnedFd fd = eventfd("interest");
        Poller.Interest interest = poller.interest(fd.number());
        assertEquals(0, EpollEntries.count(fd.number()), "nothing registered before the first wait");

        EventFds.signal(fd.number(), 1);
        assertTrue(interest.park(Epoll.EPOLLIN, 0)); // ready at once: the one-shot registration fires and stays
        assertEquals(1, EventFds.drain(fd.number()));
        assertTrue(interest.registrationKept());
        assertEquals(1, EpollEntries.count(fd.number()), "a fired wait leaves its (disarmed) registration");

        EventFds.signal(fd.number(), 1);
        assertTrue(interest.park(Epoll.EPOLLIN, 0)); // parks again: re-armed in place, still one entry
        assertEquals(1, EventFds.drain(fd.number()));
        assertEquals(1, EpollEntries.count(fd.number()));

        interest.readyWithoutPark(); // the owner found data without parking: the registration goes
        assertFalse(interest.registrationKept());
        assertEquals(0, EpollEntries.count(fd.number()), "released: no epoll callback left on the eventfd");
        interest.readyWithoutPark(); // nothing kept: no call
        assertEquals(0, EpollEntries.count(fd.number()));

        assertFalse(interest.park(Epoll.EPOLLIN, TimeUnit.MILLISECONDS.toNanos(5)), "nothing to read");
        assertFalse(interest.registrationKept());
        assertEquals(0, EpollEntries.count(fd.number()), "a wait that ran out removes its registration");
    }

    @Test
    void interestFoundReadyByABriefWaitReleasesTheRegistration() throws Exception {
        OwnedFd fd = eventfd("interest, brief");
        Poller.Interest interest = poller.interest(fd.number());
        EventFds.signal(fd.number(), 1);
        assertTrue(interest.park(Epoll.EPOLLIN, 0));
        assertEquals(1, EpollEntries.count(fd.number()));
        // awaitSoon on a platform thread skips the brief stage and parks: the registration is re-armed and kept
        assertTrue(interest.awaitSoon(Epoll.EPOLLIN, 0));
        assertEquals(1, EpollEntries.count(fd.number()));
        EventFds.drain(fd.number());
        AtomicReference<Object> result = new AtomicReference<>();
        Thread virtual = Thread.ofVirtual().start(() -> {
            try {
                // a brief wait that finds the data (when the scheduler has a carrier to spare), else a park
                result.set(interest.awaitSoon(Epoll.EPOLLIN, 0));
            } catch (IOException e) {
                result.set(e);
            }
        });
        EventFds.signal(fd.number(), 1);
        assertTrue(virtual.join(BOUND));
        assertEquals(Boolean.TRUE, result.get());
        if (BriefWait.maxWaiters() > 0) {
            // with spare carriers the brief stage ran: if it found the data, the registration is gone
            assertEquals(interest.registrationKept() ? 1 : 0, EpollEntries.count(fd.number()));
        }
    }
}
