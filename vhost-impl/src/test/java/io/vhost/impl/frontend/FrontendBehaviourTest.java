package io.vhost.impl.frontend;

import static io.vhost.impl.frontend.FrontendRawBackendTest.OFFERED;
import static io.vhost.impl.frontend.FrontendRawBackendTest.negotiate;
import static io.vhost.impl.frontend.FrontendRawBackendTest.quick;
import static io.vhost.impl.frontend.FrontendRawBackendTest.script;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.VhostException;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.frontend.BackendRequestHandler;
import io.vhost.api.frontend.ReconnectListener;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.message.SharedObject;
import io.vhost.impl.metrics.MicrometerMetrics;
import io.vhost.impl.sys.EventFds;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawBackend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Front-end behaviour against a scripted back-end: concurrent callers, the back-end channel, reconnect with replay,
 * server mode and metrics.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FrontendBehaviourTest {

    static final int SET_MEM_TABLE = 5;
    static final int SET_VRING_NUM = 8;
    static final int SET_VRING_ADDR = 9;
    static final int SET_VRING_BASE = 10;
    static final int GET_VRING_BASE = 11;
    static final int SET_VRING_KICK = 12;
    static final int SET_VRING_CALL = 13;
    static final int SET_VRING_ENABLE = 18;
    static final int SET_BACKEND_REQ_FD = 21;

    @TempDir
    Path dir;

    /** Answers every request like a well-behaved back-end and records what it saw, until the front-end leaves. */
    static List<RawBackend.Message> respond(RawBackend bk, long protocol, List<RawBackend.Message> seen)
            throws IOException {
        while (true) {
            RawBackend.Message m;
            try {
                m = bk.receive();
            } catch (PeerDisconnectedException e) {
                return seen;
            }
            seen.add(m);
            switch (m.request()) {
                case 1 -> bk.replyU64(1, OFFERED);
                case 15 -> bk.replyU64(15, protocol);
                case GET_VRING_BASE -> {
                    int index = m.body().getInt(0);
                    bk.send(GET_VRING_BASE, RawBackend.VERSION | RawBackend.REPLY,
                            RawBackend.vringState(index, index * 7 + 1));
                }
                default -> {
                    if (m.needsReply()) {
                        bk.replyU64(m.request(), 0);
                    }
                }
            }
        }
    }

    @Test
    void manyVirtualThreadsGetTheirOwnReplies() throws Exception {
        try (RawBackend b = RawBackend.listen(dir.resolve("many.sock"))) {
            List<RawBackend.Message> seen = new CopyOnWriteArrayList<>();
            CompletableFuture<Void> peer = script(b, bk -> respond(bk, ProtocolFeature.REPLY_ACK.mask(), seen));
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                negotiate(fe);
                int callers = 400;
                List<Future<Boolean>> results = new ArrayList<>();
                try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
                    for (int i = 0; i < callers; i++) {
                        int q = i % 200;
                        boolean features = i % 3 == 0;
                        results.add(ex.submit(() -> features ? fe.getFeatures().bits() == OFFERED
                                : fe.getVringBase(q) == q * 7L + 1));
                    }
                }
                for (Future<Boolean> r : results) {
                    assertTrue(r.get(), "a caller got another caller's reply");
                }
                assertTrue(fe.isConnected());
            }
            peer.get(10, TimeUnit.SECONDS);
            assertEquals(4 + 400, seen.size(), "every request reached the back-end once");
        }
    }

    @Test
    void backendChannelServesRequestsAndRepliesOnlyWhenRequired() throws Exception {
        long protocol = ProtocolFeature.REPLY_ACK.mask() | ProtocolFeature.BACKEND_REQ.mask()
                | ProtocolFeature.CONFIG.mask() | ProtocolFeature.INBAND_NOTIFICATIONS.mask()
                | ProtocolFeature.SHARED_OBJECT.mask() | ProtocolFeature.BACKEND_SEND_FD.mask();
        AtomicInteger configChanges = new AtomicInteger();
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger iotlbs = new AtomicInteger();
        try (RawBackend b = RawBackend.listen(dir.resolve("chan.sock"));
                Fd dmabuf = EventFds.create(0, "shared object stand-in")) {
            AtomicReference<RawBackend> channel = new AtomicReference<>();
            CompletableFuture<List<String>> checks = new CompletableFuture<>();
            CompletableFuture<Void> peer = script(b, bk -> {
                FrontendRawBackendTest.handshake(bk, protocol);
                RawBackend.Message req = bk.expect(SET_BACKEND_REQ_FD);
                assertEquals(1, req.fds().size(), "SET_BACKEND_REQ_FD carries the socket");
                assertTrue(req.needsReply(), "SET_BACKEND_REQ_FD asks for an ack with REPLY_ACK");
                RawBackend ch = RawBackend.adopt(req.fds().getFirst());
                channel.set(ch);
                bk.replyU64(SET_BACKEND_REQ_FD, 0);
                List<String> got = new ArrayList<>();
                int flags = RawBackend.VERSION | RawBackend.NEED_REPLY;
                ch.send(2, flags, new byte[0]); // CONFIG_CHANGE_MSG, served
                RawBackend.Message r1 = ch.receive();
                got.add(r1.request() + ":" + Integer.toHexString(r1.flags()) + ":" + r1.u64());
                ch.send(4, flags, RawBackend.vringState(1, 0)); // VRING_CALL: default handler refuses
                RawBackend.Message r2 = ch.receive();
                got.add(r2.request() + ":" + r2.u64());
                ch.send(5, RawBackend.VERSION, RawBackend.vringState(0, 0)); // VRING_ERR without NEED_REPLY
                ch.send(99, flags, new byte[0]); // unknown id with NEED_REPLY: NACKed
                RawBackend.Message r3 = ch.receive();
                got.add(r3.request() + ":" + r3.u64());
                byte[] uuid = ByteBuffer.allocate(16).putLong(1).putLong(2).array();
                ch.send(8, RawBackend.VERSION, uuid); // SHARED_OBJECT_LOOKUP: always answered, with the fd
                RawBackend.Message r4 = ch.receive();
                got.add(r4.request() + ":" + r4.u64() + ":" + r4.fds().size());
                r4.fds().forEach(Fd::close);
                byte[] iotlb = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN).putLong(0x1000).putLong(0x1000)
                        .putLong(0).put((byte) 3).put((byte) 1).array();
                ch.send(1, flags, iotlb); // BACKEND_IOTLB_MSG: ACCESS_PLATFORM not acked, refused before the handler
                RawBackend.Message r5 = ch.receive();
                got.add(r5.request() + ":" + r5.u64());
                checks.complete(got);
                respond(bk, protocol, new ArrayList<>());
            });
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                negotiate(fe);
                fe.openBackendChannel(new BackendRequestHandler() {
                    @Override
                    public void configChanged() {
                        configChanges.incrementAndGet();
                    }

                    @Override
                    public void vringError(int queue) {
                        errors.incrementAndGet();
                    }

                    @Override
                    public void iotlbMessage(io.vhost.api.message.IotlbMessage message) {
                        iotlbs.incrementAndGet();
                    }

                    @Override
                    public Fd sharedObjectLookup(SharedObject object) {
                        assertEquals(new UUID(1, 2), object.uuid());
                        return dmabuf;
                    }
                });
                List<String> got = checks.get(20, TimeUnit.SECONDS);
                assertEquals(0, iotlbs.get(), "a request whose feature was not negotiated never reaches the handler");
                assertEquals(List.of("2:5:0", "4:1", "99:1", "8:0:1", "1:1"), got,
                        "acks: CONFIG_CHANGE ok, VRING_CALL refused, no reply to VRING_ERR, unknown NACKed, "
                                + "lookup answered with one fd");
                assertEquals(1, configChanges.get());
                assertEquals(1, errors.get(), "VRING_ERR served without a reply");
                assertTrue(dmabuf.isOpen(), "the handler keeps its fd");
            }
            peer.get(10, TimeUnit.SECONDS);
            if (channel.get() != null) {
                channel.get().close();
            }
        }
    }

    @Test
    void reconnectReplaysTheSetUpToANewBackend() throws Exception {
        Path path = dir.resolve("replay.sock");
        long protocol = ProtocolFeature.REPLY_ACK.mask();
        AtomicReference<VhostException> lost = new AtomicReference<>();
        RawBackend first = RawBackend.listen(path);
        CompletableFuture<Void> peer1 = script(first, bk -> respond(bk, protocol, new ArrayList<>()));
        try (VhostUserFrontend fe = VhostUserFrontends.connect(path, quick());
                VmmMemory memory = VmmMemory.create(1 << 20);
                DriverQueue queue = new DriverQueue(memory, 0, 64)) {
            fe.addReconnectListener(new ReconnectListener() {
                @Override
                public void backendLost(VhostUserFrontend frontend, VhostException cause) {
                    lost.set(cause);
                }

                @Override
                public long replayVringBase(int q, long recordedBase) {
                    return 5;
                }
            });
            negotiate(fe);
            fe.setOwner();
            fe.setMemTable(memory.regions());
            queue.setUp(fe);

            first.close(); // the back-end goes away
            peer1.get(10, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(10)).until(() -> lost.get() != null);
            assertFalse(fe.isConnected());

            List<RawBackend.Message> seen = new CopyOnWriteArrayList<>();
            try (RawBackend second = RawBackend.listen(path)) {
                CompletableFuture<Void> peer2 = script(second, bk -> respond(bk, protocol, seen));
                fe.reconnect();
                assertTrue(fe.isConnected());
                List<Integer> codes = seen.stream().map(RawBackend.Message::request).toList();
                assertEquals(List.of(1, 15, 16, 3, 2, SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR,
                        SET_VRING_CALL, SET_VRING_KICK, SET_VRING_ENABLE), codes, "replay order");
                RawBackend.Message table = seen.get(5);
                assertEquals(1, table.fds().size(), "SET_MEM_TABLE replays the region fd");
                assertEquals(5, seen.get(7).body().order(ByteOrder.LITTLE_ENDIAN).getInt(4),
                        "SET_VRING_BASE replays the listener's base");
                assertEquals(1, seen.get(9).fds().size(), "call fd replayed");
                assertEquals(1, seen.get(10).fds().size(), "kick fd replayed");
                assertTrue(seen.subList(5, seen.size()).stream().allMatch(RawBackend.Message::needsReply),
                        "after SET_FEATURES every replayed request asks for REPLY_ACK");
                fe.close();
                peer2.get(10, TimeUnit.SECONDS);
            }
        } finally {
            first.close();
        }
    }

    @Test
    void withoutSetupReplayAReconnectSendsNothingAndTheCallerSetsUpAgain() throws Exception {
        Path path = dir.resolve("noreplay.sock");
        long protocol = ProtocolFeature.REPLY_ACK.mask();
        RawBackend first = RawBackend.listen(path);
        List<RawBackend.Message> before = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> peer1 = script(first, bk -> respond(bk, protocol, before));
        try (VhostUserFrontend fe = VhostUserFrontends.connect(path, quick().withReplaySetup(false));
                VmmMemory memory = VmmMemory.create(1 << 20);
                DriverQueue queue = new DriverQueue(memory, 0, 64)) {
            negotiate(fe);
            fe.setOwner();
            fe.setMemTable(memory.regions());
            queue.setUp(fe);
            first.close();
            peer1.get(10, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(10)).until(() -> !fe.isConnected());

            List<RawBackend.Message> seen = new CopyOnWriteArrayList<>();
            try (RawBackend second = RawBackend.listen(path)) {
                CompletableFuture<Void> peer2 = script(second, bk -> respond(bk, protocol, seen));
                fe.reconnect();
                assertTrue(fe.isConnected());
                assertEquals(List.of(), seen, "nothing is replayed");
                negotiate(fe); // the caller sets up again, as QEMU does after a reconnect
                fe.setMemTable(memory.regions());
                assertEquals(SET_MEM_TABLE, seen.getLast().request());
                assertEquals(1, seen.getLast().fds().size());
                fe.close();
                peer2.get(10, TimeUnit.SECONDS);
            }
        } finally {
            first.close();
        }
    }

    /** A listener that reconnects as soon as the back-end is lost, as a VMM would. */
    static final class AutoReconnect implements ReconnectListener {
        final AtomicInteger reconnected = new AtomicInteger();
        final AtomicReference<Throwable> failed = new AtomicReference<>();

        @Override
        public void backendLost(VhostUserFrontend frontend, VhostException cause) {
            try {
                frontend.reconnect();
            } catch (VhostException | RuntimeException e) {
                failed.set(e);
            }
        }

        @Override
        public void reconnected(VhostUserFrontend frontend) {
            reconnected.incrementAndGet();
        }
    }

    @Test
    void listenerReconnectsAutomaticallyWhenTheBackendReturns() throws Exception {
        Path path = dir.resolve("auto.sock");
        long protocol = ProtocolFeature.REPLY_ACK.mask();
        RawBackend first = RawBackend.listen(path);
        CompletableFuture<Void> peer1 = script(first, bk -> respond(bk, protocol, new ArrayList<>()));
        AutoReconnect auto = new AutoReconnect();
        try (VhostUserFrontend fe = VhostUserFrontends.connect(path, quick().withConnectTimeout(Duration.ofSeconds(20)))) {
            fe.addReconnectListener(auto);
            negotiate(fe);
            fe.setOwner();
            first.close();
            peer1.get(10, TimeUnit.SECONDS);
            List<RawBackend.Message> seen = new CopyOnWriteArrayList<>();
            try (RawBackend second = RawBackend.listen(path)) {
                CompletableFuture<Void> peer2 = script(second, bk -> respond(bk, protocol, seen));
                await().atMost(Duration.ofSeconds(20)).until(() -> auto.reconnected.get() == 1 || auto.failed.get() != null);
                assertEquals(null, auto.failed.get());
                assertTrue(fe.isConnected());
                assertEquals(OFFERED, fe.getFeatures().bits());
                assertEquals(List.of(1, 15, 16, 3, 2, 1), seen.stream().map(RawBackend.Message::request).toList());
                fe.close();
                peer2.get(10, TimeUnit.SECONDS);
            }
        } finally {
            first.close();
        }
    }

    @Test
    void closeWhileTheListenerIsReconnectingReturnsAndLeaksNothing() throws Exception {
        Path path = dir.resolve("gone.sock");
        RawBackend only = RawBackend.listen(path);
        CompletableFuture<Void> peer = script(only, bk -> respond(bk, 0, new ArrayList<>()));
        AutoReconnect auto = new AutoReconnect();
        VhostUserFrontend fe = VhostUserFrontends.connect(path, quick().withConnectTimeout(Duration.ofSeconds(50)));
        try {
            fe.addReconnectListener(auto);
            fe.getFeatures();
            only.close(); // never comes back: the listener keeps retrying to connect
            peer.get(10, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(10)).until(() -> !fe.isConnected());
        } finally {
            fe.close(); // must interrupt the retrying listener thread, not wait 50 s for it
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> auto.failed.get() != null);
        assertEquals(0, auto.reconnected.get());
    }

    @Test
    void serverModeAcceptsABackendAndTheNextOneOnReconnect() throws Exception {
        Path path = dir.resolve("server.sock");
        CompletableFuture<VhostUserFrontend> opened = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                opened.complete(VhostUserFrontends.listen(path, quick()));
            } catch (Throwable t) {
                opened.completeExceptionally(t);
            }
        });
        try (RawBackend b1 = RawBackend.connect(path, Duration.ofSeconds(10))) {
            CompletableFuture<Void> peer = script(b1, bk -> respond(bk, 0, new ArrayList<>()));
            try (VhostUserFrontend fe = opened.get(10, TimeUnit.SECONDS)) {
                assertEquals(OFFERED, fe.getFeatures().bits());
                b1.disconnect();
                peer.get(10, TimeUnit.SECONDS);
                await().atMost(Duration.ofSeconds(10)).until(() -> !fe.isConnected());
                CompletableFuture<Void> again = new CompletableFuture<>();
                Thread.ofVirtual().start(() -> {
                    try {
                        fe.reconnect();
                        again.complete(null);
                    } catch (Throwable t) {
                        again.completeExceptionally(t);
                    }
                });
                try (RawBackend b2 = RawBackend.connect(path, Duration.ofSeconds(10))) {
                    CompletableFuture<Void> peer2 = script(b2, bk -> respond(bk, 0, new ArrayList<>()));
                    again.get(10, TimeUnit.SECONDS);
                    assertEquals(OFFERED, fe.getFeatures().bits());
                    fe.close();
                    peer2.get(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    @Test
    void metricsCountRequestsAndLoss() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (RawBackend b = RawBackend.listen(dir.resolve("metrics.sock"))) {
            CompletableFuture<Void> peer = script(b, bk -> {
                bk.expect(1);
                bk.replyU64(1, OFFERED);
                bk.disconnect();
            });
            FrontendOptions opts = quick().withMetrics(MicrometerMetrics.of(registry));
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), opts)) {
                fe.getFeatures();
                peer.get(10, TimeUnit.SECONDS);
                await().atMost(Duration.ofSeconds(10)).until(() -> !fe.isConnected());
                assertEquals(1.0, registry.get("vhost.requests").tags("role", "frontend", "request", "GET_FEATURES",
                        "outcome", "ok").counter().count());
                assertEquals(1, registry.get("vhost.request.duration").tags("role", "frontend", "request",
                        "GET_FEATURES").timer().count());
                assertEquals(12.0, registry.get("vhost.bytes").tags("role", "frontend", "direction", "sent")
                        .counter().count(), "one 12-byte GET_FEATURES header sent");
                await().atMost(Duration.ofSeconds(10)).until(() -> registry.find("vhost.errors")
                        .tags("role", "frontend", "kind", "backend-lost").counter() != null);
            }
            assertEquals(null, registry.find("vhost.requests").counter(), "a closed session removes its meters");
        }
    }

}
