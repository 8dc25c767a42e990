package io.vhost.impl.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.VringFd;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Reply expectations from the table, encoder misuse, and the committed fuzz seeds. */
@Timeout(30)
class ReplyRulesTest {

    @Test
    void replyExpectedFollowsTheTable() {
        // Always: whatever NEED_REPLY says.
        assertTrue(VhostUserCodec.replyExpected(FrontendRequest.GET_FEATURES, false, false, false, false));
        assertTrue(VhostUserCodec.replyExpected(FrontendRequest.CHECK_DEVICE_STATE, false, false, false, false));
        assertTrue(VhostUserCodec.replyExpected(BackendRequest.BACKEND_SHARED_OBJECT_LOOKUP, false, false, false,
                false));
        // Ack only with NEED_REPLY and REPLY_ACK.
        assertFalse(VhostUserCodec.replyExpected(FrontendRequest.SET_VRING_NUM, true, false, true, true));
        assertFalse(VhostUserCodec.replyExpected(FrontendRequest.SET_VRING_NUM, false, true, true, true));
        assertTrue(VhostUserCodec.replyExpected(FrontendRequest.SET_VRING_NUM, true, true, false, false));
        // Under the gate.
        assertTrue(VhostUserCodec.replyExpected(FrontendRequest.SET_LOG_BASE, false, false, true, false));
        assertFalse(VhostUserCodec.replyExpected(FrontendRequest.SET_LOG_BASE, false, false, false, false));
        // Postcopy.
        assertTrue(VhostUserCodec.replyExpected(FrontendRequest.SET_MEM_TABLE, false, false, false, true));
        assertFalse(VhostUserCodec.replyExpected(FrontendRequest.SET_MEM_TABLE, false, false, true, false));
    }

    @Test
    void encoderRejectsReplyFlagOnRequests() {
        var e = assertThrows(IllegalArgumentException.class, () -> VhostUserCodec.encode(
                new FrontendMessage.GetFeatures(), HeaderFlags.REPLY, ByteBuffer.allocate(64), CodecOptions.DEFAULT));
        assertEquals("request flags 0x4 may only contain NEED_REPLY (0x8)", e.getMessage());
    }

    @Test
    void messageCloseClosesUntakenFds() {
        TestFd fd = new TestFd(5);
        var m = new FrontendMessage.SetVringKick(new VringFd(0, false), Optional.of(fd));
        var kept = m.fds().getFirst().take();
        m.close();
        assertFalse(fd.wasClosed(), "a taken fd is not closed by the message");
        assertTrue(kept.isOpen());
        kept.close();
    }

    @Test
    void committedSeedsIncludeValidMessages() throws Exception {
        Path dir = Path.of("src/test/resources/io/vhost/impl/codec/CodecFuzzTestInputs/decode");
        List<Path> seeds;
        try (Stream<Path> s = Files.list(dir)) {
            seeds = s.filter(p -> p.getFileName().toString().matches("[a-z_]+")).toList();
        }
        assertTrue(seeds.size() >= 15, "seeds: " + seeds);
        for (Path p : seeds) {
            byte[] d = Files.readAllBytes(p);
            if (p.getFileName().toString().equals("unknown")) {
                continue;
            }
            int kind = d[0] & 3;
            List<io.vhost.api.Fd> fds = Stream.generate(() -> (io.vhost.api.Fd) new TestFd(9)).limit(d[1] & 0xF)
                    .toList();
            CodecOptions o = new CodecOptions((d[1] & 0x10) != 0, 256);
            ByteBuffer in = ByteBuffer.wrap(d, 3, d.length - 3);
            Header h = VhostUserCodec.decodeHeader(in, kind >= 2 ? Expect.REPLY : Expect.REQUEST);
            AutoCloseable m = switch (kind) {
                case 0 -> VhostUserCodec.decodeFrontend(h, in.slice(), fds, o);
                case 1 -> VhostUserCodec.decodeBackend(h, in.slice(), fds, o);
                case 2 -> VhostUserCodec.decodeReply(FrontendRequest.values()[d[2] & 0xFF], h, in.slice(), fds, o);
                default -> VhostUserCodec.decodeReply(BackendRequest.values()[d[2] & 0xFF], h, in.slice(), fds, o);
            };
            m.close();
        }
    }
}
