package io.vhost.impl.virtqueue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.virtqueue.DriverRing.Buffer;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Chain objects are reused once returned, and never while the device still holds them: a split ring whose driver
 * makes a held head available again, a packed ring whose driver reuses a slot while an earlier chain from it is
 * still out (out-of-order completion).
 */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class ChainReuseTest {

    private static final long DATA = 0x18000;
    private static final long OTHER = 0x18100;
    private static final long REPLY = 0x19000;

    private TestGuest guest;

    @BeforeEach
    void setUp() throws GuestMemoryException {
        guest = new TestGuest();
        guest.put(DATA, new byte[] {1, 2, 3, 4});
        guest.put(OTHER, new byte[] {5, 6, 7, 8, 9, 10});
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    private static byte[] read(DescriptorChain chain) throws GuestMemoryException {
        byte[] out = new byte[(int) chain.readableBytes()];
        chain.read(0, MemorySegment.ofArray(out));
        return out;
    }

    @Test
    void splitHeadMadeAvailableAgainWhileHeldGetsItsOwnChain() throws Exception {
        TestGuest.Ring ring = guest.ring(0, 8, 0x10000);
        int head = ring.driver.add(List.of(new Buffer(DATA, 4)), List.of());
        ring.driver.publish();
        RingChain first = ring.device.pop();

        // The driver rewrites the held head's descriptor and offers the head again (it must not; the device copes).
        DriverRing.writeDescriptor(ring.descTable(), head, OTHER, 6, 0, 0);
        ring.driver.addRawHead(head);
        ring.driver.publish();
        RingChain second = ring.device.pop();

        assertNotSame(first, second);
        assertEquals(4, first.readableBytes());
        assertArrayEquals(new byte[] {1, 2, 3, 4}, read(first));
        assertArrayEquals(new byte[] {5, 6, 7, 8, 9, 10}, read(second));
        assertEquals(2, ring.device.inUse());

        ring.device.fillUsed(head, 0);
        ring.device.addUsed(first, 0);
        assertEquals(0, ring.device.inUse());
        ring.driver.addRawHead(head);
        ring.driver.publish();
        RingChain third = ring.device.pop();
        assertSame(first, third, "once no chain of the head is out, its object is filled again");
        assertArrayEquals(new byte[] {5, 6, 7, 8, 9, 10}, read(third));
    }

    @Test
    void splitChainObjectIsReusedOnlyAfterItWasReturned() throws Exception {
        TestGuest.Ring ring = guest.ring(0, 8, 0x10000);
        ring.driver.add(List.of(new Buffer(DATA, 4)), List.of());
        ring.driver.publish();
        RingChain first = ring.device.pop();
        ring.device.addUsed(first, 0);
        assertEquals(new DriverRing.Used(first.headIndex(), 0), ring.driver.poll());

        int again = ring.driver.add(List.of(new Buffer(OTHER, 2)), List.of(new Buffer(REPLY, 8)));
        ring.driver.publish();
        RingChain second = ring.device.pop();
        assertEquals(first.headIndex(), again);
        assertSame(first, second);
        assertEquals(2, second.readableBytes());
        assertEquals(8, second.writableBytes());
        assertEquals(1, second.writablePieceCount());
        assertArrayEquals(new byte[] {5, 6}, read(second));
    }

    @Test
    void packedSlotReusedWhileItsEarlierChainIsOutGetsItsOwnChain() throws Exception {
        long gpa = 0x10000;
        PackedDriver driver = new PackedDriver(4, guest.table.slice(gpa, PackedVirtqueue.descRingBytes(4)));
        PackedVirtqueue device = new PackedVirtqueue(0, 4);
        device.configure(guest.table, TestGuest.user(gpa), TestGuest.user(gpa + 0x100), TestGuest.user(gpa + 0x104));

        driver.post(10, new long[][] {{DATA, 4}}, REPLY, 16);          // slots 0-1
        driver.post(11, new long[][] {{OTHER, 6}}, REPLY + 0x100, 16); // slots 2-3
        RingChain a = device.pop();
        RingChain b = device.pop();
        device.addUsed(b, 0); // out of order: b's used descriptor goes to slot 0
        assertEquals(11, driver.reap());

        driver.post(12, new long[][] {{OTHER, 2}}, REPLY + 0x200, 16); // slots 0-1 again, a still out
        RingChain c = device.pop();
        assertNotSame(a, c);
        assertArrayEquals(new byte[] {1, 2, 3, 4}, read(a));
        assertArrayEquals(new byte[] {5, 6}, read(c));
        assertEquals(10, a.headIndex());
        assertEquals(12, c.headIndex());

        device.addUsed(a, 0);
        device.addUsed(c, 0);
        assertEquals(10, driver.reap());
        assertEquals(12, driver.reap());

        driver.post(13, new long[][] {{DATA, 1}}, REPLY + 0x300, 16); // slots 2-3: b was returned
        RingChain d = device.pop();
        assertSame(b, d);
        assertEquals(13, d.headIndex());
        assertArrayEquals(new byte[] {1}, read(d));
    }
}
