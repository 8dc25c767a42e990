package io.vhost.impl.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vhost.api.Fd;
import io.vhost.api.message.BackendMessage;
import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.CryptoSession;
import io.vhost.api.message.DeviceStateParams;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendMessage.*;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.InflightRegion;
import io.vhost.api.message.IotlbMessage;
import io.vhost.api.message.LogRegion;
import io.vhost.api.message.MacAddress;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.Reply;
import io.vhost.api.message.Request;
import io.vhost.api.message.SharedObject;
import io.vhost.api.message.ShmemConfig;
import io.vhost.api.message.ShmemMapping;
import io.vhost.api.message.VringAddress;
import io.vhost.api.message.VringArea;
import io.vhost.api.message.VringFd;
import io.vhost.api.message.VringState;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.Timeout;

/**
 * Golden bytes written by hand from the specification text (x86-64, little-endian): every request decodes to the
 * expected record and encodes back to the same bytes; so do replies with bodies.
 */
@Timeout(30)
class GoldenBytesTest {

    private static final CodecOptions OPT = CodecOptions.DEFAULT;
    private static final UUID UUID1 = UUID.fromString("12345678-9abc-def0-1122-334455667788");
    private static final String UUID1_WIRE = "12345678 9abc def0 1122 334455667788";
    // guest 0, size 1 GiB, user 0x7f0000000000, mmap offset 0
    private static final String REGION = "0000000000000000 0000004000000000 0000000000 7f0000 0000000000000000";
    private static final MemoryRegion REGION_R = new MemoryRegion(0, 0x4000_0000L, 0x7f00_0000_0000L, 0);
    // guest 4 GiB, size 1 MiB, user 0x7f0000000000, mmap offset 0
    private static final String REGION2 = "0000000001000000 0000100000000000 0000000000 7f0000 0000000000000000";
    private static final MemoryRegion REGION2_R = new MemoryRegion(0x1_0000_0000L, 0x10_0000L, 0x7f00_0000_0000L, 0);
    private static final String INFLIGHT = "0020000000000000 0000000000000000 0200 0001 00000000";

    record Case(Request request, String payload, int fds, Object expected, String replyPayload, int replyFds,
            Object expectedReply) {
    }

    static final List<Case> CASES = new ArrayList<>();

    static void req(Request r, String payload, int fds, Object expected) {
        CASES.add(new Case(r, payload, fds, expected, null, 0, null));
    }

    static void reqReply(Request r, String payload, int fds, Object expected, String reply, int replyFds,
            Object expectedReply) {
        CASES.add(new Case(r, payload, fds, expected, reply, replyFds, expectedReply));
    }

    static {
        var F = FrontendRequest.class;
        reqReply(FrontendRequest.GET_FEATURES, "", 0, new GetFeatures(), "0000004001000000", 0, null);
        req(FrontendRequest.SET_FEATURES, "0000004001000000", 0, new SetFeatures(0x1_4000_0000L));
        req(FrontendRequest.SET_OWNER, "", 0, new SetOwner());
        req(FrontendRequest.RESET_OWNER, "", 0, new ResetOwner());
        reqReply(FrontendRequest.SET_MEM_TABLE, "01000000 00000000" + REGION, 1, null,
                "01000000 00000000" + REGION, 0, new Reply.MemoryTableReply(new MemoryTable(List.of(REGION_R))));
        reqReply(FrontendRequest.SET_LOG_BASE, "0010000000000000 0000000000000000", 1, null, "", 0,
                new Reply.Empty());
        req(FrontendRequest.SET_LOG_FD, "", 1, null);
        req(FrontendRequest.SET_VRING_NUM, "00000000 00010000", 0, new SetVringNum(new VringState(0, 256)));
        req(FrontendRequest.SET_VRING_ADDR,
                "01000000 01000000 0010000000000000 0030000000000000 0020000000000000 0040000000000000", 0,
                new SetVringAddr(new VringAddress(1, 1, 0x1000, 0x3000, 0x2000, 0x4000)));
        req(FrontendRequest.SET_VRING_BASE, "01000000 05000000", 0, new SetVringBase(new VringState(1, 5)));
        reqReply(FrontendRequest.GET_VRING_BASE, "01000000 00000000", 0, new GetVringBase(new VringState(1, 0)),
                "01000000 2a000000", 0, new Reply.VringBase(new VringState(1, 42)));
        req(FrontendRequest.SET_VRING_KICK, "0100000000000000", 1, null);
        req(FrontendRequest.SET_VRING_CALL, "0201000000000000", 0,
                new SetVringCall(new VringFd(2, true), Optional.empty()));
        req(FrontendRequest.SET_VRING_ERR, "0000000000000000", 1, null);
        reqReply(FrontendRequest.GET_PROTOCOL_FEATURES, "", 0, new GetProtocolFeatures(), "0b00000000000000", 0,
                new Reply.U64(0xb));
        req(FrontendRequest.SET_PROTOCOL_FEATURES, "0900000000000000", 0, new SetProtocolFeatures(9));
        reqReply(FrontendRequest.GET_QUEUE_NUM, "", 0, new GetQueueNum(), "0200000000000000", 0, new Reply.U64(2));
        req(FrontendRequest.SET_VRING_ENABLE, "00000000 01000000", 0, new SetVringEnable(new VringState(0, 1)));
        req(FrontendRequest.SEND_RARP, "525400123456 0000", 0, new SendRarp(new MacAddress(0x5634_1200_5452L)));
        req(FrontendRequest.NET_SET_MTU, "dc05000000000000", 0, new NetSetMtu(1500));
        req(FrontendRequest.SET_BACKEND_REQ_FD, "", 1, null);
        reqReply(FrontendRequest.IOTLB_MSG,
                "0010000000000000 0010000000000000 0010000000 7f0000 03 02 000000000000", 0,
                new IotlbMsg(new IotlbMessage(0x1000, 0x1000, 0x7f00_0000_1000L, IotlbMessage.Perm.RW,
                        IotlbMessage.Type.UPDATE)), "0000000000000000", 0, new Reply.U64(0));
        req(FrontendRequest.SET_VRING_ENDIAN, "00000000 00000000", 0, new SetVringEndian(new VringState(0, 0)));
        reqReply(FrontendRequest.GET_CONFIG, "00000000 04000000 00000000 00000000", 0,
                new GetConfig(new ConfigSpace(0, 0, new byte[4])), "00000000 04000000 00000000 deadbeef", 0,
                new Reply.Config(new ConfigSpace(0, 0, new byte[] {(byte) 0xde, (byte) 0xad, (byte) 0xbe,
                    (byte) 0xef})));
        req(FrontendRequest.SET_CONFIG, "04000000 02000000 01000000 aabb", 0,
                new SetConfig(new ConfigSpace(4, 1, new byte[] {(byte) 0xaa, (byte) 0xbb})));
        reqReply(FrontendRequest.CREATE_CRYPTO_SESSION, "0000000000000000 0102030405060708", 0,
                new CreateCryptoSession(new CryptoSession(0, new byte[] {1, 2, 3, 4, 5, 6, 7, 8})),
                "0700000000000000 0102030405060708", 0,
                new Reply.CryptoSessionReply(new CryptoSession(7, new byte[] {1, 2, 3, 4, 5, 6, 7, 8})));
        req(FrontendRequest.CLOSE_CRYPTO_SESSION, "0700000000000000", 0, new CloseCryptoSession(7));
        reqReply(FrontendRequest.POSTCOPY_ADVISE, "", 0, new PostcopyAdvise(), "0000000000000000", 1, null);
        req(FrontendRequest.POSTCOPY_LISTEN, "", 0, new PostcopyListen());
        reqReply(FrontendRequest.POSTCOPY_END, "", 0, new PostcopyEnd(), "0000000000000000", 0, new Reply.U64(0));
        reqReply(FrontendRequest.GET_INFLIGHT_FD, "0000000000000000 0000000000000000 0200 0001 00000000", 0,
                new GetInflightFd(new InflightRegion(0, 0, 2, 256)), INFLIGHT, 1, null);
        req(FrontendRequest.SET_INFLIGHT_FD, INFLIGHT, 1, null);
        req(FrontendRequest.GPU_SET_SOCKET, "", 1, null);
        req(FrontendRequest.RESET_DEVICE, "", 0, new ResetDevice());
        req(FrontendRequest.VRING_KICK, "03000000 00000000", 0, new VringKick(new VringState(3, 0)));
        reqReply(FrontendRequest.GET_MAX_MEM_SLOTS, "", 0, new GetMaxMemSlots(), "fd01000000000000", 0,
                new Reply.U64(509));
        reqReply(FrontendRequest.ADD_MEM_REG, "0000000000000000" + REGION2, 1, null, "0000000000000000" + REGION2, 0,
                new Reply.MemoryRegionReply(REGION2_R));
        req(FrontendRequest.REM_MEM_REG, "0000000000000000" + REGION2, 0, new RemMemReg(REGION2_R, Optional.empty()));
        req(FrontendRequest.SET_STATUS, "0f00000000000000", 0, new SetStatus(0xf));
        reqReply(FrontendRequest.GET_STATUS, "", 0, new GetStatus(), "0f00000000000000", 0, new Reply.U64(0xf));
        reqReply(FrontendRequest.GET_SHARED_OBJECT, UUID1_WIRE, 0, new GetSharedObject(new SharedObject(UUID1)),
                "0000000000000000", 1, null);
        reqReply(FrontendRequest.SET_DEVICE_STATE_FD, "01000000 00000000", 1, null, "0001000000000000", 0,
                new Reply.U64(0x100));
        reqReply(FrontendRequest.CHECK_DEVICE_STATE, "", 0, new CheckDeviceState(), "0000000000000000", 0,
                new Reply.U64(0));
        List<Long> sizes = new ArrayList<>(Collections.nCopies(256, 0L));
        sizes.set(0, 0x20_0000L);
        reqReply(FrontendRequest.GET_SHMEM_CONFIG, "", 0, new GetShmemConfig(),
                "01000000 00000000 0000200000000000" + "0000000000000000".repeat(255), 0,
                new Reply.ShmemConfigReply(new ShmemConfig(1, sizes)));
        reqReply(FrontendRequest.GET_VRING_BASE_SKIP_DRAIN, "00000000 00000000", 0,
                new GetVringBaseSkipDrain(new VringState(0, 0)), "00000000 10000000", 0,
                new Reply.VringBase(new VringState(0, 16)));

        req(BackendRequest.BACKEND_IOTLB_MSG, "0020000000000000 0000000000000000 0000000000000000 01 01 000000000000",
                0, new BackendMessage.IotlbMiss(new IotlbMessage(0x2000, 0, 0, IotlbMessage.Perm.RO,
                        IotlbMessage.Type.MISS)));
        req(BackendRequest.BACKEND_CONFIG_CHANGE_MSG, "", 0, new BackendMessage.ConfigChange());
        req(BackendRequest.BACKEND_VRING_HOST_NOTIFIER_MSG, "0100000000000000 0010000000000000 0000000000000000", 1,
                null);
        req(BackendRequest.BACKEND_VRING_CALL, "01000000 00000000", 0,
                new BackendMessage.VringCall(new VringState(1, 0)));
        req(BackendRequest.BACKEND_VRING_ERR, "01000000 00000000", 0, new BackendMessage.VringErr(new VringState(1, 0)));
        req(BackendRequest.BACKEND_SHARED_OBJECT_ADD, UUID1_WIRE, 0,
                new BackendMessage.SharedObjectAdd(new SharedObject(UUID1)));
        req(BackendRequest.BACKEND_SHARED_OBJECT_REMOVE, UUID1_WIRE, 0,
                new BackendMessage.SharedObjectRemove(new SharedObject(UUID1)));
        reqReply(BackendRequest.BACKEND_SHARED_OBJECT_LOOKUP, UUID1_WIRE, 0,
                new BackendMessage.SharedObjectLookup(new SharedObject(UUID1)), "0000000000000000", 1, null);
        req(BackendRequest.BACKEND_SHMEM_MAP,
                "01 00000000000000 0000000000000000 0010000000000000 0000100000000000 0100000000000000", 1, null);
        req(BackendRequest.BACKEND_SHMEM_UNMAP,
                "01 00000000000000 0000000000000000 0010000000000000 0000100000000000 0100000000000000", 0,
                new BackendMessage.ShmemUnmap(new ShmemMapping(1, 0, 0x1000, 0x10_0000, 1)));
    }

    @BeforeAll
    static void littleEndianHost() {
        assumeTrue(ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN, "golden bytes are written for little-endian");
    }

    @Test
    void everyRequestHasAGoldenCase() {
        Set<FrontendRequest> f = EnumSet.noneOf(FrontendRequest.class);
        Set<BackendRequest> b = EnumSet.noneOf(BackendRequest.class);
        for (Case c : CASES) {
            if (c.request instanceof FrontendRequest r) {
                f.add(r);
            } else {
                b.add((BackendRequest) c.request);
            }
        }
        assertEquals(EnumSet.allOf(FrontendRequest.class), f);
        assertEquals(EnumSet.allOf(BackendRequest.class), b);
        assertEquals(55, CASES.size());
    }

    @TestFactory
    Stream<DynamicTest> requestsRoundTrip() {
        return CASES.stream().map(c -> DynamicTest.dynamicTest(c.request.name(), () -> roundTripRequest(c)));
    }

    @TestFactory
    Stream<DynamicTest> repliesRoundTrip() {
        return CASES.stream().filter(c -> c.replyPayload != null)
                .map(c -> DynamicTest.dynamicTest(c.request.name() + " reply", () -> roundTripReply(c)));
    }

    private static List<Fd> fds(int n) {
        List<Fd> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(new TestFd(100 + i));
        }
        return l;
    }

    private static void roundTripRequest(Case c) throws Exception {
        byte[] payload = Hex.bytes(c.payload);
        byte[] wire = Hex.bytes(Hex.header(c.request.id(), HeaderFlags.VERSION, payload.length) + c.payload);
        ByteBuffer in = ByteBuffer.wrap(wire);
        Header h = VhostUserCodec.decodeHeader(in, Expect.REQUEST);
        List<Fd> fds = fds(c.fds);
        ByteBuffer out = ByteBuffer.allocate(VhostUserCodec.MAX_MESSAGE_BYTES);
        List<Fd> sent;
        if (c.request instanceof FrontendRequest) {
            FrontendMessage m = VhostUserCodec.decodeFrontend(h, in.slice(), fds, OPT);
            assertEquals(c.request, m.request());
            if (c.expected != null) {
                assertEquals(c.expected, m);
            }
            sent = VhostUserCodec.encode(m, 0, out, OPT);
        } else {
            BackendMessage m = VhostUserCodec.decodeBackend(h, in.slice(), fds, OPT);
            assertEquals(c.request, m.request());
            if (c.expected != null) {
                assertEquals(c.expected, m);
            }
            sent = VhostUserCodec.encode(m, 0, out, OPT);
        }
        assertEquals(Hex.of(wire), Hex.of(java.util.Arrays.copyOf(out.array(), out.position())));
        assertEquals(fds, sent);
    }

    private static void roundTripReply(Case c) throws Exception {
        byte[] payload = Hex.bytes(c.replyPayload);
        byte[] wire = Hex.bytes(Hex.header(c.request.id(), HeaderFlags.VERSION | HeaderFlags.REPLY, payload.length)
                + c.replyPayload);
        ByteBuffer in = ByteBuffer.wrap(wire);
        Header h = VhostUserCodec.decodeHeader(in, Expect.REPLY);
        List<Fd> fds = fds(c.replyFds);
        Reply r = VhostUserCodec.decodeReply(c.request, h, in.slice(), fds, OPT);
        if (c.expectedReply != null) {
            assertEquals(c.expectedReply, r);
        }
        ByteBuffer out = ByteBuffer.allocate(VhostUserCodec.MAX_MESSAGE_BYTES);
        List<Fd> sent = VhostUserCodec.encodeReply(c.request, r, out, OPT);
        assertEquals(Hex.of(wire), Hex.of(java.util.Arrays.copyOf(out.array(), out.position())));
        assertEquals(fds, sent);
    }
}
