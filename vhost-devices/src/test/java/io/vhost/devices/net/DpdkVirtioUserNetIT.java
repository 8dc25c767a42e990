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
 * this JVM. The frames both sides count must agree; testpmd is always killed; every wait is bounded.
 */
@Timeout(180)
class DpdkVirtioUserNetIT {

    private static final Logger LOG = System.getLogger(DpdkVirtioUserNetIT.class.getName());
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final byte[] MAC = {0x52, 0x54, 0, 0x12, 0x34, 0x56};

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

    @ParameterizedTest(name = "{0}-byte frames, vdev args ''{1}''")
    @CsvSource(value = {"64,''", "1500,''", "64,',packed_vq=1'"}, quoteCharacter = '\'')
    void txonlyIntoTheSinkCountsTheSameFramesOnBothSides(int frameBytes, String vdevExtra) throws Exception {
        NetDevice device = serve(NetDevice.Mode.SINK);
        try (VirtioUserTestpmd pmd = VirtioUserTestpmd.start(dir.resolve("net.sock"), vdevExtra,
                "--forward-mode=txonly", "--txpkts=" + frameBytes, "--burst=32")) {
            awaitCount(pmd, device, () -> device.stats().txFrames(), "txFrames");
            assertEquals(0, pmd.stop(), () -> "testpmd exit status; log:\n" + pmd.output());
            VirtioUserTestpmd.Totals t = pmd.totals();
            await("our count reaches testpmd's TX-packets " + t.txPackets()).atMost(WAIT)
                    .until(() -> device.stats().txFrames() == t.txPackets());
            NetStats s = device.stats();
            LOG.log(Level.INFO, "txonly {0} B{1}: testpmd {2}; ours {3}; acked features 0x{4}", frameBytes, vdevExtra,
                    t, s, Long.toHexString(device.ackedFeatures()));
            assertTrue((device.ackedFeatures() & 1L << NetDevice.F_MRG_RXBUF) != 0, "virtio-user acks MRG_RXBUF");
            assertEquals(t.txPackets() * frameBytes, s.txBytes());
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
            await("our TX count reaches testpmd's TX-packets " + t.txPackets()).atMost(WAIT)
                    .until(() -> device.stats().txFrames() == t.txPackets());
            // The session is over once testpmd is gone: whatever was still in the backlog is counted as dropped.
            await("the backlog is settled").atMost(WAIT).until(() -> {
                NetStats s = device.stats();
                return s.txFrames() == s.rxFrames() + s.dropped();
            });
            NetStats s = device.stats();
            LOG.log(Level.INFO, "io/loopback{0}: testpmd {1}; ours {2}", vdevExtra, t, s);
            assertEquals(0, s.errors());
            assertTrue(s.rxFrames() >= t.rxPackets() && s.rxFrames() <= t.rxPackets() + 1024,
                    () -> "we delivered " + s.rxFrames() + ", testpmd received " + t.rxPackets()
                            + " (at most one ring of 1024 may be delivered but unread at the stop)");
            assertEquals(64 * s.rxFrames(), s.rxBytes());
        }
    }
}
