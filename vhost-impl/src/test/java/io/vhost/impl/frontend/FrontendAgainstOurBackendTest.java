package io.vhost.impl.frontend;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.BackendRequestHandler;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.message.ConfigSpace;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.backend.BackendServer;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RecordingDevice;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Our front-end against our own back-end engine (issue 5's BackendServer with a recording device). */
@NoFdLeaks
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FrontendAgainstOurBackendTest {

    @TempDir
    Path dir;

    @Test
    void setUpBackendChannelAndConfigRoundTrip() throws Exception {
        long features = VirtioFeature.VERSION_1.mask() | VirtioFeature.PROTOCOL_FEATURES.mask();
        long protocol = FeatureSet.of(ProtocolFeature.REPLY_ACK, ProtocolFeature.BACKEND_REQ, ProtocolFeature.CONFIG,
                ProtocolFeature.MQ).bits();
        RecordingDevice device = new RecordingDevice(features, protocol, 2);
        device.config(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        device.base(9);
        Path socket = dir.resolve("ours.sock");
        AtomicInteger configChanges = new AtomicInteger();
        try (BackendServer server = BackendServer.bind(socket, ctx -> device, BackendOptions.defaults())) {
            CompletableFuture<Void> serving = serveOnVirtualThread(server);
            try (VhostUserFrontend fe = VhostUserFrontends.connect(socket);
                    VmmMemory memory = VmmMemory.create(1 << 20);
                    DriverQueue queue = new DriverQueue(memory, 0, 64)) {
                FeatureSet offered = fe.getFeatures();
                assertEquals(features, offered.bits());
                fe.setProtocolFeatures(fe.getProtocolFeatures());
                fe.setOwner();
                fe.setFeatures(offered);
                assertEquals(2, fe.getQueueNum());
                fe.openBackendChannel(new BackendRequestHandler() {
                    @Override
                    public void configChanged() {
                        configChanges.incrementAndGet();
                    }
                });
                fe.setMemTable(memory.regions());
                queue.setUp(fe);
                assertArrayEquals(new byte[] {3, 4, 5, 6}, fe.getConfig(2, 4).bytes());
                await().atMost(Duration.ofSeconds(10)).until(() -> device.channel() != null);
                device.channel().configChanged(); // the back-end asks over the channel, acked by our handler
                assertEquals(1, configChanges.get());
                assertEquals(9, fe.getVringBase(0));
                assertEquals(List.of("setProtocolFeatures 0x" + Long.toHexString(protocol), "setOwner",
                        "setFeatures 0x" + Long.toHexString(features), "setFrontendChannel", "setMemoryTable 1",
                        "setVringNum 0 64", "setVringBase 0 0"), device.events().subList(0, 7));
                assertTrue(device.events().contains("setVringEnable 0 true"), device.events().toString());
            }
            server.shutdown();
            serving.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aFullConfigurationSpaceCrossesBothWays() throws Exception {
        // 4 096 config bytes: the largest message in each direction, far beyond the senders' first 512-byte buffers
        // and the front-end's reply buffer
        long features = VirtioFeature.VERSION_1.mask() | VirtioFeature.PROTOCOL_FEATURES.mask();
        long protocol = FeatureSet.of(ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG).bits();
        RecordingDevice device = new RecordingDevice(features, protocol, 1);
        byte[] config = new byte[ConfigSpace.MAX_BYTES];
        for (int i = 0; i < config.length; i++) {
            config[i] = (byte) (i * 31 + 5);
        }
        device.config(config);
        Path socket = dir.resolve("config.sock");
        try (BackendServer server = BackendServer.bind(socket, ctx -> device, BackendOptions.defaults())) {
            CompletableFuture<Void> serving = serveOnVirtualThread(server);
            try (VhostUserFrontend fe = VhostUserFrontends.connect(socket)) {
                FeatureSet offered = fe.getFeatures();
                fe.setProtocolFeatures(fe.getProtocolFeatures());
                fe.setOwner();
                fe.setFeatures(offered);
                assertArrayEquals(config, fe.getConfig(0, ConfigSpace.MAX_BYTES).bytes());
                fe.setConfig(new ConfigSpace(0, ConfigSpace.FLAG_WRITE, config));
                assertTrue(device.events().contains("setConfig 0 4096 0"), device.events().toString());
                assertArrayEquals(new byte[] {config[100], config[101]}, fe.getConfig(100, 2).bytes(),
                        "small messages after the large ones");
                assertEquals(features, fe.getFeatures().bits());
            }
            server.shutdown();
            serving.get(10, TimeUnit.SECONDS);
        }
    }

    /** Runs {@code server.serve()} on a virtual thread; the future ends when it returns or fails. */
    private static CompletableFuture<Void> serveOnVirtualThread(BackendServer server) {
        CompletableFuture<Void> serving = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                server.serve();
                serving.complete(null);
            } catch (Throwable t) {
                serving.completeExceptionally(t);
            }
        });
        return serving;
    }
}
