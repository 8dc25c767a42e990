package io.vhost.impl.frontend;

import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.error.NativeCallException;
import io.vhost.api.frontend.SharedRegion;
import io.vhost.api.message.MemoryRegion;
import io.vhost.impl.sys.Mapping;
import io.vhost.impl.sys.Mman;
import io.vhost.impl.sys.OwnedFd;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest memory as a VMM holds it, for tests and benchmarks: one or more memfd-backed regions at consecutive guest
 * physical addresses, mapped shared into this process, described for {@code SET_MEM_TABLE} by {@link #regions()}.
 * A bump allocator hands out guest addresses for rings and buffers.
 *
 * <p>Owns its memfds and mappings; {@link #close()} releases them (a back-end keeps its own mapping). Allocation is
 * thread-safe; reads and writes through {@link #segment} are the caller's to coordinate.
 */
public final class VmmMemory implements AutoCloseable {

    /** One region: guest address range, its memfd and our mapping. */
    private record Region(long guestAddress, long sizeBytes, OwnedFd fd, Mapping mapping) {
    }

    private final List<Region> regions;
    private long next;

    private VmmMemory(List<Region> regions, long start) {
        this.regions = regions;
        this.next = start;
    }

    /**
     * Creates guest memory of one region per size, the first at guest address {@code baseGuestAddress}, each next
     * one right after the previous.
     *
     * @param baseGuestAddress guest physical address of the first region, page aligned
     * @param regionSizes the size of each region, page multiples, 1 to 8 regions
     * @return the memory, owned by the caller
     * @throws NativeCallException if memfd_create, ftruncate or mmap fails
     */
    public static VmmMemory create(long baseGuestAddress, long... regionSizes) throws NativeCallException {
        if (regionSizes.length == 0 || regionSizes.length > 8) {
            throw new IllegalArgumentException("guest memory needs 1 to 8 regions, got " + regionSizes.length);
        }
        List<Region> made = new ArrayList<>();
        boolean ok = false;
        try {
            long gpa = baseGuestAddress;
            for (int i = 0; i < regionSizes.length; i++) {
                long size = regionSizes[i];
                if (size <= 0 || size % 4096 != 0) {
                    throw new IllegalArgumentException("region " + i + " size " + size + " is not a positive multiple"
                            + " of 4096");
                }
                OwnedFd fd = Mman.memfd("vhost-guest-ram-" + i, size);
                try {
                    made.add(new Region(gpa, size, fd, Mman.map(fd.number(), 0, size, true, "guest RAM region " + i)));
                } catch (NativeCallException | RuntimeException e) {
                    fd.close();
                    throw e;
                }
                gpa += size;
            }
            ok = true;
            return new VmmMemory(List.copyOf(made), baseGuestAddress);
        } finally {
            if (!ok) {
                for (Region r : made) {
                    r.mapping().close();
                    r.fd().close();
                }
            }
        }
    }

    /**
     * Creates one region of {@code sizeBytes} at guest address 0.
     *
     * @param sizeBytes a multiple of 4096
     * @return the memory
     * @throws NativeCallException if the memfd cannot be created or mapped
     */
    public static VmmMemory create(long sizeBytes) throws NativeCallException {
        return create(0, sizeBytes);
    }

    /**
     * Describes the regions for {@code SET_MEM_TABLE}: guest address, size, our user address, offset 0, memfd.
     *
     * @return one shared region per memfd; the fds stay owned by this object
     */
    public List<SharedRegion> regions() {
        List<SharedRegion> out = new ArrayList<>();
        for (Region r : regions) {
            out.add(new SharedRegion(new MemoryRegion(r.guestAddress(), r.sizeBytes(),
                    r.mapping().segment().address(), 0), r.fd()));
        }
        return out;
    }

    /**
     * Allocates guest memory (never freed before close).
     *
     * @param sizeBytes how much
     * @param align the alignment, a power of two
     * @return the guest physical address
     * @throws IllegalStateException if the memory is exhausted or the block would straddle two regions
     */
    public synchronized long allocate(long sizeBytes, long align) {
        long start = (next + align - 1) & -align;
        for (Region r : regions) {
            long end = r.guestAddress() + r.sizeBytes();
            if (start >= r.guestAddress() && start < end) {
                if (start + sizeBytes > end) {
                    Region after = regions.stream().filter(x -> x.guestAddress() == end).findFirst().orElse(null);
                    if (after == null) {
                        throw new IllegalStateException("guest memory exhausted: " + sizeBytes + " bytes at 0x"
                                + Long.toHexString(start) + " do not fit");
                    }
                    start = (after.guestAddress() + align - 1) & -align;
                    continue;
                }
                next = start + sizeBytes;
                return start;
            }
        }
        throw new IllegalStateException("guest memory exhausted: cannot allocate " + sizeBytes + " bytes");
    }

    /**
     * Returns the bytes at a guest address, within one region.
     *
     * @param guestAddress the guest physical address
     * @param length the byte count
     * @return a slice of our mapping
     * @throws GuestMemoryException if the range is not inside one region
     */
    public MemorySegment segment(long guestAddress, long length) throws GuestMemoryException {
        for (Region r : regions) {
            if (guestAddress >= r.guestAddress() && length >= 0
                    && guestAddress - r.guestAddress() + length <= r.sizeBytes()) {
                return r.mapping().segment().asSlice(guestAddress - r.guestAddress(), length);
            }
        }
        throw new GuestMemoryException("guest range 0x" + Long.toHexString(guestAddress) + "+" + length
                + " is not inside one guest memory region");
    }

    /**
     * Translates a guest address to our (front-end user) address, as {@code SET_VRING_ADDR} wants.
     *
     * @param guestAddress the guest physical address
     * @return the address in this process
     * @throws GuestMemoryException if the address is outside guest memory
     */
    public long userAddress(long guestAddress) throws GuestMemoryException {
        return segment(guestAddress, 0).address();
    }

    /** Unmaps and closes every region. Idempotent. */
    @Override
    public void close() {
        for (Region r : regions) {
            r.mapping().close();
            r.fd().close();
        }
    }
}
