package io.vhost.impl.daemon;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vhost.api.Fd;
import io.vhost.api.backend.BackendHandler.InflightArea;
import io.vhost.api.backend.BackendHandler.StopMode;
import io.vhost.api.device.DescriptorChain;
import io.vhost.api.device.VhostUserDevice;
import io.vhost.api.device.Virtqueue;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.VringAddress;
import io.vhost.impl.memory.InflightPackedQueue;
import io.vhost.impl.memory.InflightSplitQueue;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.Mapping;
import io.vhost.impl.sys.Mman;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.virtqueue.DriverRing;
import io.vhost.impl.virtqueue.PackedDriver;
import io.vhost.testing.NoFdLeaks;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The resume point of a ring whose inflight region a crashed back-end left behind does not depend on the order of
 * {@code SET_INFLIGHT_FD}, {@code SET_VRING_BASE}, {@code SET_VRING_ADDR}, {@code SET_VRING_KICK} and
 * {@code SET_VRING_ENABLE} (QEMU: inflight, NUM, BASE, ADDR, KICK, ENABLE; cloud-hypervisor sends ADDR before BASE),
 * for split and packed rings.
 *
 * <p>The guest made three requests available; the previous back-end popped the first two (they are inflight in the
 * region) and completed none. The front-end sends a stale base (split: the used index, 0; packed: QEMU's initial
 * state). A device that pops everything and completes nothing must see each request exactly once, inflight ones
 * first, and the ring must stop at the position after the third.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RingStartOrderTest {

    private static final long MEM_SIZE = 1 << 20;
    private static final long USER_BASE = 0x7f00_0000_0000L;
    private static final int QSIZE = 8;
    private static final long DESC = 0x10000;
    private static final long AVAIL = 0x11000; // packed: driver area
    private static final long USED = 0x12000; // packed: device area
    private static final long BUFFERS = 0x20000;

    enum Step { INFLIGHT, BASE, ADDR, KICK, ENABLE }

    /** Pops every available chain and keeps it: nothing is completed, so the position shows what was popped. */
    static final class PoppingDevice implements VhostUserDevice {
        final List<Integer> popped = Collections.synchronizedList(new ArrayList<>());
        final List<DescriptorChain> held = Collections.synchronizedList(new ArrayList<>());

        @Override
        public int queueCount() {
            return 1;
        }

        @Override
        public long features() {
            return VirtioFeature.VERSION_1.mask();
        }

        @Override
        public void handleQueue(int queue, Virtqueue virtqueue) throws GuestMemoryException {
            for (DescriptorChain c = virtqueue.pop(); c != null; c = virtqueue.pop()) {
                popped.add(c.headIndex());
                held.add(c);
            }
        }
    }

    private OwnedFd memfd;
    private Mapping guestMapping;
    private MemorySegment guest;
    private DeviceBackendTest.TestSession session;
    private DeviceBackend backend;
    private PoppingDevice device;

    @BeforeEach
    void setUp() throws Exception {
        memfd = Mman.memfd("guest-ram", MEM_SIZE);
        guestMapping = Mman.map(memfd.number(), 0, MEM_SIZE, true, "test guest ram");
        guest = guestMapping.segment();
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

    static Stream<Arguments> orders() {
        List<Arguments> out = new ArrayList<>();
        List<List<Step>> middles = List.of(List.of(Step.BASE, Step.ADDR, Step.KICK),
                List.of(Step.BASE, Step.KICK, Step.ADDR), List.of(Step.ADDR, Step.BASE, Step.KICK),
                List.of(Step.ADDR, Step.KICK, Step.BASE), List.of(Step.KICK, Step.BASE, Step.ADDR),
                List.of(Step.KICK, Step.ADDR, Step.BASE));
        for (boolean packed : new boolean[] {false, true}) {
            for (boolean inflightFirst : new boolean[] {true, false}) {
                for (boolean enableFirst : new boolean[] {true, false}) {
                    for (List<Step> middle : middles) {
                        List<Step> order = new ArrayList<>();
                        if (inflightFirst) {
                            order.add(Step.INFLIGHT); // before SET_VRING_NUM, as QEMU
                        }
                        if (enableFirst) {
                            order.add(Step.ENABLE);
                        }
                        if (!inflightFirst) {
                            order.add(Step.INFLIGHT); // after SET_VRING_NUM (and an early enable)
                        }
                        order.addAll(middle);
                        if (!enableFirst) {
                            order.add(Step.ENABLE);
                        }
                        out.add(Arguments.of(packed ? "packed" : "split", order));
                    }
                }
            }
        }
        return out.stream();
    }

    /** The crash state: the guest's ring and the region the previous back-end left, for one ring type. */
    private final class Scenario implements AutoCloseable {
        final boolean packed;
        final InflightArea area;
        final Mapping view;
        final List<Integer> requests = new ArrayList<>();
        final long staleBase;
        final long expectedBase;
        DriverRing split;
        PackedDriver packedDriver;

        Scenario(boolean packed) throws Exception {
            this.packed = packed;
            device = new PoppingDevice();
            session = new DeviceBackendTest.TestSession();
            backend = new DeviceBackend(device, session);
            backend.setFeatures(VirtioFeature.VERSION_1.mask() | (packed ? VirtioFeature.RING_PACKED.mask() : 0));
            backend.setMemoryTable(new MemoryTable(List.of(new MemoryRegion(0, MEM_SIZE, USER_BASE, 0))),
                    List.of(memfd));
            area = backend.getInflightFd(new InflightRegion(0, 0, 1, QSIZE));
            view = Mman.map(area.fd().number(), 0, area.region().mmapSizeBytes(), true, "test inflight");
            if (packed) {
                packedDriver = new PackedDriver(QSIZE, guest.asSlice(DESC, 16L * QSIZE));
                InflightPackedQueue region = InflightPackedQueue.ofQueue(view.segment(), 0, QSIZE);
                region.initialize(0, true);
                for (int i = 0; i < 3; i++) {
                    int id = 20 + i;
                    packedDriver.post(id, new long[0][], BUFFERS + 0x100 * i, 64);
                    requests.add(id);
                    if (i < 2) { // the previous back-end fetched two chains, then died
                        region.recordDescriptor(true, true, BUFFERS + 0x100 * i, 64, id, 2 | 1 << 7, 5 + i);
                    }
                }
                staleBase = 0x8000_8000L; // QEMU's initial packed state: it could not GET_VRING_BASE from the dead one
                expectedBase = 3 | 0x8000 | 0x8000_0000L;
            } else {
                split = new DriverRing(QSIZE, guest.asSlice(DESC, DriverRing.descTableBytes(QSIZE)),
                        guest.asSlice(AVAIL, DriverRing.availBytes(QSIZE)),
                        guest.asSlice(USED, DriverRing.usedBytes(QSIZE)));
                InflightSplitQueue region = InflightSplitQueue.ofQueue(view.segment(), 0, QSIZE);
                region.initialize();
                region.commitBatch(0, 0);
                for (int i = 0; i < 3; i++) {
                    int head = split.add(List.of(), List.of(new DriverRing.Buffer(BUFFERS + 0x100 * i, 64)));
                    requests.add(head);
                    if (i < 2) {
                        region.markInflight(head, 5 + i);
                    }
                }
                split.publish();
                staleBase = 0; // QEMU sends the used index in guest memory
                expectedBase = 3;
            }
        }

        void send(Step step, OwnedFd kick) throws Exception {
            switch (step) {
                case INFLIGHT -> backend.setInflightFd(area.region(), area.fd());
                case BASE -> backend.setVringBase(0, staleBase);
                case ADDR -> backend.setVringAddress(0, new VringAddress(0, 0, USER_BASE + DESC, USER_BASE + USED,
                        USER_BASE + AVAIL, 0));
                case KICK -> backend.setVringKick(0, Optional.of(kick.take()));
                case ENABLE -> backend.setVringEnable(0, true);
            }
        }

        @Override
        public void close() {
            view.close();
            area.fd().close();
        }
    }

    @ParameterizedTest(name = "{0}: NUM and {1}")
    @MethodSource("orders")
    void theResumePointDoesNotDependOnTheMessageOrder(String ring, List<Step> order) throws Exception {
        try (Scenario s = new Scenario(ring.equals("packed"));
                OwnedFd kick = EventFds.create(EventFds.EFD_NONBLOCK, "test kick")) {
            boolean numSent = false;
            for (Step step : order) {
                if (!numSent && step != Step.INFLIGHT) {
                    backend.setVringNum(0, QSIZE);
                    numSent = true;
                }
                s.send(step, kick);
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> device.popped.size() >= 3);
            long base = backend.getVringBase(0, StopMode.DRAIN); // waits for the worker's batch
            assertEquals(s.requests, device.popped, "each request once, the inflight ones first");
            assertEquals(s.expectedBase, base, "stopped after the third request");
        }
    }

    @org.junit.jupiter.api.Test
    void theInflightBufferIsLaidOutForTheAckedRingType() throws Exception {
        try (Scenario split = new Scenario(false)) {
            assertEquals(192, split.area.region().mmapSizeBytes(), "align64(16 + 16 * 8)");
        }
        session.supervisor.close();
        backend.close();
        try (Scenario packed = new Scenario(true)) {
            assertEquals(320, packed.area.region().mmapSizeBytes(), "align64(32 + 32 * 8)");
            var e = org.junit.jupiter.api.Assertions.assertThrows(io.vhost.api.error.RequestRejectedException.class,
                    () -> backend.setInflightFd(new InflightRegion(192, 0, 1, QSIZE), packed.area.fd()));
            assertEquals("SET_INFLIGHT_FD mmap_size 192 is smaller than the 320 bytes 1 queues of 8 descriptors need"
                    + " (packed rings)", e.getMessage());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"split", "packed"})
    void addressesResentToARunningRingDoNotResubmitAgain(String ring) throws Exception {
        try (Scenario s = new Scenario(ring.equals("packed"));
                OwnedFd kick = EventFds.create(EventFds.EFD_NONBLOCK, "test kick")) {
            int kickNumber = kick.number(); // the back-end owns it once taken
            backend.setInflightFd(s.area.region(), s.area.fd());
            backend.setVringNum(0, QSIZE);
            for (Step step : List.of(Step.BASE, Step.ADDR, Step.KICK, Step.ENABLE)) {
                s.send(step, kick);
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> device.popped.size() >= 3);
            // QEMU resends SET_VRING_ADDR to a running ring to switch dirty logging on or off, and a late base.
            s.send(Step.ADDR, null);
            s.send(Step.BASE, null);
            int fourth;
            if (s.packed) {
                fourth = 23;
                s.packedDriver.post(fourth, new long[0][], BUFFERS + 0x400, 64);
            } else {
                fourth = s.split.add(List.of(), List.of(new DriverRing.Buffer(BUFFERS + 0x400, 64)));
                s.split.publish();
            }
            EventFds.signal(kickNumber, 1);
            await().atMost(Duration.ofSeconds(10)).until(() -> device.popped.size() >= 4);
            backend.getVringBase(0, StopMode.DRAIN);
            List<Integer> expected = new ArrayList<>(s.requests);
            expected.add(fourth);
            assertEquals(expected, device.popped, "no chain popped twice");
        }
    }
}
