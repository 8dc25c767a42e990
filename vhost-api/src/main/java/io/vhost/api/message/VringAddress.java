package io.vhost.api.message;

/**
 * A ring's addresses, the payload of {@code SET_VRING_ADDR}, laid out as the kernel's {@code struct vhost_vring_addr}
 * (index, flags, desc, used, avail, log: used comes before avail). Addresses are front-end user addresses, IOVAs
 * with ACCESS_PLATFORM, or guest physical addresses with GPA_ADDRESSES.
 *
 * @param index the ring index (u32)
 * @param flags only bit 0, {@link #F_LOG}, is defined
 * @param descAddress address of the descriptor table
 * @param usedAddress address of the used ring
 * @param availAddress address of the available ring
 * @param logGuestAddress guest address of the used ring for dirty logging (with {@link #F_LOG})
 */
public record VringAddress(long index, long flags, long descAddress, long usedAddress, long availAddress,
        long logGuestAddress) {

    /** {@code VHOST_VRING_F_LOG}: log writes to the used ring at {@code logGuestAddress}. */
    public static final long F_LOG = 0x1;

    /** Checks the index is a u32 and no flag other than {@link #F_LOG} is set. */
    public VringAddress {
        Check.u32("vring index", index);
        Check.u32("flags", flags);
        if ((flags & ~F_LOG) != 0) {
            throw new IllegalArgumentException("vring flags " + Check.hex(flags) + " has unknown bits (known: 0x1 LOG)");
        }
    }
}
