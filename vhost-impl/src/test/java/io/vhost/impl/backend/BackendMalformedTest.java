package io.vhost.impl.backend;

import static io.vhost.api.message.FrontendRequest.*;
import static io.vhost.testing.RawFrontend.u64;
import static io.vhost.testing.RawFrontend.vringState;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawFrontend;
import java.io.FileInputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Malformed input from an untrusted front-end: each variant gets a clean NACK (and the session goes on) or a clean
 * disconnect with the cause recorded, never a hang, and no fd it carried stays open.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BackendMalformedTest extends BackendTestBase {

    private void assertDisconnectedFor(BackendSession s, String messagePart) throws IOException {
        assertTrue(fe.awaitClosedByPeer(), "the back-end must close the connection");
        await().atMost(Duration.ofSeconds(5)).until(() -> s.failure().isPresent());
        Throwable cause = s.failure().orElseThrow();
        assertTrue(cause.getMessage().contains(messagePart), () -> "cause: " + cause);
    }

    /** Malformed requests for which the framing can no longer be trusted: the session must end. */
    static Stream<Object[]> fatal() {
        return Stream.of(
                new Object[] {"version 2", GET_FEATURES.id(), 0x2, new byte[0], "version 2"},
                new Object[] {"version 0", GET_FEATURES.id(), 0x0, new byte[0], "version 0"},
                new Object[] {"reserved flag bit", GET_FEATURES.id(), 0x1 | 0x10, new byte[0], "reserved bits"},
                new Object[] {"REPLY flag on a request", GET_FEATURES.id(), 0x5, new byte[0], "REPLY flag"},
                new Object[] {"SET_VRING_NUM with 4 bytes", SET_VRING_NUM.id(), 0x1, new byte[4], "payload size 4"},
                new Object[] {"GET_FEATURES with a payload", GET_FEATURES.id(), 0x1, new byte[8], "payload size 8"},
                new Object[] {"SET_FEATURES with 16 bytes", SET_FEATURES.id(), 0x9, new byte[16], "payload size 16"},
                new Object[] {"SET_VRING_ADDR with unknown flags", SET_VRING_ADDR.id(), 0x1,
                        RawFrontend.payload(40).putInt(0).putInt(0x6).array(), "unknown bits"},
                new Object[] {"SET_VRING_KICK with reserved bits", SET_VRING_KICK.id(), 0x1, u64(0x200), "reserved"},
                new Object[] {"SET_VRING_KICK without fd or NOFD", SET_VRING_KICK.id(), 0x1, u64(0), "fd"},
                new Object[] {"SET_MEM_TABLE with 0 regions", SET_MEM_TABLE.id(), 0x1, new byte[8], "SET_MEM_TABLE"});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fatal")
    void malformedMessagesEndTheSession(String what, int request, int flags, byte[] payload, String expected)
            throws IOException {
        BackendSession s = session();
        fe.send(request, flags, payload);
        assertDisconnectedFor(s, expected);
        assertInstanceOf(ProtocolViolationException.class, s.failure().orElseThrow());
    }

    @Test
    void oversizeHeaderIsRefusedBeforeAnyAllocation() throws IOException {
        BackendSession s = session();
        fe.sendWithSize(SET_MEM_TABLE.id(), 0x1, 0xFFFF_FFF0L, new byte[0]);
        assertDisconnectedFor(s, "exceeds the maximum");
    }

    @Test
    void wrongFdCountClosesEveryFd() throws IOException {
        BackendSession s = session();
        try (FileInputStream a = RawFrontend.dummyFd(); FileInputStream b = RawFrontend.dummyFd()) {
            fe.send(SET_VRING_NUM.id(), 0x1, vringState(0, 256), a.getFD(), b.getFD());
        }
        assertDisconnectedFor(s, "SET_VRING_NUM");
    }

    @Test
    void memTableWithFewerFdsThanRegionsIsRefused() throws IOException {
        BackendSession s = session();
        byte[] table = BackendConformanceTest.memTable(BackendConformanceTest.region(0, 4096, 0x1000, 0),
                BackendConformanceTest.region(8192, 4096, 0x3000, 0));
        try (FileInputStream a = RawFrontend.dummyFd()) {
            fe.send(SET_MEM_TABLE.id(), 0x1, table, a.getFD());
        }
        assertDisconnectedFor(s, "SET_MEM_TABLE");
    }

    @Test
    void nineFdsAreTooMany() throws IOException {
        sync();
        FileInputStream[] streams = new FileInputStream[9];
        java.io.FileDescriptor[] fds = new java.io.FileDescriptor[9];
        try {
            for (int i = 0; i < 9; i++) {
                streams[i] = RawFrontend.dummyFd();
                fds[i] = streams[i].getFD();
            }
            fe.send(SET_OWNER.id(), 0x1, new byte[0], fds);
        } finally {
            for (FileInputStream s : streams) {
                if (s != null) {
                    s.close();
                }
            }
        }
        assertTrue(fe.awaitClosedByPeer());
    }

    @Test
    void unknownRequestIsNackedWhenAskedAndTheSessionGoesOn() throws IOException {
        negotiate(mask(ProtocolFeature.REPLY_ACK));
        try (FileInputStream a = RawFrontend.dummyFd()) {
            fe.send(99, RawFrontend.V1_NEED_REPLY, new byte[24], a.getFD());
        }
        RawFrontend.Message nack = fe.receiveReply(99);
        assertNotEquals(0, nack.u64());
        fe.send(0, RawFrontend.V1, new byte[0]);
        fe.send(1000, RawFrontend.V1, new byte[16]);
        fe.send(77, RawFrontend.V1_NEED_REPLY, new byte[0]);
        assertNotEquals(0, fe.receiveReply(77).u64());
        assertEquals(DEVICE_FEATURES | BIT30, sync(), "unknown requests without NEED_REPLY are ignored");
        assertTrue(session().isRunning());
    }

    @Test
    void unsupportedRequestIsNackedAndTheSessionGoesOn() throws Exception {
        stopBackend();
        socket = dir.resolve("minimal.sock");
        server = BackendServer.bind(socket, ctx -> new MinimalDevice(), BackendOptions.defaults());
        serving = Thread.ofPlatform().start(() -> {
            try {
                server.serve();
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        fe = RawFrontend.connect(socket, READ_TIMEOUT);
        send(SET_PROTOCOL_FEATURES, u64(mask(ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIGURE_MEM_SLOTS,
                ProtocolFeature.CONFIG)));
        assertEquals(0, acked(SET_OWNER, new byte[0]));
        try (FileInputStream a = RawFrontend.dummyFd()) {
            assertNotEquals(0, acked(ADD_MEM_REG, BackendConformanceTest.singleRegion(
                    BackendConformanceTest.region(0, 4096, 0x1000, 0)), a.getFD()));
        }
        assertEquals(0, call(GET_CONFIG, BackendConformanceTest.config(0, 4, 0, new byte[4])).payload().length,
                "an unsupported GET_CONFIG gets the spec's error reply: size 0");
        assertEquals(0, acked(SET_VRING_ERR, u64(0x100)), "SET_VRING_ERR is accepted and ignored by default");
        assertEquals(1, call(GET_FEATURES, new byte[0]).u64() >>> 32, "session still serving");
    }

    @Test
    void featureGatedRequestWithoutTheFeatureIsRejected() throws IOException {
        negotiate(mask(ProtocolFeature.REPLY_ACK));
        assertNotEquals(0, acked(SET_STATUS, u64(1)));
        assertNotEquals(0, acked(SET_VRING_ENDIAN, vringState(0, 0)));
        try (FileInputStream a = RawFrontend.dummyFd()) {
            assertNotEquals(0, acked(SET_BACKEND_REQ_FD, new byte[0], a.getFD()));
        }
        assertTrue(device.events().stream().noneMatch(e -> e.startsWith("setStatus") || e.startsWith("setVringEndian")
                || e.startsWith("setFrontendChannel")));
    }

    @Test
    void inbandNotificationsWithoutBackendReqAndReplyAckAreRefused() throws IOException {
        negotiate(mask(ProtocolFeature.REPLY_ACK));
        assertNotEquals(0, acked(SET_PROTOCOL_FEATURES, u64(mask(ProtocolFeature.REPLY_ACK,
                ProtocolFeature.INBAND_NOTIFICATIONS))));
    }

    @Test
    void disconnectInsideAPayloadEndsTheSessionCleanly() throws IOException {
        sync();
        BackendSession s = session();
        fe.sendWithSize(SET_VRING_NUM.id(), 0x1, 8, new byte[3]);
        fe.close();
        fe = null;
        await().atMost(Duration.ofSeconds(5)).until(() -> s.failure().isPresent());
        assertInstanceOf(PeerDisconnectedException.class, s.failure().orElseThrow());
    }

    @Test
    void disconnectBetweenMessagesIsANormalEnd() throws Exception {
        sync();
        BackendSession s = session();
        fe.close();
        fe = null;
        assertTrue(s.awaitEnd(Duration.ofSeconds(5)));
        assertTrue(s.failure().isEmpty(), () -> "unexpected failure " + s.failure());
        await().atMost(Duration.ofSeconds(5)).until(() -> device.isClosed());
    }

    /** A device that implements only the required methods. */
    static final class MinimalDevice implements io.vhost.api.backend.BackendHandler {
        @Override
        public long features() {
            return VERSION_1;
        }

        @Override
        public void setFeatures(long acked) {
        }

        @Override
        public long protocolFeatures() {
            return mask(ProtocolFeature.CONFIGURE_MEM_SLOTS, ProtocolFeature.CONFIG);
        }

        @Override
        public int queueCount() {
            return 1;
        }

        @Override
        public void setMemoryTable(io.vhost.api.message.MemoryTable table, java.util.List<io.vhost.api.Fd> fds) {
        }

        @Override
        public void setVringNum(int queue, int size) {
        }

        @Override
        public void setVringAddress(int queue, io.vhost.api.message.VringAddress address) {
        }

        @Override
        public void setVringBase(int queue, long base) {
        }

        @Override
        public long getVringBase(int queue, StopMode mode) {
            return 0;
        }

        @Override
        public void setVringKick(int queue, java.util.Optional<io.vhost.api.Fd> kick) {
        }

        @Override
        public void setVringCall(int queue, java.util.Optional<io.vhost.api.Fd> call) {
        }

        @Override
        public void setVringEnable(int queue, boolean enabled) {
        }
    }
}
