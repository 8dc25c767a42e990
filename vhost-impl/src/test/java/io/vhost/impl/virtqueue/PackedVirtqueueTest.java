package io.vhost.impl.virtqueue;

import static io.vhost.impl.virtqueue.PackedVirtqueue.F_AVAIL;
import static io.vhost.impl.virtqueue.PackedVirtqueue.F_USED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Packed rings built by hand: the test plays the driver, writing descriptors with the driver's wrap counter. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class PackedVirtqueueTest {

    private static final int NEXT = 1;
    private static final int WRITE = 2;
    private static final int INDIRECT = 4;
    private static final long DATA = 0x18000;
    private static final long REPLY = 0x19000;
    private static final long TABLE = 0x1a000;

    private TestGuest guest;
    private Packed ring;
    private Packed other;

    /** A packed ring of size 4 at {@code gpa}: descriptor ring, driver area at +0x100, device area at +0x104. */
    private final class Packed {
        final long descGpa;
        final MemorySegment desc;
        final MemorySegment driverArea;
        final MemorySegment deviceArea;
        final PackedVirtqueue device;

        Packed(int queue, long gpa) throws GuestMemoryException {
            descGpa = gpa;
            desc = guest.table.slice(gpa, PackedVirtqueue.descRingBytes(4));
            driverArea = guest.table.slice(gpa + 0x100, 4);
            deviceArea = guest.table.slice(gpa + 0x104, 4);
            device = new PackedVirtqueue(queue, 4);
            device.configure(guest.table, TestGuest.user(gpa), TestGuest.user(gpa + 0x100),
                    TestGuest.user(gpa + 0x104));
        }

        /** Makes descriptor {@code index} available with the driver wrap counter {@code wrap}; flags last. */
        void avail(int index, long addr, int len, int id, int flags, boolean wrap) {
            long off = 16L * index;
            desc.set(ValueLayout.JAVA_LONG_UNALIGNED, off, addr);
            desc.set(ValueLayout.JAVA_INT_UNALIGNED, off + 8, len);
            desc.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 12, (short) id);
            int f = flags | (wrap ? F_AVAIL : F_USED);
            SplitRing.IDX.setRelease(desc, off + 14, (short) f);
        }

        int flags(int index) {
            return Short.toUnsignedInt(desc.get(ValueLayout.JAVA_SHORT_UNALIGNED, 16L * index + 14));
        }

        int usedId(int index) {
            return Short.toUnsignedInt(desc.get(ValueLayout.JAVA_SHORT_UNALIGNED, 16L * index + 12));
        }

        int usedLen(int index) {
            return desc.get(ValueLayout.JAVA_INT_UNALIGNED, 16L * index + 8);
        }

        void driverEvent(int offWrap, int flags) {
            driverArea.set(ValueLayout.JAVA_SHORT_UNALIGNED, 0, (short) offWrap);
            driverArea.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2, (short) flags);
        }
    }

    @BeforeEach
    void setUp() throws GuestMemoryException {
        guest = new TestGuest();
        ring = new Packed(0, 0x12000);
        other = new Packed(1, 0x13000);
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    @Test
    void popsAChainAndWritesOneUsedDescriptor() throws Exception {
        guest.put(DATA, new byte[] {9, 8, 7});
        ring.avail(1, REPLY, 16, 7, WRITE, true);
        ring.avail(0, DATA, 3, 0, NEXT, true); // head last
        RingChain chain = ring.device.pop();
        assertEquals(7, chain.headIndex(), "buffer id comes from the last descriptor");
        assertEquals(3, chain.readableBytes());
        assertEquals(16, chain.writableBytes());
        assertNull(ring.device.pop());
        chain.write(0, MemorySegment.ofArray(new byte[] {1, 2, 3}));
        ring.device.addUsed(chain, 3);
        assertEquals(F_AVAIL | F_USED | WRITE, ring.flags(0));
        assertEquals(7, ring.usedId(0));
        assertEquals(3, ring.usedLen(0));
        assertEquals(2 | 0x8000, ring.device.availPosition());
        assertEquals(2 | 0x8000, ring.device.usedPosition(), "used skips the 2 descriptors of the chain");
        assertEquals(2 | 0x8000 | (2 << 16) | 0x8000_0000, ring.device.base());
    }

    @Test
    void aBaseWithoutTheUsedHalfStartsUsedWhereAvailIsAsDpdkVirtioUserSendsIt() throws Exception {
        var fresh = new PackedVirtqueue(0, 4);
        fresh.setBase(0x8000); // DPDK 22.11 virtio-user for a new ring: avail 0, avail wrap 1, nothing above bit 15
        assertEquals(0x8000, fresh.usedPosition(), "used starts at 0 with wrap counter 1, like avail");
        assertEquals(0x8000 | 0x8000_0000, fresh.base());

        ring.device.setBase(0x8000);
        ring.avail(0, DATA, 1, 5, 0, true);
        ring.device.addUsed(ring.device.pop(), 0);
        assertEquals(F_AVAIL | F_USED, ring.flags(0), "the driver (wrap 1) sees the descriptor as used");

        var stopped = new PackedVirtqueue(0, 4);
        stopped.setBase(3); // avail 3 with wrap 0, used half absent: used is 3 with wrap 0
        assertEquals(3, stopped.usedPosition());
    }

    @Test
    void chainAcrossTheRingEndFlipsWrapCounters() throws Exception {
        for (int i = 0; i < 3; i++) {
            ring.avail(i, DATA, 1, i, 0, true);
        }
        for (int i = 0; i < 3; i++) {
            ring.device.addUsed(ring.device.pop(), 0);
        }
        assertEquals(3 | 0x8000, ring.device.usedPosition());
        ring.avail(0, REPLY, 8, 42, WRITE, false); // second lap: driver wrap counter is 0
        ring.avail(3, DATA, 1, 0, NEXT, true);
        RingChain chain = ring.device.pop();
        assertEquals(42, chain.headIndex());
        assertEquals(1, ring.device.availPosition(), "avail wrap counter flipped to 0");
        ring.device.addUsed(chain, 8);
        assertEquals(F_AVAIL | F_USED | WRITE, ring.flags(3), "written with used wrap counter 1");
        assertEquals(1, ring.device.usedPosition(), "used wrap counter flipped to 0");
        assertEquals(1 | (1 << 16), ring.device.base());

        var restored = new PackedVirtqueue(0, 4);
        restored.setBase(ring.device.base());
        assertEquals(ring.device.base(), restored.base());
        var e = assertThrows(IllegalArgumentException.class, () -> restored.setBase(4));
        assertEquals("SET_VRING_BASE 0x4 for packed queue 0: avail index 4 or used index 0 >= queue size 4",
                e.getMessage());
    }

    @Test
    void indirectTable() throws Exception {
        MemorySegment table = guest.table.slice(TABLE, 32);
        packedDescriptor(table, 0, DATA, 5, NEXT | INDIRECT); // reserved flags are ignored
        packedDescriptor(table, 1, REPLY, 11, WRITE);
        ring.avail(0, TABLE, 32, 3, INDIRECT, true);
        RingChain chain = ring.device.pop();
        assertEquals(3, chain.headIndex());
        assertEquals(5, chain.readableBytes());
        assertEquals(11, chain.writableBytes());
        ring.device.addUsed(chain, 0);
        assertEquals(1 | 0x8000, ring.device.usedPosition(), "an indirect chain occupies one slot");
        assertEquals(F_AVAIL | F_USED, ring.flags(0), "no WRITE flag when nothing was written");
    }

    /** Writes a packed descriptor (addr, len, id, flags) into an indirect table. */
    private static void packedDescriptor(MemorySegment table, int index, long addr, int len, int flags) {
        long off = 16L * index;
        table.set(ValueLayout.JAVA_LONG_UNALIGNED, off, addr);
        table.set(ValueLayout.JAVA_INT_UNALIGNED, off + 8, len);
        table.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 12, (short) 0);
        table.set(ValueLayout.JAVA_SHORT_UNALIGNED, off + 14, (short) flags);
    }

    private void assertBroken(String message) throws Exception {
        var first = assertThrows(GuestMemoryException.class, ring.device::pop);
        assertEquals(message, first.getMessage());
        var again = assertThrows(GuestMemoryException.class, ring.device::pop);
        assertEquals("ring 0 is broken: " + message, again.getMessage());
        other.avail(0, DATA, 1, 5, 0, true);
        RingChain c = other.device.pop();
        other.device.addUsed(c, 0);
        assertEquals(5, other.usedId(0));
    }

    @Test
    void chainLongerThanTheRing() throws Exception {
        for (int i = 3; i >= 0; i--) {
            ring.avail(i, DATA, 1, 0, NEXT, true);
        }
        assertBroken("queue 0, head 0: chain is longer than the queue size 4");
    }

    @Test
    void chainRunningIntoAnUnavailableDescriptor() throws Exception {
        ring.avail(0, DATA, 1, 0, NEXT, true);
        assertBroken("queue 0, head 0: descriptor 1 continues the chain but is not available");
    }

    @Test
    void indirectInsideAChain() throws Exception {
        ring.avail(1, TABLE, 32, 0, INDIRECT, true);
        ring.avail(0, DATA, 1, 0, NEXT, true);
        assertBroken("queue 0, head 0: indirect descriptor 1 is part of a chain");
    }

    @Test
    void indirectTableWithBadLength() throws Exception {
        ring.avail(0, TABLE, 24, 0, INDIRECT, true);
        assertBroken("queue 0, head 0: indirect table at 0x1a000 has length 24, not a positive multiple of 16");
    }

    @Test
    void addressOutOfRange() throws Exception {
        ring.avail(0, 0x900000, 4, 0, 0, true);
        assertBroken("queue 0, head 0: descriptor 0: guest address 0x900000 length 4 is not backed by guest memory;"
                + " nearest region [GPA 0x20000..0x2ffff, user 0x7f0001000000..0x7f000100ffff]");
    }

    @Test
    void driverEventSuppression() throws Exception {
        ring.device.setFeatures(true);
        ring.avail(0, DATA, 1, 0, 0, true);
        ring.avail(1, DATA, 1, 1, 0, true);
        ring.avail(2, DATA, 1, 2, 0, true);
        ring.driverEvent(0, PackedVirtqueue.EVENT_DISABLE);
        ring.device.addUsed(ring.device.pop(), 0); // used -> 1
        assertFalse(ring.device.needsNotification());
        assertFalse(ring.device.needsNotification(), "nothing new");
        ring.driverEvent(2 | 0x8000, PackedVirtqueue.EVENT_DESC); // notify once slot 2 (lap 1) is used
        ring.device.addUsed(ring.device.pop(), 0); // used -> 2: slot 1 written
        assertFalse(ring.device.needsNotification());
        ring.device.addUsed(ring.device.pop(), 0); // used -> 3: slot 2 written
        assertTrue(ring.device.needsNotification());
        ring.driverEvent(0, PackedVirtqueue.EVENT_ENABLE);
        assertFalse(ring.device.needsNotification(), "nothing new");
    }

    @Test
    void driverEventDescAcrossTheWrap() throws Exception {
        ring.device.setFeatures(true);
        for (int i = 0; i < 3; i++) {
            ring.avail(i, DATA, 1, i, 0, true);
        }
        for (int i = 0; i < 3; i++) {
            ring.device.addUsed(ring.device.pop(), 0);
        }
        ring.driverEvent(0, PackedVirtqueue.EVENT_DESC); // slot 0 of lap 2 (wrap 0)
        assertTrue(ring.device.needsNotification(), "first decision");
        ring.avail(3, DATA, 1, 3, 0, true);
        ring.device.addUsed(ring.device.pop(), 0); // writes slot 3, used -> 0 wrap 0
        assertFalse(ring.device.needsNotification());
        ring.avail(0, DATA, 1, 4, 0, false);
        ring.device.addUsed(ring.device.pop(), 0); // writes slot 0 of lap 2
        assertTrue(ring.device.needsNotification());
    }

    @Test
    void deviceEventSuppressionAndRecheck() throws Exception {
        ring.device.disableNotification();
        assertEquals(PackedVirtqueue.EVENT_DISABLE, ring.deviceArea.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2));
        assertFalse(ring.device.enableNotification());
        assertEquals(PackedVirtqueue.EVENT_ENABLE, ring.deviceArea.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2));
        ring.device.setFeatures(true);
        ring.avail(0, DATA, 1, 0, 0, true);
        assertTrue(ring.device.enableNotification(), "a buffer is already available");
        assertEquals(PackedVirtqueue.EVENT_DESC, ring.deviceArea.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2));
        assertEquals((short) 0x8000, ring.deviceArea.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
    }
}
