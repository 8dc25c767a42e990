package io.vhost.api.device;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * One available descriptor chain popped from a {@link Virtqueue}: the device-readable buffers (the request) followed
 * by the device-writable buffers (the response), each possibly split across guest memory regions.
 *
 * <p>The readable bytes form one logical byte sequence of {@link #readableBytes()} bytes, the writable bytes another
 * of {@link #writableBytes()} bytes; offsets in {@link #read} and {@link #write} are positions in those sequences.
 * All descriptors were validated when the chain was popped (indices, loops, lengths, addresses); reads and writes are
 * still bounds-checked.
 *
 * <p>A chain is valid until it is returned with {@link Virtqueue#addUsed(DescriptorChain, long)} and only while the
 * guest memory it was popped from is still held; it is not thread-safe (hand it to one thread at a time). Once
 * returned, the object may be reused for a chain popped later (so that popping allocates nothing): do not keep it.
 */
public interface DescriptorChain {

    /**
     * Returns the index of the chain's first descriptor in the descriptor table, the id written to the used ring.
     *
     * @return the head index, {@code 0 <= head < queue size}
     */
    int headIndex();

    /**
     * Returns the total length of the device-readable buffers.
     *
     * @return the readable byte count, at most {@code 2^32 - 1}
     */
    long readableBytes();

    /**
     * Returns the total length of the device-writable buffers.
     *
     * @return the writable byte count, at most {@code 2^32 - 1}
     */
    long writableBytes();

    /**
     * Copies {@code destination.byteSize()} readable bytes, starting {@code offset} bytes into the readable sequence,
     * into {@code destination}.
     *
     * @param offset position in the readable sequence
     * @param destination where to copy
     * @throws IndexOutOfBoundsException if {@code offset < 0} or the range ends past {@link #readableBytes()}
     * @throws GuestMemoryException if the guest memory was unmapped meanwhile
     */
    void read(long offset, MemorySegment destination) throws GuestMemoryException;

    /**
     * Copies {@code source.byteSize()} bytes into the writable sequence, starting {@code offset} bytes into it.
     * Written pages are marked in the migration dirty log when logging is active.
     *
     * @param offset position in the writable sequence
     * @param source what to copy
     * @throws IndexOutOfBoundsException if {@code offset < 0} or the range ends past {@link #writableBytes()}
     * @throws GuestMemoryException if the guest memory was unmapped meanwhile
     */
    void write(long offset, MemorySegment source) throws GuestMemoryException;

    /**
     * Fills the remaining bytes of {@code destination} from the readable sequence at {@code offset} and advances its
     * position.
     *
     * @param offset position in the readable sequence
     * @param destination where to copy
     * @throws IndexOutOfBoundsException if the range ends past {@link #readableBytes()}
     * @throws GuestMemoryException if the guest memory was unmapped meanwhile
     */
    default void read(long offset, ByteBuffer destination) throws GuestMemoryException {
        int n = destination.remaining();
        read(offset, MemorySegment.ofBuffer(destination));
        destination.position(destination.position() + n);
    }

    /**
     * Copies the remaining bytes of {@code source} into the writable sequence at {@code offset} and advances its
     * position.
     *
     * @param offset position in the writable sequence
     * @param source what to copy
     * @throws IndexOutOfBoundsException if the range ends past {@link #writableBytes()}
     * @throws GuestMemoryException if the guest memory was unmapped meanwhile
     */
    default void write(long offset, ByteBuffer source) throws GuestMemoryException {
        int n = source.remaining();
        write(offset, MemorySegment.ofBuffer(source));
        source.position(source.position() + n);
    }
}
