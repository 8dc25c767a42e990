package io.vhost.impl.daemon;

import io.vhost.api.Fd;
import io.vhost.api.error.GuestMemoryException;
import io.vhost.api.error.NativeCallException;
import io.vhost.impl.memory.MemoryRegion;
import io.vhost.impl.memory.MemoryTable;
import io.vhost.impl.memory.SharedGuestMemory;
import io.vhost.impl.sys.Mapping;
import io.vhost.impl.sys.Mman;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The mapped guest memory regions of one session and the {@link SharedGuestMemory} that workers read them through.
 *
 * <p>Each region fd is mapped {@code MAP_SHARED} at its mmap offset rounded down to a page (the remainder becomes
 * the region's offset inside the mapping). A mapping is used by every published table that holds its region; it is
 * unmapped when the last such table is released, that is when the table was replaced and no worker still holds a
 * view of it. So {@code SET_MEM_TABLE}, {@code ADD_MEM_REG} and {@code REM_MEM_REG} can arrive while rings run.
 *
 * <p>Called from the session's request thread only; the published tables are read concurrently by workers.
 */
final class RegionMappings implements AutoCloseable {

    private static final long PAGE = 4096;

    /** One mapped region, shared by the tables that contain it. */
    private static final class Mapped {
        final MemoryRegion region;
        final Mapping mapping;
        final AtomicInteger tables = new AtomicInteger();

        Mapped(MemoryRegion region, Mapping mapping) {
            this.region = region;
            this.mapping = mapping;
        }

        void retain() {
            tables.incrementAndGet();
        }

        void release() {
            if (tables.decrementAndGet() == 0) {
                mapping.close();
            }
        }
    }

    private final SharedGuestMemory memory = new SharedGuestMemory();
    private List<Mapped> current = List.of();

    SharedGuestMemory memory() {
        return memory;
    }

    /**
     * Maps one region from its fd.
     *
     * @param region the wire region
     * @param fd its fd (not taken: the mapping outlives it)
     * @return the mapped region, not yet published
     */
    private static Mapped map(io.vhost.api.message.MemoryRegion region, Fd fd, String request)
            throws GuestMemoryException {
        long offset = region.mmapOffset();
        long aligned = offset & ~(PAGE - 1);
        long delta = offset - aligned;
        long size = region.sizeBytes();
        if (size <= 0 || size > Long.MAX_VALUE - delta) {
            throw new GuestMemoryException(request + ": region at GPA 0x" + Long.toHexString(region.guestAddress())
                    + " has size 0x" + Long.toHexString(size) + ", which cannot be mapped (limit 2^63 bytes)");
        }
        Mapping mapping;
        try {
            mapping = Mman.map(fd.number(), aligned, size + delta, true, "guest memory at GPA 0x"
                    + Long.toHexString(region.guestAddress()));
        } catch (NativeCallException e) {
            throw new GuestMemoryException(request + ": cannot map the region at GPA 0x"
                    + Long.toHexString(region.guestAddress()) + " size 0x" + Long.toHexString(size)
                    + " mmap offset 0x" + Long.toHexString(offset) + " from " + fd.role() + ": " + e.getMessage()
                    + "; the front-end must pass a mappable fd (memfd or shared file)", e);
        }
        try {
            return new Mapped(new MemoryRegion(region.guestAddress(), size, region.userAddress(), offset,
                    mapping.segment(), delta), mapping);
        } catch (IllegalArgumentException e) {
            mapping.close();
            throw new GuestMemoryException(request + ": " + e.getMessage(), e);
        }
    }

    /** {@code SET_MEM_TABLE}: replaces every region. */
    void replaceAll(List<io.vhost.api.message.MemoryRegion> regions, List<Fd> fds) throws GuestMemoryException {
        if (regions.size() != fds.size()) {
            throw new GuestMemoryException("SET_MEM_TABLE has " + regions.size() + " regions but " + fds.size()
                    + " fds; each region needs its fd");
        }
        List<Mapped> fresh = new ArrayList<>();
        try {
            for (int i = 0; i < regions.size(); i++) {
                fresh.add(map(regions.get(i), fds.get(i), "SET_MEM_TABLE"));
            }
            publish(fresh);
        } catch (GuestMemoryException | RuntimeException e) {
            fresh.forEach(m -> m.mapping.close());
            throw e;
        }
    }

    /** {@code ADD_MEM_REG}: adds one region to the current ones. */
    void add(io.vhost.api.message.MemoryRegion region, Fd fd) throws GuestMemoryException {
        Mapped added = map(region, fd, "ADD_MEM_REG");
        List<Mapped> next = new ArrayList<>(current);
        next.add(added);
        try {
            publish(next);
        } catch (GuestMemoryException | RuntimeException e) {
            added.mapping.close();
            throw e;
        }
    }

    /** {@code REM_MEM_REG}: removes the region with this guest address, size and user address. */
    void remove(io.vhost.api.message.MemoryRegion region) throws GuestMemoryException {
        List<Mapped> next = new ArrayList<>(current);
        boolean removed = next.removeIf(m -> m.region.guestAddress() == region.guestAddress()
                && m.region.sizeBytes() == region.sizeBytes() && m.region.userAddress() == region.userAddress());
        if (!removed) {
            throw new GuestMemoryException("REM_MEM_REG: no region at GPA 0x" + Long.toHexString(region.guestAddress())
                    + " size 0x" + Long.toHexString(region.sizeBytes()) + " user address 0x"
                    + Long.toHexString(region.userAddress()) + " is mapped; current table: " + memory.peek());
        }
        publish(next);
    }

    private void publish(List<Mapped> next) throws GuestMemoryException {
        MemoryTable table = MemoryTable.of(next.stream().map(m -> m.region).toList());
        List<Mapped> held = List.copyOf(next);
        held.forEach(Mapped::retain);
        memory.publish(table, () -> held.forEach(Mapped::release));
        current = held;
    }

    /** Releases the current table; its mappings go once no worker view holds them. */
    @Override
    public void close() {
        memory.close();
        current = List.of();
    }
}
