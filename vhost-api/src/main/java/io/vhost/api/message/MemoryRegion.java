package io.vhost.api.message;

import java.util.Objects;
import java.util.Optional;

/**
 * One memory region description (spec §Memory region description), in {@code SET_MEM_TABLE}, {@code ADD_MEM_REG}
 * and {@code REM_MEM_REG}; 32 bytes on the wire, 40 with {@code XEN_MMAP}.
 *
 * @param guestAddress guest physical address of the region
 * @param sizeBytes size of the region, non-zero
 * @param userAddress front-end user address (the guest address with GPA_ADDRESSES)
 * @param mmapOffset offset of the region in the fd
 * @param xen the Xen fields, present exactly when XEN_MMAP is negotiated
 */
public record MemoryRegion(long guestAddress, long sizeBytes, long userAddress, long mmapOffset,
        Optional<XenMmap> xen) {

    /** Checks size != 0 and that neither guest, user nor mmap range wraps past 2^64. */
    public MemoryRegion {
        Objects.requireNonNull(xen, "xen");
        if (sizeBytes == 0) {
            throw new IllegalArgumentException("memory region at guest address " + Check.hex(guestAddress)
                    + " has size 0");
        }
        Check.noWrap("memory region", "guest address", guestAddress, sizeBytes);
        Check.noWrap("memory region", "user address", userAddress, sizeBytes);
        Check.noWrap("memory region", "mmap offset", mmapOffset, sizeBytes);
    }

    /**
     * Creates a region without Xen fields.
     *
     * @param guestAddress guest physical address
     * @param sizeBytes size, non-zero
     * @param userAddress front-end user address
     * @param mmapOffset offset in the fd
     */
    public MemoryRegion(long guestAddress, long sizeBytes, long userAddress, long mmapOffset) {
        this(guestAddress, sizeBytes, userAddress, mmapOffset, Optional.empty());
    }
}
