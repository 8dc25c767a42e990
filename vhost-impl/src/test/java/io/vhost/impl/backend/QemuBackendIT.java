package io.vhost.impl.backend;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.QemuProcess;
import io.vhost.testing.QemuProcess.Device;
import io.vhost.testing.RecordingDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Real QEMU 7.2 (TCG, no guest kernel: SeaBIOS and iPXE still start blk and net) realizes vhost-user-blk,
 * virtio-net over {@code -netdev vhost-user}, vhost-user-vsock and vhost-user-fs on our back-end, in both socket
 * directions: QEMU connecting to our server socket, and QEMU listening ({@code server=on}) with our back-end in client
 * mode. Each run asserts the device-specific end of the handshake and that QEMU is still alive afterwards.
 */
@NoFdLeaks
class QemuBackendIT {

    private static final System.Logger LOG = System.getLogger(QemuBackendIT.class.getName());
    static final long VERSION_1 = 1L << 32;
    static final long PROTOCOL = ProtocolFeature.MQ.mask() | ProtocolFeature.REPLY_ACK.mask()
            | ProtocolFeature.CONFIG.mask() | ProtocolFeature.BACKEND_REQ.mask()
            | ProtocolFeature.CONFIGURE_MEM_SLOTS.mask() | ProtocolFeature.RESET_DEVICE.mask();

    @TempDir
    Path dir;

    static Stream<Arguments> devicesAndDirections() {
        return Stream.of(Device.values()).flatMap(d -> Stream.of(Arguments.of(d, true), Arguments.of(d, false)));
    }

    /** The device a test QEMU needs: queue counts, config space, and the event that ends its handshake. */
    static RecordingDevice deviceFor(Device kind) {
        long features = VERSION_1 | VirtioFeature.INDIRECT_DESC.mask() | VirtioFeature.EVENT_IDX.mask();
        RecordingDevice d = switch (kind) {
            case BLK -> new RecordingDevice(features, PROTOCOL, 1);
            case NET, VSOCK, FS -> new RecordingDevice(features, PROTOCOL, 2);
        };
        ByteBuffer cfg = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);
        if (kind == Device.BLK) {
            cfg.putLong(0, 2048).putInt(12, 126).putInt(20, 512).putShort(34, (short) 1); // capacity, seg_max, ...
        } else if (kind == Device.VSOCK) {
            cfg.putLong(0, 3); // guest_cid
        }
        d.config(cfg.array());
        return d;
    }

    static String handshakeEnd(Device kind) {
        return switch (kind) {
            case BLK -> "getConfig 0 ";
            case VSOCK -> "getConfig 0 8";
            case NET, FS -> "setVringCall 1 fd";
        };
    }

    @ParameterizedTest(name = "{0}, QEMU connects to our server: {1}")
    @MethodSource("devicesAndDirections")
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void qemuRealizesTheDeviceOnOurBackend(Device kind, boolean ourServer) throws Exception {
        assumeTrue(QemuProcess.available(), "qemu-system-x86_64 is not installed (.ci/packages.txt: qemu-system-x86)");
        Path sock = dir.resolve(kind.name().toLowerCase() + ".sock");
        AtomicReference<RecordingDevice> device = new AtomicReference<>();
        BackendOptions options = BackendOptions.defaults().withName("qemu-" + kind.name().toLowerCase());
        QemuProcess.Builder qemu = QemuProcess.builder().vhostUser(kind, "c0");
        if (ourServer) {
            try (BackendServer server = BackendServer.bind(sock, ctx -> {
                RecordingDevice d = deviceFor(kind);
                device.set(d);
                return d;
            }, options)) {
                Thread serving = Thread.ofVirtual().name("qemu-it-serve").start(() -> {
                    try {
                        server.serve();
                    } catch (IOException | InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
                try (QemuProcess q = qemu.chardevClient("c0", sock).start(Duration.ofSeconds(150))) {
                    checkHandshake(kind, q, device);
                } finally {
                    server.shutdown();
                    serving.join(Duration.ofSeconds(30));
                }
            }
        } else {
            // blk and net wait for the back-end during realize, so wait=off works; QEMU 7.2's vhost-user-vsock and
            // vhost-user-fs fail realize without a connected back-end ("QEMU exited"), so they use wait=on: QEMU
            // creates the socket and blocks until our client connects.
            boolean waitForClient = kind == Device.VSOCK || kind == Device.FS;
            try (QemuProcess q = qemu.chardevServer("c0", sock, waitForClient).start(Duration.ofSeconds(150));
                    BackendSession session = BackendSession.connect(sock, Duration.ofSeconds(60), ctx -> {
                        RecordingDevice d = deviceFor(kind);
                        device.set(d);
                        return d;
                    }, options)) {
                checkHandshake(kind, q, device);
                assertTrue(session.isRunning(), () -> "session ended: " + session.failure() + "\n" + q.output());
            }
        }
    }

    private static void checkHandshake(Device kind, QemuProcess q, AtomicReference<RecordingDevice> device) {
        String end = handshakeEnd(kind);
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(100))
                .failFast("QEMU exited", () -> !q.isAlive())
                .until(() -> device.get() != null && device.get().events().stream().anyMatch(e -> e.startsWith(end)));
        List<String> events = device.get().events();
        assertTrue(events.contains("setOwner"), () -> "no SET_OWNER: " + events);
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(4))
                .failFast("QEMU exited after the handshake", () -> !q.isAlive())
                .until(q::isAlive);
        assertTrue(q.isAlive(), q::output);
        LOG.log(System.Logger.Level.INFO, () -> "QEMU " + kind + " sent: " + device.get().events());
    }
}
