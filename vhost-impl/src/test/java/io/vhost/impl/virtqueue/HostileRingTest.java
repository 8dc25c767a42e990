package io.vhost.impl.virtqueue;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Random ring contents (a seeded stand-in for the Jazzer fuzz target): popping and consuming chains must either
 * succeed or raise GuestMemoryException, never another exception and never a crash.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class HostileRingTest {

    private static final long[] ADDRESSES = {0x18000, 0x1fff8, 0x2fff0, 0x0, 0x900000, 0xfffffffffffffff0L,
        0x1000000, 0x1a000};

    @Test
    void randomSplitRingsNeverEscapeAsAnythingButGuestMemoryException() throws Exception {
        Random random = new Random(20261125L);
        int chains = 0;
        int broken = 0;
        try (TestGuest guest = new TestGuest()) {
            for (int round = 0; round < 2000; round++) {
                TestGuest.Ring ring = guest.ring(0, 8, 0x10000);
                MemorySegment desc = ring.descTable();
                MemorySegment table = guest.table.slice(0x1a000, 256);
                for (MemorySegment s : new MemorySegment[] {desc, table}) {
                    for (int i = 0; i < s.byteSize() / 16; i++) {
                        long addr = ADDRESSES[random.nextInt(ADDRESSES.length)] + random.nextInt(64);
                        int len = random.nextInt(4) == 0 ? random.nextInt() : random.nextInt(0x200);
                        int flags = random.nextInt(8);
                        int next = random.nextInt(12);
                        DriverRing.writeDescriptor(s, i, addr, len, flags, next);
                    }
                }
                for (int i = 0; i < 8; i++) {
                    ring.driver.addRawHead(random.nextInt(10));
                }
                ring.driver.publish();
                try {
                    for (RingChain c; (c = ring.device.pop()) != null; ) {
                        chains++;
                        byte[] buf = new byte[(int) Math.min(c.readableBytes(), 4096)];
                        c.read(0, MemorySegment.ofArray(buf));
                        c.write(0, MemorySegment.ofArray(new byte[(int) Math.min(c.writableBytes(), 4096)]));
                        ring.device.addUsed(c, Math.min(c.writableBytes(), 4096));
                        ring.device.needsNotification();
                    }
                } catch (GuestMemoryException e) {
                    broken++;
                    assertTrue(ring.device.isBroken());
                }
                guest.table.region(0).mapping().asSlice(0, 0x1000).fill((byte) 0);
                guest.c.mapping().get(ValueLayout.JAVA_BYTE, 0);
            }
        }
        assertTrue(chains > 0, "some random chains are valid");
        assertTrue(broken > 0, "some random rings are broken");
    }
}
