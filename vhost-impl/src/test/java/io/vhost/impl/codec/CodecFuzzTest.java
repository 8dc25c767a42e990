package io.vhost.impl.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.vhost.api.Fd;
import io.vhost.api.error.ProtocolViolationException;
import io.vhost.api.message.BackendMessage;
import io.vhost.api.message.BackendRequest;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.Reply;
import io.vhost.api.message.Request;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;

/**
 * Jazzer fuzz tests of the decoder and of decode, encode, decode. In {@code mvn verify} they run in regression mode
 * over the committed seeds in {@code src/test/resources/io/vhost/impl/codec/CodecFuzzTestInputs/<method>/}; see
 * docs/protocol.md for fuzzing for N minutes (at most 60: the class timeout).
 *
 * <p>Input format: byte 0 bits 0-1 select what is decoded (0 front-end request, 1 back-end request, 2 reply to a
 * front-end request, 3 reply to a back-end request); byte 1 bits 0-3 the number of fds received (at most 9), bit 4
 * XEN_MMAP; byte 2 the request answered (for replies, modulo the table size); the rest is the wire message. The only
 * exception allowed is {@link ProtocolViolationException}, after which every fd must be closed.
 */
@Timeout(value = 61, unit = TimeUnit.MINUTES) // regression mode takes seconds; fuzzing mode is bounded by max_duration
class CodecFuzzTest {

    private record Decoded(Object value, List<TestFd> fds, CodecOptions options, Request request) {
    }

    private static Decoded decodeInput(byte[] data) throws ProtocolViolationException {
        if (data.length < 3) {
            return null;
        }
        int kind = data[0] & 3;
        int nfds = Math.min(data[1] & 0xF, 9);
        CodecOptions options = new CodecOptions((data[1] & 0x10) != 0, 256);
        List<TestFd> fds = new ArrayList<>();
        for (int i = 0; i < nfds; i++) {
            fds.add(new TestFd(10 + i));
        }
        Request request = kind == 2 ? FrontendRequest.values()[(data[2] & 0xFF) % FrontendRequest.values().length]
                : kind == 3 ? BackendRequest.values()[(data[2] & 0xFF) % BackendRequest.values().length] : null;
        ByteBuffer in = ByteBuffer.wrap(data, 3, data.length - 3);
        try {
            Header h = VhostUserCodec.decodeHeader(in, kind >= 2 ? Expect.REPLY : Expect.REQUEST, List.copyOf(fds));
            if (in.remaining() < h.size()) {
                fds.forEach(TestFd::close);
                return null;
            }
            ByteBuffer payload = in.slice(in.position(), (int) h.size());
            List<Fd> given = List.copyOf(fds);
            Object value = switch (kind) {
                case 0 -> VhostUserCodec.decodeFrontend(h, payload, given, options);
                case 1 -> VhostUserCodec.decodeBackend(h, payload, given, options);
                default -> VhostUserCodec.decodeReply(request, h, payload, given, options);
            };
            return new Decoded(value, fds, options, request);
        } catch (ProtocolViolationException e) {
            for (TestFd fd : fds) {
                assertTrue(fd.wasClosed(), "fd left open after: " + e.getMessage());
            }
            throw e;
        }
    }

    private static List<Fd> fdsOf(Object value) {
        return switch (value) {
            case FrontendMessage m -> m.fds();
            case BackendMessage m -> m.fds();
            case Reply r -> r.fds();
            default -> throw new AssertionError(value);
        };
    }

    /** Decodes arbitrary bytes: no exception but ProtocolViolationException, no fd lost. */
    @FuzzTest(maxDuration = "10s")
    void decode(byte[] data) {
        try {
            Decoded d = decodeInput(data);
            if (d != null) {
                assertEquals(d.fds.size(), fdsOf(d.value).size(), "a decoded message owns every fd received");
                try (AutoCloseable c = (AutoCloseable) d.value) {
                    assertTrue(c != null);
                }
                d.fds.forEach(fd -> assertTrue(fd.wasClosed(), "closing the message closes " + fd.role()));
            }
        } catch (ProtocolViolationException expected) {
            // the codec's own rejection
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Whatever decodes, encodes, and decodes again to an equal value. */
    @FuzzTest(maxDuration = "10s")
    void roundTrip(byte[] data) throws Exception {
        Decoded d;
        try {
            d = decodeInput(data);
        } catch (ProtocolViolationException expected) {
            return;
        }
        if (d == null) {
            return;
        }
        ByteBuffer out = ByteBuffer.allocate(VhostUserCodec.MAX_MESSAGE_BYTES);
        List<Fd> sent = switch (d.value) {
            case FrontendMessage m -> VhostUserCodec.encode(m, 0, out, d.options);
            case BackendMessage m -> VhostUserCodec.encode(m, 0, out, d.options);
            case Reply r -> VhostUserCodec.encodeReply(d.request, r, out, d.options);
            default -> throw new AssertionError(d.value);
        };
        out.flip();
        Header h = VhostUserCodec.decodeHeader(out, d.value instanceof Reply ? Expect.REPLY : Expect.REQUEST);
        Object again = switch (d.value) {
            case FrontendMessage m -> VhostUserCodec.decodeFrontend(h, out.slice(), sent, d.options);
            case BackendMessage m -> VhostUserCodec.decodeBackend(h, out.slice(), sent, d.options);
            default -> VhostUserCodec.decodeReply(d.request, h, out.slice(), sent, d.options);
        };
        assertEquals(d.value, again);
        ((AutoCloseable) again).close();
    }
}
