package io.vhost.impl.backend;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.message.FrontendRequest;
import io.vhost.testing.RawFrontend;
import io.vhost.testing.RecordingDevice;
import java.io.FileDescriptor;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * Starts our back-end (a {@link BackendServer} serving a {@link RecordingDevice}) on a temporary socket and connects
 * a scripted {@link RawFrontend} to it. Subclasses drive the protocol byte by byte.
 */
abstract class BackendTestBase {

    static final long VERSION_1 = 1L << 32;
    static final long BIT30 = VirtioFeature.PROTOCOL_FEATURES.mask();
    static final long DEVICE_FEATURES = VERSION_1 | VirtioFeature.EVENT_IDX.mask() | VirtioFeature.INDIRECT_DESC.mask()
            | VirtioFeature.LOG_ALL.mask();
    static final long ALL_PROTOCOL = allProtocolFeatures();
    static final int QUEUES = 2;
    static final Duration READ_TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    Path dir;
    Path socket;
    RecordingDevice device;
    BackendServer server;
    Thread serving;
    RawFrontend fe;
    volatile io.vhost.api.backend.SessionContext context;

    @BeforeEach
    void startBackend() throws IOException {
        Awaitility.setDefaultPollDelay(Duration.ZERO);
        Awaitility.setDefaultPollInterval(Duration.ofMillis(5));
        socket = dir.resolve("backend.sock");
        device = newDevice();
        server = BackendServer.bind(socket, ctx -> {
            context = ctx;
            return device;
        }, BackendOptions.defaults().withName("test"));
        serving = Thread.ofPlatform().name("test-serve").start(() -> {
            try {
                server.serve();
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        fe = RawFrontend.connect(socket, READ_TIMEOUT);
    }

    RecordingDevice newDevice() {
        return new RecordingDevice(DEVICE_FEATURES | VirtioFeature.ACCESS_PLATFORM.mask(), ALL_PROTOCOL, QUEUES);
    }

    @AfterEach
    void stopBackend() throws Exception {
        if (fe != null) {
            fe.close();
        }
        server.close();
        serving.join(Duration.ofSeconds(10));
        Awaitility.reset();
    }

    static long allProtocolFeatures() {
        long m = 0;
        for (ProtocolFeature f : ProtocolFeature.values()) {
            m |= f.mask();
        }
        return m;
    }

    /** Sends a request without NEED_REPLY. */
    void send(FrontendRequest r, byte[] payload, FileDescriptor... fds) throws IOException {
        fe.send(r.id(), RawFrontend.V1, payload, fds);
    }

    /** Sends a request with NEED_REPLY and returns the u64 reply-ack. */
    long acked(FrontendRequest r, byte[] payload, FileDescriptor... fds) throws IOException {
        fe.send(r.id(), RawFrontend.V1_NEED_REPLY, payload, fds);
        RawFrontend.Message m = fe.receiveReply(r.id());
        assertEquals(0, m.fds().length, "a reply-ack carries no fd");
        return m.u64();
    }

    /** Sends a request that always replies, returns the reply. */
    RawFrontend.Message call(FrontendRequest r, byte[] payload, FileDescriptor... fds) throws IOException {
        return fe.call(r.id(), RawFrontend.V1, payload, fds);
    }

    /**
     * GET_FEATURES round trip: proves everything sent before was handled and answered nothing unexpected.
     *
     * @return the offered features without ACCESS_PLATFORM (which only the IOTLB test acks)
     */
    long sync() throws IOException {
        return call(FrontendRequest.GET_FEATURES, new byte[0]).u64() & ~VirtioFeature.ACCESS_PLATFORM.mask();
    }

    /** The usual handshake: protocol features acked with REPLY_ACK, then SET_FEATURES with bit 30. */
    void negotiate(long protocolAcked) throws IOException {
        call(FrontendRequest.GET_FEATURES, new byte[0]);
        call(FrontendRequest.GET_PROTOCOL_FEATURES, new byte[0]);
        send(FrontendRequest.SET_PROTOCOL_FEATURES, RawFrontend.u64(protocolAcked));
        send(FrontendRequest.SET_FEATURES, RawFrontend.u64(DEVICE_FEATURES | BIT30));
        sync();
    }

    static long mask(ProtocolFeature... fs) {
        long m = 0;
        for (ProtocolFeature f : fs) {
            m |= f.mask();
        }
        return m;
    }

    /** Returns the session serving {@link #fe}, waiting for the serve loop to register it. */
    BackendSession session() {
        return await().atMost(Duration.ofSeconds(5)).until(server::currentSession, java.util.Optional::isPresent)
                .orElseThrow();
    }
}
