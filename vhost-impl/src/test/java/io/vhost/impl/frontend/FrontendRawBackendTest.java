package io.vhost.impl.frontend;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.api.error.FeatureNotNegotiatedException;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.RequestRejectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.ReconnectListener;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.message.LogRegion;
import io.vhost.impl.sys.EventFds;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawBackend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The front-end against a scripted raw back-end: negotiation, NEED_REPLY/REPLY_ACK, and every malformed-reply case
 * gives a clear exception, never a hang, and leaks no fd.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FrontendRawBackendTest {

    static final int GET_FEATURES = 1;
    static final int SET_FEATURES = 2;
    static final int SET_OWNER = 3;
    static final int SET_LOG_BASE = 6;
    static final int GET_VRING_BASE = 11;
    static final int GET_PROTOCOL_FEATURES = 15;
    static final int SET_PROTOCOL_FEATURES = 16;
    static final long OFFERED = VirtioFeature.PROTOCOL_FEATURES.mask() | VirtioFeature.VERSION_1.mask();

    @TempDir
    Path dir;

    interface Script {
        void run(RawBackend b) throws Exception;
    }

    /** Runs the back-end's side on a virtual thread; the future completes when the script ends. */
    static CompletableFuture<Void> script(RawBackend backend, Script body) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread.ofVirtual().name("raw-backend").start(() -> {
            try {
                backend.accept();
                body.run(backend);
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        return done;
    }

    static FrontendOptions quick() {
        return FrontendOptions.defaults().withConnectTimeout(Duration.ofSeconds(5))
                .withReplyTimeout(Duration.ofSeconds(5));
    }

    /** Back-end side of GET_FEATURES, GET/SET_PROTOCOL_FEATURES, SET_FEATURES (no NEED_REPLY before SET_FEATURES). */
    static void handshake(RawBackend b, long protocol) throws Exception {
        b.expect(GET_FEATURES);
        b.replyU64(GET_FEATURES, OFFERED);
        b.expect(GET_PROTOCOL_FEATURES);
        b.replyU64(GET_PROTOCOL_FEATURES, protocol);
        RawBackend.Message set = b.expect(SET_PROTOCOL_FEATURES);
        if (set.needsReply()) {
            throw new AssertionError("NEED_REPLY set before SET_FEATURES acked PROTOCOL_FEATURES");
        }
        RawBackend.Message features = b.expect(SET_FEATURES);
        if (features.needsReply() || features.u64() != OFFERED) {
            throw new AssertionError("SET_FEATURES 0x" + Long.toHexString(features.u64()) + " flags 0x"
                    + Integer.toHexString(features.flags()));
        }
    }

    static void negotiate(VhostUserFrontend fe) throws VhostException {
        FeatureSet offered = fe.getFeatures();
        FeatureSet protocol = fe.getProtocolFeatures();
        fe.setProtocolFeatures(protocol);
        fe.setFeatures(offered);
    }

    @Test
    void unknownProtocolBitsAreMaskedAndNackIsRequestRejected() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("nack.sock"))) {
            long unknownBit = 1L << 62;
            CompletableFuture<Void> peer = script(b, bk -> {
                handshake(bk, ProtocolFeature.REPLY_ACK.mask() | unknownBit);
                RawBackend.Message owner = bk.expect(SET_OWNER);
                if (!owner.needsReply()) {
                    throw new AssertionError("SET_OWNER without NEED_REPLY although REPLY_ACK was negotiated");
                }
                bk.replyU64(SET_OWNER, 1); // NACK
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                FeatureSet offered = fe.getFeatures();
                FeatureSet protocol = fe.getProtocolFeatures();
                assertEquals(FeatureSet.of(ProtocolFeature.REPLY_ACK), protocol, "unknown bit 62 is masked off");
                fe.setProtocolFeatures(protocol);
                fe.setFeatures(offered);
                RequestRejectedException e = assertThrows(RequestRejectedException.class, fe::setOwner);
                assertTrue(e.getMessage().contains("refused SET_OWNER: REPLY_ACK 1"), e.getMessage());
                assertTrue(fe.isConnected(), "a NACK leaves the connection usable");
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void bytesAfterTheReplyInTheSameWriteAreProtocolViolation() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("extra.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                java.nio.ByteBuffer reply = java.nio.ByteBuffer.allocate(12 + 8 + 5)
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
                reply.putInt(GET_FEATURES).putInt(RawBackend.VERSION | 0x4).putInt(8).putLong(OFFERED);
                bk.sendRaw(reply.array()); // a correct reply followed by 5 bytes nobody asked for, in one write
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("reply to GET_FEATURES: the back-end sent 5 bytes after the 8-byte"
                        + " reply"), e.getMessage());
                assertFalse(fe.isConnected());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void wrongReplyCodeIsProtocolViolationAndBreaksTheSession() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("code.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.replyU64(GET_PROTOCOL_FEATURES, OFFERED); // wrong code
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("reply to GET_FEATURES: the reply carries request code 15 "
                        + "(GET_PROTOCOL_FEATURES), expected 1"), e.getMessage());
                assertFalse(fe.isConnected());
                PeerDisconnectedException later = assertThrows(PeerDisconnectedException.class, fe::getFeatures);
                assertTrue(later.getMessage().contains("failed earlier"), later.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void replyWithoutReplyFlagIsProtocolViolation() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("flag.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.send(GET_FEATURES, RawBackend.VERSION, RawBackend.u64(OFFERED)); // REPLY flag missing
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("reply to GET_FEATURES") && e.getMessage().contains("REPLY flag"),
                        e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void disconnectMidReplyIsPeerDisconnected() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("mid.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.sendRaw(new byte[] {1, 0, 0, 0, 5}); // 5 of 12 header bytes
                bk.disconnect();
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("before replying to GET_FEATURES"), e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void disconnectInsidePayloadIsPeerDisconnected() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("payload.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                byte[] partial = java.nio.ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .putInt(GET_FEATURES).putInt(RawBackend.VERSION | RawBackend.REPLY).putInt(8).putInt(7)
                        .array(); // header plus 4 of 8 payload bytes
                bk.sendRaw(partial);
                bk.disconnect();
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("GET_FEATURES") || e.getMessage().contains("payload"),
                        e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void replyCarryingAnUnexpectedFdIsRejectedAndTheFdClosed() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("fd.sock"));
                Fd stray = EventFds.create(0, "stray fd")) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.send(GET_FEATURES, RawBackend.VERSION | RawBackend.REPLY, RawBackend.u64(OFFERED), stray);
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("GET_FEATURES") && e.getMessage().contains("fd"), e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void missingReplyTimesOut() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("silent.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> bk.expect(GET_FEATURES));
            FrontendOptions opts = quick().withReplyTimeout(Duration.ofMillis(300));
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), opts)) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("no reply to GET_FEATURES within 300 ms"), e.getMessage());
                assertFalse(fe.isConnected());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void oversizedReplyIsRejectedBeforeReadingIt() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("big.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.send(GET_FEATURES, RawBackend.VERSION | RawBackend.REPLY, new byte[16]);
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                ProtocolViolationException e = assertThrows(ProtocolViolationException.class, fe::getFeatures);
                assertTrue(e.getMessage().contains("GET_FEATURES") && e.getMessage().contains("16"),
                        e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void unsolicitedMessageBreaksTheSessionAndIsReported() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("unsolicited.sock"))) {
            AtomicReference<VhostException> lost = new AtomicReference<>();
            CompletableFuture<Void> listening = new CompletableFuture<>();
            CompletableFuture<Void> peer = script(b, bk -> {
                listening.get(10, TimeUnit.SECONDS);
                bk.replyU64(GET_FEATURES, 0);
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                fe.addReconnectListener(new ReconnectListener() {
                    @Override
                    public void backendLost(VhostUserFrontend frontend, VhostException cause) {
                        lost.set(cause);
                    }
                });
                listening.complete(null);
                peer.get(10, TimeUnit.SECONDS);
                await().atMost(Duration.ofSeconds(10)).until(() -> !fe.isConnected());
                await().atMost(Duration.ofSeconds(10)).until(() -> lost.get() != null);
                assertInstanceOf(ProtocolViolationException.class, lost.get());
                assertTrue(lost.get().getMessage().contains("unsolicited"), lost.get().getMessage());
            }
        }
    }

    @Test
    void backendGoingAwayWhileIdleIsReportedToTheListener() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("idle.sock"))) {
            AtomicReference<VhostException> lost = new AtomicReference<>();
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_FEATURES);
                bk.replyU64(GET_FEATURES, OFFERED);
                bk.disconnect();
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                fe.addReconnectListener(new ReconnectListener() {
                    @Override
                    public void backendLost(VhostUserFrontend frontend, VhostException cause) {
                        lost.set(cause);
                    }
                });
                assertEquals(OFFERED, fe.getFeatures().bits());
                peer.get(10, TimeUnit.SECONDS);
                await().atMost(Duration.ofSeconds(10)).until(() -> lost.get() != null);
                assertInstanceOf(PeerDisconnectedException.class, lost.get());
                assertFalse(fe.isConnected());
            }
        }
    }

    @Test
    void setLogBaseAcceptsEmptyAndU64Replies() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("log.sock"));
                Fd log1 = EventFds.create(0, "log fd stand-in 1");
                Fd log2 = EventFds.create(0, "log fd stand-in 2")) {
            CompletableFuture<Void> peer = script(b, bk -> {
                handshake(bk, ProtocolFeature.LOG_SHMFD.mask());
                RawBackend.Message m1 = bk.expect(SET_LOG_BASE);
                assertEquals(1, m1.fds().size());
                bk.send(SET_LOG_BASE, RawBackend.VERSION | RawBackend.REPLY, new byte[0]); // DPDK style
                RawBackend.Message m2 = bk.expect(SET_LOG_BASE);
                assertEquals(1, m2.fds().size());
                bk.replyU64(SET_LOG_BASE, 0); // libvhost-user style
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                negotiate(fe);
                fe.setLogBase(new LogRegion(4096, 0), log1);
                fe.setLogBase(new LogRegion(4096, 0), log2);
                assertTrue(log1.isOpen() && log2.isOpen(), "the caller keeps its fds");
                peer.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void gatedRequestFailsBeforeSending() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("gate.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> handshake(bk, ProtocolFeature.REPLY_ACK.mask()));
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                negotiate(fe);
                FeatureNotNegotiatedException e = assertThrows(FeatureNotNegotiatedException.class,
                        fe::getQueueNum);
                assertTrue(e.getMessage().contains("GET_QUEUE_NUM needs protocol MQ"), e.getMessage());
                peer.get(10, TimeUnit.SECONDS);
                assertTrue(fe.isConnected());
            }
        }
    }

    @Test
    void frontendCloseUnblocksNothingLeaks() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("close.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(GET_VRING_BASE);
            });
            VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick());
            CompletableFuture<Throwable> caller = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> {
                try {
                    fe.getVringBase(0);
                    caller.complete(null);
                } catch (Throwable t) {
                    caller.complete(t);
                }
            });
            peer.get(10, TimeUnit.SECONDS);
            fe.close();
            Throwable t = caller.get(10, TimeUnit.SECONDS);
            assertInstanceOf(PeerDisconnectedException.class, t);
            assertEquals(List.of(), List.of(), "closed");
        }
    }
}
