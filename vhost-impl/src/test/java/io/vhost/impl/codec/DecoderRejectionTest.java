package io.vhost.impl.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vhost.api.Fd;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.error.Recovery;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.Reply;
import io.vhost.api.message.VringState;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Each malformed input is rejected with a message naming request, field, value and limit; fds are closed. */
@Timeout(30)
class DecoderRejectionTest {

    @BeforeAll
    static void littleEndianHost() {
        assumeTrue(ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN, "hex below is little-endian");
    }

    private static ProtocolViolationException rejectRequest(int id, int flags, String payload, List<Fd> fds) {
        byte[] p = Hex.bytes(payload);
        ByteBuffer in = ByteBuffer.wrap(Hex.bytes(Hex.header(id, flags, p.length) + payload));
        return assertThrows(ProtocolViolationException.class, () -> {
            Header h = VhostUserCodec.decodeHeader(in, Expect.REQUEST);
            VhostUserCodec.decodeFrontend(h, in.slice(), fds, CodecOptions.DEFAULT).close();
        });
    }

    private static void assertAllClosed(List<TestFd> fds) {
        for (TestFd fd : fds) {
            assertTrue(fd.wasClosed(), fd.role() + " was not closed");
        }
    }

    @Test
    void versionOtherThanOne() {
        var e = rejectRequest(1, 0x2, "", List.of());
        assertEquals("request 1: header version 2 (flags 0x2) is not 1", e.getMessage());
    }

    @Test
    void reservedFlagBits() {
        var e = rejectRequest(1, 0x11, "", List.of());
        assertEquals("request 1: header flags 0x11 set reserved bits 0x10", e.getMessage());
    }

    @Test
    void replyFlagOnRequest() {
        var e = rejectRequest(1, HeaderFlags.VERSION | HeaderFlags.REPLY, "", List.of());
        assertEquals("request 1: REPLY flag set on a request", e.getMessage());
    }

    @Test
    void missingReplyFlagOnReply() {
        ByteBuffer in = ByteBuffer.wrap(Hex.bytes(Hex.header(1, 1, 8) + "0000000000000000"));
        var e = assertThrows(ProtocolViolationException.class, () -> VhostUserCodec.decodeHeader(in, Expect.REPLY));
        assertEquals("request 1: REPLY flag missing on a reply", e.getMessage());
    }

    @Test
    void hugeSizeIsRejectedInTheHeader() {
        ByteBuffer in = ByteBuffer.wrap(Hex.bytes(Hex.header(5, 1, -1)));
        var e = assertThrows(ProtocolViolationException.class, () -> VhostUserCodec.decodeHeader(in, Expect.REQUEST));
        assertEquals("request 5: payload size 4294967295 exceeds the maximum 4108", e.getMessage());
    }

    @Test
    void unknownRequestIsRetryableAndClosesFds() {
        List<TestFd> fds = List.of(new TestFd(3), new TestFd(4));
        var e = rejectRequest(99, 1, "", List.copyOf(fds));
        assertEquals(Recovery.RETRY, e.recovery());
        assertEquals("unknown front-end request id 99 (flags 0x1, size 0, 2 fds): closed its fds; NACK it if "
                + "NEED_REPLY and continue", e.getMessage());
        assertAllClosed(fds);
    }

    @Test
    void wrongPayloadSizeForTheTable() {
        var e = rejectRequest(8, 1, "00000000", List.of());
        assertEquals("SET_VRING_NUM: payload size 4 is outside 8 for VRING_STATE", e.getMessage());
        assertEquals(Recovery.RECONNECT, e.recovery());
    }

    @Test
    void memTableWithMoreFdsThanRegionsClosesAll() {
        List<TestFd> fds = List.of(new TestFd(3), new TestFd(4), new TestFd(5));
        var e = rejectRequest(5, 1, "02000000 00000000" + ("0000000000000000 0010000000000000 0000000000000000"
                + " 0000000000000000").repeat(2), List.copyOf(fds));
        assertEquals("SET_MEM_TABLE: carries 3 fds for 2 regions; closed all 3 fds", e.getMessage());
        assertAllClosed(fds);
    }

    @Test
    void memTableRegionThatWraps() {
        List<TestFd> fds = List.of(new TestFd(3));
        var e = rejectRequest(5, 1, "01000000 00000000 00f0ffffffffffff 0010000000000000 0000000000000000"
                + " 0000000000000000", List.copyOf(fds));
        assertEquals("SET_MEM_TABLE: region 0: memory region: guest address 0xfffffffffffff000 + size 0x1000 wraps "
                + "past 2^64; closed all 1 fds", e.getMessage());
        assertAllClosed(fds);
    }

    @Test
    void memTableNonZeroPadding() {
        var e = rejectRequest(5, 1, "01000000 01000000 0000000000000000 0010000000000000 0000000000000000"
                + " 0000000000000000", List.of(new TestFd(3)));
        assertTrue(e.getMessage().startsWith("SET_MEM_TABLE: padding 0x1 is not 0"), e.getMessage());
    }

    @Test
    void memTableWithZeroRegions() {
        var e = rejectRequest(5, 1, "00000000 00000000", List.of(new TestFd(3)));
        assertTrue(e.getMessage().startsWith("SET_MEM_TABLE: "), e.getMessage());
    }

    @Test
    void kickWithoutFdAndWithoutNofdBit() {
        var e = rejectRequest(12, 1, "0000000000000000", List.of());
        assertEquals("SET_VRING_KICK: no-fd flag false but fd absent", e.getMessage());
    }

    @Test
    void kickWithReservedBits() {
        List<TestFd> fds = List.of(new TestFd(7));
        var e = rejectRequest(12, 1, "0002000000000000", List.copyOf(fds));
        assertEquals("SET_VRING_KICK: vring fd u64 0x200 has reserved bits set (known: 0x1ff); closed all 1 fds",
                e.getMessage());
        assertAllClosed(fds);
    }

    @Test
    void fdOnARequestThatTakesNone() {
        List<TestFd> fds = List.of(new TestFd(7));
        var e = rejectRequest(3, 1, "", List.copyOf(fds));
        assertEquals("SET_OWNER: carried 1 fds, expected 0; closed all 1 fds", e.getMessage());
        assertAllClosed(fds);
    }

    @Test
    void remMemRegAcceptsOneFdToBeClosed() throws Exception {
        TestFd fd = new TestFd(9);
        String payload = "0000000000000000 0000000000000000 0010000000000000 0000000000000000 0000000000000000";
        byte[] p = Hex.bytes(payload);
        ByteBuffer in = ByteBuffer.wrap(Hex.bytes(Hex.header(38, 1, p.length) + payload));
        Header h = VhostUserCodec.decodeHeader(in, Expect.REQUEST);
        try (FrontendMessage m = VhostUserCodec.decodeFrontend(h, in.slice(), List.of(fd), CodecOptions.DEFAULT)) {
            assertEquals(List.of(fd), m.fds());
        }
        assertTrue(fd.wasClosed());
    }

    @Test
    void logOffsetPlusSizeOverflows() {
        var e = rejectRequest(6, 1, "0010000000000000 00f0ffffffffffff", List.of(new TestFd(3)));
        assertEquals("SET_LOG_BASE: log: offset 0xfffffffffffff000 + size 0x1000 wraps past 2^64; closed all 1 fds",
                e.getMessage());
    }

    @Test
    void configBeyondDeviceConfigSize() throws Exception {
        String payload = "fc000000 08000000 00000000 0000000000000000";
        byte[] p = Hex.bytes(payload);
        ByteBuffer in = ByteBuffer.wrap(Hex.bytes(Hex.header(25, 1, p.length) + payload));
        Header h = VhostUserCodec.decodeHeader(in, Expect.REQUEST);
        var e = assertThrows(ProtocolViolationException.class,
                () -> VhostUserCodec.decodeFrontend(h, in.slice(), List.of(), new CodecOptions(false, 256)));
        assertEquals("SET_CONFIG: config offset 252 + size 8 exceeds the device config size 256", e.getMessage());
    }

    @Test
    void configFlagsUnknown() {
        var e = rejectRequest(25, 1, "00000000 01000000 02000000 00", List.of());
        assertEquals("SET_CONFIG: config flags 2 is neither 0 (write) nor 1 (migration)", e.getMessage());
    }

    @Test
    void inflightTailPaddingMustBeZero() {
        var e = rejectRequest(31, 1, "0000000000000000 0000000000000000 0200 0001 01000000", List.of());
        assertEquals("GET_INFLIGHT_FD: inflight tail padding is not 0", e.getMessage());
    }

    @Test
    void vringAddrUnknownFlags() {
        var e = rejectRequest(9, 1, "00000000 02000000" + "0000000000000000".repeat(4), List.of());
        assertEquals("SET_VRING_ADDR: vring flags 0x2 has unknown bits (known: 0x1 LOG)", e.getMessage());
    }

    @Test
    void iotlbUnknownType() {
        var e = rejectRequest(22, 1, "0000000000000000".repeat(3) + "03 09 000000000000", List.of());
        assertEquals("IOTLB_MSG: iotlb type 9 is not 1..4", e.getMessage());
    }

    @Test
    void deviceStateUnknownPhase() {
        var e = rejectRequest(42, 1, "00000000 01000000", List.of(new TestFd(3)));
        assertEquals("SET_DEVICE_STATE_FD: device state phase 1 is not 0 (stopped); closed all 1 fds", e.getMessage());
    }

    @Test
    void replyWithWrongRequestCode() {
        ByteBuffer in = ByteBuffer.wrap(Hex.bytes(Hex.header(2, 5, 8) + "0000000000000000"));
        var e = assertThrows(ProtocolViolationException.class, () -> {
            Header h = VhostUserCodec.decodeHeader(in, Expect.REPLY);
            VhostUserCodec.decodeReply(FrontendRequest.GET_FEATURES, h, in.slice(), List.of(), CodecOptions.DEFAULT);
        });
        assertEquals("GET_FEATURES: reply carries request code 2, expected 1", e.getMessage());
    }

    @Test
    void setLogBaseReplyAcceptsEmptyAndU64() throws Exception {
        for (String payload : List.of("", "0000000000000000")) {
            byte[] p = Hex.bytes(payload);
            ByteBuffer in = ByteBuffer.wrap(Hex.bytes(Hex.header(6, 5, p.length) + payload));
            Header h = VhostUserCodec.decodeHeader(in, Expect.REPLY);
            Reply r = VhostUserCodec.decodeReply(FrontendRequest.SET_LOG_BASE, h, in.slice(), List.of(),
                    CodecOptions.DEFAULT);
            assertEquals(payload.isEmpty() ? new Reply.Empty() : new Reply.U64(0), r);
        }
    }

    @Test
    void queueSizeHelperMessage() {
        var e = assertThrows(ProtocolViolationException.class,
                () -> VhostUserCodec.checkQueueSize(new VringState(0, 70000), 32768));
        assertEquals("SET_VRING_NUM 70000 for queue 0 exceeds max queue size 32768", e.getMessage());
    }

    @Test
    void encoderRefusesReplyTypeOutsideTheTable() {
        var e = assertThrows(IllegalArgumentException.class, () -> VhostUserCodec.encodeReply(
                FrontendRequest.GET_VRING_BASE, new Reply.U64(0), ByteBuffer.allocate(64), CodecOptions.DEFAULT));
        assertEquals("GET_VRING_BASE cannot reply with U64 (reply body VRING_STATE)", e.getMessage());
    }

    @Test
    void xenRegionsRoundTripWithXenOption() throws Exception {
        var xen = new CodecOptions(true, 256);
        var region = new MemoryRegion(0, 0x1000, 0x7000_0000L, 0,
                Optional.of(new io.vhost.api.message.XenMmap(io.vhost.api.message.XenMmap.GRANT, 7)));
        var msg = new FrontendMessage.SetMemTable(new MemoryTable(List.of(region)), List.of(new TestFd(3)));
        ByteBuffer out = ByteBuffer.allocate(VhostUserCodec.MAX_MESSAGE_BYTES);
        VhostUserCodec.encode(msg, HeaderFlags.NEED_REPLY, out, xen);
        assertEquals(12 + 8 + 40, out.position());
        out.flip();
        Header h = VhostUserCodec.decodeHeader(out, Expect.REQUEST);
        assertTrue(h.needsReply());
        assertEquals(msg, VhostUserCodec.decodeFrontend(h, out.slice(), msg.fds(), xen));
    }
}
