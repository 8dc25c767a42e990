package io.vhost.impl.daemon;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.api.backend.BackendHandler.StopMode;
import io.vhost.api.backend.FrontendChannel;
import io.vhost.api.backend.SessionContext;
import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.VringAddress;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.Mapping;
import io.vhost.impl.sys.Mman;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Unistd;
import io.vhost.impl.virtqueue.DriverRing;
import io.vhost.testing.NoFdLeaks;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Drives {@link DeviceBackend} as the engine would (the handler methods in the front-end's order) against rings
 * that a {@link DriverRing} lays out in a memfd, with real eventfds: kick, handler, used ring, call.
 */
@NoFdLeaks(eachTest = true)
class DeviceBackendTest {

    private static final long MEM_SIZE = 1 << 20;
    private static final long USER_BASE = 0x7f00_0000_0000L;
    private static final int QSIZE = 16;
    private static final long EVENT_IDX = VirtioFeature.EVENT_IDX.mask();

    /** Echo device: copies each chain's readable bytes, upper-cased, into its writable bytes. */
    static final class EchoDevice implements VhostUserDevice {
        final int queues;
        final int perWorker;
        final AtomicInteger handled = new AtomicInteger();
        final AtomicInteger stopped = new AtomicInteger(-1);
        /** The base the framework passed with the last stop. */
        final AtomicLong stoppedBase = new AtomicLong(-1);
        volatile CountDownLatch gate;
        volatile CountDownLatch entered;
        /** Runs on the worker after each completed chain (a guest refilling the ring). */
        volatile Runnable afterChain;
        /** The busy-poll window the framework reads once, at session start. */
        Duration busyPoll = Duration.ZERO;

        EchoDevice(int queues, int perWorker) {
            this.queues = queues;
            this.perWorker = perWorker;
        }

        @Override
        public int queueCount() {
            return queues;
        }

        @Override
        public long features() {
            return VirtioFeature.VERSION_1.mask() | EVENT_IDX;
        }

        @Override
        public int configSize() {
            return 8;
        }

        @Override
        public byte[] readConfig(int offset, int sizeBytes) {
            byte[] all = {1, 2, 3, 4, 5, 6, 7, 8};
            return java.util.Arrays.copyOfRange(all, offset, offset + sizeBytes);
        }

        @Override
        public int workerOf(int queue) {
            return queue / perWorker;
        }

        @Override
        public Duration busyPollWindow() {
            return busyPoll;
        }

        @Override
        public void handleQueue(int queue, Virtqueue virtqueue) throws GuestMemoryException {
            DescriptorChain c;
            for (int n = 0; n < virtqueue.size() && (c = virtqueue.pop()) != null; n++) {
                CountDownLatch e = entered;
                if (e != null) {
                    e.countDown();
                }
                CountDownLatch g = gate;
                if (g != null) {
                    try {
                        g.await();
                    } catch (InterruptedException ex) {
                        Thread.currentThread().interrupt();
                    }
                }
                ByteBuffer in = ByteBuffer.allocate((int) c.readableBytes());
                c.read(0, in);
                byte[] up = new String(in.array(), StandardCharsets.US_ASCII).toUpperCase()
                        .getBytes(StandardCharsets.US_ASCII);
                int len = (int) Math.min(up.length, c.writableBytes());
                c.write(0, ByteBuffer.wrap(up, 0, len));
                virtqueue.addUsed(c, len);
                handled.incrementAndGet();
                Runnable after = afterChain;
                if (after != null) {
                    after.run();
                }
            }
        }

        @Override
        public void queueStopped(int queue) {
            stopped.set(queue);
        }

        @Override
        public void queueStopped(int queue, long base) {
            stoppedBase.set(base);
            VhostUserDevice.super.queueStopped(queue, base); // the default: queueStopped(queue)
        }
    }

    /**
     * Queue 1 consumes requests and, per request, owes queue 0 one buffer (as a loopback owes its receive queue a
     * frame); queue 0 takes buffers only while something is owed. Both queues share one worker.
     */
    static final class ForwardingDevice implements VhostUserDevice {
        final AtomicInteger owed = new AtomicInteger();
        final AtomicInteger delivered = new AtomicInteger();
        final AtomicInteger idleCalls = new AtomicInteger();

        @Override
        public int queueCount() {
            return 2;
        }

        @Override
        public long features() {
            return VirtioFeature.VERSION_1.mask();
        }

        @Override
        public int workerOf(int queue) {
            return 0;
        }

        @Override
        public boolean hasPendingWork(int queue) {
            return queue == 0 && owed.get() > 0;
        }

        @Override
        public void handleQueue(int queue, Virtqueue virtqueue) throws GuestMemoryException {
            if (queue == 1) {
                for (DescriptorChain c; (c = virtqueue.pop()) != null; ) {
                    virtqueue.addUsed(c, 0);
                    owed.incrementAndGet();
                }
                return;
            }
            if (owed.get() == 0) {
                idleCalls.incrementAndGet(); // nothing to deliver: takes no buffer
                return;
            }
            for (DescriptorChain c; owed.get() > 0 && (c = virtqueue.pop()) != null; ) {
                c.write(0, ByteBuffer.wrap("FWD".getBytes(StandardCharsets.US_ASCII)));
                virtqueue.addUsed(c, 3);
                owed.decrementAndGet();
                delivered.incrementAndGet();
            }
        }
    }

    /** A session context backed by the real {@link Supervisor}. */
    static final class TestSession implements SessionContext {
        final Supervisor supervisor = new Supervisor("test-session");

        @Override
        public String name() {
            return supervisor.name();
        }

        @Override
        public Thread startWorker(String role, Worker worker) {
            return supervisor.fork(role, worker::run);
        }

        @Override
        public Thread startPlatformWorker(String role, Worker worker) {
            return supervisor.forkPlatform(role, worker::run);
        }

        @Override
        public void onShutdown(Runnable action) {
            supervisor.onShutdown(action);
        }

        @Override
        public void shutdown() {
            supervisor.shutdown();
        }

        @Override
        public long ackedFeatures() {
            return 0;
        }

        @Override
        public long ackedProtocolFeatures() {
            return 0;
        }

        @Override
        public Optional<FrontendChannel> frontendChannel() {
            return Optional.empty();
        }
    }

    /** The guest side of one queue: ring layout in the memfd, kick and call eventfds. */
    final class GuestQueue {
        final int index;
        final long base;
        final DriverRing ring;
        final int kickFd;
        final int callFd;
        final OwnedFd callOwner;
        long nextBuffer;

        GuestQueue(int index) throws Exception {
            this.index = index;
            this.base = 0x10000L * (index + 1);
            ring = new DriverRing(QSIZE, guest.asSlice(base, DriverRing.descTableBytes(QSIZE)),
                    guest.asSlice(base + 0x1000, DriverRing.availBytes(QSIZE)),
                    guest.asSlice(base + 0x2000, DriverRing.usedBytes(QSIZE)));
            nextBuffer = base + 0x4000;
            backend.setVringNum(index, QSIZE);
            backend.setVringBase(index, 0);
            backend.setVringAddress(index, new VringAddress(index, 0, USER_BASE + base,
                    USER_BASE + base + 0x2000, USER_BASE + base + 0x1000, 0));
            OwnedFd call = EventFds.create(EventFds.EFD_NONBLOCK, "test call " + index);
            callOwner = call;
            callFd = call.number();
            OwnedFd kick = EventFds.create(EventFds.EFD_NONBLOCK, "test kick " + index);
            kickFd = kick.number();
            backend.setVringCall(index, Optional.of(call.take()));
            backend.setVringKick(index, Optional.of(kick));
            kick.close(); // taken by the backend: closing the empty owner does nothing
        }

        /** Adds one request "text" with a 64-byte response buffer; returns the head. */
        int add(String text) {
            byte[] b = text.getBytes(StandardCharsets.US_ASCII);
            long in = nextBuffer;
            long out = nextBuffer + 0x100;
            nextBuffer += 0x200;
            MemorySegment.copy(MemorySegment.ofArray(b), 0, guest, in, b.length);
            int head = ring.add(List.of(new DriverRing.Buffer(in, b.length)), List.of(new DriverRing.Buffer(out, 64)));
            ring.publish();
            lastOut = out;
            return head;
        }

        long lastOut;

        void kick() throws Exception {
            EventFds.signal(kickFd, 1);
        }

        String response(long out, int n) {
            byte[] b = new byte[n];
            MemorySegment.copy(guest, out, MemorySegment.ofArray(b), 0, n);
            return new String(b, StandardCharsets.US_ASCII);
        }

        long callCount() throws Exception {
            return EventFds.drain(callFd);
        }
    }

    private OwnedFd memfd;
    private Mapping guestMapping;
    private MemorySegment guest;
    private TestSession session;
    private EchoDevice device;
    private DeviceBackend backend;

    @BeforeEach
    void setUp() throws Exception {
        memfd = Mman.memfd("guest-ram", MEM_SIZE);
        guestMapping = Mman.map(memfd.number(), 0, MEM_SIZE, true, "test guest ram");
        guest = guestMapping.segment();
    }

    private void start(EchoDevice dev, long features) throws Exception {
        device = dev;
        session = new TestSession();
        backend = new DeviceBackend(dev, session);
        backend.setFeatures(features);
        backend.setMemoryTable(new MemoryTable(List.of(new MemoryRegion(0, MEM_SIZE, USER_BASE, 0))),
                List.of(memfd));
    }

    @AfterEach
    void tearDown() {
        if (session != null) {
            session.supervisor.close();
        }
        if (backend != null) {
            backend.close();
        }
        guestMapping.close();
        memfd.close();
    }

    @Test
    void kickRunsTheHandlerFillsTheUsedRingAndSignalsTheCallEventfd() throws Exception {
        start(new EchoDevice(1, 1), 0);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        int head = q.add("hello vring");
        long out = q.lastOut;
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() instanceof DriverRing.Used u
                && u.head() == head
                && u.length() == 11);
        assertEquals("HELLO VRING", q.response(out, 11));
        await().atMost(Duration.ofSeconds(10)).until(() -> q.callCount() > 0);
        q.callOwner.close();
    }

    @Test
    void withABusyPollWindowBuffersPublishedWithoutAKickAreTakenThenKicksAreWantedAgain() throws Exception {
        EchoDevice polling = new EchoDevice(1, 1);
        polling.busyPoll = Duration.ofSeconds(1);
        start(polling, 0);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        q.add("first");
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> polling.handled.get() == 1);
        // The worker polls with kicks turned off: the driver need not kick, and a buffer published without a kick is
        // taken (without polling it would wait for a kick that never comes).
        q.add("second");
        assertFalse(q.ring.needsKick(false), "kicks are off while the worker polls");
        await().atMost(Duration.ofSeconds(10)).until(() -> polling.handled.get() == 2);
        // A window without work ends the polling: notifications are on again and a kicked buffer is taken as usual.
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            q.ring.publish();
            return q.ring.needsKick(false);
        });
        q.add("third");
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> polling.handled.get() == 3);
        q.callOwner.close();
    }

    @Test
    void aBusyPollWindowOutsideZeroToOneSecondIsRefused() {
        EchoDevice tooLong = new EchoDevice(1, 1);
        tooLong.busyPoll = Duration.ofSeconds(2);
        TestSession unused = new TestSession();
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new DeviceBackend(tooLong, unused));
            assertTrue(e.getMessage().contains("busy-poll window"), e.getMessage());
        } finally {
            unused.supervisor.close();
        }
    }

    @Test
    void aKickBeforeTheRingIsEnabledIsNotLost() throws Exception {
        start(new EchoDevice(1, 1), 0);
        GuestQueue q = new GuestQueue(0);
        q.add("early");
        q.kick();
        // The worker saw the kick, but the ring is not enabled: nothing is processed, the kick is remembered.
        await().atMost(Duration.ofSeconds(10)).until(() -> backend.kickPending(0));
        assertEquals(0, device.handled.get());
        assertNull(q.ring.poll());
        backend.setVringEnable(0, true);
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        assertEquals(1, device.handled.get());
        q.callOwner.close();
    }

    @Test
    void buffersMadeAvailableBeforeTheKickFdArrivesAreProcessedOnEnable() throws Exception {
        start(new EchoDevice(1, 1), 0);
        backend.setVringNum(0, QSIZE);
        GuestQueue q = new GuestQueue(0);
        q.add("restored");
        // No kick at all: a front-end that restored the ring enables it; the framework checks the ring on enable.
        backend.setVringEnable(0, true);
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        q.callOwner.close();
    }

    @Test
    void getVringBaseDrainsStopsTheRingAndReturnsTheNextAvailIndex() throws Exception {
        EchoDevice dev = new EchoDevice(1, 1);
        start(dev, 0);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        dev.gate = new CountDownLatch(1);
        dev.entered = new CountDownLatch(1);
        q.add("one");
        q.kick();
        assertTrue(dev.entered.await(10, TimeUnit.SECONDS));
        // The handler is inside a chain: GET_VRING_BASE must wait for it.
        Future<Long> base;
        try (var exec = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            base = exec.submit(() -> backend.getVringBase(0, StopMode.DRAIN));
            await().atMost(Duration.ofSeconds(10)).until(() -> backend.requestThreadWaitsFor(0));
            assertFalse(base.isDone(), "GET_VRING_BASE answered while a chain was in flight");
            dev.gate.countDown();
            assertEquals(1L, base.get(10, TimeUnit.SECONDS));
        }
        assertEquals(1, dev.handled.get());
        assertEquals(0, dev.stopped.get());
        assertEquals(1L, dev.stoppedBase.get(), "the device learns the base the front-end was told");
        assertNotNull(q.ring.poll());
        // Stopped: the kick fd was dropped, new buffers are not processed.
        q.add("two");
        long passes = backend.workerPasses(0);
        backend.setVringEnable(0, true); // wakes the worker, which must leave the stopped ring alone
        await().atMost(Duration.ofSeconds(10)).until(() -> backend.workerPasses(0) > passes);
        assertEquals(1, dev.handled.get());
        assertFalse(Unistd.isOpen(q.kickFd) && q.kickFd != q.callFd && isEventfdOf(q.kickFd),
                "the kick eventfd is still open after GET_VRING_BASE");
        q.callOwner.close();
    }

    private static boolean isEventfdOf(int fd) {
        try {
            return java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + fd)).toString()
                    .contains("eventfd");
        } catch (java.io.IOException e) {
            return false;
        }
    }

    @Test
    void theMemoryTableCanBeReplacedWhileTheRingRuns() throws Exception {
        start(new EchoDevice(1, 1), 0);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        q.add("before");
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        long epoch = backend.guestMemory().epoch();
        // Same memory, now as two regions mapped anew (as after a memory hot-plug): the worker re-resolves the ring
        // against the new table before its next batch; the old mapping goes once no worker holds it.
        long half = MEM_SIZE / 2;
        backend.setMemoryTable(new MemoryTable(List.of(new MemoryRegion(0, half, USER_BASE, 0),
                new MemoryRegion(half, half, USER_BASE + half, half))), List.of(memfd, memfd));
        assertTrue(backend.guestMemory().epoch() > epoch);
        assertEquals(2, backend.guestMemory().peek().regionCount());
        q.add("after");
        long out = q.lastOut;
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        assertEquals("AFTER", q.response(out, 5));
        q.callOwner.close();
    }

    @Test
    void addAndRemoveMemoryRegionsWhileTheRingRuns() throws Exception {
        device = new EchoDevice(1, 1);
        session = new TestSession();
        backend = new DeviceBackend(device, session);
        long half = MEM_SIZE / 2;
        backend.addMemoryRegion(new MemoryRegion(0, half, USER_BASE, 0), memfd);
        backend.addMemoryRegion(new MemoryRegion(half, half, USER_BASE + half, half), memfd);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        // A buffer in the second region.
        q.nextBuffer = half + 0x1000;
        q.add("second region");
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        backend.removeMemoryRegion(new MemoryRegion(half, half, USER_BASE + half, half));
        q.add("gone");
        q.kick();
        // The chain points into the removed region: the ring is broken, no used entry appears.
        await().atMost(Duration.ofSeconds(10)).until(() -> backend.broken(0));
        assertNull(q.ring.poll());
        assertThrows(GuestMemoryException.class, () -> backend.removeMemoryRegion(
                new MemoryRegion(half, half, USER_BASE + half, half)));
        q.callOwner.close();
    }

    @Test
    void aBrokenRingSignalsItsErrorFdAndTheOtherQueueKeepsRunning() throws Exception {
        start(new EchoDevice(2, 2), 0); // both queues on one worker
        GuestQueue q0 = new GuestQueue(0);
        GuestQueue q1 = new GuestQueue(1);
        OwnedFd err = EventFds.create(EventFds.EFD_NONBLOCK, "test err 0");
        int errFd = err.number();
        backend.setVringErr(0, Optional.of(err.take()));
        backend.setVringEnable(0, true);
        backend.setVringEnable(1, true);
        // Queue 0: a head index beyond the queue size.
        q0.ring.addRawHead(QSIZE + 3);
        q0.ring.publish();
        q0.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> EventFds.drain(errFd) > 0);
        q1.add("still alive");
        long out = q1.lastOut;
        q1.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> q1.ring.poll() != null);
        assertEquals("STILL ALIVE", q1.response(out, 11));
        q0.callOwner.close();
        q1.callOwner.close();
    }

    @Test
    void eventIdxSuppressesCallsUntilUsedEventIsReached() throws Exception {
        start(new EchoDevice(1, 1), EVENT_IDX);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        q.add("a");
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        await().atMost(Duration.ofSeconds(10)).until(() -> q.callCount() > 0);
        // The driver asks to be called only when used idx passes 3 (i.e. after the 4th completion).
        q.ring.setUsedEvent(3);
        for (String s : new String[] {"b", "c"}) {
            q.add(s);
            q.kick();
            await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        }
        assertEquals(0, q.callCount(), "a call was signalled although used_event was not reached");
        q.add("d");
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        await().atMost(Duration.ofSeconds(10)).until(() -> q.callCount() > 0);
        q.callOwner.close();
    }

    @Test
    void configReadsArePaddedAndProtocolFeaturesFollowTheDevice() throws Exception {
        start(new EchoDevice(1, 1), 0);
        assertArrayEquals(new byte[] {3, 4, 5, 6, 7, 8, 0, 0}, backend.getConfig(2, 8));
        assertTrue((backend.protocolFeatures() & ProtocolFeature.CONFIG.mask()) != 0);
        assertThrows(VhostException.class, () -> backend.setConfig(new io.vhost.api.message.ConfigSpace(0, 0,
                new byte[] {1})));
        assertThrows(VhostException.class, () -> backend.setVringNum(1, QSIZE));
        backend.setVringNum(0, QSIZE);
        assertThrows(VhostException.class, () -> backend.setVringBase(0, 70000)); // split rings: 16-bit indices
        assertThrows(VhostException.class, () -> backend.setVringBase(0, 1L << 32));
    }

    @Test
    void closeEndsTheWorkersAndReleasesEverything() throws Exception {
        start(new EchoDevice(2, 1), 0);
        GuestQueue q0 = new GuestQueue(0);
        GuestQueue q1 = new GuestQueue(1);
        assertEquals(2, session.supervisor.liveChildren());
        session.supervisor.close();
        assertEquals(0, session.supervisor.liveChildren());
        backend.close();
        assertFalse(isEventfdOf(q0.kickFd) && isEventfdOf(q1.kickFd), "kick eventfds still open after close");
        q0.callOwner.close();
        q1.callOwner.close();
    }

    @Test
    void ringAddressesMovedByTheFrontEndAreResolvedAgain() throws Exception {
        start(new EchoDevice(1, 1), 0);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        long newUser = 0x6000_0000_0000L;
        backend.setMemoryTable(new MemoryTable(List.of(new MemoryRegion(0, MEM_SIZE, newUser, 0))),
                List.of(memfd));
        backend.setVringAddress(0, new VringAddress(0, 0, newUser + q.base, newUser + q.base + 0x2000,
                newUser + q.base + 0x1000, 0));
        q.add("moved");
        long out = q.lastOut;
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        assertEquals("MOVED", q.response(out, 5));
        q.callOwner.close();
    }

    @Test
    void withLogAllTheDirtyLogMarksWrittenBuffersAndTheUsedRing() throws Exception {
        start(new EchoDevice(1, 1), VirtioFeature.LOG_ALL.mask());
        long logBytes = MEM_SIZE / 4096 / 8;
        try (OwnedFd logFd = Mman.memfd("dirty-log", 4096);
                Mapping log = Mman.map(logFd.number(), 0, 4096, true, "test dirty log")) {
            backend.setLogBase(new io.vhost.api.message.LogRegion(logBytes, 0), logFd);
            GuestQueue q = new GuestQueue(0);
            long usedGpa = q.base + 0x2000;
            backend.setVringAddress(0, new VringAddress(0, VringAddress.F_LOG, USER_BASE + q.base,
                    USER_BASE + usedGpa, USER_BASE + q.base + 0x1000, usedGpa));
            backend.setVringEnable(0, true);
            q.nextBuffer = 0x80000 - 0x100; // the response buffer lands at 0x80000: page 0x80
            q.add("dirty");
            q.kick();
            await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
            MemorySegment bits = log.segment();
            java.util.function.LongPredicate dirty = page -> (bits.get(ValueLayout.JAVA_BYTE, page / 8)
                    & (1 << (page % 8))) != 0;
            assertTrue(dirty.test(0x80000 / 4096), "the written response page is not marked");
            assertTrue(dirty.test(usedGpa / 4096), "the used ring page is not marked");
            assertFalse(dirty.test(0x7f000 / 4096), "a page only read by the device is marked");
            q.callOwner.close();
        }
    }

    @Test
    void inflightHeadsOfACrashedBackendAreResubmittedAfterReconnect() throws Exception {
        start(new EchoDevice(1, 1), 0);
        io.vhost.api.backend.BackendHandler.InflightArea area = backend.getInflightFd(
                new io.vhost.api.message.InflightRegion(0, 0, 1, QSIZE));
        try (Fd inflightFd = area.fd();
                Mapping view = Mman.map(inflightFd.number(), 0, area.region().mmapSizeBytes(), true, "test inflight")) {
            GuestQueue q = new GuestQueue(0);
            backend.setVringEnable(0, true);
            q.add("first");
            q.kick();
            await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
            io.vhost.impl.memory.InflightSplitQueue region = io.vhost.impl.memory.InflightSplitQueue.ofQueue(
                    view.segment(), 0, QSIZE);
            assertTrue(region.isInitialized());
            assertEquals(1, region.usedIndex());
            // The back-end crashes after popping "second" (marked inflight) but before completing it.
            int second = q.add("second");
            long out = q.lastOut;
            region.markInflight(second, 7);
            q.callOwner.close();
            session.supervisor.close();
            backend.close();

            // Reconnect: a new back-end gets the same inflight buffer back and resumes after "second".
            session = new TestSession();
            backend = new DeviceBackend(device, session);
            backend.setMemoryTable(new MemoryTable(List.of(new MemoryRegion(0, MEM_SIZE, USER_BASE, 0))),
                    List.of(memfd));
            backend.setInflightFd(area.region(), inflightFd);
            backend.setVringNum(0, QSIZE);
            // QEMU 7.2 cannot GET_VRING_BASE from a dead back-end: it sends the used index in guest memory (1).
            backend.setVringBase(0, 1);
            backend.setVringAddress(0, new VringAddress(0, 0, USER_BASE + q.base, USER_BASE + q.base + 0x2000,
                    USER_BASE + q.base + 0x1000, 0));
            try (OwnedFd kick = EventFds.create(EventFds.EFD_NONBLOCK, "kick after reconnect")) {
                int kickFd = kick.number();
                backend.setVringKick(0, Optional.of(kick.take()));
                backend.setVringEnable(0, true);
                await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.deviceUsedIndex() != 1);
                int third = q.add("third");
                EventFds.signal(kickFd, 1);
                List<Integer> heads = new java.util.ArrayList<>();
                await().atMost(Duration.ofSeconds(10)).until(() -> {
                    for (DriverRing.Used u = q.ring.poll(); u != null; u = q.ring.poll()) {
                        heads.add(u.head());
                    }
                    return heads.contains(third);
                });
                assertEquals(List.of(second, third), heads, "the inflight head once, then the next request");
                assertFalse(region.isInflight(third));
            }
            assertEquals("SECOND", q.response(out, 6));
            assertFalse(region.isInflight(second));
            assertEquals(3, region.usedIndex());
        }
    }

    @Test
    void afterAGuestRebootTheRingRestartsFromTheUsedIndexInGuestMemory() throws Exception {
        start(new EchoDevice(1, 1), 0);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        for (String s : new String[] {"a", "b", "c"}) {
            q.add(s);
            q.kick();
            await().atMost(Duration.ofSeconds(10)).until(() -> q.ring.poll() != null);
        }
        assertEquals(3L, backend.getVringBase(0, StopMode.DRAIN));
        // The guest reboots: its driver lays out a fresh ring (indices 0) at the same place; the front-end restores
        // only the avail index (SET_VRING_BASE 0) and resends the addresses.
        DriverRing fresh = new DriverRing(QSIZE, guest.asSlice(q.base, DriverRing.descTableBytes(QSIZE)),
                guest.asSlice(q.base + 0x1000, DriverRing.availBytes(QSIZE)),
                guest.asSlice(q.base + 0x2000, DriverRing.usedBytes(QSIZE)));
        backend.setVringNum(0, QSIZE);
        backend.setVringBase(0, 0);
        backend.setVringAddress(0, new VringAddress(0, 0, USER_BASE + q.base, USER_BASE + q.base + 0x2000,
                USER_BASE + q.base + 0x1000, 0));
        try (OwnedFd kick = EventFds.create(EventFds.EFD_NONBLOCK, "kick after reboot")) {
            int kickFd = kick.number();
            backend.setVringKick(0, Optional.of(kick.take()));
            byte[] text = "rebooted".getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(MemorySegment.ofArray(text), 0, guest, q.base + 0x8000, text.length);
            int head = fresh.add(List.of(new DriverRing.Buffer(q.base + 0x8000, text.length)),
                    List.of(new DriverRing.Buffer(q.base + 0x8100, 64)));
            fresh.publish();
            EventFds.signal(kickFd, 1);
            // A device that kept its old used index (3) would publish used idx 4, which the fresh driver rejects.
            await().atMost(Duration.ofSeconds(10)).until(() -> fresh.poll() instanceof DriverRing.Used u
                    && u.head() == head);
            assertEquals(1, fresh.deviceUsedIndex());
        }
        q.callOwner.close();
    }

    @Test
    void aGuestThatRefillsTheRingForeverCannotHoldOffGetVringBase() throws Exception {
        EchoDevice dev = new EchoDevice(1, 1);
        start(dev, 0);
        GuestQueue q = new GuestQueue(0);
        backend.setVringEnable(0, true);
        AtomicInteger refills = new AtomicInteger();
        dev.afterChain = () -> { // the "guest": reap and make a new buffer available, every time
            while (q.ring.poll() != null) {
                refills.incrementAndGet();
            }
            q.nextBuffer = q.base + 0x4000;
            q.add("again");
        };
        q.add("storm");
        q.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> dev.handled.get() > 1000);
        java.util.concurrent.CompletableFuture<Long> base = new java.util.concurrent.CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                base.complete(backend.getVringBase(0, StopMode.DRAIN));
            } catch (Throwable t) {
                base.completeExceptionally(t);
            }
        });
        try {
            long stoppedAt = base.get(20, TimeUnit.SECONDS); // the storm is still going on
            assertEquals(dev.handled.get() & 0xffff, stoppedAt, "GET_VRING_BASE names the next avail index");
            assertEquals(stoppedAt, dev.stoppedBase.get(), "the device learns the base the front-end was told");
        } finally {
            dev.afterChain = null; // the guest stops refilling, so a failing run unwinds instead of hanging
        }
        dev.afterChain = null;
        q.callOwner.close();
    }

    @Test
    void workAnnouncedByHasPendingWorkRunsTheOtherQueueWithoutAKickAndAnIgnoredFullRingDoesNotSpin()
            throws Exception {
        ForwardingDevice dev = new ForwardingDevice();
        session = new TestSession();
        backend = new DeviceBackend(dev, session);
        backend.setFeatures(0);
        backend.setMemoryTable(new MemoryTable(List.of(new MemoryRegion(0, MEM_SIZE, USER_BASE, 0))),
                List.of(memfd));
        GuestQueue rx = new GuestQueue(0);
        GuestQueue tx = new GuestQueue(1);
        backend.setVringEnable(0, true);
        backend.setVringEnable(1, true);
        for (int i = 0; i < 4; i++) {
            rx.add("rx buffer " + i);
        }
        rx.kick();
        await().atMost(Duration.ofSeconds(10)).until(() -> dev.idleCalls.get() > 0);
        // Buffers are available on queue 0 but the device wants none: the worker must park, not loop over them.
        long passes = backend.workerPasses(0);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
                .until(() -> backend.workerPasses(0) <= passes + 1);
        assertEquals(0, dev.delivered.get());

        int head = tx.add("frame");
        tx.kick(); // only queue 1 is kicked: queue 0 runs because the device reports pending work
        await().atMost(Duration.ofSeconds(10)).until(() -> dev.delivered.get() == 1);
        DriverRing.Used used = rx.ring.poll();
        assertEquals(3, used.length());
        assertEquals("FWD", rx.response(rx.base + 0x4000 + 0x100, 3));
        assertEquals(head, tx.ring.poll().head());
        rx.callOwner.close();
        tx.callOwner.close();
    }
}
