package io.vhost.impl.virtqueue;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.virtqueue.DriverRing.Buffer;
import io.vhost.impl.virtqueue.DriverRing.Used;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class SplitVirtqueueTest {

    private static final int NEXT = 1;
    private static final int WRITE = 2;
    private static final int INDIRECT = 4;
    private static final long DATA = 0x18000;
    private static final long REPLY = 0x19000;
    private static final long TABLE = 0x1a000;

    private TestGuest guest;
    private TestGuest.Ring ring;
    private TestGuest.Ring other;

    @BeforeEach
    void setUp() throws GuestMemoryException {
        guest = new TestGuest();
        ring = guest.ring(0, 8, 0x10000);
        other = guest.ring(1, 8, 0x11000);
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    @Test
    void popsSimpleChainAndReturnsItUsed() throws Exception {
        guest.put(DATA, "hello, device".getBytes(US_ASCII));
        int head = ring.driver.add(List.of(new Buffer(DATA, 13)), List.of(new Buffer(REPLY, 32)));
        ring.driver.publish();

        DescriptorChain chain = ring.device.pop();
        assertNotNull(chain);
        assertEquals(head, chain.headIndex());
        assertEquals(13, chain.readableBytes());
        assertEquals(32, chain.writableBytes());
        ByteBuffer request = ByteBuffer.allocate(13);
        chain.read(0, request);
        assertEquals("hello, device", new String(request.array(), US_ASCII));
        chain.write(4, ByteBuffer.wrap("ok".getBytes(US_ASCII)));
        ring.device.addUsed(chain, 6);
        assertNull(ring.device.pop());

        Used used = ring.driver.poll();
        assertEquals(new Used(head, 6), used);
        assertEquals("ok", new String(guest.get(REPLY + 4, 2), US_ASCII));
        assertNull(ring.driver.poll());
        assertEquals(8, ring.driver.freeDescriptors());
        assertEquals(1, ring.device.nextAvail());
        assertEquals(1, ring.device.usedIndex());
    }

    @Test
    void readsAndWritesAreBoundsChecked() throws Exception {
        ring.driver.add(List.of(new Buffer(DATA, 8)), List.of(new Buffer(REPLY, 4)));
        ring.driver.publish();
        DescriptorChain chain = ring.device.pop();
        var e = assertThrows(IndexOutOfBoundsException.class, () -> chain.read(4, MemorySegment.ofArray(new byte[5])));
        assertEquals("read of 5 bytes at offset 4 of chain head 0 with 8 readable bytes", e.getMessage());
        var w = assertThrows(IndexOutOfBoundsException.class, () -> chain.write(0, MemorySegment.ofArray(new byte[5])));
        assertEquals("write of 5 bytes at offset 0 of chain head 0 with 4 writable bytes", w.getMessage());
        var u = assertThrows(IllegalArgumentException.class, () -> ring.device.addUsed(chain, 5));
        assertEquals("used length 5 for head 0 exceeds its 4 writable bytes", u.getMessage());
        assertThrows(IllegalArgumentException.class, () -> other.device.addUsed(chain, 0));
    }

    @Test
    void chainSplitAcrossTwoRegions() throws Exception {
        long straddle = TestGuest.B_GPA - 0x100;
        byte[] data = new byte[0x200];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) i;
        }
        guest.put(straddle, data);
        ring.driver.add(List.of(new Buffer(DATA, 4), new Buffer(straddle, 0x200)),
                List.of(new Buffer(TestGuest.B_GPA - 0x10, 0x20)));
        ring.driver.publish();

        RingChain chain = ring.device.pop();
        assertEquals(3, chain.readablePieceCount());
        assertEquals(2, chain.writablePieceCount());
        assertEquals(0x100, chain.pieceLength(1));
        assertEquals(TestGuest.B_GPA, chain.pieceAddress(2));
        byte[] back = new byte[0x200];
        chain.read(4, MemorySegment.ofArray(back));
        assertArrayEquals(data, back);

        byte[] reply = new byte[0x20];
        java.util.Arrays.fill(reply, (byte) 0x5a);
        chain.write(0, MemorySegment.ofArray(reply));
        assertArrayEquals(reply, guest.get(TestGuest.B_GPA - 0x10, 0x20));
        assertEquals(0x10, chain.pieceSegment(3).byteSize());
    }

    @Test
    void regionOfThePreviousBufferIsOnlyAHint() throws Exception {
        // The builder tries the region of the previous piece first: every buffer below misses that region, once
        // across a region boundary, once into a third region.
        byte[] inB = {1, 2, 3, 4};
        byte[] straddling = new byte[0x20];
        for (int i = 0; i < straddling.length; i++) {
            straddling[i] = (byte) (0x40 + i);
        }
        byte[] inA = {9, 8, 7};
        byte[] inC = {5, 6};
        guest.put(TestGuest.B_GPA + 0x100, inB);
        guest.put(TestGuest.B_GPA - 0x10, straddling);
        guest.put(DATA, inA);
        guest.put(TestGuest.C_GPA + 0x10, inC);
        ring.driver.add(List.of(new Buffer(TestGuest.B_GPA + 0x100, 4)), List.of());
        ring.driver.add(List.of(new Buffer(TestGuest.B_GPA - 0x10, 0x20)), List.of());
        ring.driver.add(List.of(new Buffer(DATA, 3), new Buffer(TestGuest.C_GPA + 0x10, 2)), List.of());
        ring.driver.publish();

        RingChain first = ring.device.pop();
        assertEquals(1, first.readablePieceCount());
        assertArrayEquals(inB, read(first));
        RingChain second = ring.device.pop();
        assertEquals(2, second.readablePieceCount());
        assertEquals(TestGuest.B_GPA - 0x10, second.pieceAddress(0));
        assertEquals(0x10, second.pieceLength(0));
        assertEquals(TestGuest.B_GPA, second.pieceAddress(1));
        assertEquals(0x10, second.pieceLength(1));
        assertArrayEquals(straddling, read(second));
        RingChain third = ring.device.pop();
        assertEquals(2, third.readablePieceCount());
        assertArrayEquals(new byte[] {9, 8, 7, 5, 6}, read(third));

        // After a hit in region B, a buffer that runs off B's end (no region follows) is still refused.
        MemorySegment d = ring.descTable();
        DriverRing.writeDescriptor(d, 6, TestGuest.B_GPA + 0x100, 4, NEXT, 7);
        DriverRing.writeDescriptor(d, 7, 0x2fff0, 32, 0, 0);
        ring.driver.addRawHead(6);
        assertBroken("queue 0, head 6: descriptor 7: guest address 0x2fff0 length 32 is not backed by guest memory"
                + " (unmapped from 0x30000); nearest region [GPA 0x20000..0x2ffff, user 0x7f0001000000..0x7f000100ffff]");
    }

    private static byte[] read(DescriptorChain chain) throws GuestMemoryException {
        byte[] out = new byte[(int) chain.readableBytes()];
        chain.read(0, MemorySegment.ofArray(out));
        return out;
    }

    @Test
    void indirectTable() throws Exception {
        MemorySegment table = guest.table.slice(TABLE, 48);
        DriverRing.writeDescriptor(table, 0, DATA, 3, NEXT, 1);
        DriverRing.writeDescriptor(table, 1, DATA + 3, 5, NEXT, 2);
        DriverRing.writeDescriptor(table, 2, REPLY, 64, WRITE, 0);
        guest.put(DATA, "abcdefgh".getBytes(US_ASCII));
        DriverRing.writeDescriptor(ring.descTable(), 5, TABLE, 48, INDIRECT, 0);
        ring.driver.addRawHead(5);
        ring.driver.publish();

        DescriptorChain chain = ring.device.pop();
        assertEquals(5, chain.headIndex());
        assertEquals(8, chain.readableBytes());
        assertEquals(64, chain.writableBytes());
        byte[] request = new byte[6];
        chain.read(1, MemorySegment.ofArray(request));
        assertEquals("bcdefg", new String(request, US_ASCII));
    }

    // ---- broken rings: each asserts the exact message, the fail-fast message, and that ring 1 still works ----

    private void assertBroken(String message) throws Exception {
        ring.driver.publish();
        var first = assertThrows(GuestMemoryException.class, ring.device::pop);
        assertEquals(message, first.getMessage());
        assertTrue(ring.device.isBroken());
        var again = assertThrows(GuestMemoryException.class, ring.device::pop);
        assertEquals("ring 0 is broken: " + message, again.getMessage());
        assertThrows(GuestMemoryException.class, () -> ring.device.fillUsed(0, 0));
        assertThrows(GuestMemoryException.class, ring.device::needsNotification);
        otherRingStillWorks();
    }

    private void otherRingStillWorks() throws Exception {
        guest.put(DATA + 0x800, new byte[] {42});
        int head = other.driver.add(List.of(new Buffer(DATA + 0x800, 1)), List.of(new Buffer(REPLY + 0x800, 1)));
        other.driver.publish();
        DescriptorChain chain = other.device.pop();
        byte[] one = new byte[1];
        chain.read(0, MemorySegment.ofArray(one));
        chain.write(0, MemorySegment.ofArray(new byte[] {(byte) (one[0] + 1)}));
        other.device.addUsed(chain, 1);
        assertEquals(new Used(head, 1), other.driver.poll());
        assertEquals(43, guest.get(REPLY + 0x800, 1)[0]);
        assertFalse(other.device.isBroken());
    }

    @Test
    void descriptorLoop() throws Exception {
        MemorySegment d = ring.descTable();
        DriverRing.writeDescriptor(d, 0, DATA, 16, NEXT, 1);
        DriverRing.writeDescriptor(d, 1, DATA, 16, NEXT, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: chain is longer than the queue size 8: descriptor loop");
    }

    @Test
    void indirectLoop() throws Exception {
        MemorySegment table = guest.table.slice(TABLE, 32);
        DriverRing.writeDescriptor(table, 0, DATA, 16, NEXT, 1);
        DriverRing.writeDescriptor(table, 1, DATA, 16, NEXT, 0);
        DriverRing.writeDescriptor(ring.descTable(), 2, TABLE, 32, INDIRECT, 0);
        ring.driver.addRawHead(2);
        assertBroken("queue 0, head 2: chain is longer than the indirect table (2 descriptors): descriptor loop");
    }

    @Test
    void addressOutOfRange() throws Exception {
        DriverRing.writeDescriptor(ring.descTable(), 0, 0x900000, 16, 0, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: descriptor 0: guest address 0x900000 length 16 is not backed by guest memory;"
                + " nearest region [GPA 0x20000..0x2ffff, user 0x7f0001000000..0x7f000100ffff]");
    }

    @Test
    void bufferRunningOffTheEndOfMemory() throws Exception {
        DriverRing.writeDescriptor(ring.descTable(), 0, 0x2fff0, 32, WRITE, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: descriptor 0: guest address 0x2fff0 length 32 is not backed by guest memory"
                + " (unmapped from 0x30000); nearest region [GPA 0x20000..0x2ffff, user 0x7f0001000000..0x7f000100ffff]");
    }

    @Test
    void nextIndexNotBelowQueueSize() throws Exception {
        DriverRing.writeDescriptor(ring.descTable(), 0, DATA, 16, NEXT, 9);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: descriptor index 9 >= queue size 8");
    }

    @Test
    void headNotBelowQueueSize() throws Exception {
        ring.driver.addRawHead(8);
        assertBroken("queue 0: avail ring entry 0 holds head 8 >= queue size 8");
    }

    @Test
    void availIndexTooFarAhead() throws Exception {
        ring.driver.resetIndices(9, 0);
        ring.device.setNextAvail(0);
        assertBroken("queue 0: avail index 9 is 9 entries ahead of next avail 0, more than queue size 8");
    }

    @Test
    void lengthOverflowsU32() throws Exception {
        int entries = 257; // 257 x 16 MiB > 2^32 - 1
        MemorySegment table = guest.table.slice(TABLE, 16L * entries);
        for (int i = 0; i < entries; i++) {
            DriverRing.writeDescriptor(table, i, TestGuest.C_GPA, (int) TestGuest.C_SIZE, NEXT, i + 1);
        }
        DriverRing.writeDescriptor(ring.descTable(), 0, TABLE, 16 * entries, INDIRECT, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: readable length exceeds 2^32-1 bytes at descriptor 255");
    }

    @Test
    void addressPlusLengthWraps() throws Exception {
        DriverRing.writeDescriptor(ring.descTable(), 0, 0xfffffffffffffff0L, 32, 0, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: descriptor 0 address 0xfffffffffffffff0 length 32 wraps around");
    }

    @Test
    void nestedIndirect() throws Exception {
        MemorySegment table = guest.table.slice(TABLE, 32);
        DriverRing.writeDescriptor(table, 0, DATA, 16, NEXT, 1);
        DriverRing.writeDescriptor(table, 1, TABLE, 32, INDIRECT, 0);
        DriverRing.writeDescriptor(ring.descTable(), 0, TABLE, 32, INDIRECT, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: nested indirect descriptor 1 in indirect table");
    }

    @Test
    void indirectTableWithBadLength() throws Exception {
        DriverRing.writeDescriptor(ring.descTable(), 0, TABLE, 20, INDIRECT, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: indirect table at 0x1a000 has length 20, not a positive multiple of 16");
    }

    @Test
    void indirectCombinedWithNext() throws Exception {
        DriverRing.writeDescriptor(ring.descTable(), 0, TABLE, 32, INDIRECT | NEXT, 1);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: descriptor 0 has both INDIRECT and NEXT flags");
    }

    @Test
    void indirectTableOutsideMemory() throws Exception {
        DriverRing.writeDescriptor(ring.descTable(), 0, 0x2fff0, 32, INDIRECT, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: indirect table: guest address 0x2fff0 length 32 is not backed by guest memory"
                + " (crosses the region's end); nearest region [GPA 0x20000..0x2ffff, user 0x7f0001000000..0x7f000100ffff]");
    }

    @Test
    void readableAfterWritable() throws Exception {
        MemorySegment d = ring.descTable();
        DriverRing.writeDescriptor(d, 0, REPLY, 16, WRITE | NEXT, 1);
        DriverRing.writeDescriptor(d, 1, DATA, 16, 0, 0);
        ring.driver.addRawHead(0);
        assertBroken("queue 0, head 0: device-readable descriptor 1 follows a device-writable one");
    }

    @Test
    void reconfigureClearsBrokenState() throws Exception {
        ring.driver.addRawHead(8);
        ring.driver.publish();
        assertThrows(GuestMemoryException.class, ring.device::pop);
        ring.device.setNextAvail(1);
        ring.reconfigure();
        assertFalse(ring.device.isBroken());
        assertNull(ring.device.pop());
    }

    // ---- the avail index is read once per burst ----

    @Test
    void burstEndingMidRingIsFollowedByWhatTheDriverAddedMeanwhile() throws Exception {
        ring.driver.resetIndices(65534, 65534);
        ring.device.setNextAvail(65534);
        ring.reconfigure();
        int[] heads = new int[6];
        for (int i = 0; i < 3; i++) {
            heads[i] = ring.driver.add(List.of(new Buffer(DATA, 1)), List.of());
        }
        ring.driver.publish(); // avail 1: three entries across the 16-bit wrap
        RingChain first = ring.device.pop();
        assertEquals(heads[0], first.headIndex());
        ring.device.fillUsed(first.headIndex(), 0);
        for (int i = 3; i < 6; i++) {
            heads[i] = ring.driver.add(List.of(new Buffer(DATA, 1)), List.of());
        }
        ring.driver.publish(); // avail 4, while the device is in the middle of the first burst
        for (int i = 1; i < 6; i++) {
            RingChain c = ring.device.pop();
            assertEquals(heads[i], c.headIndex(), "entry " + i);
            ring.device.fillUsed(c.headIndex(), 0);
        }
        assertNull(ring.device.pop());
        assertEquals(4, ring.device.nextAvail());
        ring.device.flushUsed();
        assertEquals(4, ring.driver.deviceUsedIndex());
    }

    @Test
    void newBaseForgetsTheRestOfTheBurst() throws Exception {
        addChains(4);
        ring.device.pop(); // three more known available
        ring.device.setNextAvail(3); // as after GET_VRING_BASE / SET_VRING_BASE
        assertNotNull(ring.device.pop());
        assertNull(ring.device.pop(), "only entry 3 was published after the new base");
        assertEquals(4, ring.device.nextAvail());
    }

    @Test
    void availIndexTooFarAheadIsCaughtWhenReadAgain() throws Exception {
        addChains(2);
        ring.device.pop();
        ring.driver.addRawHead(0);
        ring.driver.resetIndices(ring.driver.availIndex() + 8, 0); // 9 ahead of next avail 1 on a ring of 8
        assertNotNull(ring.device.pop(), "the second entry of the first burst");
        var e = assertThrows(GuestMemoryException.class, ring.device::pop);
        assertEquals("queue 0: avail index 11 is 9 entries ahead of next avail 2, more than queue size 8",
                e.getMessage());
    }

    // ---- notifications ----

    private void popAndPushOne() throws GuestMemoryException {
        DescriptorChain chain = ring.device.pop();
        assertNotNull(chain);
        ring.device.addUsed(chain, 0);
    }

    private void addChains(int n) {
        for (int i = 0; i < n; i++) {
            ring.driver.add(List.of(new Buffer(DATA, 1)), List.of());
        }
        ring.driver.publish();
    }

    @Test
    void interruptSuppressionWithoutEventIdx() throws Exception {
        addChains(2);
        popAndPushOne();
        assertTrue(ring.device.needsNotification());
        ring.driver.setNoInterrupt(true);
        popAndPushOne();
        assertFalse(ring.device.needsNotification());
    }

    @Test
    void notifyOnEmptyOverridesSuppression() throws Exception {
        ring.device.setFeatures(false, true);
        ring.driver.setNoInterrupt(true);
        addChains(2);
        popAndPushOne();
        assertFalse(ring.device.needsNotification(), "one chain still available");
        popAndPushOne();
        assertTrue(ring.device.needsNotification(), "ring became empty");
    }

    @Test
    void notifyOnEmptyWaitsForChainsInUse() throws Exception {
        ring.device.setFeatures(false, true);
        ring.driver.setNoInterrupt(true);
        addChains(2);
        popAndPushOne();
        DescriptorChain held = ring.device.pop();
        assertFalse(ring.device.needsNotification(), "a chain is still being processed");
        ring.device.addUsed(held, 0);
        assertTrue(ring.device.needsNotification());
    }

    @Test
    void usedEventAcrossTheSixteenBitWrap() throws Exception {
        ring.device.setFeatures(true, false);
        ring.driver.resetIndices(65534, 65534);
        ring.device.setNextAvail(65534);
        ring.reconfigure();
        assertEquals(65534, ring.device.usedIndex());
        addChains(4); // avail 65534 -> 2
        assertEquals(2, ring.driver.availIndex());
        assertTrue(ring.device.needsNotification(), "first decision after configure always notifies");

        ring.driver.setUsedEvent(65535); // interrupt once used passes 65535, i.e. reaches 0
        popAndPushOne(); // used 65535
        assertFalse(ring.device.needsNotification());
        popAndPushOne(); // used 0: wrapped
        assertTrue(ring.device.needsNotification());
        popAndPushOne(); // used 1
        assertFalse(ring.device.needsNotification());
        ring.driver.setUsedEvent(1);
        popAndPushOne(); // used 2, passes 1
        assertTrue(ring.device.needsNotification());
        for (int i = 0; i < 4; i++) {
            assertNotNull(ring.driver.poll());
        }
        assertEquals(2, ring.device.usedIndex());
    }

    @Test
    void batchedUsedEntriesNotifyWhenEventInsideTheBatch() throws Exception {
        ring.device.setFeatures(true, false);
        ring.driver.resetIndices(65533, 65533);
        ring.device.setNextAvail(65533);
        ring.reconfigure();
        assertTrue(ring.device.needsNotification());
        addChains(5);
        ring.driver.setUsedEvent(65535);
        for (int i = 0; i < 5; i++) {
            RingChain c = ring.device.pop();
            ring.device.fillUsed(c.headIndex(), 0);
        }
        assertEquals(65533, ring.driver.deviceUsedIndex(), "nothing published before flush");
        ring.device.flushUsed();
        assertEquals(2, ring.driver.deviceUsedIndex());
        assertTrue(ring.device.needsNotification(), "65535 lies in [65533, 2)");
        assertFalse(ring.device.needsNotification(), "nothing new since");
    }

    @Test
    void availEventAcrossTheSixteenBitWrap() throws Exception {
        ring.device.setFeatures(true, false);
        ring.driver.resetIndices(65535, 65535);
        ring.device.setNextAvail(65535);
        ring.reconfigure();
        ring.device.disableNotification();
        assertFalse(ring.device.enableNotification(), "ring empty");
        ring.driver.add(List.of(new Buffer(DATA, 1)), List.of());
        ring.driver.publish(); // avail 0
        assertTrue(ring.driver.needsKick(true), "avail_event 65535 passed by the wrap to 0");
        ring.driver.add(List.of(new Buffer(DATA, 1)), List.of());
        ring.driver.publish(); // avail 1
        assertFalse(ring.driver.needsKick(true), "device has not asked again");
        popAndPushOne();
        popAndPushOne();
        assertFalse(ring.device.enableNotification());
        ring.driver.add(List.of(new Buffer(DATA, 1)), List.of());
        ring.driver.publish();
        assertTrue(ring.driver.needsKick(true));
    }

    @Test
    void enableNotificationRechecksTheRing() throws Exception {
        ring.device.disableNotification();
        addChains(1);
        assertFalse(ring.driver.needsKick(false), "NO_NOTIFY set");
        assertTrue(ring.device.enableNotification(), "a chain arrived while kicks were off: process again");
        popAndPushOne();
        assertFalse(ring.device.enableNotification());
        addChains(1);
        assertTrue(ring.driver.needsKick(false));
    }

    @Test
    void eventIdxEnableNotificationRechecksTheRing() throws Exception {
        ring.device.setFeatures(true, false);
        ring.device.disableNotification();
        addChains(1);
        assertTrue(ring.driver.needsKick(true), "avail_event 0 was passed once");
        addChains(1);
        assertFalse(ring.driver.needsKick(true), "avail_event not advanced while disabled");
        assertTrue(ring.device.enableNotification(), "two chains wait: process again");
    }

    @Test
    void noLostKickWhenTheDeviceNeverReenablesNotifications() throws Exception {
        ring.device.setFeatures(true, false);
        for (int round = 0; round < 3; round++) {
            addChains(1);
            assertTrue(ring.driver.needsKick(true), "round " + round + ": avail_event follows the device");
            popAndPushOne();
            ring.driver.poll();
        }
    }

    // ---- state restore ----

    @Test
    void configureRereadsUsedIndexAndRestoresAvail() throws Exception {
        ring.driver.resetIndices(300, 297);
        ring.device.setNextAvail(297);
        ring.reconfigure();
        assertEquals(297, ring.device.usedIndex());
        assertEquals(297, ring.device.nextAvail());
        assertThrows(IllegalArgumentException.class, () -> ring.device.setNextAvail(65536));
    }

    @Test
    void misalignedRingAddressIsRejected() {
        var q = new SplitVirtqueue(3, 8);
        var e = assertThrows(GuestMemoryException.class,
                () -> q.configure(guest.table, TestGuest.A_USER + 8, TestGuest.A_USER + 0x200, TestGuest.A_USER + 0x400));
        assertEquals("SET_VRING_ADDR for queue 3: descriptor table address 0x7f0000010008 is not 16-byte aligned",
                e.getMessage());
    }

    @Test
    void queueSizeMustBePowerOfTwo() {
        var e = assertThrows(IllegalArgumentException.class, () -> new SplitVirtqueue(0, 12));
        assertEquals("queue size 12 is not a power of two in 1..32768", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new SplitVirtqueue(0, 65536));
    }
}
