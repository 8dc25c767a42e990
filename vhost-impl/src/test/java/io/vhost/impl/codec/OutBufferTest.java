package io.vhost.impl.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.message.ConfigSpace;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.Reply;
import io.vhost.api.message.VringState;
import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class OutBufferTest {

    private static byte[] pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 7 + 1);
        }
        return b;
    }

    @Test
    void aSmallMessageStaysInTheFirstBufferFlippedForSending() {
        OutBuffer out = new OutBuffer();
        ByteBuffer first = out.buffer();
        assertEquals(OutBuffer.INITIAL_BYTES, first.capacity());
        assertTrue(first.isDirect());
        VhostUserCodec.encode(new FrontendMessage.SetVringNum(new VringState(1, 256)), HeaderFlags.NEED_REPLY, out,
                CodecOptions.DEFAULT);
        assertSame(first, out.buffer());
        assertEquals(0, out.buffer().position());
        assertEquals(VhostUserCodec.HEADER_BYTES + 8, out.buffer().limit());
        assertEquals(8, out.buffer().getInt(8), "size field");
    }

    @Test
    void aFullConfigSpaceGrowsTheBufferOnceAndEncodesExactlyAsIntoALargeBuffer() {
        byte[] bytes = pattern(ConfigSpace.MAX_BYTES);
        FrontendMessage big = new FrontendMessage.SetConfig(new ConfigSpace(0, ConfigSpace.FLAG_WRITE, bytes));
        OutBuffer out = new OutBuffer();
        ByteBuffer first = out.buffer();
        VhostUserCodec.encode(big, 0, out, CodecOptions.DEFAULT);
        ByteBuffer grown = out.buffer();
        assertNotSame(first, grown);
        assertEquals(VhostUserCodec.MAX_MESSAGE_BYTES, grown.capacity());
        ByteBuffer reference = ByteBuffer.allocate(VhostUserCodec.MAX_MESSAGE_BYTES).order(ByteOrder.nativeOrder());
        VhostUserCodec.encode(big, 0, reference, CodecOptions.DEFAULT);
        reference.flip();
        assertEquals(VhostUserCodec.MAX_MESSAGE_BYTES, reference.remaining(), "the largest message");
        assertEquals(reference, grown, "same bytes as an encode into a buffer of the largest size");

        // the grown buffer is kept: a small message after it uses it from 0
        VhostUserCodec.encodeReply(FrontendRequest.GET_FEATURES, new Reply.U64(3), out, CodecOptions.DEFAULT);
        assertSame(grown, out.buffer());
        assertEquals(VhostUserCodec.HEADER_BYTES + 8, out.buffer().remaining());
        assertEquals(3, out.buffer().getLong(VhostUserCodec.HEADER_BYTES));
    }

    @Test
    void aLargeReplyGrowsTheBufferToo() {
        byte[] bytes = pattern(1000);
        OutBuffer out = new OutBuffer();
        List<?> fds = VhostUserCodec.encodeReply(FrontendRequest.GET_CONFIG,
                new Reply.Config(new ConfigSpace(0, 0, bytes)), out, CodecOptions.DEFAULT);
        assertTrue(fds.isEmpty());
        ByteBuffer b = out.buffer();
        assertEquals(VhostUserCodec.MAX_MESSAGE_BYTES, b.capacity());
        assertEquals(VhostUserCodec.HEADER_BYTES + 12 + 1000, b.remaining());
        byte[] sent = new byte[1000];
        b.get(VhostUserCodec.HEADER_BYTES + 12, sent);
        assertTrue(Arrays.equals(bytes, sent));
    }

    @Test
    void anOverflowAtTheLargestSizeIsRethrown() {
        OutBuffer out = new OutBuffer(VhostUserCodec.MAX_MESSAGE_BYTES);
        BufferOverflowException overflow = new BufferOverflowException();
        assertSame(overflow, assertThrows(BufferOverflowException.class, () -> out.grownAfter(overflow)));
        OutBuffer small = new OutBuffer();
        assertEquals(VhostUserCodec.MAX_MESSAGE_BYTES, small.grownAfter(overflow).capacity());
    }
}
