package io.vhost.impl.daemon;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class SupervisorTest {

    @Test
    void firstFailureCancelsSiblingsAndRunsHooksOnce() throws Exception {
        AtomicInteger hookRuns = new AtomicInteger();
        CountDownLatch siblingsWaiting = new CountDownLatch(2);
        List<Throwable> siblingEndings = new CopyOnWriteArrayList<>();
        IOException boom = new IOException("boom");
        try (Supervisor sup = new Supervisor("test#1")) {
            sup.onShutdown(hookRuns::incrementAndGet);
            for (int i = 0; i < 2; i++) {
                sup.fork("sibling-" + i, () -> {
                    siblingsWaiting.countDown();
                    try {
                        new CountDownLatch(1).await();
                    } catch (InterruptedException e) {
                        siblingEndings.add(e);
                        throw e;
                    }
                });
            }
            siblingsWaiting.await();
            sup.fork("failing", () -> {
                throw boom;
            });
            sup.join();
            assertSame(boom, sup.failure().orElseThrow());
            assertEquals(2, siblingEndings.size());
            assertTrue(sup.isShuttingDown());
        }
        assertEquals(1, hookRuns.get());
    }

    @Test
    void closeJoinsEveryChildAndNothingStaysAlive() throws Exception {
        Supervisor sup = new Supervisor("test#2");
        List<Thread> threads = new CopyOnWriteArrayList<>();
        CountDownLatch running = new CountDownLatch(3);
        for (int i = 0; i < 2; i++) {
            threads.add(sup.fork("v" + i, () -> {
                running.countDown();
                new CountDownLatch(1).await();
            }));
        }
        threads.add(sup.forkPlatform("p", () -> {
            running.countDown();
            new CountDownLatch(1).await();
        }));
        running.await();
        assertEquals(3, sup.liveChildren());
        sup.close();
        assertEquals(0, sup.liveChildren());
        for (Thread t : threads) {
            assertFalse(t.isAlive(), t.getName());
        }
        assertTrue(threads.get(0).getName().startsWith("test#2-v0"));
        assertTrue(sup.failure().isEmpty(), "cancellation after close is not a failure");
    }

    @Test
    void shutdownHookUnblocksAChildThatIgnoresInterrupts() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch blocked = new CountDownLatch(1);
        Supervisor sup = new Supervisor("test#3");
        sup.onShutdown(release::countDown);
        sup.fork("stubborn", () -> {
            blocked.countDown();
            while (true) {
                try {
                    release.await();
                    return;
                } catch (InterruptedException ignored) {
                    // a child blocked in I/O may not see interrupts; the hook is what wakes it
                }
            }
        });
        blocked.await();
        sup.close();
        assertEquals(0, sup.liveChildren());
    }

    @Test
    void forkAfterShutdownIsRefused() {
        Supervisor sup = new Supervisor("test#4");
        sup.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> sup.fork("late", () -> { }));
        assertTrue(e.getMessage().contains("test#4 is shutting down"), e.getMessage());
    }

    @Test
    void hookRegisteredAfterShutdownRunsAtOnce() {
        Supervisor sup = new Supervisor("test#5");
        sup.shutdown();
        AtomicInteger ran = new AtomicInteger();
        sup.onShutdown(ran::incrementAndGet);
        assertEquals(1, ran.get());
        sup.close();
    }

    @Test
    void childCanCloseItsOwnSupervisor() throws Exception {
        Supervisor sup = new Supervisor("test#6");
        CountDownLatch sibling = new CountDownLatch(1);
        sup.fork("sibling", () -> {
            sibling.countDown();
            new CountDownLatch(1).await();
        });
        sibling.await();
        sup.fork("closer", sup::close);
        await().atMost(Duration.ofSeconds(10)).until(() -> sup.liveChildren() == 0);
        assertTrue(sup.failure().isEmpty());
    }
}
