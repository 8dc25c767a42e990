package io.vhost.impl.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.api.message.VringAddress;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.virtqueue.DriverRing;
import io.vhost.testing.NoFdLeaks;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The VMM-side helpers without a peer: guest memory layout and translation, kick and call through eventfds. */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class VmmMemoryAndDriverQueueTest {

    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Test
    void regionsAreConsecutiveAndTranslateWithinOneRegion() throws Exception {
        try (VmmMemory m = VmmMemory.create(0x10000, 1 << 20, 2 << 20)) {
            List<SharedRegion> regions = m.regions();
            assertEquals(2, regions.size());
            assertEquals(0x10000, regions.get(0).region().guestAddress());
            assertEquals(0x10000 + (1 << 20), regions.get(1).region().guestAddress());
            assertEquals(2 << 20, regions.get(1).region().sizeBytes());
            assertEquals(regions.get(1).region().userAddress() + 8, m.userAddress(0x10000 + (1 << 20) + 8));
            MemorySegment s = m.segment(0x10000 + 100, 4);
            s.set(LE_INT, 0, 0x12345678);
            assertEquals(0x12345678, m.segment(0x10000 + 100, 4).get(LE_INT, 0));
            GuestMemoryException e = assertThrows(GuestMemoryException.class,
                    () -> m.segment(0x10000 + (1 << 20) - 4, 8));
            assertTrue(e.getMessage().contains("not inside one guest memory region"), e.getMessage());
            assertThrows(GuestMemoryException.class, () -> m.segment(0, 1));
            long a = m.allocate((1 << 20) - 16, 4096);
            long b = m.allocate(4096, 4096);
            assertEquals(0x10000, a);
            assertEquals(0x10000 + (1 << 20), b, "a block that does not fit moves to the next region");
            assertThrows(IllegalStateException.class, () -> m.allocate(4L << 20, 4096));
        }
    }

    @Test
    void kickSignalsTheEventfdAndACallWakesTheWaiter() throws Exception {
        try (VmmMemory m = VmmMemory.create(1 << 20); DriverQueue q = new DriverQueue(m, 3, 8)) {
            VringAddress addr = q.address();
            assertEquals(3, addr.index());
            long buffer = m.allocate(64, 64);
            int head = q.add(List.of(new DriverRing.Buffer(buffer, 64)), List.of());
            q.kick();
            assertEquals(1, EventFds.drain(q.kickFd().number()), "kick eventfd signalled once");
            assertNull(q.awaitUsed(Duration.ofMillis(1)), "nothing used yet");

            // Play the device: write used element (head, 64) and the used index, then signal the call eventfd.
            MemorySegment used = MemorySegment.ofAddress(addr.usedAddress()).reinterpret(6 + 8 * 8);
            CompletableFuture<DriverRing.Used> reaped = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> {
                try {
                    reaped.complete(q.awaitUsed(Duration.ofSeconds(10)));
                } catch (Exception e) {
                    reaped.completeExceptionally(e);
                }
            });
            used.set(LE_INT, 4, head);
            used.set(LE_INT, 8, 64);
            used.set(LE_SHORT, 2, (short) 1);
            EventFds.signal(q.callFd().number(), 1);
            DriverRing.Used u = reaped.get(10, TimeUnit.SECONDS);
            assertNotNull(u);
            assertEquals(head, u.head());
            assertEquals(64, u.length());
            assertEquals(1, q.deviceUsedIndex());
        }
    }
}
