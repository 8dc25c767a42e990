package io.vhost.impl.frontend;

import static io.vhost.impl.frontend.FrontendRawBackendTest.GET_FEATURES;
import static io.vhost.impl.frontend.FrontendRawBackendTest.GET_PROTOCOL_FEATURES;
import static io.vhost.impl.frontend.FrontendRawBackendTest.OFFERED;
import static io.vhost.impl.frontend.FrontendRawBackendTest.negotiate;
import static io.vhost.impl.frontend.FrontendRawBackendTest.script;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.frontend.ReconnectListener;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawBackend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The front-end without its idle monitor ({@link FrontendOptions#idleMonitor()} false): callers read their own
 * replies, a watchdog bounds the wait. The same failures give the same clear exceptions, and a back-end lost while
 * idle is reported by the next request.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FrontendDirectRepliesTest {

    @TempDir
    Path dir;

    static FrontendOptions direct() {
        return FrontendRawBackendTest.quick().withIdleMonitor(false);
    }

    @Test
    void wrongReplyCodeIsProtocolViolation() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("code.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.replyU64(GET_PROTOCOL_FEATURES, OFFERED);
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), direct())) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("request code 15"), e.getMessage());
                assertFalse(fe.isConnected());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void replyWithoutReplyFlagIsProtocolViolation() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("flag.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.send(GET_FEATURES, RawBackend.VERSION, RawBackend.u64(OFFERED));
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), direct())) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("REPLY flag"), e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void disconnectMidReplyIsPeerDisconnected() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("mid.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.sendRaw(new byte[] {1, 0, 0, 0, 5});
                bk.disconnect();
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), direct())) {
                PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("before replying to GET_FEATURES"), e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void watchdogBoundsAMissingReply() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("silent.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> bk.expect(GET_FEATURES));
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(),
                    direct().withReplyTimeout(Duration.ofMillis(300)))) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("no reply to GET_FEATURES within 300 ms"), e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void manyVirtualThreadsGetTheirOwnReplies() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("many.sock"))) {
            List<RawBackend.Message> seen = new CopyOnWriteArrayList<>();
            CompletableFuture<Void> peer = script(b, bk -> FrontendBehaviourTest.respond(bk,
                    ProtocolFeature.REPLY_ACK.mask(), seen));
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), direct())) {
                negotiate(fe);
                List<Future<Boolean>> results = new ArrayList<>();
                try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
                    for (int i = 0; i < 300; i++) {
                        int q = i % 150;
                        results.add(ex.submit(() -> fe.getVringBase(q) == q * 7L + 1));
                    }
                }
                for (Future<Boolean> r : results) {
                    assertTrue(r.get());
                }
            }
            peer.get(10, TimeUnit.SECONDS);
            assertEquals(4 + 300, seen.size());
        }
    }

    @Test
    void backendLostWhileIdleIsReportedByTheNextRequest() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("idle.sock"))) {
            AtomicReference<VhostException> lost = new AtomicReference<>();
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.replyU64(GET_FEATURES, OFFERED);
                bk.disconnect();
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), direct())) {
                fe.addReconnectListener(new ReconnectListener() {
                    @Override
                    public void backendLost(VhostUserFrontend frontend, VhostException cause) {
                        lost.set(cause);
                    }
                });
                assertEquals(OFFERED, fe.getFeatures().bits());
                peer.get(10, TimeUnit.SECONDS);
                assertThrows(PeerDisconnectedException.class, fe::getFeatures);
                await().atMost(Duration.ofSeconds(10)).until(() -> lost.get() != null);
                assertInstanceOf(PeerDisconnectedException.class, lost.get());
            }
        }
    }
}
