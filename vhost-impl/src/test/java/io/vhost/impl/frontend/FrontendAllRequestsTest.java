package io.vhost.impl.frontend;

import static io.vhost.impl.frontend.FrontendRawBackendTest.quick;
import static io.vhost.impl.frontend.FrontendRawBackendTest.script;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.api.error.PeerDisconnectedException;
import io.vhost.api.feature.FeatureSet;
import io.vhost.api.feature.ProtocolFeature;
import io.vhost.api.feature.VirtioFeature;
import io.vhost.api.frontend.InflightArea;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.api.frontend.VhostUserFrontend;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.CryptoSession;
import io.vhost.api.message.DeviceStateParams;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.MacAddress;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.SharedObject;
import io.vhost.api.message.ShmemConfig;
import io.vhost.api.message.VringAddress;
import io.vhost.impl.sys.EventFds;
import io.vhost.impl.sys.Mman;
import io.vhost.testing.NoFdLeaks;
import io.vhost.testing.RawBackend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every front-end request (ids 1-45) through its typed method, against a back-end that offers every mainline and
 * provisional feature and answers each request as the specification says: checks the wire code, NEED_REPLY, fd
 * counts and the typed replies.
 */
@NoFdLeaks(eachTest = true)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FrontendAllRequestsTest {

    static final long OFFERED = VirtioFeature.PROTOCOL_FEATURES.mask() | VirtioFeature.VERSION_1.mask()
            | VirtioFeature.ACCESS_PLATFORM.mask() | VirtioFeature.LOG_ALL.mask();
    static final long PROTOCOL = ProtocolFeature.knownMask() & ~ProtocolFeature.XEN_MMAP.mask()
            & ~ProtocolFeature.GPA_ADDRESSES.mask();

    @TempDir
    Path dir;

    static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Answers each request with what the specification says its reply is. */
    static void serve(RawBackend bk, List<RawBackend.Message> seen, Fd replyFd) throws IOException {
        int ok = RawBackend.VERSION | RawBackend.REPLY;
        while (true) {
            RawBackend.Message m;
            try {
                m = bk.receive();
            } catch (PeerDisconnectedException e) {
                return;
            }
            seen.add(m);
            switch (m.request()) {
                case 1 -> bk.replyU64(1, OFFERED);
                case 15 -> bk.replyU64(15, PROTOCOL | (1L << 60)); // an unknown bit too
                case 17 -> bk.replyU64(17, 2);
                case 11, 45 -> bk.send(m.request(), ok, RawBackend.vringState(m.body().getInt(0), 77));
                case 6 -> bk.send(6, ok, new byte[0]); // SET_LOG_BASE: DPDK's empty reply
                case 22, 30, 43 -> bk.replyU64(m.request(), 0);
                case 24 -> {
                    byte[] reply = m.payload().clone();
                    for (int i = 12; i < reply.length; i++) {
                        reply[i] = (byte) (0xA0 + i);
                    }
                    bk.send(24, ok, reply);
                }
                case 26 -> {
                    byte[] reply = m.payload().clone();
                    ByteBuffer.wrap(reply).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 42);
                    bk.send(26, ok, reply);
                }
                case 28 -> bk.send(28, ok, RawBackend.u64(0), replyFd);
                case 31 -> {
                    ByteBuffer req = m.body();
                    ByteBuffer r = le(24).putLong(4096).putLong(0).putShort(req.getShort(16))
                            .putShort(req.getShort(18));
                    bk.send(31, ok, r.array(), replyFd);
                }
                case 36 -> bk.replyU64(36, 509);
                case 40 -> bk.replyU64(40, 0xF);
                case 41 -> bk.send(41, ok, RawBackend.u64(0), replyFd);
                case 42 -> bk.replyU64(42, 0x100); // ok, no fd of its own
                case 44 -> {
                    ByteBuffer r = le(8 + 256 * 8).putInt(1).putInt(0).putLong(8192);
                    bk.send(44, ok, r.array());
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
    void everyRequestHasATypedMethodThatSpeaksTheWireFormat() throws Exception {
        List<RawBackend.Message> seen = new CopyOnWriteArrayList<>();
        try (RawBackend b = RawBackend.listen(dir.resolve("all.sock"));
                Fd replyFd = EventFds.create(0, "reply fd stand-in");
                Fd eventfd = EventFds.create(0, "eventfd");
                Fd memfd = Mman.memfd("region", 1 << 20)) {
            CompletableFuture<Void> peer = script(b, bk -> serve(bk, seen, replyFd));
            try (VhostUserFrontend fe = VhostUserFrontends.connect(b.path(), quick())) {
                FeatureSet offered = fe.getFeatures();
                FeatureSet protocol = fe.getProtocolFeatures();
                assertEquals(PROTOCOL, protocol.bits(), "unknown bit 60 masked off");
                fe.setProtocolFeatures(protocol);
                fe.setOwner();
                fe.setFeatures(offered);
                assertEquals(2, fe.getQueueNum());
                MemoryRegion region = new MemoryRegion(0, 1 << 20, 0x7f0000000000L, 0);
                fe.setMemTable(List.of(new SharedRegion(region, memfd)));
                fe.setLogBase(new LogRegion(4096, 0), memfd);
                fe.setLogFd(eventfd);
                fe.setVringNum(0, 256);
                fe.setVringAddr(new VringAddress(0, 0, 0x7f0000001000L, 0x7f0000003000L, 0x7f0000002000L, 0));
                fe.setVringBase(0, 0);
                assertEquals(77, fe.getVringBase(0));
                fe.setVringKick(0, Optional.of(eventfd));
                fe.setVringCall(0, Optional.empty());
                fe.setVringErr(0, Optional.of(eventfd));
                fe.setVringEnable(0, true);
                fe.sendRarp(new MacAddress(0x563412005452L));
                fe.setMtu(1500);
                fe.iotlbMessage(new IotlbMessage(0x1000, 0x1000, 0x7f0000000000L, IotlbMessage.Perm.RW,
                        IotlbMessage.Type.UPDATE));
                fe.setVringEndian(0, VhostUserFrontend.VRING_LITTLE_ENDIAN);
                ConfigSpace config = fe.getConfig(4, 8);
                assertEquals(8, config.sizeBytes());
                assertEquals((byte) (0xA0 + 12), config.bytes()[0]);
                fe.setConfig(new ConfigSpace(0, ConfigSpace.FLAG_WRITE, new byte[] {1, 2}));
                CryptoSession session = fe.createCryptoSession(new CryptoSession(0, new byte[] {9, 9}));
                assertEquals(42, session.sessionId());
                assertArrayEquals(new byte[] {9, 9}, session.setup());
                fe.closeCryptoSession(42);
                try (Fd ufd = fe.postcopyAdvise()) {
                    assertTrue(ufd.isOpen());
                }
                fe.postcopyListen();
                fe.postcopyEnd();
                try (InflightArea area = fe.getInflightFd(2, 256)) {
                    assertEquals(4096, area.region().mmapSizeBytes());
                    fe.setInflightFd(area.region(), area.fd());
                }
                fe.gpuSetSocket(eventfd);
                fe.resetDevice();
                fe.vringKick(0);
                assertEquals(509, fe.getMaxMemSlots());
                fe.addMemReg(new SharedRegion(new MemoryRegion(1 << 20, 1 << 20, 0x7f0000100000L, 0), memfd));
                fe.remMemReg(new MemoryRegion(1 << 20, 1 << 20, 0x7f0000100000L, 0));
                fe.setStatus(0xF);
                assertEquals(0xF, fe.getStatus());
                try (Fd obj = fe.getSharedObject(new SharedObject(new UUID(3, 4)))) {
                    assertTrue(obj.isOpen());
                }
                try (Fd pipe = EventFds.create(0, "pipe stand-in")) {
                    assertEquals(Optional.empty(), fe.setDeviceStateFd(
                            new DeviceStateParams(DeviceStateParams.Direction.SAVE, DeviceStateParams.Phase.STOPPED),
                            pipe));
                }
                fe.checkDeviceState();
                ShmemConfig shmem = fe.getShmemConfig();
                assertEquals(1, shmem.numRegions());
                assertEquals(8192L, shmem.sizes().getFirst());
                assertEquals(77, fe.getVringBaseSkipDrain(0));
                fe.resetOwner();
                try (Fd socket = EventFds.create(0, "socket stand-in")) {
                    fe.setBackendReqFd(socket);
                }
            }
            peer.get(10, TimeUnit.SECONDS);
        }
        Set<FrontendRequest> sent = EnumSet.noneOf(FrontendRequest.class);
        for (RawBackend.Message m : seen) {
            sent.add(FrontendRequest.byId(m.request()).orElseThrow());
        }
        assertEquals(EnumSet.allOf(FrontendRequest.class), sent, "every request id 1-45 went out");
        List<String> badAcks = new ArrayList<>();
        boolean afterFeatures = false;
        for (RawBackend.Message m : seen) {
            FrontendRequest r = FrontendRequest.byId(m.request()).orElseThrow();
            if (afterFeatures && r.reply() == io.vhost.api.message.ReplyKind.ACK_IF_ASKED && !m.needsReply()) {
                badAcks.add(r.name());
            }
            if (r.reply() == io.vhost.api.message.ReplyKind.ALWAYS && m.needsReply()) {
                badAcks.add(r.name() + " (has a reply body, NEED_REPLY must stay clear)");
            }
            afterFeatures |= r == FrontendRequest.SET_FEATURES;
        }
        assertEquals(List.of(), badAcks, "NEED_REPLY exactly on requests without a reply body, after SET_FEATURES");
        RawBackend.Message table = seen.stream().filter(m -> m.request() == 5).findFirst().orElseThrow();
        assertEquals(1, table.fds().size());
        RawBackend.Message call = seen.stream().filter(m -> m.request() == 13).findFirst().orElseThrow();
        assertEquals(0x100, call.u64(), "SET_VRING_CALL without an fd sets the NOFD bit");
        assertEquals(0, call.fds().size());
    }
}
