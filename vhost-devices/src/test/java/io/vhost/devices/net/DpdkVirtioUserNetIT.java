package io.vhost.devices.net;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vhost.impl.daemon.VhostUserDaemon;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.LongSupplier;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A real peer: DPDK's virtio-user driver ({@code dpdk-testpmd}, vhost-user front-end) against our net device in
 * this JVM. The frames both sides count must agree, up to what testpmd left in a ring when it stopped it (see
 * {@link #assertEveryFrameTakenWasCounted}); testpmd is always killed; every wait is bounded.
 */
@Timeout(180)
class DpdkVirtioUserNetIT {

    private static final Logger LOG = System.getLogger(DpdkVirtioUserNetIT.class.getName());
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final byte[] MAC = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    /** The transmit queue of the one pair (receive 0, transmit 1). */
    private static final int TX_QUEUE = 1;
    private static final int RING = VirtioUserTestpmd.QUEUE_SIZE;

    @TempDir
    Path dir;

    private VhostUserDaemon daemon;
    private Thread server;

    @BeforeAll
    static void needsTestpmd() {
        assumeTrue(VirtioUserTestpmd.installed(), "dpdk-testpmd is not installed (package dpdk-dev)");
    }

    @AfterEach
    void stopDaemon() throws Exception {
        if (daemon != null) {
            daemon.shutdown();
            daemon.close();
        }
        if (server != null) {
            server.join(Duration.ofSeconds(20));
        }
    }

    private NetDevice serve(NetDevice.Mode mode) throws Exception {
        NetDevice device = new NetDevice(mode, 1, 1024, MAC, 9216);
        daemon = VhostUserDaemon.bind(dir.resolve("net.sock"), device);
        server = Thread.ofVirtual().name("net-daemon").start(() -> {
            try {
                daemon.serve();
            } catch (Exception e) {
                LOG.log(Level.DEBUG, "serve loop ended: " + e);
            }
        });
        return device;
    }

    /** Waits until a counter of ours reaches 20000 while testpmd runs; on a stall, fails with both sides' state. */
    private static void awaitCount(VirtioUserTestpmd pmd, NetDevice device, LongSupplier counter, String name) {
        try {
            await(name + " reaches 20000").atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> {
                assertTrue(pmd.isAlive(), () -> "testpmd exited early:\n" + pmd.output());
                return counter.getAsLong() >= 20_000;
            });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(name + " stalled at " + device.stats() + "; " + pmd + " log:\n" + pmd.output(), e);
        }
    }

    /**
     * After testpmd stopped: checks that every transmit chain we took was counted, and that testpmd's TX-packets
     * exceed our count by no more than the frames it left in the TX ring.
     *
     * <p>testpmd counts a frame as transmitted once it placed it in the TX avail ring. On exit virtio-user disables
     * the rings ({@code SET_VRING_ENABLE 0}) and stops them ({@code GET_VRING_BASE}) right away, without waiting for
     * the back-end to catch up; our worker leaves a disabled ring alone, and what is still available on a stopped
     * ring is not the back-end's to take. So the last frames testpmd counted may never reach us, and its
     * TX-packets may exceed our count by up to one ring. What must hold exactly is that our count matches the
     * position our back-end returned in {@code GET_VRING_BASE}: every chain taken is counted, once.
     *
     * <p>The position counts modulo what it can express. Split ring: a 16-bit avail index (chains), starting at 0.
     * Packed ring: a 15-bit index of descriptor slots below the ring size and a wrap counter that flips at each lap,
     * starting at 0 with the counter at 1; testpmd puts each frame in one slot (the header pushed into the mbuf's
     * headroom, else an indirect table), so slots modulo twice the ring size are frames; the used half must equal
     * the avail half (every slot taken was returned).
     *
     * @return our counters, final for the transmit queue
     */
    private static NetStats assertEveryFrameTakenWasCounted(NetDevice device, VirtioUserTestpmd.Totals t,
                                                            boolean packed) {
        await("testpmd stops our transmit queue").atMost(WAIT).until(() -> device.lastVringBase(TX_QUEUE)
                .isPresent());
        long base = device.lastVringBase(TX_QUEUE).getAsLong();
        // The base is recorded after the queue's last batch was counted: the transmit counters are final.
        NetStats s = device.stats();
        long taken = s.txFrames() + s.errors();
        if (packed) {
            long avail = base & 0xffff;
            assertEquals(avail, base >>> 16, () -> "packed TX ring stopped at 0x" + Long.toHexString(base)
                    + ": the used position (high half) is not the avail position (low half)");
            long position = (avail & 0x7fff) + ((avail & 0x8000) != 0 ? 0 : RING);
            assertEquals(position, taken % (2L * RING), () -> "we took " + taken + " frames but returned packed base 0x"
                    + Long.toHexString(base) + " (slot " + position + " of " + 2 * RING + " in two laps)");
        } else {
            assertEquals(base, taken & 0xffff, () -> "we took " + taken + " frames (" + (taken & 0xffff)
                    + " modulo 65536) but returned avail index " + base + " for the TX queue");
        }
        long left = t.txPackets() - taken;
        assertTrue(left >= 0 && left <= RING, () -> "testpmd transmitted " + t.txPackets() + ", we took " + taken
                + ": at most one ring of " + RING + " may be left available when testpmd stopped it");
        return s;
    }

    private static String txBaseHex(NetDevice device) {
        return Long.toHexString(device.lastVringBase(TX_QUEUE).orElseThrow());
    }

    @ParameterizedTest(name = "{0}-byte frames, vdev args ''{1}''")
    @CsvSource(value = {"64,''", "1500,''", "64,',packed_vq=1'"}, quoteCharacter = '\'')
    void txonlyIntoTheSinkCountsTheSameFramesOnBothSides(int frameBytes, String vdevExtra) throws Exception {
        NetDevice device = serve(NetDevice.Mode.SINK);
        try (VirtioUserTestpmd pmd = VirtioUserTestpmd.start(dir.resolve("net.sock"), vdevExtra,
                "--forward-mode=txonly", "--txpkts=" + frameBytes, "--burst=32")) {
            awaitCount(pmd, device, () -> device.stats().txFrames(), "txFrames");
            assertEquals(0, pmd.stop(), () -> "testpmd exit status; log:\n" + pmd.output());
            VirtioUserTestpmd.Totals t = pmd.totals();
            NetStats s = assertEveryFrameTakenWasCounted(device, t, vdevExtra.contains("packed_vq=1"));
            LOG.log(Level.INFO, "txonly {0} B{1}: testpmd {2}; ours {3}, TX ring stopped at 0x{4}; acked features"
                    + " 0x{5}", frameBytes, vdevExtra, t, s, txBaseHex(device), Long.toHexString(device.ackedFeatures()));
            assertTrue((device.ackedFeatures() & 1L << NetDevice.F_MRG_RXBUF) != 0, "virtio-user acks MRG_RXBUF");
            assertEquals(s.txFrames() * frameBytes, s.txBytes());
            assertEquals(0, s.errors());
            assertEquals(0, s.rxFrames());
            assertEquals(0, t.rxPackets());
        }
    }

    @ParameterizedTest(name = "vdev args ''{0}''")
    @CsvSource(value = {"''", "',packed_vq=1'"}, quoteCharacter = '\'')
    void ioForwardingOverTheLoopbackPingPongsFramesAndBothSidesAgree(String vdevExtra) throws Exception {
        NetDevice device = serve(NetDevice.Mode.LOOPBACK);
        try (VirtioUserTestpmd pmd = VirtioUserTestpmd.start(dir.resolve("net.sock"), vdevExtra,
                "--forward-mode=io", "--tx-first", "--txpkts=64", "--burst=32")) {
            awaitCount(pmd, device, () -> device.stats().rxFrames(), "rxFrames");
            assertEquals(0, pmd.stop(), () -> "testpmd exit status; log:\n" + pmd.output());
            VirtioUserTestpmd.Totals t = pmd.totals();
            assertEveryFrameTakenWasCounted(device, t, vdevExtra.contains("packed_vq=1"));
            // The session is over once testpmd is gone: whatever was still in the backlog is counted as dropped.
            await("the backlog is settled").atMost(WAIT).until(() -> {
                NetStats s = device.stats();
                return s.txFrames() == s.rxFrames() + s.dropped();
            });
            NetStats s = device.stats();
            LOG.log(Level.INFO, "io/loopback{0}: testpmd {1}; ours {2}, TX ring stopped at 0x{3}", vdevExtra, t, s,
                    txBaseHex(device));
            assertEquals(0, s.errors());
            assertTrue(s.rxFrames() >= t.rxPackets() && s.rxFrames() <= t.rxPackets() + RING,
                    () -> "we delivered " + s.rxFrames() + ", testpmd received " + t.rxPackets()
                            + " (at most one ring of " + RING + " may be delivered but unread at the stop)");
            assertEquals(64 * s.rxFrames(), s.rxBytes());
        }
    }
}
