package io.vhost.impl.virtqueue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.memory.DirtyLog;
import io.vhost.impl.memory.DirtyLogHolder;
import io.vhost.impl.memory.InflightSplitQueue;
import io.vhost.impl.memory.MemoryRegion;
import io.vhost.impl.memory.MemoryTable;
import io.vhost.impl.virtqueue.DriverRing.Buffer;
import io.vhost.impl.virtqueue.DriverRing.Used;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Dirty logging, inflight tracking and memory-table changes as seen by a running split ring. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class VirtqueueHooksTest {

    private static final long DATA = 0x18000;
    private static final long REPLY = 0x19000;
    private static final long USED_LOG_ADDRESS = 0x40000; // log_guest_addr need not be guest memory

    private TestGuest guest;
    private TestGuest.Ring ring;

    @BeforeEach
    void setUp() throws GuestMemoryException {
        guest = new TestGuest();
        ring = guest.ring(0, 8, 0x10000);
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    @Test
    void writesToBuffersAndUsedRingAreLoggedWhenActive() throws Exception {
        DirtyLog log = new DirtyLog(guest.arena.allocate(64, 8), 64); // 512 pages, up to 0x1fffff
        try (DirtyLogHolder holder = new DirtyLogHolder()) {
            holder.replace(log, null);
            ring.device.setDirtyLog(holder, USED_LOG_ADDRESS, true);

            ring.driver.add(List.of(new Buffer(DATA, 8)), List.of(new Buffer(REPLY, 0x2000)));
            ring.driver.publish();
            RingChain quiet = ring.device.pop();
            quiet.write(0, MemorySegment.ofArray(new byte[16]));
            ring.device.addUsed(quiet, 16);
            assertFalse(log.isDirty(REPLY), "logging off: nothing marked");
            assertFalse(log.isDirty(USED_LOG_ADDRESS));

            holder.setLogging(true);
            ring.driver.add(List.of(new Buffer(DATA, 8)), List.of(new Buffer(REPLY, 0x2000)));
            ring.driver.publish();
            RingChain chain = ring.device.pop();
            chain.write(0x1000, MemorySegment.ofArray(new byte[16]));
            ring.device.addUsed(chain, 0x1010);
            assertTrue(log.isDirty(REPLY + 0x1000));
            assertFalse(log.isDirty(REPLY), "page not written");
            assertFalse(log.isDirty(DATA), "readable buffer not written");
            assertTrue(log.isDirty(USED_LOG_ADDRESS), "used ring logged at log_guest_addr");
            assertFalse(log.isDirty(ring.usedGpa), "used ring not logged at its GPA");
        }
    }

    @Test
    void usedRingIsNotLoggedWithoutVringLogFlag() throws Exception {
        DirtyLog log = new DirtyLog(guest.arena.allocate(64, 8), 64);
        try (DirtyLogHolder holder = new DirtyLogHolder()) {
            holder.replace(log, null);
            holder.setLogging(true);
            ring.device.setDirtyLog(holder, USED_LOG_ADDRESS, false);
            ring.driver.add(List.of(), List.of(new Buffer(REPLY, 16)));
            ring.driver.publish();
            RingChain chain = ring.device.pop();
            chain.write(0, MemorySegment.ofArray(new byte[4]));
            ring.device.addUsed(chain, 4);
            assertTrue(log.isDirty(REPLY));
            assertFalse(log.isDirty(USED_LOG_ADDRESS));
        }
    }

    @Test
    void inflightTrackingSurvivesABackendRestart() throws Exception {
        MemorySegment buffer = guest.arena.allocate(InflightSplitQueue.mmapBytes(1, 8), 64);
        InflightSplitQueue region = InflightSplitQueue.ofQueue(buffer, 0, 8);
        ring.device.attachInflight(region);
        assertTrue(region.isInitialized());

        int a = ring.driver.add(List.of(new Buffer(DATA, 1)), List.of());
        int b = ring.driver.add(List.of(new Buffer(DATA + 1, 1)), List.of());
        int c = ring.driver.add(List.of(new Buffer(DATA + 2, 1)), List.of());
        ring.driver.publish();
        RingChain first = ring.device.pop();
        RingChain second = ring.device.pop();
        RingChain third = ring.device.pop();
        assertTrue(region.isInflight(a) && region.isInflight(b) && region.isInflight(c));
        assertEquals(0, region.counter(a));
        assertEquals(2, region.counter(c));
        ring.device.addUsed(second, 0); // out of order completion
        assertFalse(region.isInflight(b));
        assertEquals(1, region.usedIndex());
        assertEquals(first.headIndex(), a);
        assertEquals(third.headIndex(), c);

        // The back-end restarts: a new queue object gets the same inflight region back.
        SplitVirtqueue restarted = new SplitVirtqueue(0, 8);
        restarted.setNextAvail(3);
        restarted.configure(guest.table, TestGuest.user(ring.descGpa), TestGuest.user(ring.availGpa),
                TestGuest.user(ring.usedGpa));
        restarted.attachInflight(region);
        assertTrue(restarted.enableNotification(), "resubmissions pending");
        RingChain again = restarted.pop();
        assertEquals(a, again.headIndex());
        assertEquals(c, restarted.pop().headIndex());
        assertNull(restarted.pop());
        restarted.addUsed(again, 0);
        assertEquals(2, region.usedIndex());
        assertEquals(new Used(b, 0), ring.driver.poll());
        assertEquals(new Used(a, 0), ring.driver.poll());
    }

    /**
     * QEMU 7.2 after a back-end crash: GET_VRING_BASE fails on the dead connection ("vhost VQ 0 ring restore failed:
     * -22"), so QEMU restores last_avail_idx from the used idx in guest memory and the new back-end gets
     * SET_VRING_BASE = used idx. The inflight heads are then both in the resubmit list and between used idx and avail
     * idx; each must be processed once.
     */
    @Test
    void afterACrashTheInflightHeadsAreNotPoppedAgainWhenTheBaseIsTheUsedIndex() throws Exception {
        MemorySegment buffer = guest.arena.allocate(InflightSplitQueue.mmapBytes(1, 8), 64);
        InflightSplitQueue region = InflightSplitQueue.ofQueue(buffer, 0, 8);
        ring.device.attachInflight(region);
        int a = ring.driver.add(List.of(new Buffer(DATA, 1)), List.of());
        int b = ring.driver.add(List.of(new Buffer(DATA + 1, 1)), List.of());
        int c = ring.driver.add(List.of(new Buffer(DATA + 2, 1)), List.of());
        int d = ring.driver.add(List.of(new Buffer(DATA + 3, 1)), List.of());
        ring.driver.publish();
        ring.device.pop();
        RingChain second = ring.device.pop();
        ring.device.pop();
        ring.device.addUsed(second, 0); // used idx 1; a and c inflight; d available, not popped

        SplitVirtqueue restarted = new SplitVirtqueue(0, 8);
        restarted.setNextAvail(1); // what QEMU 7.2 sends: the used idx, not the 3 the dead back-end had reached
        restarted.configure(guest.table, TestGuest.user(ring.descGpa), TestGuest.user(ring.availGpa),
                TestGuest.user(ring.usedGpa));
        restarted.attachInflight(region);
        List<Integer> heads = new java.util.ArrayList<>();
        for (RingChain chain = restarted.pop(); chain != null; chain = restarted.pop()) {
            heads.add(chain.headIndex());
            restarted.addUsed(chain, 0);
        }
        assertEquals(List.of(a, c, d), heads, "each inflight head once, then the rest of the avail ring");
        assertEquals(4, restarted.nextAvail());
        assertEquals(new Used(b, 0), ring.driver.poll());
        assertEquals(new Used(a, 0), ring.driver.poll());
        assertEquals(new Used(c, 0), ring.driver.poll());
        assertEquals(new Used(d, 0), ring.driver.poll());
        assertNull(ring.driver.poll());
        assertEquals(4, region.usedIndex());
    }

    @Test
    void remapFollowsAMovedRegionAndOldChainsKeepTheirTable() throws Exception {
        ring.driver.add(List.of(new Buffer(DATA, 4)), List.of());
        ring.driver.publish();
        guest.put(DATA, new byte[] {1, 2, 3, 4});
        RingChain before = ring.device.pop();

        // A new table maps the same bytes of region A at a different user address (the VMM remapped it).
        MemoryRegion moved = MemoryRegion.of(TestGuest.A_GPA, 0x5000_0000L, guest.a.mapping());
        MemoryTable next = MemoryTable.of(List.of(moved, guest.b, guest.c));
        var e = assertThrows(GuestMemoryException.class, () -> ring.device.remap(next));
        assertTrue(e.getMessage().startsWith("queue 0: ring addresses (desc 0x7f0000010000, avail 0x7f0000010080,"
                + " used 0x7f0000010098) do not map: user address 0x7f0000010000 length 128 is not backed"), e.getMessage());
        assertTrue(ring.device.isBroken());

        ring.device.configure(next, 0x5000_0000L, 0x5000_0080L, 0x5000_0098L);
        ring.device.setNextAvail(1);
        byte[] data = new byte[4];
        before.read(0, MemorySegment.ofArray(data));
        assertArrayEquals(new byte[] {1, 2, 3, 4}, data);
        ring.device.addUsed(before, 0);
        assertEquals(new Used(before.headIndex(), 0), ring.driver.poll());
    }

    @Test
    void ringMappedAtAMisalignedHostAddressIsRejected() throws Exception {
        // The region's user address is page-aligned but its mapping starts one byte into a page.
        MemorySegment mapping = guest.arena.allocate(0x2000, 4096).asSlice(1, 0x1000);
        MemoryTable table = MemoryTable.of(List.of(MemoryRegion.of(0x100000, 0x6000_0000L, mapping)));
        SplitVirtqueue q = new SplitVirtqueue(5, 8);
        var e = assertThrows(GuestMemoryException.class,
                () -> q.configure(table, 0x6000_0000L, 0x6000_0080L, 0x6000_0100L));
        assertTrue(e.getMessage().startsWith("queue 5: ring addresses (desc 0x60000000, avail 0x60000080, used"
                + " 0x60000100) do not map: avail/used ring map to misaligned host addresses"), e.getMessage());
    }

    @Test
    void unmappedMemoryBreaksTheRingWithoutCrashing() throws Exception {
        Arena own = Arena.ofShared();
        MemoryRegion r = MemoryRegion.of(0x100000, 0x6000_0000L, own.allocate(0x1000, 4096));
        MemoryTable table = MemoryTable.of(List.of(r));
        SplitVirtqueue q = new SplitVirtqueue(4, 8);
        q.configure(table, 0x6000_0000L, 0x6000_0080L, 0x6000_0100L);
        own.close();
        var e = assertThrows(GuestMemoryException.class, q::pop);
        assertTrue(e.getMessage().startsWith("queue 4: ring memory is no longer mapped"), e.getMessage());
        var again = assertThrows(GuestMemoryException.class, q::pop);
        assertTrue(again.getMessage().startsWith("ring 4 is broken: queue 4: ring memory is no longer mapped"));
    }
}
