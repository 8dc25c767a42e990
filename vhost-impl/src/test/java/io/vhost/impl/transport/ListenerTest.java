package io.vhost.impl.transport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.impl.poll.Poller;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Sockets;
import io.vhost.testing.NoFdLeaks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

@NoFdLeaks(eachTest = true)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ListenerTest {

    private static final Duration BOUND = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(TransportKind.class)
    void acceptOnAVirtualThreadAndConnect(TransportKind kind) throws Exception {
        Path path = dir.resolve("blk0.sock");
        AtomicReference<Object> accepted = new AtomicReference<>();
        try (Listener listener = Listener.bind(path, kind)) {
            Thread acceptor = Thread.ofVirtual().start(() -> {
                try {
                    accepted.set(listener.accept());
                } catch (IOException | RuntimeException e) {
                    accepted.set(e);
                }
            });
            await().atMost(BOUND).until(() -> Poller.shared().waiterCount() >= 1);
            try (Connection client = Connector.connect(path, kind, Duration.ofSeconds(5), 10)) {
                assertTrue(acceptor.join(BOUND));
                try (Connection server = assertInstanceOf(Connection.class, accepted.get(), () -> String.valueOf(accepted.get()))) {
                    assertEquals(kind, server.kind());
                    assertTrue(server.description().contains("blk0.sock#1"), server.description());
                    client.send(ByteBuffer.wrap(new byte[12]), List.of());
                    assertTrue(server.receiveHeader(ByteBuffer.allocate(12)).isEmpty());
                }
            }
        }
        assertFalse(Files.exists(path), "close must unlink the path it created");
    }

    @Test
    void refusesToReplaceAPathThatIsNotASocket() throws IOException {
        Path file = Files.writeString(dir.resolve("precious.txt"), "data");
        IOException e = assertThrows(IOException.class, () -> Listener.bind(file, TransportKind.FFM));
        assertEquals("refusing to replace " + file + ": it exists and is not a socket", e.getMessage());
        assertEquals("data", Files.readString(file));
    }

    @Test
    void replacesAStaleSocketButNotALiveOne() throws IOException {
        Path path = dir.resolve("stale.sock");
        try (OwnedFd stale = Sockets.socket(0, "stale")) {
            Sockets.bind(stale.number(), path.toString()); // bound, never listening: connect gets ECONNREFUSED
        }
        assertTrue(Files.exists(path));
        try (Listener live = Listener.bind(path, TransportKind.FFM)) {
            IOException e = assertThrows(IOException.class, () -> Listener.bind(path, TransportKind.FFM));
            assertEquals("cannot listen on " + path + ": another process is listening on it", e.getMessage());
            assertTrue(Files.exists(path));
        }
        assertFalse(Files.exists(path));
    }

    @Test
    void closeWakesABlockedAccept() throws Exception {
        Listener listener = Listener.bind(dir.resolve("wake.sock"), TransportKind.FFM);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (Thread.Builder b : List.of(Thread.ofVirtual(), Thread.ofPlatform())) {
            threads.add(b.start(() -> {
                try {
                    listener.accept().close();
                } catch (IOException e) {
                    thrown.compareAndSet(null, e);
                }
            }));
        }
        await().atMost(BOUND).until(() -> Poller.shared().waiterCount() >= 1
                && threads.get(1).getState() == Thread.State.RUNNABLE);
        listener.close();
        for (Thread t : threads) {
            assertTrue(t.join(BOUND));
        }
        assertTrue(thrown.get().getMessage().contains("closed"), thrown.get().getMessage());
    }

    @Test
    void adoptsAnInheritedListeningSocketAndRejectsOthers() throws Exception {
        Path path = dir.resolve("inherited.sock");
        OwnedFd inherited = Sockets.socket(0, "inherited --fd");
        Sockets.bind(inherited.number(), path.toString());
        Sockets.listen(inherited.number(), 4);
        try (Listener listener = Listener.adopt(inherited, TransportKind.FFM)) {
            assertFalse(inherited.isOpen(), "ownership moved to the listener");
            try (Connection client = Connector.connect(path, TransportKind.FFM, Duration.ZERO, 1);
                    Connection server = listener.accept()) {
                server.send(ByteBuffer.wrap(new byte[12]), List.<Fd>of());
                assertTrue(client.receiveHeader(ByteBuffer.allocate(12)).isEmpty());
            }
        }
        assertTrue(Files.exists(path), "an adopted socket's path is not ours to unlink");

        try (OwnedFd notListening = Sockets.socket(0, "plain socket")) {
            IOException e = assertThrows(IOException.class, () -> Listener.adopt(notListening, TransportKind.FFM));
            assertTrue(e.getMessage().contains("is not a listening unix stream socket"), e.getMessage());
            assertTrue(notListening.isOpen());
        }
        OwnedFd[] pipe = io.vhost.impl.sys.Unistd.pipe(0);
        try (OwnedFd r = pipe[0]; OwnedFd w = pipe[1]) {
            IOException e = assertThrows(IOException.class, () -> Listener.adopt(r, TransportKind.FFM));
            assertTrue(e.getMessage().contains("is not a socket") && e.getMessage().contains("ENOTSOCK"),
                    e.getMessage());
        }
    }

    @Test
    void connectRetriesUntilTheServerAppears() throws Exception {
        Path path = dir.resolve("late.sock");
        AtomicReference<Object> result = new AtomicReference<>();
        Thread client = Thread.ofVirtual().start(() -> {
            try {
                result.set(Connector.connect(path, TransportKind.FFM, Duration.ofSeconds(20), 100));
            } catch (IOException e) {
                result.set(e);
            }
        });
        await().atMost(BOUND).until(() -> client.getState() == Thread.State.TIMED_WAITING);
        try (Listener listener = Listener.bind(path, TransportKind.FFM); Connection server = listener.accept()) {
            assertTrue(client.join(BOUND));
            try (Connection c = assertInstanceOf(Connection.class, result.get())) {
                assertEquals(ProcessHandle.current().pid(), c.peerCredentials().pid());
            }
        }
    }

    @Test
    void connectGivesUpAfterItsAttempts() {
        Path path = dir.resolve("nobody.sock");
        PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class,
                () -> Connector.connect(path, TransportKind.FFM, Duration.ofSeconds(5), 3));
        assertTrue(e.getMessage().startsWith("cannot connect to " + path + " within 5000 ms and 3 attempts: connect"),
                e.getMessage());
        assertTrue(e.getMessage().contains("ENOENT"), e.getMessage());
    }

    @Test
    void socketPairUsesTheConfiguredKind() throws IOException {
        String old = System.getProperty(TransportKind.PROPERTY);
        try {
            System.setProperty(TransportKind.PROPERTY, "junixsocket");
            Connection[] pair = Transports.socketPair();
            try (Connection a = pair[0]; Connection b = pair[1]) {
                assertEquals(TransportKind.JUNIXSOCKET, a.kind());
            }
            System.setProperty(TransportKind.PROPERTY, "carrier-pigeon");
            assertThrows(IllegalArgumentException.class, TransportKind::configured);
            System.clearProperty(TransportKind.PROPERTY);
            assertEquals(TransportKind.FFM, TransportKind.configured());
        } finally {
            if (old == null) {
                System.clearProperty(TransportKind.PROPERTY);
            } else {
                System.setProperty(TransportKind.PROPERTY, old);
            }
        }
    }
}
