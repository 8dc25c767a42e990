package io.vhost.impl.daemon;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.message.FrontendRequest;
import io.vhost.impl.backend.BackendOptions;
import io.vhost.impl.backend.BackendServer;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.Mapping;
import io.vhost.impl.sys.Mman;
import io.vhost.impl.sys.OwnedFd;
import io.vhost.impl.virtqueue.DriverRing;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawFrontend;
import java.io.FileDescriptor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * The daemon framework behind the real back-end engine: a scripted front-end speaks vhost-user on a unix socket,
 * passes a memfd and eventfds with SCM_RIGHTS, and drives a ring laid out by a {@link DriverRing}.
 */
@NoFdLeaks
class DaemonOverEngineTest {

    private static final long MEM = 1 << 20;
    private static final long UADDR = 0x7f12_3400_0000L;
    private static final int QSIZE = 8;
    private static final long BIT30 = VirtioFeature.PROTOCOL_FEATURES.mask();

    @TempDir
    Path dir;
    private BackendServer server;
    private Thread serving;
    private RawFrontend fe;
    private OwnedFd memfd;
    private Mapping ram;
    private final AtomicReference<DeviceBackend> handler = new AtomicReference<>();
    private DeviceBackendTest.EchoDevice device;

    @BeforeEach
    void start() throws Exception {
        device = new DeviceBackendTest.EchoDevice(2, 1);
        Path sock = dir.resolve("daemon.sock");
        server = BackendServer.bind(sock, ctx -> {
            DeviceBackend b = new DeviceBackend(device, ctx);
            handler.set(b);
            return b;
        }, BackendOptions.defaults().withName("daemon-test"));
        serving = Thread.ofPlatform().name("daemon-test-serve").start(() -> {
            try {
                server.serve();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        fe = RawFrontend.connect(sock, Duration.ofSeconds(10));
        memfd = Mman.memfd("daemon-test-ram", MEM);
        ram = Mman.map(memfd.number(), 0, MEM, true, "daemon test ram");
    }

    @AfterEach
    void stop() throws Exception {
        if (fe != null) {
            fe.close();
        }
        server.close();
        serving.join(Duration.ofSeconds(10));
        ram.close();
        memfd.close();
    }

    private static FileDescriptor fd(OwnedFd owned) throws java.io.IOException {
        return FileDescriptorCast.unsafeUsing(owned.number()).getFileDescriptor();
    }

    private long call64(FrontendRequest r) throws Exception {
        return fe.call(r.id(), RawFrontend.V1, new byte[0]).u64();
    }

    private long acked(FrontendRequest r, byte[] payload, FileDescriptor... fds) throws Exception {
        fe.send(r.id(), RawFrontend.V1_NEED_REPLY, payload, fds);
        return fe.receiveReply(r.id()).u64();
    }

    private static byte[] memTable(long gpa, long size, long uaddr, long offset) {
        return ByteBuffer.allocate(8 + 32).order(ByteOrder.LITTLE_ENDIAN).putInt(1).putInt(0).putLong(gpa)
                .putLong(size).putLong(uaddr).putLong(offset).array();
    }

    private static byte[] vringAddr(int index, long desc, long used, long avail) {
        return ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN).putInt(index).putInt(0).putLong(desc)
                .putLong(used).putLong(avail).putLong(0).array();
    }

    @Test
    void aQemuLikeSessionProcessesARingKickedBeforeItWasEnabled() throws Exception {
        long offered = call64(FrontendRequest.GET_FEATURES);
        assertEquals(device.features() | VirtioFeature.LOG_ALL.mask() | VirtioFeature.RING_PACKED.mask() | BIT30,
                offered, "device features, LOG_ALL and RING_PACKED (the framework logs dirty pages and runs packed"
                + " rings) and PROTOCOL_FEATURES");
        long protocol = call64(FrontendRequest.GET_PROTOCOL_FEATURES);
        long wanted = ProtocolFeature.REPLY_ACK.mask() | ProtocolFeature.CONFIG.mask() | ProtocolFeature.MQ.mask();
        assertEquals(wanted, protocol & wanted, "REPLY_ACK, CONFIG and MQ are offered");
        fe.send(FrontendRequest.SET_PROTOCOL_FEATURES.id(), RawFrontend.V1, RawFrontend.u64(wanted));
        assertEquals(2, call64(FrontendRequest.GET_QUEUE_NUM));
        assertEquals(0, acked(FrontendRequest.SET_OWNER, new byte[0]));
        // Split rings (the DriverRing below): everything offered but RING_PACKED.
        long split = offered & ~VirtioFeature.RING_PACKED.mask();
        assertEquals(0, acked(FrontendRequest.SET_FEATURES, RawFrontend.u64(split)));
        byte[] cfg = fe.call(FrontendRequest.GET_CONFIG.id(), RawFrontend.V1, ByteBuffer.allocate(12 + 4)
                .order(ByteOrder.LITTLE_ENDIAN).putInt(4).putInt(4).putInt(0).array()).payload();
        assertArrayEquals(new byte[] {5, 6, 7, 8}, java.util.Arrays.copyOfRange(cfg, 12, 16));

        assertEquals(0, acked(FrontendRequest.SET_MEM_TABLE, memTable(0, MEM, UADDR, 0), fd(memfd)));
        MemorySegment g = ram.segment();
        DriverRing ring = new DriverRing(QSIZE, g.asSlice(0x1000, DriverRing.descTableBytes(QSIZE)),
                g.asSlice(0x2000, DriverRing.availBytes(QSIZE)), g.asSlice(0x3000, DriverRing.usedBytes(QSIZE)));
        try (OwnedFd kick = EventFds.create(EventFds.EFD_NONBLOCK, "fe kick");
                OwnedFd call = EventFds.create(EventFds.EFD_NONBLOCK, "fe call")) {
            assertEquals(0, acked(FrontendRequest.SET_VRING_NUM, RawFrontend.vringState(0, QSIZE)));
            assertEquals(0, acked(FrontendRequest.SET_VRING_BASE, RawFrontend.vringState(0, 0)));
            assertEquals(0, acked(FrontendRequest.SET_VRING_ADDR, vringAddr(0, UADDR + 0x1000, UADDR + 0x3000,
                    UADDR + 0x2000)));
            assertEquals(0, acked(FrontendRequest.SET_VRING_KICK, RawFrontend.u64(0), fd(kick)));
            assertEquals(0, acked(FrontendRequest.SET_VRING_CALL, RawFrontend.u64(0), fd(call)));

            byte[] text = "over the wire".getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(MemorySegment.ofArray(text), 0, g, 0x8000, text.length);
            int head = ring.add(List.of(new DriverRing.Buffer(0x8000, text.length)),
                    List.of(new DriverRing.Buffer(0x9000, 64)));
            ring.publish();
            EventFds.signal(kick.number(), 1); // kicked while still disabled (PROTOCOL_FEATURES acked)
            await().atMost(Duration.ofSeconds(10)).until(() -> handler.get().kickPending(0));
            assertNull(ring.poll(), "a disabled ring was processed");

            assertEquals(0, acked(FrontendRequest.SET_VRING_ENABLE, RawFrontend.vringState(0, 1)));
            AtomicReference<DriverRing.Used> used = new AtomicReference<>();
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                used.set(ring.poll());
                return used.get() != null;
            });
            assertEquals(head, used.get().head());
            byte[] out = new byte[text.length];
            MemorySegment.copy(g, 0x9000, MemorySegment.ofArray(out), 0, out.length);
            assertEquals("OVER THE WIRE", new String(out, StandardCharsets.US_ASCII));
            await().atMost(Duration.ofSeconds(10)).until(() -> EventFds.drain(call.number()) > 0);

            RawFrontend.Message base = fe.call(FrontendRequest.GET_VRING_BASE.id(), RawFrontend.V1,
                    RawFrontend.vringState(0, 0));
            ByteBuffer b = base.body();
            assertEquals(0, b.getInt());
            assertEquals(1, b.getInt(), "GET_VRING_BASE returns the next avail index");
            assertEquals(0, device.stopped.get());
        }
    }

    @Test
    void aRingAddressOutsideGuestMemoryIsRefusedAndTheSessionGoesOn() throws Exception {
        call64(FrontendRequest.GET_FEATURES);
        fe.send(FrontendRequest.SET_PROTOCOL_FEATURES.id(), RawFrontend.V1,
                RawFrontend.u64(ProtocolFeature.REPLY_ACK.mask()));
        assertEquals(0, acked(FrontendRequest.SET_FEATURES, RawFrontend.u64(device.features() | BIT30)));
        assertEquals(0, acked(FrontendRequest.SET_MEM_TABLE, memTable(0, MEM, UADDR, 0), fd(memfd)));
        assertEquals(0, acked(FrontendRequest.SET_VRING_NUM, RawFrontend.vringState(1, QSIZE)));
        assertNotEquals(0, acked(FrontendRequest.SET_VRING_ADDR, vringAddr(1, 0x1000, 0x3000, 0x2000)),
                "ring addresses that are not front-end user addresses of guest memory must be refused");
        assertNotEquals(0, acked(FrontendRequest.SET_VRING_NUM, RawFrontend.vringState(0, 3000)),
                "a ring size above the device maximum must be refused");
        assertTrue(call64(FrontendRequest.GET_FEATURES) != 0, "the session ended after a refused request");
    }
}
