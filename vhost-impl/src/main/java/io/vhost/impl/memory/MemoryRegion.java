package io.vhost.impl.memory;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * One mapped guest memory region: its guest-physical address, size, front-end (VMM) user address, mmap offset and
 * the mapped bytes.
 *
 * <p>The caller maps the region fd at a page-aligned file offset and passes the whole mapping plus
 * {@code offsetInMapping}, the position of the region's first byte inside it (the mmap offset's remainder modulo the
 * page size, or more). The region does not own the mapping: the release action given to
 * {@link SharedGuestMemory#publish} does.
 *
 * @param guestAddress guest-physical address of the first byte (unsigned)
 * @param sizeBytes length in bytes, positive
 * @param userAddress front-end virtual address of the first byte, used to translate ring addresses (unsigned)
 * @param mmapOffset offset of the region in its fd, as sent by the front-end (informational)
 * @param mapping the mapped bytes; must contain {@code [offsetInMapping, offsetInMapping + sizeBytes)}
 * @param offsetInMapping where the region starts inside {@code mapping}
 */
public record MemoryRegion(long guestAddress, long sizeBytes, long userAddress, long mmapOffset,
                           MemorySegment mapping, long offsetInMapping) {

    /**
     * Validates the region.
     *
     * @throws IllegalArgumentException if the size is not positive, an address range wraps around 2^64, or the
     *     mapping is too small
     */
    public MemoryRegion {
        Objects.requireNonNull(mapping, "mapping");
        if (sizeBytes <= 0) {
            throw new IllegalArgumentException("memory region at GPA " + Hex.of(guestAddress) + " has size "
                    + Long.toUnsignedString(sizeBytes) + "; it must be positive and below 2^63");
        }
        if (Long.compareUnsigned(guestAddress + sizeBytes - 1, guestAddress) < 0) {
            throw new IllegalArgumentException("memory region at GPA " + Hex.of(guestAddress) + " size "
                    + Hex.of(sizeBytes) + " wraps around the guest address space");
        }
        if (Long.compareUnsigned(userAddress + sizeBytes - 1, userAddress) < 0) {
            throw new IllegalArgumentException("memory region at user address " + Hex.of(userAddress) + " size "
                    + Hex.of(sizeBytes) + " wraps around the front-end address space");
        }
        if (offsetInMapping < 0 || offsetInMapping > mapping.byteSize() - sizeBytes) {
            throw new IllegalArgumentException("memory region at GPA " + Hex.of(guestAddress) + " size "
                    + Hex.of(sizeBytes) + " at offset " + offsetInMapping + " does not fit its mapping of "
                    + mapping.byteSize() + " bytes");
        }
    }

    /**
     * Convenience for a region whose mapping is exactly its bytes.
     *
     * @param guestAddress guest-physical address
     * @param userAddress front-end user address
     * @param mapping the region's bytes
     * @return the region, with mmap offset 0
     */
    public static MemoryRegion of(long guestAddress, long userAddress, MemorySegment mapping) {
        return new MemoryRegion(guestAddress, mapping.byteSize(), userAddress, 0, mapping, 0);
    }

    /**
     * Returns the last guest-physical address of the region (inclusive).
     *
     * @return {@code guestAddress + sizeBytes - 1}
     */
    public long lastGuestAddress() {
        return guestAddress + sizeBytes - 1;
    }

    /**
     * Returns the last user address of the region (inclusive).
     *
     * @return {@code userAddress + sizeBytes - 1}
     */
    public long lastUserAddress() {
        return userAddress + sizeBytes - 1;
    }

    /**
     * Tells whether a guest-physical address lies inside the region.
     *
     * @param gpa the address
     * @return {@code true} if inside
     */
    public boolean containsGuest(long gpa) {
        return Long.compareUnsigned(gpa - guestAddress, sizeBytes) < 0;
    }

    /**
     * Returns how many bytes of the region lie at and after a guest-physical address inside it.
     *
     * @param gpa an address for which {@link #containsGuest} holds
     * @return {@code guestAddress + sizeBytes - gpa}
     */
    public long guestBytesFrom(long gpa) {
        return sizeBytes - (gpa - guestAddress);
    }

    /**
     * Tells whether a user address lies inside the region.
     *
     * @param uaddr the address
     * @return {@code true} if inside
     */
    public boolean containsUser(long uaddr) {
        return Long.compareUnsigned(uaddr - userAddress, sizeBytes) < 0;
    }

    /**
     * Describes the region for messages: {@code [GPA 0x1000..0x1fff, user 0x7f00..]}.
     *
     * @return a short description
     */
    public String describe() {
        return "[GPA " + Hex.of(guestAddress) + ".." + Hex.of(lastGuestAddress()) + ", user " + Hex.of(userAddress)
                + ".." + Hex.of(lastUserAddress()) + "]";
    }
}
