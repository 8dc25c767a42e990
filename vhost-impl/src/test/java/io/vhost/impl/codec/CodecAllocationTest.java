package io.vhost.impl.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vhost.api.Fd;
import io.vhost.api.message.FrontendMessage;
import io.vhost.api.message.FrontendRequest;
import io.vhost.api.message.HeaderFlags;
import io.vhost.api.message.MemoryRegion;
import io.vhost.api.message.MemoryTable;
import io.vhost.api.message.Reply;
import io.vhost.api.message.VringState;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The codec's per-message path creates no object where the result need not be new: the header of a bodiless request
 * or of an ack, a bodiless request, a reply-ack of 0, and encoding into a native-order buffer that starts at 0 (what
 * the engines pass). Counts the bytes this thread allocates (HotSpot's per-thread counter) over many messages after a
 * first round that links everything; these paths contain no allocation at all, so the result does not depend on the
 * JIT, and a regression that allocates per message shows as megabytes.
 */
@Timeout(30)
class CodecAllocationTest {

    private static final int MESSAGES = 100_000;
    // Under one byte per message: room for one-off allocations (linking, the JIT reallocating objects it had
    // eliminated when it deoptimizes), while the smallest object made per message would be 16 bytes per message.
    private static final long SLACK_BYTES = MESSAGES;

    /** Runs {@code work} once to link it, then {@value #MESSAGES} times, and returns the bytes allocated by the latter. */
    private static long allocatedBy(Runnable work) throws ReflectiveOperationException {
        // Reflectively, as ThreadCensus: test classes are compiled into io.vhost.impl, which does not read
        // java.management; com.sun.management.ThreadMXBean.getCurrentThreadAllocatedBytes()
        Object threads = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean")
                .invoke(null);
        Method allocated = Class.forName("com.sun.management.ThreadMXBean")
                .getMethod("getCurrentThreadAllocatedBytes");
        work.run();
        allocated.invoke(threads);
        long before = (long) allocated.invoke(threads);
        for (int i = 0; i < MESSAGES; i++) {
            work.run();
        }
        return (long) allocated.invoke(threads) - before;
    }

    private static ByteBuffer nativeBuffer(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }

    @Test
    void decodingAGetFeaturesRequestAllocatesNothing() throws Exception {
        ByteBuffer header = nativeBuffer(VhostUserCodec.HEADER_BYTES);
        header.putInt(FrontendRequest.GET_FEATURES.id()).putInt(HeaderFlags.VERSION).putInt(0).flip();
        ByteBuffer payload = nativeBuffer(0);
        FrontendMessage[] decoded = new FrontendMessage[1];
        long bytes = allocatedBy(() -> {
            try {
                header.position(0);
                Header h = VhostUserCodec.decodeHeader(header, Expect.REQUEST);
                decoded[0] = VhostUserCodec.decodeFrontend(h, payload, List.of(), CodecOptions.DEFAULT);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(new FrontendMessage.GetFeatures(), decoded[0]);
        assertTrue(bytes < SLACK_BYTES, bytes + " bytes for " + MESSAGES + " GET_FEATURES requests");
    }

    @Test
    void decodingAReplyAckAllocatesNothing() throws Exception {
        ByteBuffer reply = nativeBuffer(VhostUserCodec.HEADER_BYTES + 8);
        reply.putInt(FrontendRequest.SET_VRING_NUM.id()).putInt(HeaderFlags.VERSION | HeaderFlags.REPLY).putInt(8)
                .putLong(0).flip();
        ByteBuffer payload = reply.slice(VhostUserCodec.HEADER_BYTES, 8).order(ByteOrder.nativeOrder());
        Reply[] decoded = new Reply[1];
        long bytes = allocatedBy(() -> {
            try {
                reply.position(0);
                Header h = VhostUserCodec.decodeHeader(reply, Expect.REPLY);
                decoded[0] = VhostUserCodec.decodeReply(FrontendRequest.SET_VRING_NUM, h, payload, List.of(),
                        CodecOptions.DEFAULT);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(new Reply.U64(0), decoded[0]);
        assertTrue(bytes < SLACK_BYTES, bytes + " bytes for " + MESSAGES + " reply-acks");
    }

    @Test
    void encodingIntoAnEngineBufferAllocatesNothing() throws Exception {
        FrontendMessage message = new FrontendMessage.SetVringNum(new VringState(1, 256));
        Reply answer = new Reply.U64(0x1_4000_0003L);
        ByteBuffer out = nativeBuffer(VhostUserCodec.MAX_MESSAGE_BYTES);
        long bytes = allocatedBy(() -> {
            out.clear();
            List<Fd> fds = VhostUserCodec.encode(message, HeaderFlags.NEED_REPLY, out, CodecOptions.DEFAULT);
            out.clear();
            fds = VhostUserCodec.encodeReply(FrontendRequest.GET_FEATURES, answer, out, CodecOptions.DEFAULT);
            assertTrue(fds.isEmpty());
        });
        assertEquals(VhostUserCodec.HEADER_BYTES + 8, out.position(), "encodeReply moved past the reply");
        assertEquals(8, out.getInt(8), "size field");
        assertTrue(bytes < SLACK_BYTES, bytes + " bytes for " + MESSAGES + " requests and replies");
    }

    @Test
    void encodingAMemoryTableAllocatesNothing() throws Exception {
        List<MemoryRegion> regions = new ArrayList<>();
        List<Fd> fds = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            regions.add(new MemoryRegion(i * 0x10000L, 0x10000, 0x7f00_0000_0000L + i * 0x10000L,
                    0));
            fds.add(new TestFd(100 + i));
        }
        FrontendMessage message = new FrontendMessage.SetMemTable(new MemoryTable(regions), fds);
        ByteBuffer out = nativeBuffer(VhostUserCodec.MAX_MESSAGE_BYTES);
        long bytes = allocatedBy(() -> {
            out.clear();
            List<Fd> sent = VhostUserCodec.encode(message, HeaderFlags.NEED_REPLY, out, CodecOptions.DEFAULT);
            assertEquals(8, sent.size());
        });
        assertEquals(VhostUserCodec.HEADER_BYTES + 8 + 8 * 32, out.position(), "eight regions after the header");
        assertTrue(bytes < SLACK_BYTES, bytes + " bytes for " + MESSAGES + " SET_MEM_TABLE requests");
    }
}
