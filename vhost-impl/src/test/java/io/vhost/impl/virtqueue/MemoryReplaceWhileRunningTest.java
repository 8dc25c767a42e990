package io.vhost.impl.virtqueue;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.vhost.api.device.DescriptorChain;
import io.vhost.impl.memory.MemoryTable;
import io.vhost.impl.memory.MemoryView;
import io.vhost.impl.memory.SharedGuestMemory;
import io.vhost.impl.virtqueue.DriverRing.Buffer;
import io.vhost.impl.virtqueue.DriverRing.Used;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * SET_MEM_TABLE while a ring runs: the worker takes a view per batch, remaps the queue when the epoch changed, and
 * replaced tables are released only after the worker moved on.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class MemoryReplaceWhileRunningTest {

    @Test
    void workerFollowsPublishedTablesAndOldOnesAreReleased() throws Exception {
        try (TestGuest guest = new TestGuest(); SharedGuestMemory memory = new SharedGuestMemory()) {
            TestGuest.Ring ring = guest.ring(0, 16, 0x10000);
            List<AtomicInteger> releases = new ArrayList<>();
            AtomicInteger first = new AtomicInteger();
            releases.add(first);
            memory.publish(guest.table, first::incrementAndGet);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger remaps = new AtomicInteger();
            SplitVirtqueue queue = ring.device;

            try (ExecutorService worker = Executors.newVirtualThreadPerTaskExecutor()) {
                Future<?> loop = worker.submit(() -> {
                    long epoch = memory.epoch();
                    while (!stop.get()) {
                        try (MemoryView view = memory.acquire()) {
                            if (view.epoch() != epoch) {
                                queue.remap(view.table());
                                epoch = view.epoch();
                                remaps.incrementAndGet();
                            }
                            for (DescriptorChain c; (c = queue.pop()) != null; ) {
                                byte[] b = new byte[1];
                                c.read(0, MemorySegment.ofArray(b));
                                c.write(0, MemorySegment.ofArray(new byte[] {(byte) (b[0] * 2)}));
                                queue.addUsed(c, 1);
                            }
                        }
                        Thread.yield();
                    }
                    return null;
                });

                for (int i = 0; i < 50; i++) {
                    // The front-end re-sends the same layout: a new table object over the same mappings.
                    MemoryTable next = MemoryTable.of(guest.table.regions());
                    AtomicInteger released = new AtomicInteger();
                    releases.add(released);
                    memory.publish(next, released::incrementAndGet);

                    guest.put(0x18000 + i, new byte[] {(byte) i});
                    int head = ring.driver.add(List.of(new Buffer(0x18000 + i, 1)), List.of(new Buffer(0x19000 + i, 1)));
                    ring.driver.publish();
                    Used used = await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(1))
                            .until(ring.driver::poll, u -> u != null);
                    assertNotNull(used);
                    assertEquals(head, used.head());
                    assertEquals((byte) (2 * i), guest.get(0x19000 + i, 1)[0]);
                }
                stop.set(true);
                loop.get(5, TimeUnit.SECONDS);
            }
            for (int i = 0; i < releases.size() - 1; i++) {
                assertEquals(1, releases.get(i).get(), "table " + i + " released once");
            }
            assertEquals(0, releases.getLast().get());
            await().atMost(Duration.ofSeconds(1)).until(() -> remaps.get() > 0);
        }
    }
}
