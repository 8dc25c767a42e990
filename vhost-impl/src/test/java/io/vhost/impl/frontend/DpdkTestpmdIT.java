package io.vhost.impl.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.testing.DpdkTestpmd;
import io.vhost.testing.NoFdLeaks;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our front-end drives DPDK 22.11 testpmd's {@code net_vhost} back-end (server mode, no hugepages): packets sent on
 * our TX queue are counted by testpmd in rxonly mode, and packets testpmd generates in txonly mode arrive on our
 * RX queue.
 */
@NoFdLeaks
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class DpdkTestpmdIT {

    static final int QUEUE_SIZE = 256;
    static final Duration TIMEOUT = Duration.ofSeconds(60);
    /** virtio status ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK. */
    static final int STATUS_DRIVER_OK = 0x1 | 0x2 | 0x8 | 0x4;

    @TempDir
    Path dir;

    @BeforeAll
    static void needsTestpmd() {
        assumeTrue(DpdkTestpmd.installed(), "dpdk-testpmd is not installed (package dpdk-dev)");
    }

    /** Negotiates, shares memory and sets up RX (0) and TX (1). */
    static void setUp(VhostUserFrontend fe, VmmMemory memory, DriverQueue rx, DriverQueue tx) throws VhostException {
        FeatureSet offered = fe.getFeatures();
        assertTrue(offered.contains(VirtioFeature.PROTOCOL_FEATURES), "net_vhost offers PROTOCOL_FEATURES");
        FeatureSet protocol = fe.getProtocolFeatures().intersect(FeatureSet.of(ProtocolFeature.REPLY_ACK,
                ProtocolFeature.MQ, ProtocolFeature.STATUS));
        fe.setProtocolFeatures(protocol);
        fe.setOwner();
        fe.setFeatures(offered.intersect(FeatureSet.of(VirtioFeature.VERSION_1, VirtioFeature.PROTOCOL_FEATURES)));
        fe.setMemTable(memory.regions());
        rx.setUp(fe);
        tx.setUp(fe);
        System.getLogger(DpdkTestpmdIT.class.getName()).log(System.Logger.Level.INFO,
                "testpmd offered virtio {0}, acked {1}, protocol acked {2}", offered, fe.ackedFeatures(), protocol);
        if (protocol.contains(ProtocolFeature.STATUS)) {
            fe.setStatus(STATUS_DRIVER_OK);
            assertEquals(STATUS_DRIVER_OK, fe.getStatus() & STATUS_DRIVER_OK);
        }
    }

    static byte[] frame(int seq) {
        ByteBuffer b = ByteBuffer.allocate(64);
        b.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(new byte[] {0x52, 0x54, 0, 0, 0, 1}).putShort((short) 0x88b5)
                .putInt(seq);
        return b.array();
    }

    @Test
    void testpmdRxonlyCountsEveryPacketWeSend() throws Exception {
        int packets = 2000;
        try (DpdkTestpmd pmd = DpdkTestpmd.start(dir.resolve("vh-rx.sock"), "rxonly")) {
            try (VhostUserFrontend fe = VhostUserFrontends.connect(pmd.socket());
                    VmmMemory memory = VmmMemory.create(32L << 20);
                    DriverQueue rx = new DriverQueue(memory, 0, QUEUE_SIZE);
                    DriverQueue tx = new DriverQueue(memory, 1, QUEUE_SIZE)) {
                setUp(fe, memory, rx, tx);
                VirtioNetDriver net = new VirtioNetDriver(memory, rx, tx, 2048);
                long start = System.nanoTime();
                for (int i = 0; i < packets; i++) {
                    assertTrue(net.send(frame(i), TIMEOUT), "TX descriptor freed by testpmd within " + TIMEOUT);
                    if (i % 32 == 31) {
                        net.kickTx();
                    }
                }
                net.kickTx();
                assertTrue(net.drainTx(TIMEOUT), "testpmd consumed every TX buffer; in flight: " + net.txInFlight());
                assertEquals(packets, fe.getVringBase(1), "GET_VRING_BASE of TX: testpmd consumed every packet");
                long nanos = System.nanoTime() - start;
                System.getLogger(DpdkTestpmdIT.class.getName()).log(System.Logger.Level.INFO,
                        "sent {0} packets to testpmd rxonly in {1} ms", packets, nanos / 1_000_000);
                pmd.stop();
            }
            OptionalLong rxCount = pmd.accumulatedRxPackets();
            assertTrue(rxCount.isPresent(), "testpmd printed final statistics:\n" + pmd.output());
            System.getLogger(DpdkTestpmdIT.class.getName()).log(System.Logger.Level.INFO,
                    "testpmd rxonly final RX-packets {0}", rxCount.getAsLong());
            assertEquals(packets, rxCount.getAsLong(), "testpmd RX-packets");
        }
    }

    @Test
    void ourRxQueueReceivesTestpmdTxonlyPackets() throws Exception {
        int wanted = 500;
        try (DpdkTestpmd pmd = DpdkTestpmd.start(dir.resolve("vh-tx.sock"), "txonly", "--txpkts=64")) {
            int received = 0;
            try (VhostUserFrontend fe = VhostUserFrontends.connect(pmd.socket());
                    VmmMemory memory = VmmMemory.create(32L << 20);
                    DriverQueue rx = new DriverQueue(memory, 0, QUEUE_SIZE);
                    DriverQueue tx = new DriverQueue(memory, 1, QUEUE_SIZE)) {
                VirtioNetDriver net = new VirtioNetDriver(memory, rx, tx, 2048);
                setUp(fe, memory, rx, tx);
                net.fillRx();
                for (; received < wanted; received++) {
                    byte[] f = net.receive(TIMEOUT);
                    assertNotNull(f, "packet " + received + " from testpmd txonly within " + TIMEOUT);
                    assertEquals(64, f.length, "txonly --txpkts=64 frame length");
                }
                pmd.stop();
            }
            OptionalLong txCount = pmd.accumulatedTxPackets();
            assertTrue(txCount.isPresent(), "testpmd printed final statistics:\n" + pmd.output());
            System.getLogger(DpdkTestpmdIT.class.getName()).log(System.Logger.Level.INFO,
                    "testpmd txonly final TX-packets {0}, we received {1}", txCount.getAsLong(), received);
            assertTrue(txCount.getAsLong() >= received, "testpmd TX-packets " + txCount.getAsLong() + " >= "
                    + received);
        }
    }
}
