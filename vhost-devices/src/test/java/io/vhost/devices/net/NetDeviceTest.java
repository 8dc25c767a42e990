package io.vhost.devices.net;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.daemon.VhostUserDaemon;
import io.vhost.impl.frontend.DriverQueue;
import io.vhost.impl.frontend.VhostUserFrontends;
import io.vhost.impl.frontend.VirtioNetDriver;
import io.vhost.impl.frontend.VmmMemory;
import io.vhost.impl.virtqueue.DriverRing;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The net device driven by our own front-end and driver side through the daemon, over a real unix socket. */
@Timeout(60)
class NetDeviceTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final byte[] MAC = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    private static final ValueLayout.OfShort LE16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @TempDir
    Path dir;

    private VhostUserDaemon daemon;
    private Thread server;
    private VhostUserFrontend fe;
    private VmmMemory ram;
    private DriverQueue rxq;
    private DriverQueue txq;

    @AfterEach
    void tearDown() throws Exception {
        try (VhostUserDaemon d = daemon; VhostUserFrontend f = fe; VmmMemory m = ram; DriverQueue r = rxq;
             DriverQueue t = txq) {
            if (f != null) {
                f.close();
            }
            if (d != null) {
                d.shutdown();
            }
        }
        if (server != null) {
            server.join(WAIT);
        }
    }

    /** Starts the daemon, connects, negotiates {@code extra} besides VERSION_1 and sets up queues 0 and 1. */
    private NetDevice start(NetDevice.Mode mode, long extra, int queueSize) throws Exception {
        NetDevice device = new NetDevice(mode, 1, 256, MAC, 1514);
        Path socket = dir.resolve("net.sock");
        daemon = VhostUserDaemon.bind(socket, device);
        server = Thread.ofVirtual().name("net-daemon").start(() -> {
            try {
                daemon.serve();
            } catch (Exception e) {
                // ends when closed
            }
        });
        fe = VhostUserFrontends.connect(socket);
        ram = VmmMemory.create(8L << 20);
        FeatureSet offered = fe.getFeatures();
        fe.setProtocolFeatures(fe.getProtocolFeatures().intersect(
                FeatureSet.of(ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG)));
        fe.setOwner();
        fe.setFeatures(new FeatureSet(offered.bits() & (VirtioFeature.VERSION_1.mask()
                | VirtioFeature.PROTOCOL_FEATURES.mask() | extra)));
        fe.setMemTable(ram.regions());
        rxq = new DriverQueue(ram, 0, queueSize);
        txq = new DriverQueue(ram, 1, queueSize);
        rxq.setUp(fe);
        txq.setUp(fe);
        return device;
    }

    private static byte[] frame(int length, int seed) {
        byte[] f = new byte[length];
        for (int i = 0; i < length; i++) {
            f[i] = (byte) (seed * 31 + i);
        }
        return f;
    }

    @Test
    void offersTheNetFeaturesAndAConfigSpaceWithMacLinkUpAndPairs() throws Exception {
        NetDevice device = start(NetDevice.Mode.LOOPBACK, 0, 16);
        long offered = fe.getFeatures().bits();
        for (int bit : new int[] {NetDevice.F_MAC, NetDevice.F_MRG_RXBUF, NetDevice.F_STATUS, 32, 29, 28}) {
            assertTrue((offered & 1L << bit) != 0, "feature bit " + bit + " offered in 0x" + Long.toHexString(offered));
        }
        assertEquals(0, offered & 1L << NetDevice.F_MQ, "MQ is not offered with one pair");
        byte[] config = fe.getConfig(0, NetConfig.SIZE).bytes();
        assertArrayEquals(new byte[] {0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 1, 0}, config);
        assertEquals(new NetStats(0, 0, 0, 0, 0, 0), device.stats());
    }

    @Test
    void loopbackDeliversEveryTransmittedFrameOnTheReceiveQueueInOrder() throws Exception {
        NetDevice device = start(NetDevice.Mode.LOOPBACK, 1L << NetDevice.F_MRG_RXBUF, 64);
        assertEquals(VirtioFeature.VERSION_1.mask() | 1L << NetDevice.F_MRG_RXBUF,
                device.ackedFeatures() & ~VirtioFeature.PROTOCOL_FEATURES.mask());
        VirtioNetDriver driver = new VirtioNetDriver(ram, rxq, txq, 2048);
        driver.fillRx();
        List<byte[]> sent = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            byte[] f = frame(60 + i * 30, i);
            sent.add(f);
            assertTrue(driver.send(f, WAIT));
        }
        driver.kickTx();
        for (byte[] expected : sent) {
            byte[] got = driver.receive(WAIT);
            assertNotNull(got, "a looped-back frame arrived");
            assertArrayEquals(expected, got);
        }
        assertTrue(driver.drainTx(WAIT));
        long bytes = sent.stream().mapToLong(f -> f.length).sum();
        await().atMost(WAIT).until(() -> device.stats().rxFrames() == 40);
        assertEquals(new NetStats(40, bytes, 40, bytes, 0, 0), device.stats());
    }

    @Test
    void loopbackWithoutReceiveBuffersDropsAndCountsButCompletesEveryTransmission() throws Exception {
        NetDevice device = start(NetDevice.Mode.LOOPBACK, 1L << NetDevice.F_MRG_RXBUF, 32);
        VirtioNetDriver driver = new VirtioNetDriver(ram, rxq, txq, 2048);
        for (int i = 0; i < 100; i++) { // three rings' worth: the device must keep completing TX
            assertTrue(driver.send(frame(64, i), WAIT), "TX descriptor " + i + " became free");
            driver.kickTx();
        }
        assertTrue(driver.drainTx(WAIT));
        await().atMost(WAIT).until(() -> device.stats().dropped() == 100);
        NetStats s = device.stats();
        assertEquals(100, s.txFrames());
        assertEquals(0, s.rxFrames());
        assertEquals(0, s.errors());
    }

    @Test
    void sinkCountsFramesAndBytesAndLeavesTheReceiveQueueAlone() throws Exception {
        NetDevice device = start(NetDevice.Mode.SINK, 1L << NetDevice.F_MRG_RXBUF, 64);
        VirtioNetDriver driver = new VirtioNetDriver(ram, rxq, txq, 2048);
        driver.fillRx();
        for (int i = 0; i < 200; i++) {
            assertTrue(driver.send(frame(1500, i), WAIT));
            if (i % 32 == 31) {
                driver.kickTx();
            }
        }
        driver.kickTx();
        assertTrue(driver.drainTx(WAIT));
        await().atMost(WAIT).until(() -> device.stats().txFrames() == 200);
        assertEquals(new NetStats(200, 200 * 1500L, 0, 0, 0, 0), device.stats());
        assertEquals(0, rxq.deviceUsedIndex(), "no receive buffer was used");
        assertEquals(OptionalLong.empty(), device.lastVringBase(1), "not stopped yet");
        assertEquals(200, fe.getVringBase(1), "every frame taken and counted, none more");
        assertEquals(OptionalLong.of(200), device.lastVringBase(1), "the device recorded the base it returned");
        assertEquals(OptionalLong.empty(), device.lastVringBase(0));
    }

    @Test
    void mergeableBuffersCarryALargeFrameAcrossSeveralChainsWithNumBuffers() throws Exception {
        NetDevice device = start(NetDevice.Mode.LOOPBACK, 1L << NetDevice.F_MRG_RXBUF, 16);
        long rxArea = ram.allocate(16 * 256, 16);
        for (int i = 0; i < 16; i++) {
            rxq.add(List.of(), List.of(new DriverRing.Buffer(rxArea + 256L * i, 256)));
        }
        rxq.kick();
        byte[] f = frame(1000, 7); // 12 + 1000 bytes: 4 buffers of 256
        long tx = ram.allocate(12 + f.length, 16);
        MemorySegment txBuf = ram.segment(tx, 12 + f.length);
        txBuf.fill((byte) 0);
        MemorySegment.copy(f, 0, txBuf, ValueLayout.JAVA_BYTE, 12, f.length);
        txq.add(List.of(new DriverRing.Buffer(tx, 12 + f.length)), List.of());
        txq.kick();

        List<DriverRing.Used> used = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            DriverRing.Used u = rxq.awaitUsed(WAIT);
            assertNotNull(u, "receive buffer " + i + " used");
            used.add(u);
        }
        assertEquals(List.of(256L, 256L, 256L, 12L + 1000 - 3 * 256),
                used.stream().map(DriverRing.Used::length).toList());
        assertEquals(4, ram.segment(rxArea + 256L * used.getFirst().head(), 12).get(LE16, 10), "num_buffers");
        byte[] got = new byte[1000];
        int at = 0;
        for (int i = 0; i < 4; i++) {
            long gpa = rxArea + 256L * used.get(i).head();
            int start = i == 0 ? 12 : 0;
            int n = (int) used.get(i).length() - start;
            MemorySegment.copy(ram.segment(gpa + start, n), ValueLayout.JAVA_BYTE, 0, got, at, n);
            at += n;
        }
        assertArrayEquals(f, got);
        await().atMost(WAIT).until(() -> device.stats().rxFrames() == 1);
    }

    @Test
    void malformedTransmitChainsAreReturnedAndCountedAndTheQueueKeepsWorking() throws Exception {
        NetDevice device = start(NetDevice.Mode.SINK, 1L << NetDevice.F_MRG_RXBUF, 16);
        long area = ram.allocate(4096, 16);
        txq.add(List.of(new DriverRing.Buffer(area, 5)), List.of()); // shorter than the 12-byte header
        txq.add(List.of(new DriverRing.Buffer(area, 12 + 1515)), List.of()); // frame above --max-frame 1514
        txq.add(List.of(new DriverRing.Buffer(area, 12 + 60)), List.of()); // fine
        txq.add(List.of(new DriverRing.Buffer(area, 12)), List.of()); // empty frame: legal, counted
        txq.kick();
        for (int i = 0; i < 4; i++) {
            DriverRing.Used u = txq.awaitUsed(WAIT);
            assertNotNull(u, "transmit chain " + i + " completed");
            assertEquals(0, u.length());
        }
        await().atMost(WAIT).until(() -> device.stats().txFrames() == 2);
        assertEquals(new NetStats(2, 60, 0, 0, 0, 2), device.stats());
    }

    @Test
    void aReceiveBufferTooSmallForTheHeaderIsReturnedEmptyAndTheFrameDropped() throws Exception {
        NetDevice device = start(NetDevice.Mode.LOOPBACK, 1L << NetDevice.F_MRG_RXBUF, 16);
        long area = ram.allocate(4096, 16);
        rxq.add(List.of(), List.of(new DriverRing.Buffer(area, 8)));
        rxq.kick();
        txq.add(List.of(new DriverRing.Buffer(area + 1024, 12 + 60)), List.of());
        txq.kick();
        DriverRing.Used u = rxq.awaitUsed(WAIT);
        assertNotNull(u);
        assertEquals(0, u.length());
        await().atMost(WAIT).until(() -> device.stats().dropped() == 1);
        assertEquals(0, device.stats().rxFrames());
    }

    @Test
    void withoutMergeableBuffersAFrameLargerThanOneBufferIsDroppedNotSplit() throws Exception {
        NetDevice device = start(NetDevice.Mode.LOOPBACK, 0, 16);
        long area = ram.allocate(8192, 16);
        rxq.add(List.of(), List.of(new DriverRing.Buffer(area, 100)));
        rxq.add(List.of(), List.of(new DriverRing.Buffer(area + 100, 2048)));
        rxq.kick();
        txq.add(List.of(new DriverRing.Buffer(area + 4096, 12 + 500)), List.of());
        txq.add(List.of(new DriverRing.Buffer(area + 4096, 12 + 50)), List.of());
        txq.kick();
        DriverRing.Used small = rxq.awaitUsed(WAIT);
        DriverRing.Used big = rxq.awaitUsed(WAIT);
        assertNotNull(small);
        assertNotNull(big);
        assertEquals(0, small.length(), "500-byte frame does not fit 100 bytes: buffer returned empty");
        assertEquals(12 + 50, big.length());
        assertEquals(1, ram.segment(area + 100, 12).get(LE16, 10), "num_buffers is 1 with VERSION_1");
        await().atMost(WAIT).until(() -> device.stats().rxFrames() == 1);
        assertEquals(1, device.stats().dropped());
    }

    @Test
    void constructorAndParsersRejectOutOfRangeValuesWithTheirLimits() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new NetDevice(NetDevice.Mode.SINK, 0, 256, MAC, 1514));
        assertTrue(e.getMessage().contains("queue-pairs 0 is outside 1..128"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new NetDevice(NetDevice.Mode.SINK, 1, 100, MAC, 1514));
        assertTrue(e.getMessage().contains("queue-size 100"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NetConfig.parseMac("52:54:00:12:34"));
        assertTrue(e.getMessage().contains("52:54:00:12:34"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NetDevice.Mode.parse("bridge"));
        assertTrue(e.getMessage().contains("bridge is not loopback or sink"), e.getMessage());
        assertArrayEquals(MAC, NetConfig.parseMac("52:54:00:12:34:56"));
        NetDevice two = new NetDevice(NetDevice.Mode.LOOPBACK, 2, 256, MAC, 1514);
        assertEquals(4, two.queueCount());
        assertTrue((two.features() & 1L << NetDevice.F_MQ) != 0);
        assertEquals(two.workerOf(2), two.workerOf(3));
    }
}
