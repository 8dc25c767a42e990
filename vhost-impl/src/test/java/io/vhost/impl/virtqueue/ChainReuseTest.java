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
 * makes a held head available again, a packed ring whose chains come back out of order, a device that returns a
 * chain twice.
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
        assertSame(first, third, "once no chain of the head is held, its object is filled again");
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

    private PackedVirtqueue packedRing(PackedDriver[] driver) throws GuestMemoryException {
        long gpa = 0x10000;
        driver[0] = new PackedDriver(4, guest.table.slice(gpa, PackedVirtqueue.descRingBytes(4)));
        PackedVirtqueue device = new PackedVirtqueue(0, 4);
        device.configure(guest.table, TestGuest.user(gpa), TestGuest.user(gpa + 0x100), TestGuest.user(gpa + 0x104));
        return device;
    }

    @Test
    void packedChainHeldByTheDeviceIsNotReusedWhenOthersComeBackOutOfOrder() throws Exception {
        PackedDriver[] d = new PackedDriver[1];
        PackedVirtqueue device = packedRing(d);
        PackedDriver driver = d[0];

        driver.post(10, new long[][] {{DATA, 4}}, REPLY, 16);          // slots 0-1
        driver.post(11, new long[][] {{OTHER, 6}}, REPLY + 0x100, 16); // slots 2-3
        RingChain a = device.pop();
        RingChain b = device.pop();
        assertNotSame(a, b);
        device.addUsed(b, 0); // out of order: b's used descriptor goes to slot 0
        assertEquals(11, driver.reap());

        driver.post(12, new long[][] {{OTHER, 2}}, REPLY + 0x200, 16); // slots 0-1 again, a still held
        RingChain c = device.pop();
        assertSame(b, c, "the object returned last is filled again");
        assertNotSame(a, c);
        assertArrayEquals(new byte[] {1, 2, 3, 4}, read(a));
        assertEquals(10, a.headIndex());
        assertArrayEquals(new byte[] {5, 6}, read(c));
        assertEquals(12, c.headIndex());

        device.addUsed(a, 0);
        device.addUsed(c, 0);
        assertEquals(10, driver.reap());
        assertEquals(12, driver.reap());
    }

    @Test
    void chainReturnedTwiceIsReusedOnce() throws Exception {
        PackedDriver[] d = new PackedDriver[1];
        PackedVirtqueue device = packedRing(d);
        d[0].post(1, new long[][] {{DATA, 4}}, REPLY, 16);
        RingChain a = device.pop();
        device.addUsed(a, 0);
        device.addUsed(a, 0); // a device bug; the driver gets two used entries, the pool gets the object once
        d[0].post(2, new long[][] {{OTHER, 6}}, REPLY + 0x100, 16);
        d[0].post(3, new long[][] {{DATA, 2}}, REPLY + 0x200, 16);
        RingChain x = device.pop();
        RingChain y = device.pop();
        assertNotSame(x, y);
        assertArrayEquals(new byte[] {5, 6, 7, 8, 9, 10}, read(x));
        assertArrayEquals(new byte[] {1, 2}, read(y));

        TestGuest.Ring ring = guest.ring(1, 8, 0x11000);
        int head = ring.driver.add(List.of(new Buffer(DATA, 4)), List.of());
        ring.driver.publish();
        RingChain s = ring.device.pop();
        ring.device.addUsed(s, 0);
        ring.device.fillUsed(head, 0); // again
        ring.driver.add(List.of(new Buffer(OTHER, 6)), List.of());
        ring.driver.add(List.of(new Buffer(DATA, 2)), List.of());
        ring.driver.publish();
        RingChain sx = ring.device.pop();
        RingChain sy = ring.device.pop();
        assertNotSame(sx, sy);
        assertArrayEquals(new byte[] {5, 6, 7, 8, 9, 10}, read(sx));
        assertArrayEquals(new byte[] {1, 2}, read(sy));
    }
}
