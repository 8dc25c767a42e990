package io.vhost.impl.virtqueue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.memory.InflightPackedQueue;
import io.vhost.impl.memory.InflightPackedQueue.SavedDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Packed-ring inflight tracking across a back-end crash at each step of the spec's update protocol (vhost-user
 * §Inflight I/O tracking, packed virtqueue). A 4-slot ring; the driver makes A (id 10, one descriptor) and B (id 11,
 * two descriptors) available; the device pops both, then completes B first (out of order) and "crashes" at a chosen
 * step. A new device on the same guest memory and inflight region, given QEMU's stale base (the initial state: QEMU
 * cannot GET_VRING_BASE from a dead back-end and does not restore packed indices), must resubmit exactly the chains
 * the guest has not seen used, resume the ring where the driver expects it, and give each id back exactly once. The
 * start slot is 0 or 3 (a chain crossing the ring end) with both wrap counter values.
 */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class PackedInflightRecoveryTest {

    private static final int SIZE = 4;
    private static final long RING = 0x12000;
    private static final long BUF = 0x14000;
    /** QEMU's initial packed state: avail 0 wrap 1, used 0 wrap 1. */
    private static final int STALE_BASE = 0x8000_8000;
    private static final int A = 10;
    private static final int B = 11;
    private static final int C = 12;

    /** Where the crash interrupts the back-end while it handles B. */
    enum Crash {
        /** B popped from the ring, nothing of it recorded. */
        BEFORE_MARKED,
        /** B's first descriptor recorded, the chain not committed ({@code old_free_head} unchanged). */
        WHILE_MARKING,
        /** B recorded as inflight; its completion not begun. */
        AFTER_MARKED,
        /** B linked back to the free list and {@code used_idx} advanced; its used descriptor not written. */
        BEFORE_USED_WRITTEN,
        /** B's used descriptor written (the guest may have seen it); the header not committed. */
        AFTER_USED_WRITTEN,
        /** B completed and committed. */
        AFTER_COMMIT
    }

    private TestGuest guest;
    private MemorySegment inflightMemory;

    @BeforeEach
    void setUp() throws GuestMemoryException {
        guest = new TestGuest();
        inflightMemory = guest.arena.allocate(InflightPackedQueue.queueRegionBytes(SIZE), 64);
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    private PackedDriver driver() throws GuestMemoryException {
        return new PackedDriver(SIZE, guest.table.slice(RING, PackedVirtqueue.descRingBytes(SIZE)));
    }

    private InflightPackedQueue region() {
        return new InflightPackedQueue(inflightMemory, SIZE);
    }

    /** A back-end starting the ring: addresses, the front-end's base, then the inflight region. */
    private PackedVirtqueue device(int base) throws GuestMemoryException {
        PackedVirtqueue d = new PackedVirtqueue(0, SIZE);
        d.configure(guest.table, TestGuest.user(RING), TestGuest.user(RING + 0x100), TestGuest.user(RING + 0x104));
        d.setBase(base);
        d.attachInflight(region());
        return d;
    }

    private static int advance(int position, int slots) {
        int index = (position & 0x7fff) + slots;
        int wrap = position & 0x8000;
        while (index >= SIZE) {
            index -= SIZE;
            wrap ^= 0x8000;
        }
        return index | wrap;
    }

    static Stream<Arguments> crashes() {
        List<Arguments> out = new ArrayList<>();
        for (int lead : new int[] {0, 3, 4, 7}) { // start slot 0 wrap 1, 3 wrap 1, 0 wrap 0, 3 wrap 0
            for (Crash c : Crash.values()) {
                out.add(Arguments.of(lead, c));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "start after {0} chains, crash {1}")
    @MethodSource("crashes")
    void eachChainIsUsedOnceAndTheRingResumesWhereTheDriverIs(int lead, Crash crash) throws Exception {
        PackedDriver drv = driver();
        PackedVirtqueue dev = device(STALE_BASE);
        for (int i = 0; i < lead; i++) { // earlier traffic moves the start slot and the wrap counters
            drv.post(100 + i, new long[0][], BUF + 0x100 * i, 16);
            dev.addUsed(dev.pop(), 0);
            assertEquals(100 + i, drv.reap());
        }
        int start = drv.availPosition();
        assertEquals(start, dev.usedPosition());
        drv.post(A, new long[0][], BUF, 16);
        drv.post(B, new long[][] {{BUF + 0x200, 4}}, BUF + 0x300, 16);
        RingChain a = dev.pop();
        assertEquals(A, a.headIndex());
        RingChain b = crash == Crash.BEFORE_MARKED || crash == Crash.WHILE_MARKING ? dev.fetch() : dev.pop();
        assertEquals(B, b.headIndex());
        if (crash == Crash.WHILE_MARKING) {
            region().recordDescriptor(true, false, BUF + 0x200, 4, B, 1, 1);
        }
        if (crash.compareTo(Crash.BEFORE_USED_WRITTEN) >= 0) {
            dev.beginUsed(b);
        }
        if (crash.compareTo(Crash.AFTER_USED_WRITTEN) >= 0) {
            dev.writeUsed(b, 0);
        }
        if (crash == Crash.AFTER_COMMIT) {
            dev.commitUsed(b);
        }

        // The back-end dies here; a new one gets the same guest memory, inflight region and a stale base.
        PackedVirtqueue restarted = device(STALE_BASE);
        boolean bSeenByGuest = crash.compareTo(Crash.AFTER_USED_WRITTEN) >= 0;
        boolean bRecorded = crash.compareTo(Crash.AFTER_MARKED) >= 0;
        assertEquals(advance(start, bSeenByGuest ? 2 : 0), restarted.usedPosition(), "used position");
        assertEquals(advance(start, bRecorded ? 3 : 1), restarted.availPosition(), "avail position");

        List<RingChain> popped = new ArrayList<>();
        for (RingChain c = restarted.pop(); c != null; c = restarted.pop()) {
            popped.add(c);
        }
        List<Integer> ids = popped.stream().map(RingChain::headIndex).toList();
        assertEquals(bSeenByGuest ? List.of(A) : List.of(A, B), ids, "resubmitted, then fetched from the ring");
        assertEquals(16, popped.getFirst().writableBytes());
        assertEquals(0, popped.getFirst().readableBytes());
        if (!bSeenByGuest) {
            assertEquals(4, popped.get(1).readableBytes());
            assertEquals(16, popped.get(1).writableBytes());
        }
        assertEquals(advance(start, 3), restarted.availPosition());
        assertFalse(restarted.enableNotification(), "nothing more is available");
        for (RingChain c : popped) {
            restarted.addUsed(c, 0);
        }
        drv.post(C, new long[0][], BUF + 0x400, 16);
        RingChain c = restarted.pop();
        assertEquals(C, c.headIndex(), "the ring resumes at the driver's next chain");
        restarted.addUsed(c, 0);
        assertNull(restarted.pop());

        List<Integer> reaped = new ArrayList<>();
        for (int id = drv.reap(); id >= 0; id = drv.reap()) {
            reaped.add(id);
        }
        assertEquals(bSeenByGuest ? List.of(B, A, C) : List.of(A, B, C), reaped, "each id used exactly once");
        assertEquals(0, drv.outstanding());
        InflightPackedQueue r = region();
        for (int e = 0; e < SIZE; e++) {
            assertFalse(r.isInflight(e), "entry " + e + " still inflight");
        }
        int end = advance(start, 4);
        assertEquals(end & 0x7fff, r.usedIndex());
        assertEquals(end & 0x7fff, r.oldUsedIndex());
        assertEquals((end & 0x8000) != 0, r.usedWrap());
        assertEquals((end & 0x8000) != 0, r.oldUsedWrap());
        assertEquals(end, restarted.usedPosition());
    }

    @Test
    void resubmissionFollowsTheFetchCounterNotTheEntryIndex() throws Exception {
        PackedDriver drv = driver();
        PackedVirtqueue dev = device(STALE_BASE);
        for (int id = 1; id <= 3; id++) {
            drv.post(id, new long[0][], BUF + 0x100 * id, 16);
        }
        RingChain first = dev.pop();
        RingChain second = dev.pop();
        RingChain third = dev.pop();
        assertEquals(List.of(0, 1, 2), List.of(first.inflightEntry(), second.inflightEntry(), third.inflightEntry()));
        dev.addUsed(first, 0); // entry 0 goes back to the head of the free list
        assertEquals(1, drv.reap()); // the driver frees slot 0 before it reuses it
        drv.post(4, new long[0][], BUF + 0x400, 16);
        RingChain fourth = dev.pop();
        assertEquals(0, fourth.inflightEntry(), "the fourth chain reuses entry 0, with the highest counter");

        PackedVirtqueue restarted = device(STALE_BASE);
        List<Integer> ids = new ArrayList<>();
        List<RingChain> popped = new ArrayList<>();
        for (RingChain c = restarted.pop(); c != null; c = restarted.pop()) {
            ids.add(c.headIndex());
            popped.add(c);
        }
        assertEquals(List.of(2, 3, 4), ids, "in fetch order, although entry 0 (id 4) comes first by index");
        assertEquals(1 | 0x8000, restarted.usedPosition());
        assertEquals(0, restarted.availPosition(), "avail wrapped: used 1 + 3 inflight descriptors");
        for (RingChain c : popped) {
            restarted.addUsed(c, 0);
        }
        drv.post(5, new long[0][], BUF + 0x500, 16);
        RingChain fifth = restarted.pop();
        assertEquals(5, fifth.headIndex());
        InflightPackedQueue r = region();
        assertEquals(4, r.counter(fifth.inflightEntry()), "the counter resumes after the highest inflight one (3)");
        restarted.addUsed(fifth, 0);
        List<Integer> reaped = new ArrayList<>();
        for (int id = drv.reap(); id >= 0; id = drv.reap()) {
            reaped.add(id);
        }
        assertEquals(List.of(2, 3, 4, 5), reaped);
    }

    @Test
    void popMarksTheChainBeforeItsUsedDescriptorIsWrittenAndTheCommitClearsIt() throws Exception {
        PackedDriver drv = driver();
        PackedVirtqueue dev = device(STALE_BASE);
        InflightPackedQueue r = region();
        assertTrue(r.isInitialized());
        drv.post(A, new long[][] {{BUF, 8}, {BUF + 0x10, 8}}, BUF + 0x100, 32);
        RingChain a = dev.pop();
        int entry = r.oldFreeHead() == 3 ? 0 : -1; // a fresh region hands out entries 0, 1, 2 in order
        assertEquals(0, entry);
        assertTrue(r.isInflight(0));
        assertEquals(3, r.descriptorCount(0));
        assertEquals(3, r.freeHead());
        SavedDescriptor[] saved = r.savedChain(0);
        assertEquals(BUF + 0x10, saved[1].addr());
        assertEquals(A, saved[2].id());
        dev.beginUsed(a);
        assertTrue(r.isInflight(0), "still inflight until the used descriptor is written and committed");
        assertEquals(3, r.usedIndex());
        assertEquals(0, r.oldUsedIndex());
        assertEquals(-1, drv.reap(), "the guest sees nothing before the used descriptor is written");
        dev.writeUsed(a, 5);
        dev.commitUsed(a);
        assertFalse(r.isInflight(0));
        assertEquals(3, r.oldUsedIndex());
        assertEquals(0, r.oldFreeHead());
        assertEquals(A, drv.reap());
    }

    @Test
    void aFreshRegionStartsAtTheFrontEndBase() throws Exception {
        int base = 2 | 0x8000 | (2 << 16); // avail 2 wrap 1, used 2 wrap 0 is not a drained state, but the base wins
        PackedVirtqueue dev = device(base);
        InflightPackedQueue r = region();
        assertTrue(r.isInitialized());
        assertEquals(2, r.usedIndex());
        assertFalse(r.usedWrap());
        assertEquals(base, dev.base());
    }

    @Test
    void inconsistentRegionsBreakTheRingWithAClearMessage() throws Exception {
        PackedDriver drv = driver();
        PackedVirtqueue dev = device(STALE_BASE);
        drv.post(A, new long[0][], BUF, 16);
        dev.pop();
        InflightPackedQueue r = region();
        long entry0 = InflightPackedQueue.HEADER_BYTES;
        inflightMemory.set(ValueLayout.JAVA_SHORT_UNALIGNED, entry0 + 6, (short) 9); // num of the inflight chain
        PackedVirtqueue d1 = new PackedVirtqueue(0, SIZE);
        d1.configure(guest.table, TestGuest.user(RING), TestGuest.user(RING + 0x100), TestGuest.user(RING + 0x104));
        var e = assertThrows(GuestMemoryException.class, () -> d1.attachInflight(r));
        assertEquals("queue 0: packed inflight region: inflight entry 0 heads a chain of 9 descriptors, not 1..4",
                e.getMessage());
        assertTrue(d1.isBroken());
        inflightMemory.set(ValueLayout.JAVA_SHORT_UNALIGNED, entry0 + 6, (short) 1);
        inflightMemory.set(ValueLayout.JAVA_SHORT_UNALIGNED, 10, (short) 8); // desc_num
        PackedVirtqueue d2 = new PackedVirtqueue(0, SIZE);
        d2.configure(guest.table, TestGuest.user(RING), TestGuest.user(RING + 0x100), TestGuest.user(RING + 0x104));
        var d = assertThrows(GuestMemoryException.class, () -> d2.attachInflight(r));
        assertEquals("queue 0: packed inflight region desc_num 8 does not match queue size 4; region rejected",
                d.getMessage());
    }

    @Test
    void aDriverThatRepostsSlotsStillInFlightBreaksTheRing() throws Exception {
        PackedDriver drv = driver();
        PackedVirtqueue dev = device(STALE_BASE);
        for (int i = 0; i < SIZE; i++) {
            drv.post(i, new long[0][], BUF + 0x100 * i, 16);
            dev.pop();
        }
        // A hostile driver makes slot 0 available again (next lap) although the device never returned it.
        drv.post(7, new long[0][], BUF, 16);
        var e = assertThrows(GuestMemoryException.class, dev::pop);
        assertEquals("queue 0, head 0: the driver made 5 descriptors available before the device returned them,"
                + " more than the queue size 4", e.getMessage());
        assertArrayEquals(new boolean[] {true, true, true, true}, inflightFlags());
    }

    private boolean[] inflightFlags() {
        InflightPackedQueue r = region();
        boolean[] out = new boolean[SIZE];
        for (int i = 0; i < SIZE; i++) {
            out[i] = r.isInflight(i);
        }
        return out;
    }
}
