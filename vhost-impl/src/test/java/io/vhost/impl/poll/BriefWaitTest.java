package io.vhost.impl.poll;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Unistd;
import io.vhost.testing.NoFdLeaks;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The brief kernel wait: it finds data, it ends by itself when nothing comes (the kernel's timeout), it backs off, it
 * is only for virtual threads, at most {@link BriefWait#maxWaiters()} carriers wait at once, and it never stops other
 * virtual threads for good. The surefire JVM runs two carriers, so one waiter.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BriefWaitTest {

    private static final Duration BOUND = Duration.ofSeconds(30);
    private final List<OwnedFd> fds = new ArrayList<>();

    @BeforeAll
    static void slots() {
        assertEquals(1, BriefWait.maxWaiters(), "the tests run with jdk.virtualThreadScheduler.parallelism=2: one"
                + " carrier waits at most, the other stays free");
        assertEquals(BriefWait.DEFAULT_MICROS * 1_000L, BriefWait.limitNanos());
    }

    @AfterEach
    void close() {
        fds.forEach(OwnedFd::close);
    }

    private OwnedFd eventfd() throws Exception {
        OwnedFd fd = EventFds.create(EventFds.EFD_NONBLOCK, "brief-wait test eventfd");
        fds.add(fd);
        return fd;
    }

    private static <T> T onVirtualThread(Callable<T> body) throws Exception {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                result.complete(body.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        return result.get(BOUND.toSeconds(), TimeUnit.SECONDS);
    }

    @Test
    void dataThatArrivesEndsTheWaitAsReady() throws Exception {
        OwnedFd fd = eventfd();
        AtomicBoolean done = new AtomicBoolean();
        Thread signaller = Thread.ofPlatform().start(() -> {
            while (!done.get()) {
                try {
                    EventFds.signal(fd.number(), 1);
                    Thread.sleep(0, 200_000);
                } catch (Exception e) {
                    return;
                }
            }
        });
        try {
            // On a loaded machine the signaller may miss a wait's window (its timeout ends it): then the thread backs
            // off and waits again; some wait must end with the data.
            assertTrue(onVirtualThread(() -> {
                while (!BriefWait.await(fd.number(), Unistd.POLLIN)) {
                    Thread.sleep(1);
                }
                return true;
            }));
        } finally {
            done.set(true);
            signaller.join();
        }
    }

    @Test
    void aWaitForNothingEndsByItselfThenTheThreadBacksOff() throws Exception {
        OwnedFd fd = eventfd();
        List<Boolean> results = onVirtualThread(() -> {
            List<Boolean> r = new ArrayList<>();
            r.add(BriefWait.await(fd.number(), Unistd.POLLIN)); // nothing comes: the timeout ends it
            EventFds.signal(fd.number(), 1);
            r.add(BriefWait.await(fd.number(), Unistd.POLLIN)); // skipped (back-off 1), although data is there
            r.add(BriefWait.await(fd.number(), Unistd.POLLIN)); // waits again and finds the data
            EventFds.drain(fd.number());
            r.add(BriefWait.await(fd.number(), Unistd.POLLIN)); // nothing again: ended, back-off 1 (reset by data)
            r.add(BriefWait.await(fd.number(), Unistd.POLLIN)); // skipped
            return r;
        });
        assertEquals(List.of(false, false, true, false, false), results);
    }

    @Test
    void platformThreadsDoNotWaitOnTheirCarrierBecauseTheyHaveNone() throws Exception {
        OwnedFd fd = eventfd();
        EventFds.signal(fd.number(), 1);
        assertFalse(BriefWait.await(fd.number(), Unistd.POLLIN), "a platform thread waits in poll(2) itself");
    }

    @Test
    void noMoreThanMaxWaitersCarriersWaitAtOnce() throws Exception {
        int max = BriefWait.maxWaiters();
        List<BriefWait.Ticket> held = new ArrayList<>();
        CompletableFuture<Void> release = new CompletableFuture<>();
        List<Thread> holders = new ArrayList<>();
        java.util.concurrent.CountDownLatch taken = new java.util.concurrent.CountDownLatch(max);
        for (int i = 0; i < max; i++) {
            holders.add(Thread.ofVirtual().start(() -> {
                BriefWait.Ticket t = BriefWait.begin();
                synchronized (held) {
                    held.add(t);
                }
                taken.countDown();
                try {
                    release.get(); // holds its ticket, parked (not on a carrier), like a wait in progress
                } catch (Exception e) {
                    // ends below
                } finally {
                    if (t != null) {
                        BriefWait.end(t, true);
                    }
                }
            }));
        }
        try {
            assertTrue(taken.await(BOUND.toSeconds(), TimeUnit.SECONDS));
            synchronized (held) {
                assertFalse(held.contains(null), "the first " + max + " threads get a ticket");
            }
            OwnedFd fd = eventfd();
            EventFds.signal(fd.number(), 1);
            assertFalse(onVirtualThread(() -> BriefWait.await(fd.number(), Unistd.POLLIN)),
                    "a further thread does not wait on its carrier although its data is there: it parks instead");
        } finally {
            release.complete(null);
            for (Thread t : holders) {
                t.join();
            }
        }
        OwnedFd fd = eventfd();
        EventFds.signal(fd.number(), 1);
        assertTrue(onVirtualThread(() -> BriefWait.await(fd.number(), Unistd.POLLIN)), "tickets were handed back");
    }

    @Test
    void virtualThreadsKeepRunningWhileOthersWaitBrieflyForNothing() throws Exception {
        int waiters = 6; // more than the one waiter and the two carriers
        List<OwnedFd> quiet = new ArrayList<>();
        for (int i = 0; i < waiters; i++) {
            quiet.add(eventfd());
        }
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong ended = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (OwnedFd fd : quiet) {
            threads.add(Thread.ofVirtual().start(() -> {
                while (!stop.get()) {
                    try {
                        if (!BriefWait.await(fd.number(), Unistd.POLLIN)) {
                            ended.incrementAndGet();
                            Thread.sleep(1); // parks, as a real waiter parks in the poller
                        }
                    } catch (Exception e) {
                        return;
                    }
                }
            }));
        }
        AtomicLong ticks = new AtomicLong();
        Thread ticker = Thread.ofVirtual().start(() -> {
            while (!stop.get()) {
                ticks.incrementAndGet();
                Thread.yield();
            }
        });
        try {
            await().atMost(BOUND).until(() -> ticks.get() > 10_000 && ended.get() > 100);
        } finally {
            stop.set(true);
            for (Thread t : threads) {
                t.join();
            }
            ticker.join();
        }
    }

    @Test
    void aParkAfterTheBriefWaitIsWokenThroughThePoller() throws Exception {
        OwnedFd fd = eventfd();
        try (Poller poller = Poller.start("brief-wait-test-poller")) {
            CompletableFuture<Void> woken = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> {
                try {
                    poller.awaitReadableSoon(fd.number());
                    woken.complete(null);
                } catch (Throwable t) {
                    woken.completeExceptionally(t);
                }
            });
            await().atMost(BOUND).until(() -> poller.waiterCount() == 1); // the brief stage ended, it parked
            assertFalse(woken.isDone());
            EventFds.signal(fd.number(), 1);
            woken.get(BOUND.toSeconds(), TimeUnit.SECONDS);
        }
    }
}
