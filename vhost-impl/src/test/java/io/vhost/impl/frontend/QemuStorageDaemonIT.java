package io.vhost.impl.frontend;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.InflightArea;
import io.vhost.api.frontend.ReconnectListener;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.message.ConfigSpace;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.QemuStorageDaemon;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our front-end drives qemu-storage-daemon's vhost-user-blk export (libvhost-user) on a raw image: negotiation,
 * memory table, one queue, virtio-blk writes and reads checked against the image file, GET_CONFIG capacity, and a
 * reconnect to a restarted daemon with the set-up replayed.
 */
@NoFdLeaks
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class QemuStorageDaemonIT {

    static final long IMAGE_BYTES = 64L << 20;
    static final long SECTOR = 2048;
    static final int VIRTIO_BLK_F_FLUSH = 9;
    static final Duration IO_TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    @BeforeAll
    static void needsQsd() {
        assumeTrue(QemuStorageDaemon.installed(), "qemu-storage-daemon is not installed (package qemu-system-x86)");
    }

    private Path image() throws Exception {
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        return image;
    }

    static byte[] pattern(int length, int seed) {
        byte[] p = new byte[length];
        for (int i = 0; i < length; i++) {
            p[i] = (byte) (i * 31 + seed + (i >> 9));
        }
        return p;
    }

    static byte[] readImage(Path image, long offset, int length) throws Exception {
        byte[] b = new byte[length];
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
            f.seek(offset);
            f.readFully(b);
        }
        return b;
    }

    /** Negotiates the features our blk driver uses and returns the acked protocol features. */
    static FeatureSet negotiate(VhostUserFrontend fe) throws VhostException {
        FeatureSet offered = fe.getFeatures();
        assertTrue(offered.contains(VirtioFeature.PROTOCOL_FEATURES), "qsd offers PROTOCOL_FEATURES: " + offered);
        FeatureSet protocol = fe.getProtocolFeatures().intersect(FeatureSet.of(ProtocolFeature.REPLY_ACK,
                ProtocolFeature.CONFIG, ProtocolFeature.MQ, ProtocolFeature.INFLIGHT_SHMFD));
        fe.setProtocolFeatures(protocol);
        fe.setOwner();
        long wanted = VirtioFeature.VERSION_1.mask() | VirtioFeature.PROTOCOL_FEATURES.mask()
                | (1L << VIRTIO_BLK_F_FLUSH);
        fe.setFeatures(offered.intersect(new FeatureSet(wanted)));
        System.getLogger(QemuStorageDaemonIT.class.getName()).log(System.Logger.Level.INFO,
                "qsd offered virtio {0}, acked {1}, protocol acked {2}", offered, fe.ackedFeatures(),
                protocol.describe(FeatureSet::protocolFeatures));
        return protocol;
    }

    @Test
    void writesAndReadsThroughQsdAndTheImageHasTheBytes() throws Exception {
        Path image = image();
        try (QemuStorageDaemon qsd = QemuStorageDaemon.start(image, dir.resolve("blk.sock"), 1);
                VhostUserFrontend fe = VhostUserFrontends.connect(qsd.socket());
                VmmMemory memory = VmmMemory.create(16L << 20);
                DriverQueue queue = new DriverQueue(memory, 0, 128)) {
            FeatureSet protocol = negotiate(fe);
            assertTrue(protocol.contains(ProtocolFeature.CONFIG), "vhost-user-blk needs CONFIG: " + protocol);
            if (protocol.contains(ProtocolFeature.MQ)) {
                assertTrue(fe.getQueueNum() >= 1);
            }
            ConfigSpace config = fe.getConfig(0, 8);
            long capacity = ByteBuffer.wrap(config.bytes()).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            assertEquals(IMAGE_BYTES / 512, capacity, "GET_CONFIG capacity in 512-byte sectors");

            fe.setMemTable(memory.regions());
            queue.setUp(fe);
            VirtioBlkDriver blk = new VirtioBlkDriver(memory, queue, 64 * 1024, IO_TIMEOUT);

            byte[] data = pattern(4096, 7);
            blk.write(SECTOR, data);
            blk.flush();
            assertArrayEquals(data, blk.read(SECTOR, 4096), "read back through qsd");
            assertArrayEquals(data, readImage(image, SECTOR * 512, 4096), "the image file holds the pattern");
            assertArrayEquals(new byte[512], blk.read(SECTOR + 8, 512), "the sector after it is untouched");

            // Figures for the record (logged, never asserted): control-plane round trips and 4 KiB reads.
            int trips = 2000;
            long t0 = System.nanoTime();
            for (int i = 0; i < trips; i++) {
                fe.getFeatures();
            }
            long t1 = System.nanoTime();
            int reads = 500;
            for (int i = 0; i < reads; i++) {
                assertArrayEquals(data, blk.read(SECTOR, 4096));
            }
            long t2 = System.nanoTime();
            System.getLogger(QemuStorageDaemonIT.class.getName()).log(System.Logger.Level.INFO,
                    "qsd: {0} GET_FEATURES round trips, {1} us each; {2} 4 KiB reads, {3} us each", trips,
                    (t1 - t0) / 1000 / trips, reads, (t2 - t1) / 1000 / reads);

            assertEquals(4 + reads, fe.getVringBase(0), "GET_VRING_BASE: every request made available was counted");
        }
    }

    @Test
    void twoRegionsAtAHighGuestAddressTranslateOnBothSides() throws Exception {
        Path image = image();
        long base = 0x1_0000_0000L; // 4 GiB: guest addresses differ from offsets and from our user addresses
        try (QemuStorageDaemon qsd = QemuStorageDaemon.start(image, dir.resolve("blk2.sock"), 1);
                VhostUserFrontend fe = VhostUserFrontends.connect(qsd.socket());
                VmmMemory memory = VmmMemory.create(base, 4L << 20, 4L << 20);
                DriverQueue queue = new DriverQueue(memory, 0, 32)) {
            negotiate(fe);
            assertEquals(2, memory.regions().size());
            fe.setMemTable(memory.regions());
            queue.setUp(fe);
            // Fill the first region up to its last page: the request header and status stay in region 0, the
            // 8 KiB data buffer lands at the start of region 1, so one chain spans both regions.
            long next = memory.allocate(1, 1);
            memory.allocate(base + (4L << 20) - 4096 - next - 1, 1);
            VirtioBlkDriver blk = new VirtioBlkDriver(memory, queue, 8192, IO_TIMEOUT);
            assertEquals(base + (4L << 20), blk.dataGuestAddress(), "data buffer at the start of region 1");
            byte[] data = pattern(8192, 3);
            blk.write(SECTOR * 2, data);
            assertArrayEquals(data, blk.read(SECTOR * 2, 8192));
            assertArrayEquals(data, readImage(image, SECTOR * 2 * 512, 8192), "the image file holds the pattern");
        }
    }

    @Test
    void reconnectsToARestartedQsdAndReplaysTheSetUp() throws Exception {
        Path image = image();
        Path socket = dir.resolve("blk-re.sock");
        AtomicReference<VhostException> lost = new AtomicReference<>();
        AtomicInteger reconnected = new AtomicInteger();
        QemuStorageDaemon qsd = QemuStorageDaemon.start(image, socket, 1);
        try (VhostUserFrontend fe = VhostUserFrontends.connect(socket);
                VmmMemory memory = VmmMemory.create(16L << 20);
                DriverQueue queue = new DriverQueue(memory, 0, 64)) {
            fe.addReconnectListener(new ReconnectListener() {
                @Override
                public void backendLost(VhostUserFrontend frontend, VhostException cause) {
                    lost.set(cause);
                }

                @Override
                public long replayVringBase(int q, long recordedBase) {
                    return queue.deviceUsedIndex(); // every request completed: resume after the last used one
                }

                @Override
                public void reconnected(VhostUserFrontend frontend) {
                    reconnected.incrementAndGet();
                }
            });
            FeatureSet protocol = negotiate(fe);
            fe.setMemTable(memory.regions());
            InflightArea inflight = null;
            if (protocol.contains(ProtocolFeature.INFLIGHT_SHMFD)) {
                inflight = fe.getInflightFd(1, queue.size()); // replayed with SET_INFLIGHT_FD after the restart
            }
            queue.setUp(fe);
            VirtioBlkDriver blk = new VirtioBlkDriver(memory, queue, 8192, IO_TIMEOUT);
            byte[] first = pattern(4096, 1);
            blk.write(SECTOR, first);

            qsd.signal("TERM", Duration.ofSeconds(20));
            qsd.close();
            await("back-end loss reported").atMost(Duration.ofSeconds(20)).until(() -> lost.get() != null);
            assertTrue(!fe.isConnected());

            qsd = QemuStorageDaemon.start(image, socket, 1);
            fe.reconnect();
            assertEquals(1, reconnected.get());
            assertTrue(fe.isConnected());

            byte[] second = pattern(4096, 2);
            blk.write(SECTOR + 8, second);
            assertArrayEquals(first, blk.read(SECTOR, 4096), "data written before the restart");
            assertArrayEquals(second, readImage(image, (SECTOR + 8) * 512, 4096), "data written after the replay");
            assertTrue(Arrays.equals(second, blk.read(SECTOR + 8, 4096)));
            if (inflight != null) {
                inflight.close();
            }
        } finally {
            qsd.close();
        }
    }
}
