package io.vhost.impl.memory;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SharedGuestMemoryTest {

    /** A table whose single region lives in its own arena; releasing it closes the arena (as munmap would). */
    private record Mapped(MemoryTable table, Arena arena, AtomicInteger releases) implements AutoCloseable {
        static Mapped create(byte marker) throws GuestMemoryException {
            Arena arena = Arena.ofShared();
            MemorySegment seg = arena.allocate(4096, 4096);
            seg.fill(marker);
            return new Mapped(MemoryTable.of(List.of(MemoryRegion.of(0x1000, 0x7000_0000L, seg))), arena,
                    new AtomicInteger());
        }

        @Override
        public void close() {
            releases.incrementAndGet();
            arena.close();
        }
    }

    @Test
    void oldTableIsReleasedOnlyAfterTheLastViewCloses() throws Exception {
        try (SharedGuestMemory memory = new SharedGuestMemory()) {
            Mapped first = Mapped.create((byte) 1);
            Mapped second = Mapped.create((byte) 2);
            assertEquals(1, memory.publish(first.table(), first));
            MemoryView held = memory.acquire();
            assertEquals(2, memory.publish(second.table(), second));
            assertTrue(held.isStale());
            assertEquals(0, first.releases().get(), "a worker still reads the first table");
            byte[] one = new byte[1];
            held.read(0x1000, MemorySegment.ofArray(one));
            assertEquals(1, one[0]);
            try (MemoryView fresh = memory.acquire()) {
                fresh.read(0x1000, MemorySegment.ofArray(one));
                assertEquals(2, one[0]);
                assertFalse(fresh.isStale());
            }
            held.close();
            held.close();
            assertEquals(1, first.releases().get());
            assertThrows(IllegalStateException.class, held::table);
            memory.close();
            assertEquals(1, second.releases().get());
            assertThrows(IllegalStateException.class, memory::acquire);
        }
    }

    @Test
    void concurrentReplaceWithVirtualThreadReaders() throws Exception {
        List<Mapped> all = new ArrayList<>();
        ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger reads = new AtomicInteger();
        SharedGuestMemory memory = new SharedGuestMemory();
        Mapped initial = Mapped.create((byte) 0);
        all.add(initial);
        memory.publish(initial.table(), initial);
        try (ExecutorService readers = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < 8; r++) {
                futures.add(readers.submit(() -> {
                    byte[] buf = new byte[64];
                    while (!stop.get()) {
                        try (MemoryView view = memory.acquire()) {
                            // The whole table must stay mapped while the view is held, even across yields.
                            view.read(0x1000, MemorySegment.ofArray(buf));
                            Thread.yield();
                            MemorySegment s = view.table().slice(0x1000 + 4000, 8);
                            byte b = s.get(ValueLayout.JAVA_BYTE, 0);
                            if (b != buf[0]) {
                                failures.add(new AssertionError("table changed under a held view: " + b + " vs "
                                        + buf[0]));
                            }
                            reads.incrementAndGet();
                        } catch (Throwable t) {
                            failures.add(t);
                        }
                    }
                    return null;
                }));
            }
            for (int i = 1; i <= 200; i++) {
                Mapped next = Mapped.create((byte) i);
                all.add(next);
                memory.publish(next.table(), next);
                if (i % 20 == 0) {
                    int seen = reads.get();
                    await().atMost(Duration.ofSeconds(5)).until(() -> reads.get() > seen);
                }
            }
            stop.set(true);
            for (Future<?> f : futures) {
                f.get(10, TimeUnit.SECONDS);
            }
        }
        assertTrue(failures.isEmpty(), () -> "reader failures: " + failures);
        for (int i = 0; i < all.size() - 1; i++) {
            assertEquals(1, all.get(i).releases().get(), "replaced table " + i + " released exactly once");
        }
        assertEquals(0, all.getLast().releases().get(), "current table still mapped");
        memory.close();
        assertEquals(1, all.getLast().releases().get());
    }
}
