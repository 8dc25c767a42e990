package io.vhost.impl.memory;

import io.vhost.api.error.GuestMemoryException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * An immutable set of guest memory regions with bounds-checked translation.
 *
 * <p>Regions are sorted by guest-physical address and must not overlap, neither in guest-physical space nor in the
 * front-end's user address space. Translation is clamped to one region (as libvhost-user's {@code vu_gpa_to_va}):
 * {@link #slice} requires the whole range inside one region, {@link #sliceClamped} returns the part inside the
 * region holding the first byte, and {@link #read}/{@link #write} split a range across regions explicitly.
 *
 * <p>Lookups are a binary search (skipped when a caller's hint names the right region) and allocate nothing;
 * {@code slice*} methods allocate the returned segment view.
 * Thread-safe (immutable). Does not own the mappings.
 */
public final class MemoryTable {

    /** Maximum number of regions, as {@code VHOST_USER_GET_MAX_MEM_SLOTS} in libvhost-user and rust-vmm. */
    public static final int MAX_REGIONS = 509;

    private static final MemoryTable EMPTY = new MemoryTable(new MemoryRegion[0]);

    private final MemoryRegion[] byGuest;
    private final MemoryRegion[] byUser;

    private MemoryTable(MemoryRegion[] sortedByGuest) {
        this.byGuest = sortedByGuest;
        this.byUser = sortedByGuest.clone();
        Arrays.sort(byUser, Comparator.comparing(MemoryRegion::userAddress, Long::compareUnsigned));
    }

    /**
     * Returns the table without regions.
     *
     * @return the empty table
     */
    public static MemoryTable empty() {
        return EMPTY;
    }

    /**
     * Builds a table from regions in any order.
     *
     * @param regions the regions
     * @return the table
     * @throws GuestMemoryException if there are more than {@value #MAX_REGIONS} regions or two of them overlap in
     *     guest-physical or user address space
     */
    public static MemoryTable of(List<MemoryRegion> regions) throws GuestMemoryException {
        if (regions.size() > MAX_REGIONS) {
            throw new GuestMemoryException("memory table has " + regions.size() + " regions, more than the "
                    + MAX_REGIONS + " supported; rejected");
        }
        MemoryRegion[] sorted = regions.toArray(MemoryRegion[]::new);
        Arrays.sort(sorted, Comparator.comparing(MemoryRegion::guestAddress, Long::compareUnsigned));
        for (int i = 1; i < sorted.length; i++) {
            if (Long.compareUnsigned(sorted[i].guestAddress(), sorted[i - 1].lastGuestAddress()) <= 0) {
                throw new GuestMemoryException("memory region " + sorted[i].describe() + " overlaps region "
                        + sorted[i - 1].describe() + " in guest-physical space; memory table rejected");
            }
        }
        MemoryTable table = new MemoryTable(sorted);
        MemoryRegion[] u = table.byUser;
        for (int i = 1; i < u.length; i++) {
            if (Long.compareUnsigned(u[i].userAddress(), u[i - 1].lastUserAddress()) <= 0) {
                throw new GuestMemoryException("memory region " + u[i].describe() + " overlaps region "
                        + u[i - 1].describe() + " in front-end user address space; memory table rejected");
            }
        }
        return table;
    }

    /**
     * Returns a new table with one more region ({@code VHOST_USER_ADD_MEM_REG}).
     *
     * @param region the region to add
     * @return the new table; this one is unchanged
     * @throws GuestMemoryException if the region overlaps an existing one or the table is full
     */
    public MemoryTable withRegion(MemoryRegion region) throws GuestMemoryException {
        List<MemoryRegion> list = new ArrayList<>(Arrays.asList(byGuest));
        list.add(region);
        return of(list);
    }

    /**
     * Returns a new table without the region of exactly this guest address and size ({@code REM_MEM_REG}).
     *
     * @param guestAddress the region's guest-physical address
     * @param sizeBytes the region's size
     * @return the new table; this one is unchanged
     * @throws GuestMemoryException if no region matches
     */
    public MemoryTable withoutRegion(long guestAddress, long sizeBytes) throws GuestMemoryException {
        List<MemoryRegion> list = new ArrayList<>(Arrays.asList(byGuest));
        boolean removed = list.removeIf(r -> r.guestAddress() == guestAddress && r.sizeBytes() == sizeBytes);
        if (!removed) {
            throw new GuestMemoryException("REM_MEM_REG: no region at GPA " + Hex.of(guestAddress) + " with size "
                    + Hex.of(sizeBytes) + "; nearest " + nearest(guestAddress));
        }
        return of(list);
    }

    /**
     * Returns the number of regions.
     *
     * @return the region count
     */
    public int regionCount() {
        return byGuest.length;
    }

    /**
     * Returns a region by its position in guest-physical order.
     *
     * @param index {@code 0 <= index < regionCount()}
     * @return the region
     */
    public MemoryRegion region(int index) {
        return byGuest[index];
    }

    /**
     * Returns all regions in guest-physical order.
     *
     * @return an unmodifiable list
     */
    public List<MemoryRegion> regions() {
        return List.of(byGuest);
    }

    /**
     * Finds the region holding a guest-physical address.
     *
     * @param gpa the address
     * @return its index in guest-physical order, or {@code -1}
     */
    public int indexOfGuest(long gpa) {
        int i = floor(byGuest, gpa, true);
        return i >= 0 && byGuest[i].containsGuest(gpa) ? i : -1;
    }

    /**
     * Finds the region holding a guest-physical address, trying a hinted region first. Callers that translate many
     * addresses in a row pass the index this method returned last: the buffers of a burst mostly lie in one region,
     * so the binary search is skipped while the hint holds. Any hint is safe: a wrong, stale or out-of-range one
     * only costs the search.
     *
     * @param gpa the address
     * @param hint a region index to try first, any value
     * @return its index in guest-physical order, or {@code -1}
     */
    public int indexOfGuest(long gpa, int hint) {
        MemoryRegion[] regions = byGuest;
        if (hint >= 0 && hint < regions.length && regions[hint].containsGuest(gpa)) {
            return hint;
        }
        return indexOfGuest(gpa);
    }

    private static int floor(MemoryRegion[] array, long address, boolean guest) {
        int lo = 0;
        int hi = array.length - 1;
        int found = -1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            long start = guest ? array[mid].guestAddress() : array[mid].userAddress();
            if (Long.compareUnsigned(start, address) <= 0) {
                found = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return found;
    }

    /**
     * Returns how many bytes starting at {@code gpa} lie in the region holding {@code gpa}.
     *
     * @param gpa the address
     * @param length the wanted length (unsigned)
     * @return {@code min(length, bytes left in the region)}, or {@code -1} if {@code gpa} is not mapped
     */
    public long clampedLength(long gpa, long length) {
        int i = indexOfGuest(gpa);
        if (i < 0) {
            return -1;
        }
        long left = byGuest[i].guestBytesFrom(gpa);
        return Long.compareUnsigned(length, left) <= 0 ? length : left;
    }

    /**
     * Translates a guest-physical range that must lie inside one region.
     *
     * @param gpa the first address
     * @param length the length in bytes
     * @return a slice of the region's mapping
     * @throws GuestMemoryException if the range is not entirely inside one region
     */
    public MemorySegment slice(long gpa, long length) throws GuestMemoryException {
        int i = indexOfGuest(gpa);
        if (i < 0 || length < 0 || length > byGuest[i].guestBytesFrom(gpa)) {
            throw outside("guest address", gpa, length, nearest(gpa), i >= 0 ? " (crosses the region's end)" : "");
        }
        MemoryRegion r = byGuest[i];
        return r.mapping().asSlice(r.offsetInMapping() + (gpa - r.guestAddress()), length);
    }

    /**
     * Translates the part of a guest-physical range that lies in the region holding its first byte.
     *
     * @param gpa the first address
     * @param length the wanted length
     * @return a slice of at most {@code length} bytes, shorter if the region ends first
     * @throws GuestMemoryException if {@code gpa} is not mapped
     */
    public MemorySegment sliceClamped(long gpa, long length) throws GuestMemoryException {
        long n = clampedLength(gpa, length);
        if (n < 0) {
            throw outside("guest address", gpa, length, nearest(gpa), "");
        }
        return slice(gpa, n);
    }

    /**
     * Translates a guest-physical range into one slice per region it touches.
     *
     * @param gpa the first address
     * @param length the length in bytes
     * @return the slices in address order
     * @throws GuestMemoryException if any byte is not mapped
     */
    public List<MemorySegment> slices(long gpa, long length) throws GuestMemoryException {
        checkRange(gpa, length);
        List<MemorySegment> out = new ArrayList<>(2);
        long done = 0;
        while (done < length) {
            MemorySegment s = sliceClamped(gpa + done, length - done);
            out.add(s);
            done += s.byteSize();
        }
        return out;
    }

    /**
     * Checks that every byte of a guest-physical range is mapped, possibly across several regions.
     *
     * @param gpa the first address
     * @param length the length in bytes, not negative
     * @throws GuestMemoryException if the range wraps around or a byte is not mapped
     */
    public void checkRange(long gpa, long length) throws GuestMemoryException {
        if (length < 0 || (length > 0 && Long.compareUnsigned(gpa + length - 1, gpa) < 0)) {
            throw new GuestMemoryException("guest address " + Hex.of(gpa) + " length " + Long.toUnsignedString(length)
                    + " wraps around the guest address space");
        }
        long done = 0;
        while (done < length) {
            long n = clampedLength(gpa + done, length - done);
            if (n < 0) {
                throw outside("guest address", gpa, length, nearest(gpa + done),
                        done == 0 ? "" : " (unmapped from " + Hex.of(gpa + done) + ")");
            }
            done += n;
        }
    }

    /**
     * Copies guest memory into {@code destination}, splitting the range across regions.
     *
     * @param gpa the first address
     * @param destination where to copy; its size is the length
     * @throws GuestMemoryException if a byte is not mapped or the mapping was released
     */
    public void read(long gpa, MemorySegment destination) throws GuestMemoryException {
        long length = destination.byteSize();
        checkRange(gpa, length);
        long done = 0;
        while (done < length) {
            long a = gpa + done;
            MemoryRegion r = byGuest[indexOfGuest(a)];
            long n = Math.min(length - done, r.guestBytesFrom(a));
            copy(r.mapping(), r.offsetInMapping() + (a - r.guestAddress()), destination, done, n, a);
            done += n;
        }
    }

    /**
     * Copies {@code source} into guest memory, splitting the range across regions. Does not log dirty pages.
     *
     * @param gpa the first address
     * @param source what to copy
     * @throws GuestMemoryException if a byte is not mapped or the mapping was released
     */
    public void write(long gpa, MemorySegment source) throws GuestMemoryException {
        long length = source.byteSize();
        checkRange(gpa, length);
        long done = 0;
        while (done < length) {
            long a = gpa + done;
            MemoryRegion r = byGuest[indexOfGuest(a)];
            long n = Math.min(length - done, r.guestBytesFrom(a));
            copy(source, done, r.mapping(), r.offsetInMapping() + (a - r.guestAddress()), n, a);
            done += n;
        }
    }

    static void copy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long n, long gpa)
            throws GuestMemoryException {
        try {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, n);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            throw new GuestMemoryException("guest memory at " + Hex.of(gpa) + " length " + n
                    + " is no longer accessible (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Finds the region holding a front-end user address.
     *
     * @param uaddr the user address
     * @return the region, or {@code null}
     */
    public MemoryRegion regionOfUser(long uaddr) {
        int i = floor(byUser, uaddr, false);
        return i >= 0 && byUser[i].containsUser(uaddr) ? byUser[i] : null;
    }

    /**
     * Translates a front-end user address (ring addresses in {@code SET_VRING_ADDR}) to a guest-physical address.
     *
     * @param uaddr the user address
     * @return the guest-physical address
     * @throws GuestMemoryException if no region holds it
     */
    public long userToGuest(long uaddr) throws GuestMemoryException {
        MemoryRegion r = regionOfUser(uaddr);
        if (r == null) {
            throw outside("user address", uaddr, 1, nearestUser(uaddr), "");
        }
        return r.guestAddress() + (uaddr - r.userAddress());
    }

    /**
     * Translates a front-end user address range that must lie inside one region.
     *
     * @param uaddr the first user address
     * @param length the length
     * @return a slice of the region's mapping
     * @throws GuestMemoryException if the range is not entirely inside one region
     */
    public MemorySegment sliceUser(long uaddr, long length) throws GuestMemoryException {
        MemoryRegion r = regionOfUser(uaddr);
        if (r == null || length < 0 || length > r.sizeBytes() - (uaddr - r.userAddress())) {
            throw outside("user address", uaddr, length, nearestUser(uaddr), r != null ? " (crosses the region's end)"
                    : "");
        }
        return r.mapping().asSlice(r.offsetInMapping() + (uaddr - r.userAddress()), length);
    }

    private static GuestMemoryException outside(String kind, long address, long length, String nearest,
                                                String detail) {
        return new GuestMemoryException(kind + " " + Hex.of(address) + " length " + Long.toUnsignedString(length)
                + " is not backed by guest memory" + detail + "; nearest region " + nearest);
    }

    String nearest(long gpa) {
        if (byGuest.length == 0) {
            return "none (memory table is empty)";
        }
        int i = floor(byGuest, gpa, true);
        return byGuest[Math.max(i, 0)].describe();
    }

    private String nearestUser(long uaddr) {
        if (byUser.length == 0) {
            return "none (memory table is empty)";
        }
        int i = floor(byUser, uaddr, false);
        return byUser[Math.max(i, 0)].describe();
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("MemoryTable(").append(byGuest.length).append(" regions) ");
        for (MemoryRegion r : byGuest) {
            b.append(r.describe());
        }
        return b.toString();
    }
}
