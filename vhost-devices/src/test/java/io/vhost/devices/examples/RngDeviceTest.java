package io.vhost.devices.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.impl.daemon.VhostUserDaemon;
import io.vhost.impl.frontend.DriverQueue;
import io.vhost.impl.frontend.VmmMemory;
import io.vhost.impl.frontend.VhostUserFrontends;
import io.vhost.impl.virtqueue.DriverRing;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The two README examples together: our front-end (VMM author) drives the README's rng device (device author). */
@Timeout(60)
class RngDeviceTest {

    @Test
    void theReadmeDeviceFillsTheGuestBufferThroughTheDaemon(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("rng.sock");
        try (VhostUserDaemon daemon = VhostUserDaemon.bind(socket, new RngDevice())) {
            Thread server = Thread.ofVirtual().name("rng-daemon").start(() -> {
                try {
                    daemon.serve();
                } catch (Exception e) {
                    // the daemon ends when closed below
                }
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(socket);
                 VmmMemory ram = VmmMemory.create(4L << 20);
                 DriverQueue q0 = new DriverQueue(ram, 0, 16)) {
                FeatureSet offered = fe.getFeatures();
                fe.setProtocolFeatures(fe.getProtocolFeatures().intersect(FeatureSet.of(ProtocolFeature.REPLY_ACK)));
                fe.setOwner();
                fe.setFeatures(offered.intersect(
                        FeatureSet.of(VirtioFeature.VERSION_1, VirtioFeature.PROTOCOL_FEATURES)));
                fe.setMemTable(ram.regions());
                q0.setUp(fe);

                long buffer = ram.allocate(256, 16);
                MemorySegment bytes = ram.segment(buffer, 256);
                bytes.fill((byte) 0);
                int head = q0.add(List.of(), List.of(new DriverRing.Buffer(buffer, 256)));
                q0.kick();
                DriverRing.Used used = q0.awaitUsed(Duration.ofSeconds(20));

                assertEquals(head, used.head());
                assertEquals(256, used.length());
                long nonZero = 0;
                for (long i = 0; i < 256; i++) {
                    nonZero += bytes.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0;
                }
                assertNotEquals(0, nonZero, "the device wrote random bytes into the guest buffer");
            }
            daemon.shutdown();
            server.join(Duration.ofSeconds(20));
        }
    }
}
