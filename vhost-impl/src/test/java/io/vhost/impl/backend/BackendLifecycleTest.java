package io.vhost.impl.backend;

import static io.vhost.api.message.FrontendRequest.GET_FEATURES;
import static io.vhost.api.message.FrontendRequest.SET_OWNER;
import static io.vhost.api.message.FrontendRequest.SET_PROTOCOL_FEATURES;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.backend.SessionContext;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawFrontend;
import io.vhost.testing.RecordingDevice;
import io.vhost.testing.ThreadCensus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Listener modes, the serve loop, shutdown and the session supervisor: every thread a session starts ends with it,
 * and nothing is left open.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BackendLifecycleTest {

    static final long VERSION_1 = 1L << 32;
    static final Duration TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    static RecordingDevice device() {
        return new RecordingDevice(VERSION_1, ProtocolFeature.CONFIG.mask(), 1);
    }

    static long liveThreads(String prefix) {
        return ThreadCensus.count(prefix);
    }

    static Thread serveInBackground(BackendServer server) {
        return Thread.ofPlatform().name("test-serve").start(() -> {
            try {
                server.serve();
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void serveLoopReusesTheListenerAcrossConnections() throws Exception {
        Path sock = dir.resolve("loop.sock");
        try (BackendServer server = BackendServer.bind(sock, ctx -> device(), BackendOptions.defaults())) {
            Thread serving = serveInBackground(server);
            for (int i = 1; i <= 3; i++) {
                try (RawFrontend fe = RawFrontend.connect(sock, TIMEOUT)) {
                    assertEquals(VERSION_1 | (1L << 30), fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]).u64());
                }
                int served = i;
                await().atMost(TIMEOUT).until(() -> server.sessionsServed() == served
                        && server.currentSession().isEmpty());
                assertTrue(Files.exists(sock), "the socket path stays between connections");
            }
            server.shutdown();
            serving.join(TIMEOUT);
            assertFalse(serving.isAlive());
        }
        assertFalse(Files.exists(sock), "close removes the path the server created");
    }

    @Test
    void aFailingDeviceFactoryDoesNotStopTheServeLoop() throws Exception {
        Path sock = dir.resolve("factory.sock");
        java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        try (BackendServer server = BackendServer.bind(sock, ctx -> {
            if (calls.incrementAndGet() == 1) {
                throw new IllegalStateException("no device for the first connection");
            }
            return device();
        }, BackendOptions.defaults())) {
            Thread serving = serveInBackground(server);
            try (RawFrontend first = RawFrontend.connect(sock, TIMEOUT)) {
                assertTrue(first.awaitClosedByPeer(), "the first connection is closed");
            }
            try (RawFrontend second = RawFrontend.connect(sock, TIMEOUT)) {
                assertEquals(VERSION_1 | (1L << 30), second.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0])
                        .u64());
            }
            server.shutdown();
            serving.join(TIMEOUT);
            assertFalse(serving.isAlive());
        }
    }

    @Test
    void shutdownEndsASessionBlockedInAReceive() throws Exception {
        Path sock = dir.resolve("shutdown.sock");
        RecordingDevice dev = device();
        try (BackendServer server = BackendServer.bind(sock, ctx -> dev, BackendOptions.defaults().withName("blocked"));
                RawFrontend fe = RawFrontend.connect(sock, TIMEOUT)) {
            Thread serving = serveInBackground(server);
            BackendSession session = await().atMost(TIMEOUT).until(server::currentSession,
                    java.util.Optional::isPresent).orElseThrow();
            assertTrue(session.isRunning(), "the reader waits for a request");
            server.shutdown();
            assertTrue(session.awaitEnd(TIMEOUT), "shutdown wakes the reader blocked in its receive");
            serving.join(TIMEOUT);
            assertFalse(serving.isAlive());
            assertTrue(fe.awaitClosedByPeer());
            assertTrue(session.failure().isEmpty(), () -> "a requested shutdown is no failure: " + session.failure());
            await().atMost(TIMEOUT).until(dev::isClosed);
        }
    }

    @Test
    void clientModeConnectsToAListeningFrontend() throws Exception {
        Path sock = dir.resolve("frontend.sock");
        RecordingDevice dev = device();
        try (RawFrontend.Server listening = RawFrontend.listen(sock)) {
            AtomicReference<BackendSession> session = new AtomicReference<>();
            Thread connector = Thread.ofVirtual().start(() -> {
                try {
                    session.set(BackendSession.connect(sock, TIMEOUT, ctx -> dev, BackendOptions.defaults()));
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            try (RawFrontend fe = listening.accept(TIMEOUT)) {
                connector.join(TIMEOUT);
                fe.send(SET_PROTOCOL_FEATURES.id(), RawFrontend.V1,
                        RawFrontend.u64(ProtocolFeature.REPLY_ACK.mask()));
                fe.send(SET_OWNER.id(), RawFrontend.V1_NEED_REPLY, new byte[0]);
                assertEquals(0, fe.receiveReply(SET_OWNER.id()).u64());
            } finally {
                connector.join(TIMEOUT);
                if (session.get() != null) {
                    assertTrue(session.get().awaitEnd(TIMEOUT), "the front-end closed: the session ends");
                    session.get().close();
                }
            }
            assertTrue(dev.events().contains("setOwner"));
        }
    }

    @Test
    void clientModeRetriesUntilTheFrontendListens() throws Exception {
        Path sock = dir.resolve("late.sock");
        RecordingDevice dev = device();
        AtomicReference<BackendSession> session = new AtomicReference<>();
        Thread connector = Thread.ofVirtual().start(() -> {
            try {
                session.set(BackendSession.connect(sock, Duration.ofSeconds(10), ctx -> dev,
                        BackendOptions.defaults()));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        try (RawFrontend.Server listening = RawFrontend.listen(sock); RawFrontend fe = listening.accept(TIMEOUT)) {
            assertEquals(VERSION_1 | (1L << 30), fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]).u64());
        } finally {
            connector.join(TIMEOUT);
            if (session.get() != null) {
                session.get().close();
            }
        }
    }

    @Test
    void inheritedListeningFd() throws Exception {
        Path sock = dir.resolve("inherited.sock");
        OwnedFd listening = Sockets.socket(0, "inherited listening socket");
        try {
            Sockets.bind(listening.number(), sock.toString());
            Sockets.listen(listening.number(), 4);
        } catch (IOException e) {
            listening.close();
            throw e;
        }
        try (BackendServer server = BackendServer.adopt(listening, ctx -> device(), BackendOptions.defaults())) {
            Thread serving = serveInBackground(server);
            try (RawFrontend fe = RawFrontend.connect(sock, TIMEOUT)) {
                assertEquals(VERSION_1 | (1L << 30), fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]).u64());
            }
            server.shutdown();
            serving.join(TIMEOUT);
        } finally {
            Files.deleteIfExists(sock);
        }
    }

    @Test
    void aFailingWorkerEndsTheSessionAndClosesTheConnection() throws Exception {
        Path sock = dir.resolve("worker.sock");
        CountDownLatch fail = new CountDownLatch(1);
        AtomicReference<Thread> sibling = new AtomicReference<>();
        try (BackendServer server = BackendServer.bind(sock, ctx -> {
            sibling.set(ctx.startWorker("vring-0", () -> Thread.sleep(Long.MAX_VALUE)));
            ctx.startWorker("vring-1", () -> {
                fail.await();
                throw new IllegalStateException("vring 1 broke");
            });
            return device();
        }, BackendOptions.defaults().withName("workers"));
                RawFrontend fe = RawFrontend.connect(sock, TIMEOUT)) {
            Thread serving = serveInBackground(server);
            BackendSession session = await().atMost(TIMEOUT).until(server::currentSession,
                    java.util.Optional::isPresent).orElseThrow();
            fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]);
            fail.countDown();
            assertTrue(fe.awaitClosedByPeer(), "the first failure closes the connection");
            assertTrue(session.awaitEnd(TIMEOUT));
            assertEquals("vring 1 broke", session.failure().orElseThrow().getMessage());
            assertFalse(sibling.get().isAlive(), "the sibling worker was interrupted and joined");
            server.shutdown();
            serving.join(TIMEOUT);
        }
    }

    @Test
    void closeJoinsEveryThreadOfTheSession() throws Exception {
        Path sock = dir.resolve("threads.sock");
        AtomicReference<SessionContext> context = new AtomicReference<>();
        AtomicReference<Thread> platform = new AtomicReference<>();
        try (BackendServer server = BackendServer.bind(sock, ctx -> {
            context.set(ctx);
            platform.set(ctx.startPlatformWorker("epoll", () -> Thread.sleep(Long.MAX_VALUE)));
            return device();
        }, BackendOptions.defaults().withName("joined"))) {
            long before = liveThreads("joined[");
            Thread serving = serveInBackground(server);
            try (RawFrontend fe = RawFrontend.connect(sock, TIMEOUT)) {
                fe.call(GET_FEATURES.id(), RawFrontend.V1, new byte[0]);
                assertTrue(platform.get().isAlive());
                assertEquals(before + 2, liveThreads("joined["), "the reader and the epoll worker");
                assertTrue(context.get().name().startsWith("joined["));
            }
            await().atMost(TIMEOUT).until(() -> server.sessionsServed() == 1 && server.currentSession().isEmpty());
            assertFalse(platform.get().isAlive(), "the front-end left: the session's platform worker was joined");
            assertEquals(before, liveThreads("joined["));
            server.shutdown();
            serving.join(TIMEOUT);
        }
    }
}
