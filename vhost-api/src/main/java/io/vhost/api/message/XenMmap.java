package io.vhost.api.message;

/**
 * The two fields a memory region description gains when {@code XEN_MMAP} is negotiated.
 *
 * @param flags bit 0 foreign mapping, bit 1 grant mapping, bit 8 map on demand only (u32)
 * @param domid the Xen domain id (u32)
 */
public record XenMmap(long flags, long domid) {

    /** Bit 0: Xen foreign memory mapping. */
    public static final long FOREIGN = 0x1;
    /** Bit 1: Xen grant memory mapping. */
    public static final long GRANT = 0x2;
    /** Bit 8: the region must be mapped only on demand. */
    public static final long ON_DEMAND = 0x100;

    /** Checks u32 ranges, known flag bits, and that exactly one of FOREIGN and GRANT is set. */
    public XenMmap {
        Check.u32("xen_mmap_flags", flags);
        Check.u32("domid", domid);
        if ((flags & ~(FOREIGN | GRANT | ON_DEMAND)) != 0) {
            throw new IllegalArgumentException("xen_mmap_flags " + Check.hex(flags)
                    + " has unknown bits (known: 0x103)");
        }
        if (Long.bitCount(flags & (FOREIGN | GRANT)) != 1) {
            throw new IllegalArgumentException("xen_mmap_flags " + Check.hex(flags)
                    + " must set exactly one of FOREIGN (0x1) and GRANT (0x2)");
        }
    }
}
