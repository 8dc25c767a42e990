package io.vhost.api.device;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Reads and writes the guest's memory by guest-physical address (GPA), as laid out by the front-end's
 * {@code VHOST_USER_SET_MEM_TABLE}, {@code ADD_MEM_REG} and {@code REM_MEM_REG}.
 *
 * <p>An access may span several memory regions; it is split per region. Every access is bounds-checked: an address
 * range that is not entirely backed by guest memory raises {@link GuestMemoryException} naming the address, the
 * length and the nearest region, and nothing is copied. A view is valid only while the caller holds it (see the
 * implementation's acquire/release guard); after that, accesses fail with {@link GuestMemoryException}.
 *
 * <p>Thread-safety: a view may be used by several threads; concurrent writes to the same guest bytes race as they
 * would in the guest.
 */
public interface GuestMemory {

    /**
     * Copies {@code destination.byteSize()} bytes starting at {@code guestAddress} into {@code destination}.
     *
     * @param guestAddress the guest-physical address of the first byte (unsigned)
     * @param destination where to copy; the caller owns it
     * @throws GuestMemoryException if any byte of the range is not backed by guest memory
     */
    void read(long guestAddress, MemorySegment destination) throws GuestMemoryException;

    /**
     * Copies {@code source.byteSize()} bytes from {@code source} to guest memory at {@code guestAddress}. When
     * migration logging is active the written pages are marked dirty.
     *
     * @param guestAddress the guest-physical address of the first byte (unsigned)
     * @param source what to copy; the caller owns it
     * @throws GuestMemoryException if any byte of the range is not backed by guest memory
     */
    void write(long guestAddress, MemorySegment source) throws GuestMemoryException;

    /**
     * Fills the remaining bytes of {@code destination} from guest memory at {@code guestAddress} and advances its
     * position.
     *
     * @param guestAddress the guest-physical address of the first byte (unsigned)
     * @param destination where to copy
     * @throws GuestMemoryException if any byte of the range is not backed by guest memory
     */
    default void read(long guestAddress, ByteBuffer destination) throws GuestMemoryException {
        int n = destination.remaining();
        read(guestAddress, MemorySegment.ofBuffer(destination));
        destination.position(destination.position() + n);
    }

    /**
     * Copies the remaining bytes of {@code source} to guest memory at {@code guestAddress} and advances its position.
     *
     * @param guestAddress the guest-physical address of the first byte (unsigned)
     * @param source what to copy
     * @throws GuestMemoryException if any byte of the range is not backed by guest memory
     */
    default void write(long guestAddress, ByteBuffer source) throws GuestMemoryException {
        int n = source.remaining();
        write(guestAddress, MemorySegment.ofBuffer(source));
        source.position(source.position() + n);
    }
}
