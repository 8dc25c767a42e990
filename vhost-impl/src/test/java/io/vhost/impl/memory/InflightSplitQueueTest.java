package io.vhost.impl.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class InflightSplitQueueTest {

    private final Arena arena = Arena.ofShared();

    @AfterEach
    void tearDown() {
        arena.close();
    }

    @Test
    void sizesMatchTheSpecLayoutWithSixtyFourByteAlignment() {
        // QueueRegionSplit: u64 + 4 x u16 = 16 bytes header; DescStateSplit: u8 + 5 pad + u16 + u64 = 16 bytes.
        assertEquals(16, InflightSplitQueue.HEADER_BYTES);
        assertEquals(16, InflightSplitQueue.DESC_STATE_BYTES);
        assertEquals(4160, InflightSplitQueue.queueRegionBytes(256)); // 16 + 4096 = 4112 -> 4160
        assertEquals(64, InflightSplitQueue.queueRegionBytes(1)); // 32 -> 64
        assertEquals(16448, InflightSplitQueue.queueRegionBytes(1024)); // 16400 -> 16448
        assertEquals(2 * 4160, InflightSplitQueue.mmapBytes(2, 256));
    }

    @Test
    void fieldsLandAtTheirSpecOffsets() throws Exception {
        MemorySegment buffer = arena.allocate(InflightSplitQueue.mmapBytes(2, 8), 64);
        InflightSplitQueue q1 = InflightSplitQueue.ofQueue(buffer, 1, 8);
        q1.initialize();
        long base = InflightSplitQueue.queueRegionBytes(8); // queue 1 starts after queue 0's aligned region
        assertEquals(192, base);
        assertEquals(0L, buffer.get(ValueLayout.JAVA_LONG_UNALIGNED, base));
        assertEquals(1, buffer.get(ValueLayout.JAVA_SHORT_UNALIGNED, base + 8));
        assertEquals(8, buffer.get(ValueLayout.JAVA_SHORT_UNALIGNED, base + 10));
        q1.markInflight(3, 0x1122334455L);
        long entry = base + 16 + 16 * 3;
        assertEquals(1, buffer.get(ValueLayout.JAVA_BYTE, entry));
        assertEquals(0x1122334455L, buffer.get(ValueLayout.JAVA_LONG_UNALIGNED, entry + 8));
        q1.addToBatch(3);
        assertEquals(3, buffer.get(ValueLayout.JAVA_SHORT_UNALIGNED, base + 12));
        q1.commitBatch(1, 7);
        assertEquals(0, buffer.get(ValueLayout.JAVA_BYTE, entry));
        assertEquals(7, buffer.get(ValueLayout.JAVA_SHORT_UNALIGNED, base + 14));
        assertFalse(InflightSplitQueue.ofQueue(buffer, 0, 8).isInitialized());
        var e = assertThrows(GuestMemoryException.class, () -> InflightSplitQueue.ofQueue(buffer, 2, 8));
        assertEquals("inflight buffer of 384 bytes has no region for queue 2 (needs 576 bytes for queue size 8)",
                e.getMessage());
    }

    @Test
    void recoveryFixesTheLastBatchAndOrdersByCounter() throws Exception {
        InflightSplitQueue q = new InflightSplitQueue(arena.allocate(InflightSplitQueue.queueRegionBytes(8)), 8);
        q.initialize();
        q.markInflight(5, 10);
        q.markInflight(2, 11);
        q.markInflight(7, 12);
        q.markInflight(1, 13);
        // Crash after publishing used idx 2 for heads 5 and 7 but before clearing their inflight flags.
        q.addToBatch(5);
        q.addToBatch(7);
        assertTrue(q.isInflight(5));
        int[] resubmit = q.recover(2);
        assertArrayEquals(new int[] {2, 1}, resubmit);
        assertEquals(2, q.usedIndex());
        assertEquals(14, q.nextCounter());
    }

    @Test
    void recoveryRejectsInconsistentRegions() throws Exception {
        MemorySegment seg = arena.allocate(InflightSplitQueue.queueRegionBytes(8));
        InflightSplitQueue q = new InflightSplitQueue(seg, 8);
        q.initialize();
        var e = assertThrows(GuestMemoryException.class, () -> q.recover(100));
        assertEquals("inflight region used_idx 0 is 100 behind the used ring's idx 100, more than queue size 8",
                e.getMessage());
        seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, 10, (short) 16);
        var d = assertThrows(GuestMemoryException.class, () -> q.recover(0));
        assertEquals("inflight region desc_num 16 does not match queue size 8; region rejected", d.getMessage());
        seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, 10, (short) 8);
        seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, 12, (short) 200); // last_batch_head out of range
        var h = assertThrows(GuestMemoryException.class, () -> q.recover(1));
        assertEquals("inflight region: last batch entry 0 links to descriptor 200 >= queue size 8", h.getMessage());
    }
}
