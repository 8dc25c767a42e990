package io.vhost.impl.codec;

import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A direct, native-order buffer that one sender encodes its messages into: {@value #INITIAL_BYTES} bytes at first,
 * grown once to {@link VhostUserCodec#MAX_MESSAGE_BYTES} when a message does not fit. Nearly every vhost-user message
 * is far below the largest one (4 120 bytes, a full configuration space): a SET_MEM_TABLE of 8 regions is 276 bytes.
 * A buffer of the largest size for each of a session's senders was a third of an idle session's native memory,
 * resident from the start because direct buffers are zeroed.
 *
 * <p>Encode through {@link VhostUserCodec}'s {@code OutBuffer} overloads, which retry a message that overflowed in
 * the grown buffer and leave {@link #buffer()} flipped for sending. Not thread-safe: one sender (under its lock) owns
 * it.
 */
public final class OutBuffer {

    /** The first size, enough for every message a session sends in practice. */
    public static final int INITIAL_BYTES = 512;

    private ByteBuffer buffer;

    /** Allocates the first, small buffer. */
    public OutBuffer() {
        this(INITIAL_BYTES);
    }

    OutBuffer(int initialBytes) {
        buffer = allocate(initialBytes);
    }

    /**
     * Returns the current buffer: after an encode, the message, flipped for sending.
     *
     * @return the buffer; it changes once, when it grows
     */
    public ByteBuffer buffer() {
        return buffer;
    }

    /**
     * Returns the current buffer cleared, to write a message into from position 0.
     *
     * @return the buffer
     */
    public ByteBuffer cleared() {
        return buffer.clear();
    }

    /** Flips the buffer after a message was written and returns {@code result}. */
    <T> T flipped(T result) {
        buffer.flip();
        return result;
    }

    /**
     * Grows to the largest message after {@code overflow}, or rethrows it if the buffer has that size already (the
     * message is larger than any vhost-user message).
     *
     * @return the new buffer, cleared
     */
    ByteBuffer grownAfter(BufferOverflowException overflow) {
        if (buffer.capacity() >= VhostUserCodec.MAX_MESSAGE_BYTES) {
            throw overflow;
        }
        buffer = allocate(VhostUserCodec.MAX_MESSAGE_BYTES);
        return buffer;
    }

    private static ByteBuffer allocate(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }
}
