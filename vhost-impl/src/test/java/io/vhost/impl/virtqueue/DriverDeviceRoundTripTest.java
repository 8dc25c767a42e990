package io.vhost.impl.virtqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.impl.virtqueue.DriverRing.Buffer;
import io.vhost.impl.virtqueue.DriverRing.Used;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The driver ring adds request/response chains; a device worker on another thread pops them, transforms the request
 * into the response and returns them; the driver reaps used entries and checks lengths and data.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class DriverDeviceRoundTripTest {

    private static final int SIZE = 64;
    private static final int REQUESTS = 5_000;
    private static final int START = 65_000; // both 16-bit indices wrap during the run
    private static final long SLOTS = 0x20000 - 0x400; // request/response slots straddle regions A and B
    private static final int SLOT = 16;

    private TestGuest guest;
    private TestGuest.Ring ring;

    @BeforeEach
    void setUp() throws GuestMemoryException {
        guest = new TestGuest();
        ring = guest.ring(0, SIZE, 0x10000);
        ring.device.setFeatures(true, false);
        ring.driver.resetIndices(START, START);
        ring.device.setNextAvail(START);
        ring.reconfigure();
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    /** Reverses the request bytes into the response and adds one trailing byte: used length = request + 1. */
    private static long serve(DescriptorChain chain) throws GuestMemoryException {
        int n = (int) chain.readableBytes();
        byte[] request = new byte[n];
        chain.read(0, MemorySegment.ofArray(request));
        byte[] response = new byte[n + 1];
        for (int i = 0; i < n; i++) {
            response[i] = request[n - 1 - i];
        }
        response[n] = (byte) n;
        chain.write(0, MemorySegment.ofArray(response));
        return response.length;
    }

    @Test
    void concurrentRoundTripAcrossTheSixteenBitWrap() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        Virtqueue device = ring.device;
        try (ExecutorService worker = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<Integer> served = worker.submit(() -> {
                int count = 0;
                while (!stop.get()) {
                    device.disableNotification();
                    for (DescriptorChain c; (c = device.pop()) != null; count++) {
                        device.addUsed(c, serve(c));
                    }
                    device.needsNotification();
                    if (!device.enableNotification()) {
                        Thread.yield(); // stands in for waiting on the kick eventfd
                    }
                }
                return count;
            });

            int sent = 0;
            int reaped = 0;
            int[] lengthOfHead = new int[SIZE];
            int[] slotOfHead = new int[SIZE];
            while (reaped < REQUESTS) {
                if (sent < REQUESTS && ring.driver.freeDescriptors() >= 2) {
                    int slot = sent % SIZE;
                    int len = 1 + sent % (SLOT - 1);
                    long req = SLOTS + (long) slot * 2 * SLOT;
                    byte[] payload = new byte[len];
                    for (int i = 0; i < len; i++) {
                        payload[i] = (byte) (sent + i);
                    }
                    guest.put(req, payload);
                    int head = ring.driver.add(List.of(new Buffer(req, len)), List.of(new Buffer(req + SLOT, SLOT)));
                    lengthOfHead[head] = len;
                    slotOfHead[head] = sent;
                    ring.driver.publish();
                    ring.driver.needsKick(true);
                    sent++;
                    continue;
                }
                Used used = ring.driver.poll();
                if (used == null) {
                    if (served.isDone()) {
                        served.get(); // the worker failed: surface its exception
                    }
                    Thread.onSpinWait();
                    continue;
                }
                int len = lengthOfHead[used.head()];
                assertEquals(len + 1, used.length(), "used length of head " + used.head());
                int id = slotOfHead[used.head()];
                long resp = SLOTS + (long) (id % SIZE) * 2 * SLOT + SLOT;
                byte[] response = guest.get(resp, len + 1);
                for (int i = 0; i < len; i++) {
                    assertEquals((byte) (id + len - 1 - i), response[i], "request " + id + " byte " + i);
                }
                assertEquals((byte) len, response[len]);
                reaped++;
            }
            stop.set(true);
            assertEquals(REQUESTS, served.get(10, TimeUnit.SECONDS));
        }
        assertEquals((START + REQUESTS) & 0xffff, ring.device.usedIndex());
        assertEquals((START + REQUESTS) & 0xffff, ring.device.nextAvail());
        assertEquals(SIZE, ring.driver.freeDescriptors());
    }
}
