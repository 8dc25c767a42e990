package io.vhost.impl.transport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.sys.Unistd;
import io.vhost.testing.FdLeakExtension;
import io.vhost.testing.NoFdLeaks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The contract every {@link Connection} implementation meets; subclasses pick the {@link TransportKind}. */
@NoFdLeaks(eachTest = true)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
abstract class ConnectionContractTest {

    static final Duration BOUND = Duration.ofSeconds(30);
    Connection a;
    Connection b;
    final List<OwnedFd> owned = new ArrayList<>();

    abstract TransportKind kind();

    @BeforeEach
    void pair() throws IOException {
        Connection[] pair = Transports.socketPair(kind());
        a = pair[0];
        b = pair[1];
    }

    @AfterEach
    void closeAll() {
        a.close();
        b.close();
        owned.forEach(OwnedFd::close);
    }

    OwnedFd eventfd(String role) throws IOException {
        OwnedFd fd = EventFds.create(EventFds.EFD_NONBLOCK, role);
        owned.add(fd);
        return fd;
    }

    static ByteBuffer message(int request, byte[] payload, boolean direct) {
        ByteBuffer m = direct ? ByteBuffer.allocateDirect(12 + payload.length) : ByteBuffer.allocate(12 + payload.length);
        m.order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(request).putInt(1).putInt(payload.length).put(payload).flip();
        return m;
    }

    /** Receives one message; returns the payload and puts the fds into {@code fds}. */
    static byte[] receive(Connection c, List<Fd> fds, boolean direct) throws IOException {
        ByteBuffer header = direct ? ByteBuffer.allocateDirect(12) : ByteBuffer.allocate(12);
        fds.addAll(c.receiveHeader(header));
        assertFalse(header.hasRemaining());
        int size = header.order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(8);
        ByteBuffer payload = direct ? ByteBuffer.allocateDirect(size) : ByteBuffer.allocate(size);
        c.receiveFully(payload);
        assertFalse(payload.hasRemaining());
        byte[] bytes = new byte[size];
        payload.flip().get(bytes);
        return bytes;
    }

    static void assertSameFile(Fd sent, Fd received) throws IOException {
        assertTrue(received.number() != sent.number());
        EventFds.signal(received.number(), 7);
        assertEquals(7, EventFds.drain(sent.number()), "the received fd is not the sent eventfd");
    }

    @Test
    void fdsTravelInBothDirections() throws IOException {
        OwnedFd kick = eventfd("kick");
        OwnedFd call = eventfd("call");
        OwnedFd err = eventfd("err");
        a.send(message(12, new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, true), List.of(kick));
        List<Fd> got = new ArrayList<>();
        assertArrayEquals(new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, receive(b, got, true));
        assertEquals(1, got.size());
        assertTrue(kick.isOpen(), "sent fds are borrowed, not closed");
        assertSameFile(kick, got.get(0));
        got.forEach(Fd::close);
        got.clear();

        b.send(message(13, new byte[] {9}, false), List.of(call, err));
        assertArrayEquals(new byte[] {9}, receive(a, got, false));
        assertEquals(2, got.size());
        assertSameFile(call, got.get(0));
        assertSameFile(err, got.get(1));
        got.forEach(Fd::close);
    }

    @Test
    void eightFdsInOneMessage() throws IOException {
        List<OwnedFd> sent = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            sent.add(eventfd("region " + i));
        }
        a.send(message(5, new byte[64], true), sent);
        List<Fd> got = new ArrayList<>();
        receive(b, got, true);
        assertEquals(8, got.size());
        for (int i = 0; i < 8; i++) {
            assertSameFile(sent.get(i), got.get(i));
            assertEquals(Unistd.FD_CLOEXEC, Unistd.fcntl(got.get(i).number(), Unistd.F_GETFD, 0) & 1);
        }
        got.forEach(Fd::close);
    }

    @Test
    void aNinthFdIsRefusedBeforeAnythingIsSent() throws IOException {
        List<OwnedFd> nine = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            nine.add(eventfd("fd " + i));
        }
        ByteBuffer m = message(5, new byte[4], true);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.send(m, nine));
        assertEquals("a vhost-user message carries at most 8 fds, got 9; nothing was sent", e.getMessage());
        assertEquals(0, m.position());
        a.send(message(6, new byte[] {42}, false), List.of());
        List<Fd> got = new ArrayList<>();
        assertArrayEquals(new byte[] {42}, receive(b, got, false));
        assertTrue(got.isEmpty());
    }

    @Test
    void fdsWithAnEmptyPayload() throws IOException {
        OwnedFd kick = eventfd("kick");
        ByteBuffer m = message(12, new byte[0], true);
        a.send(m, List.of(kick));
        assertFalse(m.hasRemaining());
        List<Fd> got = new ArrayList<>();
        assertEquals(0, receive(b, got, true).length);
        assertEquals(1, got.size());
        assertSameFile(kick, got.get(0));
        got.forEach(Fd::close);
    }

    @Test
    void zeroLengthPayloadsBackToBack() throws IOException {
        for (int i = 0; i < 5; i++) {
            a.send(message(i, new byte[0], i % 2 == 0), List.of());
        }
        for (int i = 0; i < 5; i++) {
            ByteBuffer header = ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            assertTrue(b.receiveHeader(header).isEmpty());
            assertEquals(i, header.getInt(0));
            b.receiveFully(ByteBuffer.allocate(0));
        }
    }

    @Test
    void a64KibPayloadSurvivesShortWrites() throws Exception {
        byte[] payload = new byte[64 * 1024];
        new Random(7).nextBytes(payload);
        OwnedFd kick = eventfd("kick");
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread sender = Thread.ofVirtual().start(() -> {
            try {
                for (int i = 0; i < 4; i++) {
                    a.send(message(1, payload, i % 2 == 0), i == 0 ? List.of(kick) : List.of());
                }
            } catch (IOException | RuntimeException e) {
                failure.set(e);
            }
        });
        for (int i = 0; i < 4; i++) {
            List<Fd> got = new ArrayList<>();
            assertArrayEquals(payload, receive(b, got, i % 2 == 1));
            assertEquals(i == 0 ? 1 : 0, got.size());
            got.forEach(Fd::close);
        }
        assertTrue(sender.join(BOUND));
        assertEquals(null, failure.get());
    }

    @Test
    void peerClosingMidHeaderIsAClearDisconnectAndLeaksNoFd() throws IOException {
        OwnedFd kick = eventfd("kick");
        a.send(ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5}), List.of(kick));
        a.close();
        int before = FdLeakExtension.openFds().size();
        PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class,
                () -> b.receiveHeader(ByteBuffer.allocate(12)));
        assertTrue(e.getMessage().endsWith("peer closed the connection after 5 of 12 header bytes; closed the 1 fds "
                + "received with them"), e.getMessage());
        assertFalse(b.closedAtMessageBoundary());
        assertEquals(before, FdLeakExtension.openFds().size(), "the received fd leaked");
    }

    @Test
    void peerClosingMidPayloadIsAClearDisconnect() throws IOException {
        ByteBuffer m = message(3, new byte[100], true);
        m.limit(12 + 10);
        a.send(m, List.of());
        a.close();
        assertTrue(b.receiveHeader(ByteBuffer.allocate(12)).isEmpty());
        PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class,
                () -> b.receiveFully(ByteBuffer.allocate(100)));
        assertTrue(e.getMessage().endsWith("peer closed the connection after 10 of 100 payload bytes"),
                e.getMessage());
    }

    @Test
    void cleanCloseAtAMessageBoundaryIsDistinguishable() throws IOException {
        a.send(message(1, new byte[0], true), List.of());
        a.close();
        receive(b, new ArrayList<>(), true);
        PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class,
                () -> b.receiveHeader(ByteBuffer.allocate(12)));
        assertTrue(e.getMessage().endsWith("peer closed the connection at a message boundary"), e.getMessage());
        assertTrue(b.closedAtMessageBoundary());
    }

    @Test
    void fdsArrivingWithPayloadAreAProtocolViolationAndClosed() throws IOException {
        OwnedFd stray = eventfd("stray");
        ByteBuffer m = message(3, new byte[8], true);
        ByteBuffer header = m.duplicate().limit(12);
        a.send(header, List.of());
        a.send(m.position(12), List.of(stray));
        assertTrue(b.receiveHeader(ByteBuffer.allocate(12)).isEmpty());
        int before = FdLeakExtension.openFds().size();
        ProtocolViolationException e = assertThrows(ProtocolViolationException.class,
                () -> b.receiveFully(ByteBuffer.allocate(8)));
        assertTrue(e.getMessage().contains("1 fds arrived with payload bytes"), e.getMessage());
        assertEquals(before, FdLeakExtension.openFds().size(), "the stray fd leaked");
    }

    @Test
    void sendingToAClosedPeerIsADisconnect() throws IOException {
        b.close();
        PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class, () -> {
            for (int i = 0; i < 1000; i++) {
                a.send(message(1, new byte[1024], true), List.of());
            }
        });
        assertTrue(e.getMessage().contains("peer closed the connection"), e.getMessage());
    }

    @Test
    void shutdownUnblocksAPlatformThreadReceiver() throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread reader = Thread.ofPlatform().name("blocked-reader").start(() -> {
            try {
                b.receiveHeader(ByteBuffer.allocate(12));
            } catch (IOException | RuntimeException e) {
                thrown.set(e);
            }
        });
        await().atMost(BOUND).until(() -> reader.getState() == Thread.State.RUNNABLE
                || reader.getState() == Thread.State.WAITING);
        b.shutdown();
        assertTrue(reader.join(BOUND));
        assertInstanceOf(PeerDisconnectedException.class, thrown.get());
        assertTrue(thrown.get().getMessage().endsWith("was shut down locally"), thrown.get().getMessage());
    }

    @Test
    void closeUnblocksAReceiverAndLaterCallsSayClosed() throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread reader = Thread.ofPlatform().name("blocked-reader").start(() -> {
            try {
                b.receiveHeader(ByteBuffer.allocate(12));
            } catch (IOException | RuntimeException e) {
                thrown.set(e);
            }
        });
        await().atMost(BOUND).until(() -> reader.getState() != Thread.State.NEW);
        b.close();
        assertTrue(reader.join(BOUND));
        assertInstanceOf(PeerDisconnectedException.class, thrown.get());
        PeerDisconnectedException e = assertThrows(PeerDisconnectedException.class,
                () -> b.send(message(1, new byte[0], true), List.of()));
        assertTrue(e.getMessage().endsWith("is closed"), e.getMessage());
    }

    @Test
    void peerCredentialsAndDescription() throws IOException {
        assertEquals(ProcessHandle.current().pid(), a.peerCredentials().pid());
        assertEquals(kind(), a.kind());
        assertTrue(a.description().contains("socketpair#"), a.description());
    }

    @Test
    void pipelinedMessagesKeepTheirOwnFdsWhenReceivedAsMessages() throws Exception {
        int count = 100; // all fit in the socket buffer
        for (int i = 0; i < count; i++) { // all sent before any is read: reads may take many at once
            byte[] body = new byte[i % 40];
            java.util.Arrays.fill(body, (byte) i);
            if (i % 7 == 3) {
                try (OwnedFd kick = EventFds.create(EventFds.EFD_CLOEXEC, "pipelined fd " + i)) {
                    a.send(message(i, body, i % 2 == 0), List.of(kick));
                }
            } else {
                a.send(message(i, body, i % 2 == 0), List.of());
            }
        }
        ByteBuffer header = ByteBuffer.allocateDirect(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        ByteBuffer payload = ByteBuffer.allocateDirect(4096);
        for (int i = 0; i < count; i++) {
            header.clear();
            payload.clear();
            List<Fd> fds = b.receiveMessage(header, payload);
            try {
                assertEquals(i, header.getInt(0), "request of message " + i);
                assertEquals(i % 40, payload.position(), "payload of message " + i);
                for (int k = 0; k < payload.position(); k++) {
                    assertEquals((byte) i, payload.get(k));
                }
                assertEquals(i % 7 == 3 ? 1 : 0, fds.size(), "fds of message " + i);
            } finally {
                fds.forEach(Fd::close);
            }
        }
    }

    @Test
    void largestAndSmallPipelinedMessagesCrossTheReadAheadBufferIntact() throws Exception {
        int largest = io.vhost.impl.codec.VhostUserCodec.MAX_PAYLOAD_BYTES;
        int count = 40; // about 60 KB: several times the FFM read-ahead buffer, and within the socket buffer
        for (int i = 0; i < count; i++) {
            byte[] body = new byte[i % 3 == 0 ? largest : 20 + i];
            java.util.Arrays.fill(body, (byte) i);
            body[0] = (byte) (7 * i);
            body[body.length - 1] = (byte) (13 * i);
            a.send(message(i, body, i % 2 == 0), List.of());
        }
        ByteBuffer header = ByteBuffer.allocateDirect(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        ByteBuffer payload = ByteBuffer.allocateDirect(largest);
        for (int i = 0; i < count; i++) {
            header.clear();
            payload.clear();
            assertEquals(List.of(), b.receiveMessage(header, payload));
            int size = i % 3 == 0 ? largest : 20 + i;
            assertEquals(i, header.getInt(0), "request of message " + i);
            assertEquals(size, header.getInt(8), "size of message " + i);
            assertEquals(size, payload.position(), "payload of message " + i);
            assertEquals((byte) (7 * i), payload.get(0), "first byte of message " + i);
            assertEquals((byte) i, payload.get(size / 2), "middle byte of message " + i);
            assertEquals((byte) (13 * i), payload.get(size - 1), "last byte of message " + i);
        }
    }

    @Test
    void aPayloadLargerThanTheReadAheadBufferArrivesWholeAndTheNextMessageKeepsItsFd() throws Exception {
        byte[] big = new byte[40_000]; // five times the FFM read-ahead buffer, within the socket buffer
        for (int k = 0; k < big.length; k++) {
            big[k] = (byte) (31 * k + k / 256);
        }
        a.send(message(5, big, true), List.of());
        a.send(message(6, new byte[] {1, 2, 3}, false), List.of(eventfd("after the large payload")));
        ByteBuffer header = ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        ByteBuffer payload = ByteBuffer.allocate(64 * 1024);
        assertEquals(List.of(), b.receiveMessage(header, payload));
        assertEquals(5, header.getInt(0));
        assertEquals(big.length, payload.position());
        assertArrayEquals(big, java.util.Arrays.copyOf(payload.array(), big.length));
        receiveTheNextMessageWithItsOwnFd(header, payload, 6, 3);
    }

    /** Receives a message with {@code b} that must carry request {@code request}, its payload and exactly one fd. */
    private void receiveTheNextMessageWithItsOwnFd(ByteBuffer header, ByteBuffer payload, int request,
            int payloadBytes) throws IOException {
        List<Fd> fds = b.receiveMessage(header.clear(), payload.clear());
        try {
            assertEquals(request, header.getInt(0));
            assertEquals(payloadBytes, payload.position());
            assertEquals(1, fds.size(), "the next message's fd is its own");
        } finally {
            fds.forEach(Fd::close);
        }
    }

    @Test
    void aPayloadLargerThanTheBufferIsLeftForTheCallerToRefuse() throws Exception {
        a.send(message(9, new byte[100], true), List.of());
        ByteBuffer header = ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        ByteBuffer payload = ByteBuffer.allocate(64);
        assertEquals(List.of(), b.receiveMessage(header, payload));
        assertEquals(100, header.getInt(8));
        assertEquals(0, payload.position(), "nothing read into a payload buffer that is too small");
    }

    @Test
    void aPayloadLeftUnreadIsReceivedIntoALargerBufferAndTheNextMessagesFollow() throws Exception {
        // a caller with a small payload buffer grows it for the message that does not fit: payloads within the FFM
        // read-ahead buffer (1 000 bytes) and beyond it (5 000), each followed by a small message with an fd
        for (int size : new int[] {1_000, 5_000}) {
            byte[] big = new byte[size];
            for (int k = 0; k < size; k++) {
                big[k] = (byte) (7 * k + k / 256 + size);
            }
            a.send(message(5, big, true), List.of());
            a.send(message(6, new byte[] {4, 5}, false), List.of(eventfd("after a grown payload")));
            ByteBuffer header = ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ByteBuffer small = ByteBuffer.allocateDirect(512);
            assertEquals(List.of(), b.receiveMessage(header, small));
            assertEquals(size, header.getInt(8));
            assertEquals(0, small.position(), "left unread");
            ByteBuffer grown = ByteBuffer.allocateDirect(8192);
            grown.limit(size);
            // bounded on a thread of its own: a receive that looked past buffered bytes would block for good
            assertTimeoutPreemptively(BOUND, () -> b.receivePayload(grown));
            assertEquals(size, grown.position());
            byte[] got = new byte[size];
            grown.get(0, got);
            assertArrayEquals(big, got);
            receiveTheNextMessageWithItsOwnFd(header, small, 6, 2);
        }
    }

    @Test
    void aCleanCloseAfterAMessageIsAtABoundary() throws Exception {
        a.send(message(1, new byte[] {7}, false), List.of());
        a.close();
        ByteBuffer header = ByteBuffer.allocate(12);
        ByteBuffer payload = ByteBuffer.allocate(16);
        assertEquals(List.of(), b.receiveMessage(header, payload));
        assertEquals(1, payload.position());
        assertThrows(PeerDisconnectedException.class, () -> b.receiveMessage(header.clear(), payload.clear()));
        assertTrue(b.closedAtMessageBoundary());
    }
}
