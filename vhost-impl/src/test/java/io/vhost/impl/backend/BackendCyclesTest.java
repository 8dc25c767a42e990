package io.vhost.impl.backend;

import static io.vhost.api.message.FrontendRequest.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.feature.ProtocolFeature;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawFrontend;
import io.vhost.testing.RecordingDevice;
import io.vhost.testing.ThreadCensus;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * 1 000 connect, handshake, disconnect cycles against one serve loop: afterwards no fd and no thread of any session
 * is left (threads counted by name prefix, virtual ones included), and every device was closed.
 */
@NoFdLeaks
class BackendCyclesTest {

    static final int CYCLES = 1000;
    private static final System.Logger LOG = System.getLogger(BackendCyclesTest.class.getName());

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void thousandConnectHandshakeDisconnectCycles() throws Exception {
        Path sock = dir.resolve("cycles.sock");
        long features = 1L << 32;
        long protocol = ProtocolFeature.REPLY_ACK.mask() | ProtocolFeature.CONFIG.mask();
        AtomicInteger created = new AtomicInteger();
        AtomicInteger closed = new AtomicInteger();
        int threadsBefore = ThreadCensus.count("cycle[");
        try (BackendServer server = BackendServer.bind(sock, ctx -> {
            created.incrementAndGet();
            ctx.startWorker("vring-0", () -> Thread.sleep(Long.MAX_VALUE)); // a sibling that must end with the session
            return new RecordingDevice(features, protocol, 1) {
                @Override
                public void close() {
                    super.close();
                    closed.incrementAndGet();
                }
            };
        }, BackendOptions.defaults().withName("cycle"))) {
            Thread serving = Thread.ofPlatform().name("cycles-serve").start(() -> {
                try {
                    server.serve();
                } catch (IOException | InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            long start = System.nanoTime();
            for (int i = 0; i < CYCLES; i++) {
                try (RawFrontend fe = RawFrontend.connect(sock, Duration.ofSeconds(5));
                        FileInputStream call = RawFrontend.dummyFd()) {
                    assertEquals(features | (1L << 30), fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]).u64());
                    fe.call(GET_PROTOCOL_FEATURES.id(), RawFrontend.V1, new byte[0]);
                    fe.send(SET_PROTOCOL_FEATURES.id(), RawFrontend.V1, RawFrontend.u64(protocol));
                    fe.send(SET_OWNER.id(), RawFrontend.V1_NEED_REPLY, new byte[0]);
                    assertEquals(0, fe.receiveReply(SET_OWNER.id()).u64());
                    fe.send(SET_VRING_CALL.id(), RawFrontend.V1_NEED_REPLY, RawFrontend.u64(0), call.getFD());
                    assertEquals(0, fe.receiveReply(SET_VRING_CALL.id()).u64());
                    byte[] getConfig = RawFrontend.payload(20).putInt(0).putInt(8).putInt(0).array();
                    assertEquals(20, fe.call(GET_CONFIG.id(), RawFrontend.V1, getConfig).payload().length);
                }
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> closed.get() == CYCLES);
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            LOG.log(System.Logger.Level.INFO, () -> CYCLES + " connect-handshake-disconnect cycles took " + millis
                    + " ms (" + (millis * 1000 / CYCLES) + " µs per cycle)");
            assertEquals(CYCLES, created.get());
            assertEquals(CYCLES, server.sessionsServed());
            server.shutdown();
            serving.join(Duration.ofSeconds(10));
            assertTrue(!serving.isAlive(), "serve() returned");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> ThreadCensus.count("cycle[") == threadsBefore);
    }
}
