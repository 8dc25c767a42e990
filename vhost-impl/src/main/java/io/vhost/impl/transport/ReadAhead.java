package io.vhost.impl.transport;

import io.vhost.api.Fd;
import io.vhost.api.error.ProtocolViolationException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The read-ahead buffer behind {@link Connection#receiveMessage} on the FFM transport: one {@code recvmsg} takes every
 * byte the socket holds (up to {@value #CAPACITY} bytes), so a header and its payload, or a run of pipelined one-way
 * requests, cost one system call instead of two per message.
 *
 * <p>Descriptors. The kernel returns a message's descriptors with the first bytes of the {@code sendmsg} that carried
 * them and ends that read after it, so the descriptors of a read belong to the last message that starts within the
 * read's bytes (every known front-end sends one message per {@code sendmsg}). The buffer walks the headers it holds
 * (the size field, bytes 8-11) from the next unread message to find that start, and hands the descriptors out with
 * that message's header. Descriptors that arrive with bytes in which no message starts broke the framing rule
 * ("descriptors only with a header"): the read fails with a {@link ProtocolViolationException}, closing them. A
 * sender that packed two messages into one {@code sendmsg} with the descriptors of the first would have them handed
 * to the second; the codec's per-request descriptor counts then reject the exchange (a clean disconnect, never a
 * descriptor silently used for another request).
 *
 * <p>Not thread-safe: the connection's receive lock guards it. Stream offsets are absolute ({@code long}), so
 * compacting the buffer moves no bookkeeping.
 */
final class ReadAhead implements AutoCloseable {

    /**
     * Buffer size: room for every request but a large configuration space or crypto session (a SET_MEM_TABLE of 8
     * regions is 276 bytes), and for a run of about 100 small ones. Every receiving connection has one, resident from
     * the start (the allocation zeroes it): 64 KiB were half of an idle session's memory outside the heap (116 KiB per
     * session pair at 1 000 sessions; 63 KiB with 8 KiB, 41 KiB with 2 KiB, the message buffers' cut included), and
     * took no more messages per read that mattered in the pipelined one-way benchmark (8 KiB: 1.13, 2 KiB: 1.145 µs per
     * message, 6 interleaved rounds). A larger payload is read straight into the caller's buffer ({@link #skipped}).
     */
    static final int CAPACITY = 2 * 1024;
    static final int HEADER_BYTES = 12;
    private static final ValueLayout.OfInt SIZE_FIELD = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder());

    /** Descriptors received with the message whose header starts at stream offset {@code at}. */
    private record PendingFds(long at, List<Fd> fds) {
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(CAPACITY, 8);
    private final ByteBuffer view = buffer.asByteBuffer(); // copies out without a segment per copy
    private final ArrayDeque<PendingFds> pending = new ArrayDeque<>();
    private long base; // stream offset of buffer[0]
    private int start; // first unread byte
    private int end; // one past the last buffered byte
    private long nextHeader; // stream offset of the next message's header

    /** Bytes buffered and not yet handed out. */
    int available() {
        return end - start;
    }

    /**
     * Moves the unread bytes to the front if that makes room; then the free room is {@link #roomLength()} bytes of
     * {@link #segment()} from {@link #roomOffset()}.
     */
    void makeRoom() {
        if (start > 0 && (end == CAPACITY || start == end)) {
            MemorySegment.copy(buffer, start, buffer, 0, end - start);
            base += start;
            end -= start;
            start = 0;
        }
    }

    /** The whole buffer (reads go into its free room, see {@link #makeRoom()}). */
    MemorySegment segment() {
        return buffer;
    }

    /** Where the free room starts in {@link #segment()}. */
    int roomOffset() {
        return end;
    }

    /** How many bytes the free room holds. */
    int roomLength() {
        return CAPACITY - end;
    }

    /**
     * Records a read of {@code n} bytes into the free room and the descriptors that came with it.
     *
     * @param n bytes read, at least 1
     * @param fds the descriptors of this read, owned from now on by this buffer (empty if none)
     * @param description the connection, for messages
     * @throws ProtocolViolationException if descriptors came with bytes in which no message starts (they are closed)
     */
    void added(int n, List<Fd> fds, String description) throws ProtocolViolationException {
        long readFrom = base + end;
        end += n;
        if (fds.isEmpty()) {
            return;
        }
        long readTo = base + end;
        long at = nextHeader;
        while (at >= base + start && at + HEADER_BYTES <= readTo) {
            long next = at + HEADER_BYTES + Integer.toUnsignedLong(buffer.get(SIZE_FIELD, at - base + 8));
            if (next >= readTo) {
                break;
            }
            at = next;
        }
        if (at < readFrom || at >= readTo) {
            Frames.closeAll(fds);
            throw Frames.fdsInPayload(description, fds.size());
        }
        pending.add(new PendingFds(at, fds));
    }

    /**
     * Hands out the next header (the caller made sure {@value #HEADER_BYTES} bytes are buffered).
     *
     * @param header receives the 12 bytes at its position
     * @return the descriptors of this message, owned by the caller
     */
    List<Fd> takeHeader(ByteBuffer header) {
        long at = base + start;
        copyOut(header, HEADER_BYTES);
        nextHeader = at + HEADER_BYTES + Integer.toUnsignedLong(buffer.get(SIZE_FIELD, start - HEADER_BYTES + 8L));
        PendingFds p = pending.peek();
        if (p != null && p.at() == at) {
            pending.poll();
            return p.fds();
        }
        return List.of();
    }

    /**
     * Returns the payload size of the header just taken.
     *
     * @return bytes, as an unsigned 32-bit value
     */
    long lastPayloadSize() {
        return nextHeader - (base + start);
    }

    /**
     * Hands out {@code length} buffered payload bytes (the caller made sure they are buffered).
     *
     * @param payload receives them at its position
     * @param length how many
     */
    void takePayload(ByteBuffer payload, int length) {
        copyOut(payload, length);
    }

    /**
     * Records that the next {@code n} bytes of the stream went straight to the caller, bypassing this buffer (the
     * rest of a payload larger than it); the buffer must hold no unread byte.
     *
     * @param n bytes read elsewhere
     * @throws IllegalStateException if unread bytes are buffered
     */
    void skipped(long n) {
        if (start != end) {
            throw new IllegalStateException((end - start) + " unread bytes are buffered; cannot skip " + n);
        }
        base += end + n;
        start = 0;
        end = 0;
    }

    private void copyOut(ByteBuffer target, int length) {
        int at = target.position();
        target.put(at, view, start, length);
        target.position(at + length);
        start += length;
    }

    /** Closes the descriptors nobody took and frees the buffer. */
    @Override
    public void close() {
        List<Fd> left = new ArrayList<>();
        for (PendingFds p : pending) {
            left.addAll(p.fds());
        }
        pending.clear();
        Frames.closeAll(left);
        arena.close();
    }
}
